"""The token-login REST LGSP dialect (a northern province's platform): a client that
speaks it as the real vendor client does (``lgsp-real.service.ts`` of a deployed
document system; ``../shared/EDXML.md``, "Provincial LGSP dialects").

- ``POST /v1/auth/login?allow_anonymous=true`` with JSON ``username``, ``password``,
  ``applicationCode`` (and ``otp``, ``twoFactorProvider`` null, ``typeObjs`` [0, 1]):
  ``{code: 200, data: {token}}``; the token lives 30 minutes (the client keeps it 29, and
  logs in again once when a call answers 401).
- Every document call carries ``Authorization: Bearer <token>``, ``X-SystemId`` and
  ``X-SecretKey``.
- ``POST /v1/sendEdoc``: multipart ``edocFile`` (``application/xml``, ``<code>.edxml``)
  and ``messageType``: ``{code: 200, data: {status: "OK", docId}}``.
- ``GET /v1/syncReceivedEdocList?messageType=&fromDate=yyyy/MM/dd&toDate=...``:
  ``{success, count, data: [{docId, from, to, status, statusDesc, createdTime, ...}]}``.
- ``GET /v1/getEdoc?docId=``: ``{success, data: {docId, from, edxml}}`` (the packet's text).
- ``POST /v1/updateStatus`` JSON ``{docId, status}``: ``{success: true}``.
- ``GET /v1/getAgenciesList`` (the token alone): ``{data: {content: [{id, code, name,
  centerCode, parentId, ...}]}}``.

Also a :class:`~docflow.transport.Transport` and an
:class:`~docflow.transport.AxisChannel`: a node sends and polls through it.
"""

from __future__ import annotations

import datetime as dt
import functools
from collections.abc import Mapping
from pathlib import Path
from typing import Any
from urllib.parse import quote

import pybase64

from docflow.agencies import Agency
from docflow.errors import TransportError
from docflow.model import DEFAULT_TZ
from docflow.transport._http import (
    EnvironmentOnce,
    PlatformSender,
    agency,
    json_object,
    listed,
    object_in,
    objects_in,
    reach,
    trust_https,
)
from docflow.transport.lgsp_token_wire import ReceivedItem, listed_ok

__all__ = ["LgspItem", "TokenLgspClient"]

#: the platform's token lifetime is 30 minutes: keep one a little shorter
TOKEN_LIFETIME = dt.timedelta(minutes=29)


#: a packet waiting at the LGSP (``syncReceivedEdocList``)
LgspItem = ReceivedItem


