"""The token-login REST LGSP dialect as an emulator (see
``docflow.transport._lgsp_token`` for the API, as its real vendor client calls it).

Accounts log in (``/v1/auth/login``) for a bearer token that lives ``token_lifetime`` (30
minutes, as on the platform); every document call needs a live token and the unit's
``X-SystemId`` / ``X-SecretKey`` (compared in constant time). Units are system ids mapped
to the organ codes they send and receive for. The queue is the one every emulator shares
(:class:`~docflow.emulators.AxisQueue`): recipients come from the packet itself.

Every answer is in the shape the vendor's client reads (its response types are the
contract): ``success`` on every answer (false on a refusal, with ``message``); the login
token at the root and in ``data``; ``docId`` of a send at the root and in ``data``; the
lists' ``count`` and ``data`` items (``status`` ``initial`` while waiting); ``data.edxml``
of a fetch; the organisations as a list of ``{orgCode, orgName, parentCode, address,
email, phone}``. Two generations of that client are served: the documented ``/v1/``
API (headers ``Authorization: Bearer``, ``X-SystemId``, ``X-SecretKey``; multipart
``sendEdoc``), and the current one's ``/api/lgspedoc/`` calls, which carry the token, the
system id and the secret key in the JSON body or the query (``send-edoc`` with the
packet's text in ``edocContent``; ``get-edoc`` with the token alone: the account's
``system_id`` names its unit). A refusal changes nothing.
"""

from __future__ import annotations

import datetime as dt
import hmac
import logging
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

import pybase64
import python_multipart
from python_multipart.multipart import Field, File
from werkzeug.wrappers import Request, Response

from docflow.clock import Clock, system_clock
from docflow.emulators import _params
from docflow.emulators._app import PlatformApp
from docflow.emulators._queue import (
    AxisQueue,
    RefusalError,
    json_response,
)
from docflow.emulators._systems import AxisSystem, check_distinct
from docflow.emulators._tokens import TokenBook
from docflow.errors import DocflowError, NotFoundError
from docflow.lifecycle import Outcome, TransportState
from docflow.model import DEFAULT_TZ, OrganCode
from docflow.security import TrustStore
from docflow.store import Store
from docflow.transport import VxpClient
from docflow.transport.lgsp_token_wire import ReceivedItem, listing

__all__ = ["LgspAccount", "TokenLgspApp"]

_LOG = logging.getLogger("docflow.lgsp")
#: the current vendor client's calls live under this path
_VENDOR = "api/lgspedoc"
_TIME = "%Y-%m-%dT%H:%M:%S"


@dataclass(frozen=True)
class LgspAccount:
    """A platform account that may log in (``system_id``: the unit it works for, which
    the calls that name no unit, ``/api/lgspedoc/get-edoc``, act as)."""

    username: str
    password: str
    application_code: str
    system_id: str = ""


