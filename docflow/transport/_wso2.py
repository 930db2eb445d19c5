"""Quảng Nam's "Trục liên thông" on WSO2 API Manager: a client as the platform's example
client calls it (``all4u1089/truclienthong-example``; ``../shared/EDXML.md``).

- An OAuth2 access token by the **client-credentials** grant from ``{gateway}/token``
  (the consumer key and secret), fetched and renewed by authlib's OAuth2 session, sent
  as ``Authorization: Bearer``.
- The API under ``{gateway}/truclienthong/v1.0.0``, a per-unit secret (``secret``, the
  unit's identifier) on every call: ``GET vanbans`` (the incoming list), ``GET
  vanbans/{docId}`` (the packet in base64), ``POST vanbans`` (a packet in base64,
  ``loaiVanBan=edoc``: its docId), ``PUT vanbans/{docId}`` (``status`` INITIAL,
  PROCESSING, DONE or FAIL), ``GET donvilienthongs`` (the whole country), ``GET
  donvilienthongs/qn`` (the province), ``POST donvilienthongs`` (register ``{code,
  pcode, name, email, fax, mobile}``), ``PUT donvilienthongs`` (unregister by
  ``agencyCode``). Answers: ``{status, errorCode, errorDesc, data}``.

Where each parameter travels (header, query or form) is not public: it is data of the
:class:`Wso2Profile` (the default is an assumption, documented in the README), shared by
this client and the emulator. Also a :class:`~docflow.transport.Transport` and an
:class:`~docflow.transport.AxisChannel`.
"""

from __future__ import annotations

import functools
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import quote

import pybase64
import requests
from authlib.integrations.base_client.errors import OAuthError
from authlib.integrations.requests_client import OAuth2Session
from authlib.oauth2.rfc6749.errors import OAuth2Error

from docflow.agencies import Agency
from docflow.errors import RETRY_HINT, TransportError
from docflow.model import OrganCode
from docflow.transport._http import (
    PlatformSender,
    agency,
    json_object,
    listed,
    object_in,
    objects_in,
    reach,
    session_verify,
    trust_https,
)
from docflow.transport.wso2_wire import ReceivedItem, succeeded

__all__ = ["BASE_PATH", "WSO2_STATUSES", "Wso2Client", "Wso2Item", "Wso2Profile"]

BASE_PATH = "truclienthong/v1.0.0"
#: the transport statuses of ``PUT vanbans/{docId}``
WSO2_STATUSES = ("INITIAL", "PROCESSING", "DONE", "FAIL")


@dataclass(frozen=True)
class Wso2Profile:
    """Where each parameter of the API travels: ``"header"``, ``"query"`` or ``"form"``
    (the platform's generated client does not say; these defaults are an assumption to
    adjust to the real gateway)."""

    locations: dict[str, str] = field(default_factory=lambda: {
        "secret": "header", "base64": "form", "loaiVanBan": "form", "status": "query",
        "agencyCode": "query"})

    def place(self, params: Mapping[str, str]) -> tuple[dict[str, str], dict[str, str],
                                                          dict[str, str]]:
        """``params`` split into (headers, query, form) by this profile."""
        parts: dict[str, dict[str, str]] = {"header": {}, "query": {}, "form": {}}
        for name, value in params.items():
            parts[self.locations.get(name, "query")][name] = value
        return parts["header"], parts["query"], parts["form"]

    def read(self, name: str, headers: Any, query: Any, form: Any) -> str | None:
        """A parameter from where this profile puts it (each source has ``get``: the
        request's headers, query arguments, form)."""
        where = self.locations.get(name, "query")
        source = headers if where == "header" else query if where == "query" else form
        value = source.get(name)
        return None if value is None else str(value)


#: a packet waiting for this unit (``GET vanbans``)
Wso2Item = ReceivedItem


class _Session(OAuth2Session):
    """authlib's OAuth2 session, keeping its own ``verify`` against the environment's."""

    def merge_environment_settings(self, url: Any, proxies: Any, stream: Any, verify: Any,
                                   cert: Any) -> Any:
        return super().merge_environment_settings(url, proxies, stream,
                                                  session_verify(self, verify), cert)


