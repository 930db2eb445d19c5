"""Quảng Nam's WSO2 "Trục liên thông" as an emulator (the API is described with its
client, ``docflow.transport._wso2``).

The OAuth2 part is authlib's: an RFC 6749 authorization server with the
client-credentials grant at ``/token`` (consumers authenticate with HTTP Basic or form
credentials) and an RFC 6750 resource protector that takes only live bearer tokens.
Behind it, units are known by their secret (their identifier on the platform) and mapped
to the organ codes they send and receive for; the queue is the one every emulator shares.
Where each parameter travels is the :class:`~docflow.transport.Wso2Profile`'s, shared
with the client. Answers are ``{status, errorCode, errorDesc, data}``; a refusal changes
nothing.
"""

from __future__ import annotations

import hmac
import json
import logging
import re
from collections.abc import Collection, Iterable
from dataclasses import dataclass
from typing import Any, cast

import pybase64
from authlib.oauth2.rfc6749 import AuthorizationServer, ClientMixin, OAuth2Request, TokenMixin
from authlib.oauth2.rfc6749.errors import OAuth2Error
from authlib.oauth2.rfc6749.grants import ClientCredentialsGrant
from authlib.oauth2.rfc6749.requests import BasicOAuth2Payload
from authlib.oauth2.rfc6749.resource_protector import ResourceProtector
from authlib.oauth2.rfc6750 import BearerTokenGenerator, BearerTokenValidator
from werkzeug.wrappers import Request, Response

from docflow.clock import Clock, system_clock
from docflow.emulators import _params
from docflow.emulators._app import PlatformApp
from docflow.emulators._ids import UuidIds
from docflow.emulators._queue import (
    AxisQueue,
    RefusalError,
    agency_ids,
    json_response,
)
from docflow.emulators._systems import AxisSystem, check_distinct
from docflow.emulators._tokens import TokenBook
from docflow.errors import ConfigError, DocflowError, NotFoundError
from docflow.lifecycle import TransportState
from docflow.model import DEFAULT_TZ, OrganCode
from docflow.security import TrustStore
from docflow.store import Store
from docflow.transport import VxpClient
from docflow.transport._wso2 import BASE_PATH, WSO2_STATUSES, Wso2Profile
from docflow.transport.wso2_wire import ReceivedItem, ok_answer

__all__ = ["Wso2App", "Wso2Consumer"]

_LOG = logging.getLogger("docflow.wso2")
_TIME = "%d/%m/%Y %H:%M:%S"
_UUID = re.compile(r"[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}")


@dataclass(frozen=True)
class Wso2Consumer:
    """An application registered with the gateway (OAuth2 client credentials)."""

    key: str
    secret: str


class _Client(ClientMixin):
    def __init__(self, consumer: Wso2Consumer):
        self.consumer = consumer

    def get_client_id(self) -> str:
        return self.consumer.key

    def get_default_redirect_uri(self) -> str:
        return ""  # client credentials: no redirection

    def get_allowed_scope(self, scope: Collection[str] | str) -> str:
        if not scope:
            return ""
        return scope if isinstance(scope, str) else " ".join(scope)

    def check_client_secret(self, client_secret: str) -> bool:
        return hmac.compare_digest(self.consumer.secret.encode(), client_secret.encode())

    def check_endpoint_auth_method(self, method: str, endpoint: str) -> bool:
        return method in ("client_secret_basic", "client_secret_post")

    def check_grant_type(self, grant_type: str) -> bool:
        return grant_type == "client_credentials"


@dataclass
class _Token(TokenMixin):
    client_id: str
    scope: str
    issued: float
    lifetime: int
    clock: Clock

    def check_client(self, client: ClientMixin) -> bool:
        return bool(client.get_client_id() == self.client_id)

    def get_scope(self) -> str:
        return self.scope

    def get_expires_in(self) -> int:
        return self.lifetime

    def is_expired(self) -> bool:
        return self.clock().timestamp() >= self.issued + self.lifetime

    def is_revoked(self) -> bool:
        return False


class _Request(OAuth2Request):
    """A werkzeug request as authlib's generic server reads it."""

    def __init__(self, request: Request):
        super().__init__(method=request.method, uri=request.url,
                         headers=dict(request.headers))
        self._request = request
        self.payload = BasicOAuth2Payload(dict(request.values))

    @property
    def args(self) -> Any:
        return self._request.args

    @property
    def form(self) -> Any:
        return self._request.form