class TokenLgspApp(PlatformApp):
    """The token-login REST LGSP emulator (see the module docstring).

    Args:
        code: the platform's own organ code (its store rows are kept under it).
        store: where the packets wait.
        units: the units (system id, secret key, organs) it knows.
        accounts: who may log in.
        parent: the national axis, with this platform's system id there (a relaying
            system): packets for organs not registered here go up to it, and
            :meth:`forward` exchanges them.
        token_lifetime: how long a login token is good for.
        token_key: the key its tokens are signed with (random unless given: processes
            serving one platform share it).
    """

    dialect = "lgsp-token"

    def __init__(self, code: OrganCode | str, store: Store, units: Iterable[AxisSystem],
                 accounts: Iterable[LgspAccount], *, trust: TrustStore | None = None,
                 clock: Clock = system_clock,
                 token_lifetime: dt.timedelta = dt.timedelta(minutes=30),
                 max_body: int = 50 * 1024 * 1024,
                 parent: VxpClient | None = None, token_key: bytes | None = None):
        self.code = str(OrganCode.parse(code))
        self.store, self.clock = store, clock
        listed = list(units)
        check_distinct(listed)
        self.units = {unit.system_id: unit for unit in listed}
        self.accounts = {account.username: account for account in accounts}
        self.token_lifetime = token_lifetime
        self.max_body = max_body
        self.queue = AxisQueue(self.code, store, clock=clock, trust=trust, max_body=max_body,
                               has_parent=parent is not None)
        self.parent = parent
        #: signed tokens: the processes of one platform share ``token_key``
        self.tokens = TokenBook(token_key)
        for unit in self.units.values():
            self.queue.configure(unit)
        self._routes = {
            ("POST", "v1/sendEdoc"): self._send,
            ("GET", "v1/syncReceivedEdocList"): self._received,
            ("GET", "v1/getEdoc"): self._get,
            ("POST", "v1/updateStatus"): self._update,
        }
        self._vendor_routes = {
            ("POST", f"{_VENDOR}/send-edoc"): self._vendor_send,
            ("GET", f"{_VENDOR}/received-edocs"): self._vendor_received,
            ("GET", f"{_VENDOR}/get-edoc"): self._vendor_get,
        }

    def route(self, request: Request, path: str) -> Response:
        """Answer a request of the platform's API (login, sendEdoc, ...)."""
        try:
            self.check_size(request)
            if (request.method, path) in (("POST", "v1/auth/login"),
                                          ("POST", f"{_VENDOR}/login")):
                return json_response(self._login(request))
            if (request.method, path) == ("GET", "v1/getAgenciesList"):
                self._token(request)
                return json_response(self._agencies())
            if (request.method, path) == ("GET", f"{_VENDOR}/organizations"):
                self._check_token(request.args.get("token", ""))
                return json_response(self._agencies())
            vendor = self._vendor_routes.get((request.method, path))
            if vendor is not None:
                return json_response(vendor(request))
            handler = self._routes.get((request.method, path))
            if handler is None:
                raise RefusalError("NOT_FOUND", f"no {request.method} {path}", 404)
            self._token(request)
            return json_response(handler(self._unit(request), request))
        except RefusalError as refusal:
            return json_response({
                "code": refusal.status, "success": False, "message": refusal.message,
                "errorDetail": [{"exception": refusal.code}],
                "data": {"status": "FAIL", "docId": None, "errorCode": refusal.code,
                         "errorDesc": refusal.message}}, refusal.status)
        except NotFoundError as error:
            return json_response({"code": 404, "success": False, "message": str(error),
                                  "data": None}, 404)
        except DocflowError as error:
            return json_response({
                "code": 500, "success": False, "message": str(error),
                "errorDetail": [{"exception": error.fault_code}],
                "data": {"status": "FAIL", "docId": None, "errorCode": error.fault_code,
                         "errorDesc": str(error)}}, 400)
        except Exception:  # anything unexpected: logged, nothing leaked
            _LOG.exception("unexpected error in the LGSP emulator")
            return json_response({"code": 500, "success": False, "message": "internal error"}, 500)

    # ------------------------------------------------------------------ authentication

    def _login(self, request: Request) -> dict[str, Any]:
        body = _body(request)
        account = self.accounts.get(str(body.get("username", "")))
        if account is None or not hmac.compare_digest(
                account.password.encode(), str(body.get("password", "")).encode()) or (
                str(body.get("applicationCode", "")) != account.application_code):
            raise RefusalError("LOGIN_FAILED", "wrong username, password or applicationCode",
                               401)
        token = self.tokens.issue(account.username, issued=self.clock().timestamp(),
                                  lifetime=self.token_lifetime.total_seconds())
        # The client reads the token at the root (the current one) or in data.
        return {"success": True, "code": 200, "message": "Success", "token": token,
                "data": {"id": account.username, "username": account.username,
                         "name": account.username, "token": token}}

    def _token(self, request: Request) -> LgspAccount:
        header = request.headers.get("Authorization", "")
        token = header.removeprefix("Bearer ").strip() if header.startswith("Bearer ") else ""
        return self._check_token(token)

    def _check_token(self, token: object) -> LgspAccount:
        issued = self.tokens.read(token) if isinstance(token, str) else None
        if (issued is None or issued.expired(self.clock().timestamp())
                or issued.subject not in self.accounts):
            raise RefusalError("TOKEN_INVALID", "licenseInfo: invalid or expired token", 401)
        return self.accounts[issued.subject]

    def _unit(self, request: Request) -> AxisSystem:
        return self._unit_of(request.headers.get("X-SystemId", ""),
                             request.headers.get("X-SecretKey", ""))

    def _unit_of(self, system_id: object, secret: object) -> AxisSystem:
        unit = self.units.get(system_id) if isinstance(system_id, str) else None
        if unit is None or not isinstance(secret, str) or not hmac.compare_digest(
                unit.secret.encode(), secret.encode()):
            raise RefusalError("UNIT_INVALID", "unknown systemId or wrong secretKey", 401)
        return unit

    # ------------------------------------------------------------------ operations

    def _send(self, unit: AxisSystem, request: Request) -> dict[str, Any]:
        fields, files = _multipart(request, self.max_body)
        body = files.get("edocFile")
        if body is None:
            raise RefusalError("BAD_REQUEST", "multipart field edocFile is missing")
        if len(body) > self.max_body:
            raise RefusalError("TOO_LARGE", f"packet exceeds {self.max_body} bytes", 413)
        kind = "status" if fields.get("messageType", "edoc") == "status" else "document"
        return self._sent(unit, body, kind, None)

    def _sent(self, unit: AxisSystem, body: bytes, kind: str,
              to: list[str] | None) -> dict[str, Any]:
        doc_id, _ = self.queue.accept(
            body, kind, None, to, allowed=lambda sender: self.queue.may_send_for(unit, sender))
        # The client reads success, and docId at the root or in data.
        return {"success": True, "code": 200, "message": "Success", "docId": doc_id,
                "data": {"status": "OK", "docId": doc_id, "errorCode": None, "errorDesc": None,
                         "filePath": f"/app/edoc/{doc_id}.edxml"}}

    def _received(self, unit: AxisSystem, request: Request, *,
                  day_format: str = "%Y/%m/%d", zone: dt.tzinfo = DEFAULT_TZ
                  ) -> dict[str, Any]:
        kind = "status" if request.args.get("messageType", "edoc") == "status" else "document"
        since, until = (_params.day(request.args.get(name), day_format, zone, name)
                        for name in ("fromDate", "toDate"))
        page = self.queue.waiting(unit.organs, kind, since=since,
                                  until=None if until is None else until + dt.timedelta(days=1),
                                  page_size=1000)
        data = []
        for queued in page.items:
            delivery = queued.delivery
            stamp = delivery.next_attempt_at.astimezone(DEFAULT_TZ).strftime(_TIME)
            status = Outcome.PROCESSING if delivery.transport_state == TransportState.SENDING \
                else "initial"
            data.append(ReceivedItem(str(delivery.id), queued.sender, delivery.recipient,
                                     status, stamp,
                                     "edoc" if kind == "document" else "status").wire())
        return listing(data)

    def _get(self, unit: AxisSystem, request: Request) -> dict[str, Any]:
        return self._fetched(unit, request.args.get("docId", ""))

    def _fetched(self, unit: AxisSystem, doc_id: object) -> dict[str, Any]:
        queued = self._own(unit, doc_id)
        delivery = queued.delivery
        packet = self.queue.packet(delivery)
        document = self.store.queries.document(delivery.document_ref)
        sender = self.queue.registry.get(self.code, queued.sender)
        try:
            text = packet.decode("utf-8")
        except UnicodeDecodeError:
            text = pybase64.b64encode(packet).decode()  # a packet in another encoding
        return {"success": True, "message": "OK",
                "data": {"docId": str(delivery.id), "from": queued.sender,
                         "fromName": sender.name if sender is not None else "",
                         "edocCode": document.code,
                         "edocAbstract": document.subject, "edxml": text}}

    def _update(self, unit: AxisSystem, request: Request) -> dict[str, Any]:
        return self._updated(unit, _body(request))

    def _updated(self, unit: AxisSystem, body: dict[str, Any]) -> dict[str, Any]:
        delivery = self._own(unit, body.get("docId", "")).delivery
        status = str(body.get("status", ""))
        # The platform takes QĐ 28 codes (02..06) and keywords: a business code means the
        # unit has the packet (it is done with the transport).
        transport = Outcome(status) if status in tuple(Outcome) else (
            Outcome.DONE if status in ("01", "02", "03", "04", "05", "06") else None)
        if transport is None:
            raise RefusalError("BAD_STATUS", f"unknown status {status!r}")
        self.queue.settle(delivery, transport, unit.system_id)
        return {"success": True, "message": "OK"}

    def _own(self, unit: AxisSystem, doc_id: object) -> Any:
        return self.queue.own(unit.organs, _params.doc_id(doc_id))

    def _agencies(self) -> dict[str, Any]:
        """The organisations as the client reads them: ``data`` a list of ``{orgCode,
        orgName, parentCode, address, email, phone}``."""
        rows = [{"orgCode": agency.code, "orgName": agency.name,
                 "parentCode": agency.parent or None, "address": None,
                 "email": agency.mail or None, "phone": None}
                for agency in self.queue.agencies()]
        return {"success": True, "code": 200, "message": "Success", "count": len(rows),
                "data": rows}

    # ------------------------------------------------------------ the current client

    def _vendor_send(self, request: Request) -> dict[str, Any]:
        """``POST /api/lgspedoc/send-edoc``: JSON ``{token, edocContent, messageType,
        systemId, secretKey, destOrgCode}``, the packet as text."""
        body = _params.json_object(request.get_data(), max_bytes=self.max_body + 4096)
        self._check_token(body.get("token"))
        unit = self._unit_of(body.get("systemId"), body.get("secretKey"))
        content = body.get("edocContent")
        if not isinstance(content, str) or not content:
            raise RefusalError("BAD_REQUEST", "edocContent must be the packet's text")
        kind = "status" if body.get("messageType", "edoc") == "status" else "document"
        destination = body.get("destOrgCode")
        to = [destination] if isinstance(destination, str) and destination else None
        return self._sent(unit, content.encode("utf-8"), kind, to)

    def _vendor_received(self, request: Request) -> dict[str, Any]:
        """``GET /api/lgspedoc/received-edocs?token&messageType&fromDate&toDate&systemId
        &secretKey`` (days as ``yyyy-MM-dd``, the client's UTC dates)."""
        self._check_token(request.args.get("token", ""))
        unit = self._unit_of(request.args.get("systemId", ""),
                             request.args.get("secretKey", ""))
        return self._received(unit, request, day_format="%Y-%m-%d", zone=dt.UTC)

    def _vendor_get(self, request: Request) -> dict[str, Any]:
        """``GET /api/lgspedoc/get-edoc?token&docId``: the token's account names the unit."""
        account = self._check_token(request.args.get("token", ""))
        unit = self.units.get(account.system_id)
        if unit is None:
            raise RefusalError("UNIT_INVALID", f"account {account.username!r} works for no "
                               "unit (give it system_id in the systems file)", 401)
        return self._fetched(unit, request.args.get("docId", ""))