class Wso2Client(PlatformSender):
    """A client of the WSO2 "Trục liên thông" (see the module docstring).

    Args:
        gateway: the API gateway's address (``/token`` and the base path are under it).
        consumer_key, consumer_secret: the application's OAuth2 client credentials.
        unit_secret: the unit's secret (its identifier on the platform).
        profile: where each parameter travels.
        ca_bundle: a CA file to verify HTTPS with (default: the system's).
        verify: check HTTPS certificates (False: no checks, logged as a warning).
    """

    def __init__(self, gateway: str, consumer_key: str, consumer_secret: str,
                 unit_secret: str, *, profile: Wso2Profile | None = None,
                 timeout: float = 30.0, ca_bundle: Path | None = None, verify: bool = True):
        self.gateway = gateway.rstrip("/") + "/"
        self.base = self.gateway + BASE_PATH + "/"
        self.profile = profile or Wso2Profile()
        self._unit_secret = unit_secret
        self.timeout = timeout
        self.session = _Session(consumer_key, consumer_secret,
                                     token_endpoint=self.gateway + "token",
                                     grant_type="client_credentials")
        trust_https(self.session, self.gateway, ca_bundle, verify)

    def close(self) -> None:
        """Close the HTTP connections."""
        self.session.close()

    def _ensure_token(self) -> None:
        token = self.session.token
        if token and not token.is_expired(leeway=30):
            return
        try:
            self.session.fetch_token(self.gateway + "token", grant_type="client_credentials",
                                     timeout=self.timeout)
        except (OAuthError, OAuth2Error, requests.RequestException, ValueError, TypeError,
                KeyError, AttributeError) as exc:  # a token answer of the wrong shape too
            raise TransportError(f"the WSO2 gateway gave no token: {exc}",
                                 where=self.gateway + "token",
                                 hint="check the consumer key and secret") from exc

    def _call(self, method: str, path: str, params: Mapping[str, str] | None = None, *,
              json_body: Any = None) -> dict[str, Any]:
        self._ensure_token()
        headers, query, form = self.profile.place({"secret": self._unit_secret,
                                                   **(params or {})})
        url = self.base + path
        try:
            response = reach(functools.partial(
                self.session.request, method, url, headers=headers, params=query,
                data=form or None, json=json_body, timeout=self.timeout), url=url,
                platform="the WSO2 gateway")
        except (OAuthError, OAuth2Error) as exc:
            raise TransportError(f"cannot reach the WSO2 gateway: {exc}", where=url,
                                 hint=RETRY_HINT) from exc
        answer = json_object(response, url, "the gateway")
        if not succeeded(answer, response.status_code):
            raise TransportError(f"the platform refused {method} {path}: "
                                 f"{answer.get('errorDesc') or answer.get('message')}",
                                 where=f"{url} (errorCode {answer.get('errorCode')})")
        return answer

    # ------------------------------------------------------------------ the API

    def send_edoc(self, packet: bytes, *, message_type: str = "edoc") -> str:
        """``POST vanbans``: a packet (base64) for its own recipients; its docId."""
        answer = self._call("POST", "vanbans", {"base64": pybase64.b64encode(packet).decode(),
                                                "loaiVanBan": message_type})
        return str(answer.get("docId") or object_in(answer, "data", "the platform",
                                                     self.base).get("docId") or "")

    def received(self, *, message_type: str = "edoc", page_size: int = 50) -> list[Wso2Item]:
        """``GET vanbans``: what waits for this unit (documents or statuses)."""
        answer = self._call("GET", "vanbans")
        items = [ReceivedItem.read(doc_id, item)
                 for doc_id, item in listed(answer, "data", "the platform", self.base)]
        items = [item for item in items if item.message_type == message_type]
        return items[:page_size]

    def get_edoc(self, doc_id: str) -> bytes:
        """``GET vanbans/{docId}``: the packet."""
        answer = self._call("GET", f"vanbans/{quote(doc_id, safe='')}")
        try:
            return pybase64.b64decode(str(answer["data"]), validate=True)
        except (KeyError, ValueError) as exc:
            raise TransportError("the platform answered without base64 data",
                                 where=f"docId {doc_id}") from exc

    def update_status(self, doc_id: str, status: str) -> None:
        """``PUT vanbans/{docId}``: ``done``/``fail``/``processing`` (docflow's words) or
        one of :data:`WSO2_STATUSES`."""
        value = status.upper()
        if value not in WSO2_STATUSES:
            raise TransportError(f"unknown status {status!r}", hint=", ".join(WSO2_STATUSES))
        self._call("PUT", f"vanbans/{quote(doc_id, safe='')}", {"status": value})

    def agencies(self, *, province_only: bool = False) -> list[Agency]:
        """``GET donvilienthongs`` (the country) or ``donvilienthongs/qn`` (the province)."""
        answer = self._call("GET", "donvilienthongs/qn" if province_only else "donvilienthongs")
        return [agency(item) for item in objects_in(answer, "data", "the platform",
                                                    self.base)]

    def register_agency(self, code: OrganCode | str, name: str, *, parent: str = "",
                        email: str = "", fax: str = "", mobile: str = "") -> None:
        """``POST donvilienthongs``."""
        self._call("POST", "donvilienthongs", json_body={
            "code": str(OrganCode.parse(code)), "pcode": parent, "name": name,
            "email": email, "fax": fax, "mobile": mobile})

    def delete_agency(self, code: OrganCode | str) -> None:
        """``PUT donvilienthongs``: unregister by ``agencyCode``."""
        self._call("PUT", "donvilienthongs", {"agencyCode": str(OrganCode.parse(code))})
