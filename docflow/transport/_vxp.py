"""The national document axis's HTTP API (VDXP, re-exposed by every provincial LGSP): the
request signing both sides share, and :class:`VxpClient`, the second adapter of the
transport port.

Plain HTTP(S), not SOAP. Parameters travel as request headers ``XroadVnpt-<name>``; the
caller's system id (its organ code) and a timestamp travel the same way; the headers
named in ``XroadVnpt-sign-header-key`` (joined by ``;``) are repeated as one JSON object
in ``XroadVnpt-sign-header``, and ``XroadVnpt-hash-header`` is the hex HMAC-SHA256 of
that JSON text under the secret the axis operator issued with the system id. Responses
are JSON: ``{"status": "OK" | "FAIL", "ErrorCode": "0" | code, "ErrorDesc": ...}`` plus
the operation's data.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import hashlib
import hmac
import json
import re
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import pybase64
import requests

from docflow.agencies import Agency
from docflow.errors import OrganCodeError, TransportError
from docflow.lifecycle import Outcome
from docflow.model import OrganCode
from docflow.spool import PacketData, as_bytes
from docflow.transport._http import (
    CONNECT_RETRY,
    EnvironmentOnce,
    agency,
    json_object,
    listed,
    objects_in,
    reach,
    trust_https,
)
from docflow.transport.vdxp_wire import ReceivedItem, SentItem, succeeded

__all__ = [
    "HEADER_PREFIX",
    "VxpClient",
    "VxpItem",
    "VxpSent",
    "header_text",
    "sign_headers",
]

HEADER_PREFIX = "XroadVnpt-"
_DATE_FORMAT = "%d/%m/%Y %H:%M:%S"


def sign_headers(system_id: str, secret: str, params: Mapping[str, str], *,
                 now: dt.datetime) -> dict[str, str]:
    """The wire headers of a request: every parameter, the system id and the timestamp
    as ``XroadVnpt-*`` headers, all of them signed (key list, JSON, HMAC-SHA256)."""
    signed = {"systemid": system_id, "timestamp": str(int(now.timestamp() * 1000)),
              **params}
    text = json.dumps(signed, ensure_ascii=True, separators=(",", ":"))
    headers = {f"{HEADER_PREFIX}{name}": _header_value(value) for name, value in signed.items()}
    headers[f"{HEADER_PREFIX}sign-header-key"] = ";".join(signed)
    headers[f"{HEADER_PREFIX}sign-header"] = text
    headers[f"{HEADER_PREFIX}hash-header"] = hmac.new(
        secret.encode(), text.encode(), hashlib.sha256).hexdigest()
    return headers


def _header_value(value: str) -> str:
    """HTTP headers are printable Latin-1 on the wire: a non-ASCII value (an organ's
    name) or one with control characters travels as the inside of a JSON string, every
    escape a ``\\uXXXX`` one (a line break cannot go in a header); see
    :func:`header_text`."""
    if value.isascii() and value.isprintable():
        return value
    return _SHORT_ESCAPE.sub(_long_escape, json.dumps(value)[1:-1])


_SHORT_ESCAPE = re.compile(r'\\(["\\/bfnrt]|u[0-9a-fA-F]{4})')
_SHORT = {"b": "\\u0008", "f": "\\u000c", "n": "\\u000a", "r": "\\u000d", "t": "\\u0009"}


def _long_escape(match: re.Match[str]) -> str:
    return _SHORT.get(match[1], match[0])


def header_text(value: str) -> str:
    """The value :func:`_header_value` encoded (JSON escapes undone)."""
    if "\\u" not in value:
        return value
    try:
        decoded = json.loads(f'"{value}"')
    except ValueError:
        return value
    return decoded if isinstance(decoded, str) else value


#: a packet waiting for this organ at the axis (``getReceivedEdocList``)
VxpItem = ReceivedItem
#: one copy of a packet this organ sent (``getSentEdocList``)
VxpSent = SentItem


class VxpClient:
    """A client of the national axis (or of an LGSP that re-exposes its API).

    It is also a :class:`~docflow.transport.Transport`: ``send_document`` and
    ``send_status`` call ``sendEdoc``; the axis queues the packet (no synchronous
    receipt: the recipient's signed 01 comes back as a status packet).

    Args:
        base_url: the axis's address, e.g. ``https://axis.example/``.
        system_id: the caller's system id, as the axis operator issued it: often the
            organ code, sometimes not (``vxp.saas.03``).
        secret: the secret issued with the system id.
        organ: the organ code written as ``from`` on sendEdoc (default: the system id,
            when it is an organ code).
        timeout: seconds to connect and to wait for an answer.
        retries: how many times a request that could not connect is tried again
            (:data:`~docflow.transport._http.CONNECT_RETRY`'s delays; never after an answer
            from the axis, nor after a request the axis may have taken).
        ca_bundle: a CA file to verify HTTPS with (default: the system's).
        verify: check HTTPS certificates (False: no checks, logged as a warning).
    """

    def __init__(self, base_url: str, system_id: str, secret: str, *, timeout: float = 30.0,
                 retries: int = 2, ca_bundle: Path | None = None, verify: bool = True,
                 clock: Any = None, organ: OrganCode | str | None = None):
        self.base_url = base_url.rstrip("/") + "/"
        if not system_id or not system_id.isascii() or not system_id.isprintable():
            raise TransportError(f"system id {system_id!r} is not printable ASCII",
                                 hint="use the system id the axis operator issued")
        self.system_id = system_id
        if organ is None:
            try:
                organ = OrganCode.parse(system_id)
            except OrganCodeError:
                organ = None
        self.organ = OrganCode.parse(organ) if organ is not None else None
        self._secret = secret
        self.timeout = timeout
        self.retries = retries
        self.retry = dataclasses.replace(CONNECT_RETRY, max_attempts=retries + 1)
        self.session = EnvironmentOnce()
        trust_https(self.session, self.base_url, ca_bundle, verify)
        self._clock = clock or (lambda: dt.datetime.now(dt.UTC))

    def close(self) -> None:
        """Close the HTTP connections."""
        self.session.close()

    # ------------------------------------------------------------------ plumbing

    def _call(self, operation: str, params: Mapping[str, str] | None = None, *,
              body: bytes = b"", method: str = "POST") -> dict[str, Any]:
        url = self.base_url + operation

        def send() -> requests.Response:  # signed afresh each attempt (its timestamp)
            headers = sign_headers(self.system_id, self._secret, dict(params or {}),
                                   now=self._clock())
            return self.session.request(method, url, data=body, headers=headers,
                                        timeout=self.timeout)

        response = reach(send, url=url, platform="the axis", retry=self.retry)
        answer = json_object(response, url, "the axis")
        if not succeeded(answer):
            code, desc = answer.get("ErrorCode"), answer.get("ErrorDesc") or "refused"  # wire
            raise TransportError(f"the axis refused {operation}: {desc}",
                                 where=f"{url} (ErrorCode {code})",
                                 hint=f"axis error {code}")
        return answer

    # ------------------------------------------------------------------ the API

    def send_edoc(self, packet: bytes, *, to: Sequence[OrganCode | str],
                  message_type: str = "edoc", sender: str | None = None) -> str:
        """``sendEdoc``: queue a packet for the organs in ``to``; returns its DocId."""
        sender = sender or (str(self.organ) if self.organ is not None else None)
        if sender is None:
            raise TransportError(f"system id {self.system_id} is not an organ code and no "
                                 "sender was given", where="sendEdoc from",
                                 hint="pass organ= to VxpClient (the node's organ code)")
        answer = self._call("sendEdoc", {
            "from": sender,
            "to": json.dumps([str(code) for code in to]),
            "servicetype": "edoc",
            "messagetype": message_type,
            "hash-file": hashlib.sha256(packet).hexdigest(),
        }, body=packet)
        return str(answer.get("DocId", ""))

    def received(self, *, message_type: str = "edoc", since: dt.datetime | None = None,
                 until: dt.datetime | None = None, page_size: int = 50,
                 page_index: int = 1) -> list[VxpItem]:
        """``getReceivedEdocList``: packets waiting for this organ (until acknowledged)."""
        params = {"messagetype": message_type, "pageSize": str(page_size),
                  "pageIndex": str(page_index)}
        if since is not None:
            params["fromDate"] = since.astimezone(dt.UTC).strftime(_DATE_FORMAT)
        if until is not None:
            params["toDate"] = until.astimezone(dt.UTC).strftime(_DATE_FORMAT)
        answer = self._call("getReceivedEdocList", params)
        return [ReceivedItem.read(doc_id, item)
                for doc_id, item in listed(answer, "data", "the axis", self.base_url)]

    def get_edoc(self, doc_id: str) -> bytes:
        """``getEdoc``: the packet's bytes."""
        answer = self._call("getEdoc", {"docId": doc_id})
        try:
            return pybase64.b64decode(str(answer["data"]), validate=True)
        except (KeyError, ValueError) as exc:
            raise TransportError("getEdoc answered without base64 data",
                                 where=f"docId {doc_id}") from exc

    def update_status(self, doc_id: str, status: Outcome | str) -> None:
        """``updateStatus``: ``done``, ``fail`` or ``processing`` (the transport's
        acknowledgement, not a business status)."""
        if status not in tuple(Outcome):
            raise TransportError(f"unknown transport status {status!r}",
                                 hint="done, fail or processing")
        self._call("updateStatus", {"docId": doc_id, "status": status})

    def sent(self, *, page_size: int = 50, page_index: int = 1) -> list[VxpSent]:
        """``getSentEdocList``: each copy this organ sent, with its receive status."""
        answer = self._call("getSentEdocList", {"pageSize": str(page_size),
                                                "pageIndex": str(page_index)})
        return [SentItem.read(item)
                for item in objects_in(answer, "data", "the axis", self.base_url)]

    def count_received(self, message_type: str = "edoc") -> int:
        """``countReceiveEdoc`` / ``countReceiveStatus``."""
        operation = "countReceiveEdoc" if message_type == "edoc" else "countReceiveStatus"
        count = self._call(operation, method="GET").get("count", 0)
        if isinstance(count, bool) or not isinstance(count, int | str) or not str(
                count).isascii() or not str(count).isdigit():
            raise TransportError(f"{operation} answered a count that is not a number: "
                                 f"{count!r:.40}", where=self.base_url)
        return int(count)

    def agencies(self) -> list[Agency]:
        """``getAgenciesList``: the organs the axis knows."""
        return [agency(item) for item in objects_in(self._call("getAgenciesList"), "data",
                                                    "the axis", self.base_url)]

    def register_agency(self, code: OrganCode | str, name: str, *, parent: str = "",
                        mail: str = "") -> None:
        """``registerAgency``: make an organ known to the axis (``parent``: the code of
        the LGSP that serves it, if any)."""
        self._call("registerAgency", {"code": str(OrganCode.parse(code)), "pcode": parent,
                                      "name": name, "mail": mail})

    def delete_agency(self, code: OrganCode | str) -> None:
        """``deleteAgency``."""
        self._call("deleteAgency", {"code": str(OrganCode.parse(code))})

    # ------------------------------------------------------------------ transport port

    def send_document(self, recipient: OrganCode, packet: PacketData, *,
                      via: OrganCode | None = None) -> bytes | None:
        """Queue a document at the axis for ``recipient`` (no receipt now: None)."""
        self.send_edoc(as_bytes(packet), to=[recipient], message_type="edoc")
        return None

    def send_status(self, recipient: OrganCode, packet: PacketData, *,
                    via: OrganCode | None = None) -> None:
        """Queue a status packet at the axis for ``recipient``."""
        self.send_edoc(as_bytes(packet), to=[recipient], message_type="status")