class _TokenServer(AuthorizationServer):
    def __init__(self, consumers: dict[str, Wso2Consumer], tokens: TokenBook,
                 lifetime: int, clock: Clock):
        super().__init__()
        self.consumers, self.tokens, self.clock = consumers, tokens, clock
        self.lifetime = lifetime
        self.register_grant(ClientCredentialsGrant)

        def access_token(client: ClientMixin, grant_type: str, user: Any = None,
                         scope: str | None = None) -> str:
            return tokens.issue(client.get_client_id(), issued=clock().timestamp(),
                                lifetime=lifetime, scope=scope or "")

        self.register_token_generator("default", BearerTokenGenerator(
            access_token_generator=access_token,
            expires_generator=lambda client, grant_type: lifetime))

    def query_client(self, client_id: str) -> _Client | None:  # type: ignore[override]
        consumer = self.consumers.get(client_id)
        return None if consumer is None else _Client(consumer)

    def save_token(self, token: dict[str, Any], request: OAuth2Request) -> None:
        pass  # signed, not stored: _Bearer reads what the token says

    def create_oauth2_request(self, request: Request) -> OAuth2Request:
        return _Request(request)

    def handle_response(self, status: int, body: Any, headers: Any) -> Response:
        return Response(json.dumps(body), status=status, headers=dict(headers),
                        content_type="application/json")

    def send_signal(self, name: str, *args: Any, **kwargs: Any) -> None:
        pass  # no signals in an emulator


class _Bearer(BearerTokenValidator):
    def __init__(self, tokens: TokenBook, consumers: Collection[str], clock: Clock):
        super().__init__()
        self.tokens, self.consumers, self.clock = tokens, consumers, clock

    def authenticate_token(self, token_string: str) -> _Token | None:
        issued = self.tokens.read(token_string)
        if issued is None or issued.subject not in self.consumers:
            return None
        return _Token(issued.subject, issued.scope, issued.issued, int(issued.lifetime),
                      self.clock)