class TokenLgspClient(PlatformSender):
    """A client of a token-login REST LGSP (see the module docstring).

    Args:
        base_url: the platform's address.
        system_id: the unit's system id (``X-SystemId``).
        secret: the unit's secret key (``X-SecretKey``).
        username, password, application_code: the login of the platform account.
        timeout: seconds to connect and to wait for an answer.
        days: how far back a poll lists packets (``fromDate``).
        clock: where "now" comes from (token expiry, the poll's dates).
        ca_bundle: a CA file to verify HTTPS with (default: the system's).
        verify: check HTTPS certificates (False: no checks, logged as a warning).
    """

    def __init__(self, base_url: str, system_id: str, secret: str, *, username: str,
                 password: str, application_code: str, timeout: float = 30.0,
                 days: int = 7, ca_bundle: Path | None = None, verify: bool = True,
                 clock: Any = None):
        self.base_url = base_url.rstrip("/") + "/"
        self.system_id, self._secret = system_id, secret
        self._login = {"username": username, "password": password,
                       "applicationCode": application_code, "otp": None,
                       "twoFactorProvider": None, "typeObjs": [0, 1]}
        self.timeout, self.days = timeout, days
        self.session = EnvironmentOnce()
        trust_https(self.session, self.base_url, ca_bundle, verify)
        self._clock = clock or (lambda: dt.datetime.now(dt.UTC))
        self._token: str | None = None
        self._expires = dt.datetime.min.replace(tzinfo=dt.UTC)

    def close(self) -> None:
        """Close the HTTP connections."""
        self.session.close()

    # ------------------------------------------------------------------ plumbing

    def token(self) -> str:
        """A valid login token (logging in when there is none or it is about to end)."""
        if self._token is None or self._clock() >= self._expires:
            answer = self._json("POST", "v1/auth/login?allow_anonymous=true",
                                json_body=self._login, authorised=False)
            token = object_in(answer, "data", "the LGSP", self.base_url).get("token") or (
                answer.get("token"))
            if not token:
                raise TransportError(f"the LGSP login failed: {answer.get('message')}",
                                     where=self.base_url, hint="check username, password "
                                     "and applicationCode")
            if not isinstance(token, str):
                raise TransportError("the LGSP login answered a token that is not text",
                                     where=self.base_url)
            self._token, self._expires = token, self._clock() + TOKEN_LIFETIME
        return self._token

    def _headers(self, *, unit: bool = True) -> dict[str, str]:
        headers = {"Authorization": f"Bearer {self.token()}", "Accept": "application/json"}
        if unit:
            headers.update({"X-SystemId": self.system_id, "X-SecretKey": self._secret})
        return headers

    def _json(self, method: str, path: str, *, json_body: Any = None,
              files: Mapping[str, Any] | None = None, data: Mapping[str, str] | None = None,
              authorised: bool = True, unit: bool = True) -> dict[str, Any]:
        url = self.base_url + path
        for attempt in (1, 2):
            headers = self._headers(unit=unit) if authorised else {}
            response = reach(functools.partial(
                self.session.request, method, url, json=json_body, files=files, data=data,
                headers=headers, timeout=self.timeout), url=url, platform="the LGSP")
            if response.status_code == 401 and authorised and attempt == 1:
                self._token = None  # expired early (a restarted platform): log in again
                continue
            answer = json_object(response, url, "the LGSP")
            if response.status_code >= 400:
                raise TransportError(f"the LGSP refused {path}: {answer.get('message')}",
                                     where=f"{url} (HTTP {response.status_code})")
            return answer
        raise TransportError("the LGSP refused the login token twice", where=url)

    # ------------------------------------------------------------------ the API

    def send_edoc(self, packet: bytes, *, message_type: str = "edoc",
                  name: str = "edoc") -> str:
        """``sendEdoc``: the platform reads the recipients from the packet; its docId.
        Read as the vendor's client reads it: ``success`` (or, from platforms that do not
        write it, ``code`` 200 with ``data.status`` OK), the docId at the root or in
        ``data``."""
        answer = self._json("POST", "v1/sendEdoc", data={"messageType": message_type},
                            files={"edocFile": (f"{name}.edxml", packet, "application/xml")})
        data = object_in(answer, "data", "the LGSP", self.base_url)
        ok = answer.get("success") is True if "success" in answer else (
            answer.get("code") in (200, 0, "200") and str(data.get("status", "")).upper() in (
                "OK", "SUCCESS"))
        if not ok or answer.get("errorDetail"):
            raise TransportError(f"the LGSP refused sendEdoc: {answer.get('message')} "
                                 f"({data.get('errorCode')}: {data.get('errorDesc')})",
                                 where=self.base_url)
        return str(answer.get("docId") or data.get("docId") or "")

    def received(self, *, message_type: str = "edoc", page_size: int = 50) -> list[LgspItem]:
        """``syncReceivedEdocList``: what waits for this unit (the last ``days`` days)."""
        today = self._clock().astimezone(DEFAULT_TZ).date()
        since = today - dt.timedelta(days=self.days)
        answer = self._json("GET", f"v1/syncReceivedEdocList?messageType={message_type}"
                            f"&fromDate={since:%Y/%m/%d}&toDate={today:%Y/%m/%d}")
        if not listed_ok(answer):
            raise TransportError(f"the LGSP refused syncReceivedEdocList: "
                                 f"{answer.get('message')}", where=self.base_url)
        items = [ReceivedItem.read(doc_id, item)
                 for doc_id, item in listed(answer, "data", "the LGSP", self.base_url)]
        return items[:page_size]

    def get_edoc(self, doc_id: str) -> bytes:
        """``getEdoc``: the packet (its text, or base64 for packets that are not UTF-8)."""
        answer = self._json("GET", f"v1/getEdoc?docId={quote(doc_id, safe='')}")
        data = object_in(answer, "data", "the LGSP", f"docId {doc_id}")
        text = data.get("edxml")
        if not answer.get("success") or not isinstance(text, str):
            raise TransportError("getEdoc answered without the packet", where=f"docId {doc_id}")
        if text.lstrip("\ufeff \t\r\n").startswith("<"):
            return text.encode("utf-8")
        try:
            return pybase64.b64decode(text, validate=True)
        except ValueError as exc:
            raise TransportError("getEdoc answered neither XML nor base64",
                                 where=f"docId {doc_id}") from exc

    def update_status(self, doc_id: str, status: str) -> None:
        """``updateStatus``: ``done``, ``fail`` (the transport's acknowledgement) or a
        status code of QĐ 28 (``03``...)."""
        answer = self._json("POST", "v1/updateStatus",
                            json_body={"docId": doc_id, "status": status})
        if not answer.get("success"):
            raise TransportError(f"the LGSP refused updateStatus: {answer.get('message')}",
                                 where=f"docId {doc_id}")

    def agencies(self) -> list[Agency]:
        """``getAgenciesList``: the organs the platform knows (the token alone). Read in
        both shapes that circulate: ``data`` a list of ``{orgCode, orgName, parentCode,
        email, ...}`` (the vendor client's contract) or ``data.content`` of ``{code, name,
        centerCode, ...}``; each row read as an :class:`~docflow.agencies.Agency`."""
        answer = self._json("GET", "v1/getAgenciesList", unit=False)
        raw = answer.get("data")
        rows = (objects_in(answer, "data", "the LGSP", self.base_url) if isinstance(raw, list)
                else objects_in(object_in(answer, "data", "the LGSP", self.base_url),
                                "content", "the LGSP", self.base_url))
        return [agency(row) for row in rows]
