"""A local emulator of the national axis / an LGSP: the same HTTP API as
:class:`~docflow.transport.VxpClient` speaks, as a WSGI application over a docflow store.

Every request is authenticated (known system id, HMAC over the signed headers, every
signed header equal to the one sent, a fresh timestamp); a refusal is the axis's error
JSON and changes nothing. ``sendEdoc`` checks the ``hash-file`` header against the body,
that ``from`` is the caller (unless the caller is a relaying LGSP), that the packet is a
valid edXML document or status packet from that organ, addressed to the organs in ``to``
(documents), optionally that its signature verifies (``trust``); then it queues one copy
per organ in ``to`` in the store (a hub's relay: idempotent per message id). Each organ
lists what waits for it (its own copies, and those of the organs registered with it as
their parent, for an LGSP polling its axis), fetches packets with ``getEdoc`` and
acknowledges each with ``updateStatus``: a copy stays listed until ``done`` (so a client
that crashes between ``getEdoc`` and ``updateStatus`` gets it again), ``fail`` counts as a
failed attempt (retried, then dead-lettered), ``processing`` leases it.

Registrations (``registerAgency``, ``deleteAgency``, ``getAgenciesList``) are rows of the
store, audited, and outlive a restart; every configured system is registered at start if
it is not already.

``POST /echo`` answers its body back without authentication: the benchmark's baseline.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import hmac
import json
import logging
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

import pybase64
from werkzeug.wrappers import Request, Response

from docflow.clock import Clock, system_clock
from docflow.envelope import Envelope, ParseLimits, read_packet
from docflow.errors import DocflowError, NotFoundError
from docflow.model import OrganCode, StatusInfo
from docflow.security import TrustStore, verify
from docflow.store import DeliveryView, Store
from docflow.transport._vxp import HEADER_PREFIX, VxpClient, header_text

__all__ = ["AxisApp", "AxisSystem"]

_LOG = logging.getLogger("docflow.axis")
_WAITING = ("queued", "retrying", "sending")
_DATE_FORMAT = "%d/%m/%Y %H:%M:%S"


@dataclass(frozen=True)
class AxisSystem:
    """A caller the axis knows: its system id (organ code), its secret, and whether it
    may send on behalf of other organs (an LGSP relaying its organs' packets)."""

    system_id: str
    secret: str
    name: str = ""
    relay: bool = False


class _RefusalError(Exception):
    def __init__(self, code: str, message: str, status: int = 400):
        super().__init__(message)
        self.code, self.message, self.status = code, message, status


class AxisApp:
    """The axis emulator (see the module docstring).

    Args:
        code: the axis's own organ code (its store rows are kept under it).
        store: where the packets wait.
        systems: the callers it knows.
        trust: when given, packets must also carry a valid signature from their sender.
        clock: where "now" comes from.
        skew: how far a request's timestamp may be from the axis's clock.
        max_body: the largest packet accepted, in bytes.
        parent: the axis above this one (an LGSP's national axis), with this axis's own
            system id there (a relaying system): packets for organs not registered here
            are queued for it, and :meth:`forward` exchanges them.
    """

    def __init__(self, code: OrganCode | str, store: Store, systems: Iterable[AxisSystem], *,
                 trust: TrustStore | None = None, clock: Clock = system_clock,
                 skew: dt.timedelta = dt.timedelta(minutes=5),
                 max_body: int = 50 * 1024 * 1024, parent: VxpClient | None = None):
        self.code = str(OrganCode.parse(code))
        self.store = store
        self.systems = {str(OrganCode.parse(system.system_id)): system for system in systems}
        self.trust = trust
        self.clock = clock
        self.skew = skew
        self.max_body = max_body
        self.parent = parent
        for code, system in self.systems.items():
            store.register_agency(self.code, code, name=system.name, replace=False,
                                  now=clock())
        self._routes = {
            "sendEdoc": self._send, "getReceivedEdocList": self._received,
            "getEdoc": self._get, "updateStatus": self._update, "getSentEdocList": self._sent,
            "countReceiveEdoc": self._count, "countReceiveStatus": self._count,
            "getAgenciesList": self._agencies, "registerAgency": self._register,
            "deleteAgency": self._delete,
        }

    def __call__(self, environ: dict[str, Any], start_response: Any) -> Iterable[bytes]:
        response = self.handle(Request(environ))
        result: Iterable[bytes] = response(environ, start_response)
        return result

    def handle(self, request: Request) -> Response:
        """Answer one HTTP request."""
        operation = request.path.strip("/")
        if operation == "echo" and request.method == "POST":
            return Response(request.get_data(), content_type="application/octet-stream")
        handler = self._routes.get(operation)
        try:
            if handler is None:
                raise _RefusalError("NOT_FOUND", f"unknown operation {operation!r}", 404)
            if request.content_length is not None and request.content_length > self.max_body:
                raise _RefusalError("TOO_LARGE", f"request exceeds {self.max_body} bytes", 413)
            caller, params = self._authenticate(request)
            return _ok(handler(caller, params, request))
        except _RefusalError as refusal:
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
                raise _RefusalError("AUTH_MISSING", f"missing header {HEADER_PREFIX}{name}", 401)
            return value

        system = self.systems.get(header("systemid"))
        if system is None:
            raise _RefusalError("AUTH_UNKNOWN_SYSTEM", "unknown system id", 401)
        text = header("sign-header")
        expected = hmac.new(system.secret.encode(), text.encode(), hashlib.sha256).hexdigest()
        if not hmac.compare_digest(expected, header("hash-header")):
            raise _RefusalError("AUTH_BAD_SIGNATURE", "the request's HMAC does not verify", 401)
        try:
            signed = json.loads(text)
        except ValueError as exc:
            raise _RefusalError("AUTH_BAD_SIGNATURE", "sign-header is not JSON", 401) from exc
        keys = header("sign-header-key").split(";")
        if not isinstance(signed, dict) or set(keys) != set(signed) or not all(
                isinstance(value, str) for value in signed.values()):
            raise _RefusalError("AUTH_BAD_SIGNATURE", "signed keys and sign-header disagree", 401)
        for key in keys:
            if header_text(header(key)) != signed[key]:
                raise _RefusalError("AUTH_HEADER_MISMATCH", f"header {key} differs from the "
                               "signed value", 401)
        if signed.get("systemid") != system.system_id or "timestamp" not in signed:
            raise _RefusalError("AUTH_BAD_SIGNATURE", "systemid and timestamp must be signed", 401)
        try:
            sent = dt.datetime.fromtimestamp(int(signed["timestamp"]) / 1000, dt.UTC)
        except (ValueError, OverflowError) as exc:
            raise _RefusalError("AUTH_STALE", "timestamp is not epoch milliseconds", 401) from exc
        if abs(self.clock() - sent) > self.skew:
            raise _RefusalError("AUTH_STALE", f"timestamp {sent:%Y-%m-%d %H:%M:%S} is more than "
                           f"{self.skew} away", 401)
        return system, signed

    # ------------------------------------------------------------------ operations

    def _send(self, caller: AxisSystem, params: dict[str, str],
              request: Request) -> dict[str, Any]:
        body = request.stream.read(self.max_body + 1)
        if len(body) > self.max_body:
            raise _RefusalError("TOO_LARGE", f"packet exceeds {self.max_body} bytes", 413)
        if hashlib.sha256(body).hexdigest() != params.get("hash-file", "").lower():
            raise _RefusalError("HASH_MISMATCH", "hash-file does not match the body")
        sender = params.get("from", "")
        if sender != caller.system_id and not caller.relay:
            raise _RefusalError("FROM_MISMATCH", f"from {sender!r} is not the caller")
        try:
            to = [str(OrganCode.parse(code)) for code in json.loads(params.get("to", "[]"))]
        except (ValueError, TypeError, DocflowError) as exc:
            raise _RefusalError("BAD_REQUEST", "to must be a JSON array of organ codes") from exc
        if not to:
            raise _RefusalError("BAD_REQUEST", "to names no organ")
        known = {agency.code for agency in self.store.agencies(self.code, codes=to)}
        unknown = [code for code in to if code not in known]
        if unknown and self.parent is None:
            raise _RefusalError("UNKNOWN_ORGAN", f"not registered with the axis: {unknown}")
        return {"DocId": self._accept(body, params.get("messagetype", "edoc"), sender, to,
                                      self.clock())}

    def _accept(self, body: bytes, kind: str, sender: str, to: list[str],
                now: dt.datetime) -> str:
        """Check a packet and queue it for each organ in ``to``; returns its DocId."""
        limits = ParseLimits(max_bytes=self.max_body)
        # Read as the real axis reads: any layout the real network writes (its findings
        # refuse only what cannot be used); hostile input is refused by the same loader.
        packet = read_packet(body, limits=limits).accepted()
        if kind == "edoc":
            if not isinstance(packet, Envelope):
                raise _RefusalError("BAD_REQUEST", "messagetype edoc but a status packet")
            envelope = packet
            self._check_sender(str(envelope.info.sender.code), sender, body)
            addressed = {str(organ.code) for organ in envelope.info.recipients}
            stray = [code for code in to if code not in addressed]
            if stray:
                raise _RefusalError("NOT_ADDRESSED", f"the document is not addressed to {stray}")
            refs = [self.store.relay(envelope, body, hub=self.code, recipient=code,
                                     forwarded=lambda: body, receipt=lambda: b"axis",
                                     now=now).document_ref for code in to]
            return str(refs[0])
        if kind == "status":
            if not isinstance(packet, StatusInfo):
                raise _RefusalError("BAD_REQUEST", "messagetype status but a document")
            status = packet
            self._check_sender(str(status.sender.code), sender, body)
            ids = [self.store.relay_status(status, body, hub=self.code, recipient=code,
                                           now=now).delivery_id for code in to]
            return str(ids[0])
        raise _RefusalError("BAD_REQUEST", f"unknown messagetype {kind!r}")

    def forward(self, *, limit: int = 100) -> int:
        """One exchange with the parent axis: push up what waits here for organs not
        registered here (acknowledged here once the parent took it), and take in what
        waits at the parent for this axis's organs (acknowledged there once stored here).
        Returns how many packets moved."""
        if self.parent is None:
            return 0
        moved, now = 0, self.clock()
        for kind, message_type in (("document", "edoc"), ("status", "status")):
            waiting = self.store.deliveries(organ=self.code, kind=kind,
                                            transport_state=("queued", "retrying"),
                                            page_size=limit).items
            registered = {agency.code for agency in self.store.agencies(
                self.code, codes=sorted({delivery.recipient for delivery in waiting}))}
            for delivery in waiting:
                if delivery.recipient in registered:
                    continue
                packet = self.store.delivery_packet(delivery.id)
                sender = self._sender_of(packet, kind)
                self.store.hand_over(delivery.id, f"parent:{self.code}", now=now)
                try:
                    self.parent.send_edoc(packet, to=[delivery.recipient],
                                          message_type=message_type, sender=sender)
                except DocflowError as exc:
                    self.store.fail(delivery.id, f"parent axis: {exc}", now=now)
                    continue
                self.store.acknowledge(delivery.id, transport_only=True, now=now)
                moved += 1
            for item in self.parent.received(message_type=message_type, page_size=limit):
                packet = self.parent.get_edoc(item.doc_id)
                try:
                    self._accept(packet, message_type, self._sender_of(packet, kind),
                                 [item.to], now)
                except DocflowError as exc:
                    _LOG.warning("refused a packet from the parent axis: %s", exc)
                    self.parent.update_status(item.doc_id, "fail")
                    continue
                self.parent.update_status(item.doc_id, "done")
                moved += 1
        return moved

    @staticmethod
    def _sender_of(packet: bytes, kind: str) -> str:
        read = read_packet(packet).accepted()
        return str(read.info.sender.code if isinstance(read, Envelope) else read.sender.code)

    def _check_sender(self, packet_sender: str, sender: str, body: bytes) -> None:
        if packet_sender != sender:
            raise _RefusalError("FROM_MISMATCH",
                                f"the packet is from {packet_sender}, not {sender}")
        if self.trust is not None:
            verify(body, self.trust, now=self.clock())

    def _mine(self, caller: AxisSystem) -> list[str]:
        served = self.store.agencies(self.code, parent=caller.system_id)
        return [caller.system_id, *(agency.code for agency in served)]

    def _waiting(self, caller: AxisSystem, params: dict[str, str]) -> Any:
        kind = "document" if params.get("messagetype", "edoc") == "edoc" else "status"
        try:
            size = max(1, min(1000, int(params.get("pageSize", "50"))))
            index = max(1, int(params.get("pageIndex", "1")))
            since, until = (_date(params.get(name)) for name in ("fromDate", "toDate"))
        except ValueError as exc:
            raise _RefusalError("BAD_REQUEST", f"bad paging or dates: {exc}") from exc
        return self.store.deliveries(organ=self.code, recipient=self._mine(caller), kind=kind,
                                     transport_state=_WAITING, since=since, until=until,
                                     page=index, page_size=size), kind

    def _received(self, caller: AxisSystem, params: dict[str, str],
                  request: Request) -> dict[str, Any]:
        page, kind = self._waiting(caller, params)
        data = [self._item(delivery, kind) for delivery in page.items]
        return {"data": data, "total": page.total}

    def _item(self, delivery: DeliveryView, kind: str) -> dict[str, str]:
        document = self.store.document(delivery.document_ref)
        sender = document.sender
        if kind == "status":
            sender = self._sender_of(self.store.delivery_packet(delivery.id), "status")
        return {"docId": str(delivery.id), "from": sender, "to": delivery.recipient,
                "messageType": "edoc" if kind == "document" else "status",
                "status": "processing" if delivery.transport_state == "sending" else "pending",
                "created_time": delivery.next_attempt_at.strftime(_DATE_FORMAT)}

    def _own(self, caller: AxisSystem, params: dict[str, str]) -> DeliveryView:
        try:
            delivery = self.store.delivery(int(params.get("docId", "")))
        except ValueError as exc:
            raise _RefusalError("BAD_REQUEST", "docId must be a number") from exc
        if delivery.recipient not in self._mine(caller) or self.store.document(
                delivery.document_ref).organ != self.code:
            raise NotFoundError("no such packet for this organ",
                                where=f"docId {params.get('docId')}")
        return delivery

    def _get(self, caller: AxisSystem, params: dict[str, str],
             request: Request) -> dict[str, Any]:
        delivery = self._own(caller, params)
        return {"data": pybase64.b64encode(self.store.delivery_packet(delivery.id)).decode()}

    def _update(self, caller: AxisSystem, params: dict[str, str],
                request: Request) -> dict[str, Any]:
        delivery = self._own(caller, params)
        status, now = params.get("status"), self.clock()
        if delivery.transport_state == "acknowledged":
            return {}  # done already: acknowledging twice is harmless
        if status == "done":
            self.store.hand_over(delivery.id, caller.system_id, now=now)
            self.store.acknowledge(delivery.id, transport_only=True, now=now)
        elif status == "fail":
            self.store.hand_over(delivery.id, caller.system_id, now=now)
            self.store.fail(delivery.id, f"{caller.system_id} reported fail", now=now)
        elif status == "processing":
            self.store.hand_over(delivery.id, caller.system_id, now=now)
        else:
            raise _RefusalError("BAD_REQUEST", "status must be done, fail or processing")
        return {}

    def _sent(self, caller: AxisSystem, params: dict[str, str],
              request: Request) -> dict[str, Any]:
        documents = self.store.documents(organ=self.code, direction="hop",
                                         sender=caller.system_id, page_size=1000).items
        data = []
        for document in documents:
            for delivery in self.store.deliveries(document_ref=document.id, kind="document",
                                                  page_size=1000).items:
                data.append({"senderDocId": str(document.id), "receiverDocId": str(delivery.id),
                             "toCode": delivery.recipient,
                             "receiveStatus": delivery.business_state or "",
                             "sendStatus": delivery.transport_state})
        return {"data": data}

    def _count(self, caller: AxisSystem, params: dict[str, str],
               request: Request) -> dict[str, Any]:
        kind = "edoc" if request.path.strip("/") == "countReceiveEdoc" else "status"
        page, _ = self._waiting(caller, {"messagetype": kind, "pageSize": "1"})
        return {"count": page.total}

    def _agencies(self, caller: AxisSystem, params: dict[str, str],
                  request: Request) -> dict[str, Any]:
        return {"data": [{"code": agency.code, "pcode": agency.parent, "name": agency.name,
                          "mail": agency.mail} for agency in self.store.agencies(self.code)]}

    def _register(self, caller: AxisSystem, params: dict[str, str],
                  request: Request) -> dict[str, Any]:
        try:
            code = str(OrganCode.parse(params.get("code", "")))
        except DocflowError as exc:
            raise _RefusalError("BAD_REQUEST", f"code: {exc}") from exc
        if params.get("pcode") not in ("", caller.system_id) and not caller.relay:
            raise _RefusalError("FROM_MISMATCH", "an organ registers itself or its own organs")
        self.store.register_agency(self.code, code, parent=params.get("pcode", ""),
                                   name=params.get("name", ""), mail=params.get("mail", ""),
                                   now=self.clock())
        return {}

    def _delete(self, caller: AxisSystem, params: dict[str, str],
                request: Request) -> dict[str, Any]:
        code = params.get("code", "")
        found = self.store.agencies(self.code, codes=[code])
        if not found:
            raise NotFoundError("unknown agency", where=code)
        if caller.system_id not in (code, found[0].parent) and not caller.relay:
            raise _RefusalError("FROM_MISMATCH", "an organ deletes itself or its own organs")
        self.store.delete_agency(self.code, code, now=self.clock())
        return {}


def _date(value: str | None) -> dt.datetime | None:
    if not value:
        return None
    return dt.datetime.strptime(value, _DATE_FORMAT).replace(tzinfo=dt.UTC)


def _ok(data: Mapping[str, Any]) -> Response:
    body = {"status": "OK", "ErrorCode": "0", "ErrorDesc": "", **data}
    return Response(json.dumps(body, ensure_ascii=False), content_type="application/json")


def _error(code: str, message: str, status: int) -> Response:
    body = {"status": "FAIL", "ErrorCode": code, "ErrorDesc": message}
    return Response(json.dumps(body, ensure_ascii=False), status=status,
                    content_type="application/json")
