"""The national axis (VDXP) dialect: the HTTP API :class:`~docflow.transport.VxpClient`
and the axis's official Java SDK speak, as a WSGI application over a docflow store.

Faithful to what the official SDK (SDKVXP 2.0.x) really sends (``../shared/EDXML.md``):

- system ids that are not organ codes (``vxp.saas.03``): the systems file maps each to
  the organ codes it sends and receives for;
- ``XroadVnpt-sign-header`` JSON whose keys carry the prefix or not, the key list of
  ``XroadVnpt-sign-header-key`` with the bare names (``Content-Type`` included);
- timestamps as epoch milliseconds (docflow) or the SDK's ``ddMMyyyy'T'HHmmss+SSSS``
  (Vietnam time, no zone, ``+SSSS`` the milliseconds), fixed when the SDK object is
  built: their freshness window (``sdk_skew``) is long enough for a long-lived client;
- ``hash-file`` in hex with or without zero-padding of each byte, over the body with or
  without the ``\\r\\n`` the SDK appends;
- no ``to`` header: the recipients are the packet's own ``To`` organs;
- ``DocId`` in every answer, errors included (the SDK fails on a null);
- ``registerAgency`` from a JSON body, ``deleteAgency`` by ``AgencyCode``, ``id`` and
  ``pid`` in agency lists, ``getAgenciesListQD20`` and ``getSynchronizeUnit``,
  ``downloadEdoc`` (the raw packet); unsigned headers (``XroadVnpt-version``,
  ``filePath``, ``User-Agent``) are ignored.

It stays strict where the real axis is: an unknown system id, a wrong secret (the HMAC
of the signed JSON, compared in constant time), a signed header that differs from the one
sent, a stale timestamp, a ``hash-file`` of other bytes: the axis's error JSON, nothing
stored. ``POST /echo`` answers its body back without authentication (the benchmark's
baseline).
"""

from __future__ import annotations

import datetime as dt
import hashlib
import hmac
import json
import logging
from collections.abc import Iterable, Mapping
from typing import Any

import pybase64
from werkzeug.wrappers import Request, Response

from docflow.clock import Clock, system_clock
from docflow.emulators import _params
from docflow.emulators._app import PlatformApp
from docflow.emulators._queue import (
    AxisQueue,
    Queued,
    RefusalError,
    agency_ids,
    json_response,
)
from docflow.emulators._systems import AxisSystem, check_distinct
from docflow.errors import DocflowError, NotFoundError
from docflow.lifecycle import Outcome, TransportState
from docflow.model import DEFAULT_TZ, OrganCode
from docflow.security import TrustStore
from docflow.store import Store
from docflow.transport import VxpClient
from docflow.transport._vxp import HEADER_PREFIX, header_text
from docflow.transport.vdxp_wire import ReceivedItem, SentItem, error_answer, ok_answer

__all__ = ["AxisApp", "AxisSystem", "sdk_timestamp"]

_LOG = logging.getLogger("docflow.axis")
_DATE_FORMAT = "%d/%m/%Y %H:%M:%S"
_SDK_TIME = "%d%m%YT%H%M%S"


def sdk_timestamp(when: dt.datetime) -> str:
    """A timestamp as the official SDK writes it: ``ddMMyyyy'T'HHmmss+SSSS`` in Vietnam
    time (``+SSSS`` the milliseconds, zero-padded to four)."""
    local = when.astimezone(DEFAULT_TZ)
    return f"{local.strftime(_SDK_TIME)}+{local.microsecond // 1000:04d}"


def _sent_at(value: str) -> dt.datetime:
    """A request timestamp: epoch milliseconds (docflow) or the SDK's form."""
    if value.isascii() and value.isdigit():
        return dt.datetime.fromtimestamp(int(value) / 1000, dt.UTC)
    stamp, _, millis = value.partition("+")
    parsed = dt.datetime.strptime(stamp, _SDK_TIME).replace(tzinfo=DEFAULT_TZ)
    return parsed + dt.timedelta(milliseconds=int(millis or "0"))