class Wso2App(PlatformApp):
    """The WSO2 "Trục liên thông" emulator (see the module docstring).

    Args:
        code: the platform's own organ code (its store rows are kept under it).
        store: where the packets wait.
        units: the units, known by their secret (``AxisSystem.secret``) and organs.
        consumers: the OAuth2 applications that may ask for tokens.
        province: the level-1 part of the province's codes (``donvilienthongs/qn``).
        parent: the national axis, with this platform's system id there (a relaying
            system): packets for organs not registered here go up to it, and
            :meth:`forward` exchanges them.
        token_lifetime: seconds a token lives.
        profile: where each parameter travels (the client's).
        token_key: the key its tokens are signed with (random unless given: processes
            serving one platform share it).
    """

    dialect = "wso2"

    def __init__(self, code: OrganCode | str, store: Store, units: Iterable[AxisSystem],
                 consumers: Iterable[Wso2Consumer], *, province: str = "H41",
                 trust: TrustStore | None = None, clock: Clock = system_clock,
                 token_lifetime: int = 3600, profile: Wso2Profile | None = None,
                 max_body: int = 70 * 1024 * 1024,
                 parent: VxpClient | None = None, token_key: bytes | None = None):
        self.code = str(OrganCode.parse(code))
        self.store, self.clock = store, clock
        listed = list(units)
        check_distinct(listed)
        self.units = {unit.secret: unit for unit in listed}
        self.province = str(province).strip().upper()
        if not re.fullmatch(r"[A-Z][0-9]{2}", self.province):
            raise ConfigError(f"province {province!r} is not the level-1 part of an organ "
                              "code", hint="the letter and two digits, e.g. H41 or H47")
        #: the platform's docIds are UUIDs
        self.ids = UuidIds(self.code)
        self.profile = profile or Wso2Profile()
        self.max_body = max_body
        self.queue = AxisQueue(self.code, store, clock=clock, trust=trust, max_body=max_body,
                               has_parent=parent is not None)
        self.parent = parent
        #: signed tokens: the processes of one platform share ``token_key``
        self.tokens = TokenBook(token_key)
        known = {c.key: c for c in consumers}
        self.server = _TokenServer(known, self.tokens, token_lifetime, clock)
        self.protector = ResourceProtector()
        self.protector.register_token_validator(_Bearer(self.tokens, set(known), clock))
        for unit in self.units.values():
            self.queue.configure(unit)

    def route(self, request: Request, path: str) -> Response:
        """Answer a request of the gateway (``token``, then the API under its base)."""
        try:
            self.check_size(request)
            if path == "token" and request.method == "POST":
                return cast(Response, self.server.create_token_response(request))
            if not path.startswith(BASE_PATH + "/"):
                raise RefusalError("NOT_FOUND", f"no {request.method} /{path}", 404)
            try:
                self.protector.validate_request(  # type: ignore[no-untyped-call]
                    None, _Request(request))
            except OAuth2Error as exc:
                raise RefusalError("UNAUTHORIZED", f"{exc.error}: {exc.description}",
                                   401) from exc
            return json_response(self._route(request, path[len(BASE_PATH) + 1:]))
        except RefusalError as refusal:
            return _failure(refusal.code, refusal.message, refusal.status)
        except NotFoundError as error:
            return _failure("NOT_FOUND", str(error), 404)
        except DocflowError as error:
            return _failure(error.fault_code, str(error), 400)
        except Exception:  # anything unexpected: logged, nothing leaked
            _LOG.exception("unexpected error in the WSO2 emulator")
            return _failure("INTERNAL", "internal error", 500)

    def _param(self, request: Request, name: str) -> str:
        value = self.profile.read(name, request.headers, request.args, request.form)
        if value is None:
            raise RefusalError("BAD_REQUEST", f"{name} is missing")
        return value

    def _unit(self, request: Request) -> AxisSystem:
        secret = self._param(request, "secret")
        for known, unit in self.units.items():
            if hmac.compare_digest(known.encode(), secret.encode()):
                return unit
        raise RefusalError("UNIT_INVALID", "no unit has this secret", 401)

    def _route(self, request: Request, path: str) -> dict[str, Any]:
        unit = self._unit(request)
        method = request.method
        if path == "vanbans" and method == "GET":
            return self._list(unit)
        if path == "vanbans" and method == "POST":
            return self._send(unit, request)
        if path.startswith("vanbans/") and method == "GET":
            return self._get(unit, path.removeprefix("vanbans/"))
        if path.startswith("vanbans/") and method == "PUT":
            return self._update(unit, path.removeprefix("vanbans/"),
                                self._param(request, "status"))
        if path in ("donvilienthongs", "donvilienthongs/qn") and method == "GET":
            return self._agencies(province_only=path.endswith("/qn"))
        if path == "donvilienthongs" and method == "POST":
            return self._register(unit, request)
        if path == "donvilienthongs" and method == "PUT":
            self.queue.unregister(unit, self._param(request, "agencyCode"))
            return _ok({})
        raise RefusalError("NOT_FOUND", f"no {method} {path}", 404)

    def _send(self, unit: AxisSystem, request: Request) -> dict[str, Any]:
        try:
            body = pybase64.b64decode("".join(self._param(request, "base64").split()),
                                      validate=True)
        except ValueError as exc:
            raise RefusalError("BAD_REQUEST", "base64 is not base64") from exc
        kind = "status" if self._param(request, "loaiVanBan") == "status" else "document"
        number, _ = self.queue.accept(
            body, kind, None, None, allowed=lambda sender: self.queue.may_send_for(unit, sender))
        return _ok({"docId": self.ids.issue(int(number))})

    def _list(self, unit: AxisSystem) -> dict[str, Any]:
        data = []
        for kind in ("document", "status"):
            for queued in self.queue.waiting(unit.organs, kind, page_size=1000).items:
                delivery = queued.delivery
                status = "PROCESSING" if delivery.transport_state == TransportState.SENDING \
                    else "INITIAL"
                data.append(ReceivedItem(
                    self.ids.issue(delivery.id), queued.sender, delivery.recipient, status,
                    delivery.next_attempt_at.astimezone(DEFAULT_TZ).strftime(_TIME),
                    "edoc" if kind == "document" else "status").wire())
        return _ok({"data": data})

    def _own(self, unit: AxisSystem, doc_id: str) -> Any:
        if not _UUID.fullmatch(doc_id):
            raise RefusalError("BAD_REQUEST", "docId must be a UUID (the platform's ids)")
        number = self.ids.read(doc_id)
        if number is None:
            raise NotFoundError("no such packet for this unit",
                                where=f"docId {doc_id[:40]!r}",
                                hint="a docId is a UUID this platform listed (GET vanbans)")
        return self.queue.own(unit.organs, number).delivery

    def _get(self, unit: AxisSystem, doc_id: str) -> dict[str, Any]:
        delivery = self._own(unit, doc_id)
        return _ok({"data": pybase64.b64encode(self.queue.packet(delivery)).decode()})

    def _update(self, unit: AxisSystem, doc_id: str, status: str) -> dict[str, Any]:
        delivery = self._own(unit, doc_id)
        value = status.upper()
        if value not in WSO2_STATUSES:
            raise RefusalError("BAD_STATUS", f"status must be one of {WSO2_STATUSES}")
        if value != "INITIAL":
            self.queue.settle(delivery, value.lower(), unit.organs[0])
        return _ok({})

    def _agencies(self, *, province_only: bool) -> dict[str, Any]:
        agencies = self.queue.agencies()
        ids = agency_ids(agencies)
        rows = [{"id": ids[a.code], "code": a.code, "name": a.name,
                 "pid": ids.get(a.parent, ""), "pcode": a.parent} for a in agencies
                if not province_only or a.code.endswith("." + self.province)]
        return _ok({"data": rows})

    def _register(self, unit: AxisSystem, request: Request) -> dict[str, Any]:
        body = _params.json_object(request.get_data())
        self.queue.register(unit, str(body.get("code", "")), parent=str(body.get("pcode") or ""),
                            name=body.get("name"), mail=body.get("email"))
        return _ok({})


def _ok(data: dict[str, Any]) -> dict[str, Any]:
    return ok_answer(data)


def _failure(code: str, description: str, status: int) -> Response:
    """The gateway's refusal: ``{status: FAIL, errorCode, errorDesc, data: null}``."""
    return json_response({"status": "FAIL", "errorCode": code, "errorDesc": description,
                          "data": None}, status)