def _multipart(request: Request, max_body: int) -> tuple[dict[str, str], dict[str, bytes]]:
    """The fields and the files (their first ``max_body + 1`` bytes) of a
    multipart/form-data body, read with python-multipart: werkzeug's parser compiles two
    regular expressions for each request's boundary (measured on a 4 KB packet: 524 µs
    a request against 95 µs). Temporary files it spills to are closed here."""
    fields: dict[str, str] = {}
    uploads: list[File] = []

    def on_field(field: Field) -> None:
        fields[(field.field_name or b"").decode("utf-8", "replace")] = (  # not a state
            field.value or b"").decode("utf-8", "replace")  # not a state

    if not request.mimetype.startswith("multipart/"):
        raise RefusalError("BAD_REQUEST", "sendEdoc takes a multipart/form-data body")
    headers = {"Content-Type": request.headers.get("Content-Type", "").encode("latin-1")}
    if request.content_length is not None:
        headers["Content-Length"] = str(request.content_length).encode()
    files: dict[str, bytes] = {}
    try:
        python_multipart.parse_form(headers, request.stream, on_field, uploads.append)
        for upload in uploads:
            upload.file_object.seek(0)
            files[(upload.field_name or b"").decode("utf-8", "replace")] = (  # not a state
                upload.file_object.read(max_body + 1))
    except ValueError as exc:  # python-multipart's FormParserError and its kin
        raise RefusalError("BAD_REQUEST", f"the multipart body cannot be read: {exc}") from exc
    finally:
        for upload in uploads:
            upload.close()
    return fields, files


def _body(request: Request) -> dict[str, Any]:
    return _params.json_object(request.get_data())