#: The signed headers each operation needs (``a|b``: either): its parameters must be
#: what the caller signed, never what a replayer adds.
_SIGNED: dict[str, tuple[str, ...]] = {
    "sendEdoc": ("hash-file",),
    "getEdoc": ("docId",), "downloadEdoc": ("docId",),
    "updateStatus": ("docId", "status"),
    "deleteAgency": ("AgencyCode|code",),
    "registerAgency": ("code|Content-Type",),
}
#: The operations a replay could change something with, taken once per signed request:
#: registrations, and an acknowledgement that counts (``fail``) or leases
#: (``processing``). ``sendEdoc`` is bound to its body by hash-file and idempotent;
#: ``updateStatus done`` is idempotent: neither needs the cache.
_TAKEN_ONCE = frozenset({"updateStatus", "registerAgency", "deleteAgency"})
#: The message types an operation may have signed.
_MESSAGE_TYPES: dict[str, tuple[str, ...]] = {
    "countReceiveEdoc": ("edoc",), "countReceiveStatus": ("status",),
    "sendEdoc": ("edoc", "status"), "getReceivedEdocList": ("edoc", "status"),
}


def _hex_forms(data: bytes) -> set[str]:
    """The SHA-256 of ``data`` in hex, zero-padded and as the SDK writes it (each byte
    without its leading zero)."""
    digest = hashlib.sha256(data).digest()
    return {digest.hex(), "".join(format(byte, "x") for byte in digest)}


class AxisApp(PlatformApp):
    """The VDXP emulator (see the module docstring).

    Args:
        code: the axis's own organ code (its store rows are kept under it).
        store: where the packets wait.
        systems: the callers it knows.
        trust: when given, packets must also carry a valid signature from their sender.
        clock: where "now" comes from.
        skew: how far a docflow (epoch) timestamp may be from the axis's clock.
        sdk_skew: the same for the SDK's timestamps, fixed when its object is built.
        max_body: the largest packet accepted, in bytes.
        parent: the axis above this one (an LGSP's national axis), with this axis's own
            system id there (a relaying system): packets for organs not registered here
            are queued for it, and :meth:`forward` exchanges them.
    """

    dialect = "vdxp"

    def __init__(self, code: OrganCode | str, store: Store, systems: Iterable[AxisSystem], *,
                 trust: TrustStore | None = None, clock: Clock = system_clock,
                 skew: dt.timedelta = dt.timedelta(minutes=5),
                 sdk_skew: dt.timedelta = dt.timedelta(hours=12),
                 max_body: int = 50 * 1024 * 1024, parent: VxpClient | None = None):
        self.code = str(OrganCode.parse(code))
        self.store = store
        listed = list(systems)
        check_distinct(listed)
        self.systems = {system.system_id: system for system in listed}
        self.clock = clock
        self.skew, self.sdk_skew = skew, sdk_skew
        self.max_body = max_body
        self.parent = parent
        self.queue = AxisQueue(self.code, store, clock=clock, trust=trust, max_body=max_body,
                               has_parent=parent is not None)
        for system in self.systems.values():
            self.queue.configure(system)
        self._routes = {
            "sendEdoc": self._send, "getReceivedEdocList": self._received,
            "getEdoc": self._get, "downloadEdoc": self._download,
            "updateStatus": self._update, "getSentEdocList": self._sent,
            "countReceiveEdoc": self._count, "countReceiveStatus": self._count,
            "getAgenciesList": self._agencies, "getAgenciesListQD20": self._agencies,
            "getSynchronizeUnit": self._agencies, "registerAgency": self._register,
            "deleteAgency": self._delete,
        }

    def route(self, request: Request, operation: str) -> Response:
        """Answer an operation of the axis API (``sendEdoc``, ``getEdoc``, ...)."""
        handler = self._routes.get(operation)
        try:
            if handler is None:
                raise RefusalError("NOT_FOUND", f"unknown operation {operation!r}", 404)
            self.check_size(request)
            caller, params = self._authenticate(request)
            self._bind(operation, caller, params, request)
            answer: Any = handler(caller, params, request)
            if isinstance(answer, Response):
                return answer
            return _ok(answer)
        except RefusalError as refusal:
            return _error(refusal.code, refusal.message, refusal.status)
        except NotFoundError as error:
            return _error("NOT_FOUND", str(error), 404)
        except DocflowError as error:
            return _error(error.fault_code, str(error), 400)
        except Exception:  # anything unexpected: logged, nothing leaked
            _LOG.exception("unexpected error in the axis emulator")
            return _error("INTERNAL", "internal error; the operator's log has the details", 500)

    # ------------------------------------------------------------------ authentication

    def _authenticate(self, request: Request) -> tuple[AxisSystem, dict[str, str]]:
        def header(name: str) -> str:
            value = request.headers.get(f"{HEADER_PREFIX}{name}")
            if value is None:
                raise RefusalError("AUTH_MISSING", f"missing header {HEADER_PREFIX}{name}", 401)
            return value

        system = self.systems.get(header("systemid"))
        if system is None:
            raise RefusalError("AUTH_UNKNOWN_SYSTEM", "unknown system id", 401)
        text = header("sign-header")
        expected = hmac.new(system.secret.encode(), text.encode(), hashlib.sha256).hexdigest()
        if not hmac.compare_digest(expected, header("hash-header").lower()):
            raise RefusalError("AUTH_BAD_SIGNATURE", "the request's HMAC does not verify", 401)
        try:
            raw = json.loads(text)
        except ValueError as exc:
            raise RefusalError("AUTH_BAD_SIGNATURE", "sign-header is not JSON", 401) from exc
        if not isinstance(raw, dict) or not all(isinstance(v, str) for v in raw.values()):
            raise RefusalError("AUTH_BAD_SIGNATURE", "sign-header is not an object of texts", 401)
        # The SDK writes the JSON keys with the prefix, the key list without it.
        signed = {str(key).removeprefix(HEADER_PREFIX): value for key, value in raw.items()}
        keys = [key for key in header("sign-header-key").split(";") if key]
        if set(keys) != set(signed) or len(signed) != len(raw):
            raise RefusalError("AUTH_BAD_SIGNATURE", "signed keys and sign-header disagree", 401)
        for key in keys:
            sent = request.headers.get(f"{HEADER_PREFIX}{key}", request.headers.get(key))
            if sent is None:
                raise RefusalError("AUTH_MISSING", f"missing signed header {key}", 401)
            if header_text(sent) != signed[key] and not (
                    key.lower() == "content-type" and sent.split(";")[0] == signed[key]):
                raise RefusalError("AUTH_HEADER_MISMATCH", f"header {key} differs from the "
                              "signed value", 401)
        if signed.get("systemid") != system.system_id or "timestamp" not in signed:
            raise RefusalError("AUTH_BAD_SIGNATURE", "systemid and timestamp must be signed", 401)
        try:
            sent_at = _sent_at(signed["timestamp"])
        except (ValueError, OverflowError, OSError) as exc:  # OSError: out of the C range
            raise RefusalError("AUTH_STALE", "timestamp is neither epoch milliseconds nor "
                          "ddMMyyyy'T'HHmmss+SSSS", 401) from exc
        window = self.skew if signed["timestamp"].isdigit() else self.sdk_skew
        if abs(self.clock() - sent_at) > window:
            raise RefusalError("AUTH_STALE", f"timestamp {sent_at:%Y-%m-%d %H:%M:%S} is more than "
                          f"{window} away", 401)
        return system, signed

    def _bind(self, operation: str, caller: AxisSystem, params: Mapping[str, str],
              request: Request) -> None:
        """Bind a signed request to the operation it is sent to, as far as the real
        protocol lets: its HMAC covers headers only (not the path, not the body), so a
        request captured on the way could be sent to another operation or again.

        - An operation that changes something needs its parameters among the signed
          headers (:data:`_SIGNED`): a captured ``countReceiveEdoc`` (only systemid and
          timestamp signed) cannot be replayed to ``deleteAgency`` or ``updateStatus``.
        - A body is read only where the signature vouches for it: ``hash-file`` (checked
          against the body) or a signed JSON ``Content-Type`` (the SDK's registerAgency).
        - A signed ``messagetype`` must be the operation's.
        - A call whose replay would change something (:data:`_TAKEN_ONCE`) is taken
          once: its signed headers (with the SDK's fixed timestamps, also the operation
          and the body) are refused a second time while the timestamp is fresh
          (:meth:`Agencies.first_seen`, shared by every process).
        """
        for needed in _SIGNED.get(operation, ()):
            names = needed.split("|")
            if not any(name in params for name in names):
                raise RefusalError("AUTH_OPERATION", f"{operation} needs {' or '.join(names)} "
                                   "among the signed headers (a request signed for another "
                                   "operation is not taken)", 401)
        kind = params.get("messagetype")
        if kind is not None and operation in _MESSAGE_TYPES and kind not in _MESSAGE_TYPES[
                operation]:
            raise RefusalError("AUTH_OPERATION", f"messagetype {kind!r:.20} is signed for "
                               f"another operation than {operation}", 401)
        if operation not in _TAKEN_ONCE or (operation == "updateStatus"
                                             and params.get("status") == Outcome.DONE):
            return
        body = request.get_data(cache=True)
        claimed = params.get("hash-file", "").lower()
        if body:
            json_signed = params.get("Content-Type", "").split(";")[0].strip().lower() == (
                "application/json")
            if claimed and claimed not in _hex_forms(body.removesuffix(b"\r\n")):
                raise RefusalError("HASH_MISMATCH", "hash-file does not match the body")
            if not claimed and not json_signed:
                raise RefusalError("AUTH_OPERATION", f"{operation}'s body is not signed "
                                   "(neither hash-file nor a JSON Content-Type among the "
                                   "signed headers)", 401)
        stamp = params["timestamp"]
        parts = [caller.system_id, request.headers.get(f"{HEADER_PREFIX}hash-header", "")]
        window = self.skew
        if not (stamp.isascii() and stamp.isdigit()):  # the SDK's: one for many requests
            parts += [operation, hashlib.sha256(body).hexdigest()]
            window = self.sdk_skew
        key = hashlib.sha256("\n".join(parts).lower().encode()).hexdigest()
        if not self.queue.registry.first_seen(self.code, key, now=self.clock(),
                                              keep=2 * window):
            raise RefusalError("REPLAYED", f"this signed {operation} request was taken "
                               "before (a replay); sign a new one", 409)

    # ------------------------------------------------------------------ operations

    def _organ(self, caller: AxisSystem, params: Mapping[str, str]) -> str:
        """The organ the caller sends as (``from``; its first organ when it says none)."""
        sender = params.get("from") or caller.organs[0]
        if not self.queue.may_send_for(caller, sender):
            raise RefusalError("FROM_MISMATCH", f"from {sender!r:.40} is not the caller" + (
                " nor an organ it relays for (its serves patterns, or registered under it)"
                if caller.relay else ""), 403)
        return sender

    def _send(self, caller: AxisSystem, params: dict[str, str],
              request: Request) -> dict[str, Any]:
        body = request.stream.read(self.max_body + 1)
        if len(body) > self.max_body:
            raise RefusalError("TOO_LARGE", f"packet exceeds {self.max_body} bytes", 413)
        claimed = params.get("hash-file", "").lower()
        if body.endswith(b"\r\n") and claimed in _hex_forms(body[:-2]):
            body = body[:-2]  # the SDK appends CRLF after the file it hashed
        elif claimed not in _hex_forms(body):
            raise RefusalError("HASH_MISMATCH", "hash-file does not match the body")
        sender = self._organ(caller, params)
        to: list[str] | None = None
        if params.get("to"):
            try:
                to = [str(OrganCode.parse(code)) for code in json.loads(params["to"])]
            except (ValueError, TypeError, DocflowError) as exc:
                raise RefusalError("BAD_REQUEST", "to must be a JSON array of organ codes") from exc
            if not to:
                raise RefusalError("BAD_REQUEST", "to names no organ")
            self.queue.check_known(to)  # before the packet is even read
        kind = "status" if params.get("messagetype", "edoc") == "status" else "document"
        if params.get("messagetype", "edoc") not in ("edoc", "status"):
            raise RefusalError("BAD_REQUEST", f"unknown messagetype {params['messagetype']!r}")
        doc_id, _ = self.queue.accept(body, kind, sender, to)
        return {"DocId": doc_id}

    def _waiting(self, caller: AxisSystem, params: Mapping[str, str]) -> Any:
        kind = "document" if params.get("messagetype", "edoc") == "edoc" else "status"
        size = _params.count(params.get("pageSize"), "pageSize", default=50, low=1, high=1000)
        index = _params.count(params.get("pageIndex"), "pageIndex", default=1, low=1,
                              high=1_000_000)
        since, until = (_params.day(params.get(name), _DATE_FORMAT, dt.UTC, name)
                        for name in ("fromDate", "toDate"))
        return self.queue.waiting(caller.organs, kind, since=since, until=until, page=index,
                                  page_size=size), kind

    def _received(self, caller: AxisSystem, params: dict[str, str],
                  request: Request) -> dict[str, Any]:
        page, _ = self._waiting(caller, params)
        return {"data": [_item(queued) for queued in page.items],
                "total": page.total}

    def _own(self, caller: AxisSystem, params: Mapping[str, str]) -> Any:
        return self.queue.own(caller.organs, _params.doc_id(params.get("docId", ""))).delivery

    def _get(self, caller: AxisSystem, params: dict[str, str],
             request: Request) -> dict[str, Any]:
        delivery = self._own(caller, params)
        return {"data": pybase64.b64encode(self.queue.packet(delivery)).decode(),
                "DocId": str(delivery.id)}

    def _download(self, caller: AxisSystem, params: dict[str, str],
                  request: Request) -> Response:
        delivery = self._own(caller, params)
        return Response(self.queue.packet(delivery), content_type="application/octet-stream",
                        headers={"DocId": str(delivery.id)})

    def _update(self, caller: AxisSystem, params: dict[str, str],
                request: Request) -> dict[str, Any]:
        delivery = self._own(caller, params)
        self.queue.settle(delivery, params.get("status", ""), caller.system_id)
        return {"DocId": str(delivery.id)}

    def _sent(self, caller: AxisSystem, params: dict[str, str],
              request: Request) -> dict[str, Any]:
        data = []
        for organ in caller.organs:
            for document, delivery in self.queue.sent(OrganCode(organ)):
                sent = document.created_at.astimezone(DEFAULT_TZ).strftime(_DATE_FORMAT)
                received = delivery.next_attempt_at.astimezone(DEFAULT_TZ).strftime(
                    _DATE_FORMAT) \
                    if delivery.transport_state == TransportState.ACKNOWLEDGED else ""
                data.append(SentItem(
                    str(document.id), str(delivery.id), delivery.recipient,
                    delivery.business_state or "", delivery.transport_state,
                ).wire(fromCode=document.sender, title=document.subject,
                       notation=document.code, sentTime=sent, receivedTime=received))
        return {"data": data}

    def _count(self, caller: AxisSystem, params: dict[str, str],
               request: Request) -> dict[str, Any]:
        kind = "edoc" if request.path.strip("/") == "countReceiveEdoc" else "status"
        page, _ = self._waiting(caller, {"messagetype": kind, "pageSize": "1"})
        return {"count": page.total}

    def _agencies(self, caller: AxisSystem, params: dict[str, str],
                  request: Request) -> dict[str, Any]:
        agencies = self.queue.agencies()
        ids = agency_ids(agencies)
        return {"data": [{"id": ids[agency.code], "pid": ids.get(agency.parent, ""),
                          "code": agency.code, "pcode": agency.parent, "name": agency.name,
                          "mail": agency.mail, "oldCode": agency.old_code}
                         for agency in agencies]}

    def _register(self, caller: AxisSystem, params: dict[str, str],
                  request: Request) -> dict[str, Any]:
        # Signed headers (docflow's client), or a JSON body whose Content-Type is signed
        # (the SDK's): never fields from a body the signature does not name.
        fields: Mapping[str, Any] = params if "code" in params else _json_body(request)
        self.queue.register(caller, str(fields.get("code", "")),
                            parent=str(fields.get("pcode") or ""), name=fields.get("name"),
                            mail=fields.get("mail"), old_code=fields.get("oldCode") or "")
        return {}

    def _delete(self, caller: AxisSystem, params: dict[str, str],
                request: Request) -> dict[str, Any]:
        code = params.get("AgencyCode") or params.get("code")  # signed headers only
        if not code:
            raise RefusalError("AUTH_OPERATION", "deleteAgency names its organ in a signed "
                               "AgencyCode header", 401)
        self.queue.unregister(caller, code)
        return {}

    # ------------------------------------------------------------------ a parent axis


def _item(queued: Queued) -> dict[str, str]:
    delivery = queued.delivery
    status = Outcome.PROCESSING if delivery.transport_state == TransportState.SENDING \
        else "pending"  # the wire word
    stamp = delivery.next_attempt_at.astimezone(DEFAULT_TZ).strftime(_DATE_FORMAT)
    return ReceivedItem(str(delivery.id), queued.sender, delivery.recipient,
                        "edoc" if queued.kind == "document" else "status", status,
                        stamp).wire()


def _json_body(request: Request) -> dict[str, Any]:
    """The fields of a JSON body (the SDK's registerAgency), read with the limits every
    outside JSON gets (size, depth, texts)."""
    return _params.json_object(request.get_data(cache=True))


def _ok(data: Mapping[str, Any]) -> Response:
    return json_response(ok_answer(data))


def _error(code: str, message: str, status: int) -> Response:
    return json_response(error_answer(code, message), status)
