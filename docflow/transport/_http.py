"""HTTP plumbing shared by the transport adapters (SOAP client, the axis and LGSP
clients)."""

from __future__ import annotations

import logging
import re
import time
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import requests

from docflow.agencies import Agency
from docflow.domain.retry import RetryPolicy
from docflow.errors import RETRY_HINT, ConfigError, TransportError
from docflow.spool import PacketData, as_bytes

__all__ = ["CONNECT_RETRY", "EnvironmentOnce", "PlatformSender", "WaitingItem", "agency",
           "json_object", "listed", "network_reason", "object_in", "objects_in", "reach"]

#: How every platform client retries a request that never reached the platform (the
#: connection refused, reset or timed out while connecting), right away: three attempts,
#: 0.2 s then 0.4 s apart. A request the platform may have taken (no answer in time) is
#: not sent again here: the outbox tries again later, and the platform's message ids
#: make that safe.
CONNECT_RETRY = RetryPolicy(intervals=(0.2, 0.4), max_attempts=3, jitter=0.0)


@dataclass(frozen=True)
class WaitingItem:
    """A packet a platform lists as waiting for a unit, as the REST platforms describe
    it: its ``docId``, who sent it, to whom, the platform's word on it, when it was
    queued, and ``edoc`` or ``status`` (each dialect's wire module spells the keys)."""

    doc_id: str
    sender: str
    to: str
    status: str
    created: str
    message_type: str = "edoc"


def reach(send: Callable[[], requests.Response], *, url: str, platform: str,
          retry: RetryPolicy = CONNECT_RETRY,
          sleep: Callable[[float], None] = time.sleep) -> requests.Response:
    """``send()`` a request to ``platform`` (``"the axis"``, ``"the LGSP"``), trying
    again as ``retry`` says while the connection cannot be made; a
    :class:`TransportError` saying why in words (``connection refused``), with the hint
    that a running worker tries again, when it never could or another error came."""
    attempt = 1
    while True:
        try:
            return send()
        except requests.exceptions.ConnectionError as exc:  # ConnectTimeout among them
            if attempt >= retry.max_attempts:
                raise _unreachable(exc, url, platform) from exc
            sleep(retry.delay(attempt, 0.5).total_seconds())
            attempt += 1
        except requests.RequestException as exc:
            raise _unreachable(exc, url, platform) from exc


def _unreachable(exc: requests.RequestException, url: str, platform: str) -> TransportError:
    return TransportError(f"cannot reach {platform}: {network_reason(exc)}", where=url,
                          hint=RETRY_HINT)


def agency(row: Mapping[str, Any]) -> Agency:
    """An organ as any platform lists it, whatever its dialect's keys: ``code`` /
    ``orgCode``, ``name`` / ``orgName``, ``pcode`` / ``parentCode`` / ``centerCode`` /
    ``pid``, ``mail`` / ``email``, ``oldCode`` (the code before the 2025 reform); the platform's
    own row kept as ``row``."""
    def first(*keys: str) -> str:
        return next((str(row[key]) for key in keys if row.get(key)), "")

    return Agency(first("code", "orgCode"), first("name", "orgName"),
                  first("mail", "email"), first("pcode", "parentCode", "centerCode", "pid"),
                  row=dict(row), old_code=first("oldCode", "old_code"))

_LOG = logging.getLogger("docflow.transport")
#: what a platform's id may look like to be put in a URL: digits, letters, . _ - (the
#: real platforms use numbers and UUIDs)
_SAFE_ID = re.compile(r"[A-Za-z0-9._-]{1,128}")


def network_reason(exc: BaseException) -> str:
    """What went wrong reaching a remote, in a few words an operator reads (``connection
    refused``, ``no answer within the timeout``), not urllib3's pool and retry wrapping
    (``HTTPConnectionPool(host=..., port=...): Max retries exceeded with url: ...``)."""
    text = str(exc)
    if isinstance(exc, requests.exceptions.SSLError):
        found = re.search(r"certificate verify failed: ([^()]+?)\s*\(", text)
        return (f"TLS failed: the certificate does not verify ({found.group(1)})" if found
                else "TLS failed: the handshake did not complete")
    if isinstance(exc, requests.exceptions.Timeout):
        return "no answer within the timeout"
    for pattern, reason in ((r"Connection refused", "connection refused (nothing listens)"),
                            (r"Name or service not known|nodename nor servname|"
                             r"getaddrinfo failed|Temporary failure in name resolution",
                             "the host name does not resolve"),
                            (r"No route to host|Network is unreachable", "no route to host"),
                            (r"Connection reset|RemoteDisconnected|Connection aborted",
                             "the connection was closed before an answer came")):
        if re.search(pattern, text):
            return reason
    if isinstance(exc, requests.exceptions.InvalidURL | requests.exceptions.MissingSchema |
                  requests.exceptions.InvalidSchema):
        return f"not a usable address ({type(exc).__name__})"
    if isinstance(exc, requests.RequestException):
        return f"{type(exc).__name__}"
    first = text.splitlines()[0] if text else ""
    return f"{type(exc).__name__}: {first[:200]}" if first else type(exc).__name__


def json_object(response: requests.Response, url: str, platform: str) -> dict[str, Any]:
    """The JSON object a platform (``"the axis"``, ``"the LGSP"``) answered, or a
    :class:`TransportError` saying what came instead."""
    try:
        answer = response.json()
    except ValueError as exc:
        raise TransportError(f"{platform} answered {response.status_code} without JSON",
                             where=url) from exc
    if not isinstance(answer, dict):
        raise TransportError(f"{platform} answered with something other than an object",
                             where=url)
    return answer


def object_in(answer: Mapping[str, Any], key: str, platform: str,
              where: str) -> dict[str, Any]:
    """``answer[key]`` as an object (empty when absent or null), or a
    :class:`TransportError` saying what came instead: a platform's answer is outside
    input, and a list or a number where an object belongs must not surface as an
    AttributeError in a node's receive loop."""
    value = answer.get(key)
    if value is None:
        return {}
    if not isinstance(value, dict):
        raise TransportError(f"{platform} answered {key!r} as {type(value).__name__}, not "
                             "an object", where=where)
    return value


def objects_in(answer: Mapping[str, Any], key: str, platform: str,
               where: str) -> list[dict[str, Any]]:
    """The objects of ``answer[key]`` (a list; empty when absent or null; not a list: a
    :class:`TransportError`); an item that is not an object is skipped with a warning."""
    value = answer.get(key)
    if value is None:
        return []
    if not isinstance(value, list):
        raise TransportError(f"{platform} answered {key!r} as {type(value).__name__}, not "
                             "a list", where=where)
    found = [item for item in value if isinstance(item, dict)]
    if len(found) < len(value):
        _LOG.warning("%s listed %d item(s) that are not objects, skipped (%s)", platform,
                     len(value) - len(found), where)
    return found


def listed(answer: Mapping[str, Any], key: str, platform: str,
           where: str) -> Iterator[tuple[str, dict[str, Any]]]:
    """The items of ``answer[key]`` (a list of objects; empty when absent or null), each
    with its ``docId``. Not a list: a :class:`TransportError`. An item that is not an
    object, or whose ``docId`` is missing or could not go in a URL (digits, letters,
    ``. _ -``), is skipped with a warning: the others still arrive, and nothing unsafe
    is put in the next request's path or query."""
    value = answer.get(key)
    if value is None:
        return
    if not isinstance(value, list):
        raise TransportError(f"{platform} answered {key!r} as {type(value).__name__}, not "
                             "a list", where=where)
    for item in value:
        doc_id = item.get("docId") if isinstance(item, dict) else None
        if isinstance(doc_id, bool) or not isinstance(doc_id, str | int) or (
                not _SAFE_ID.fullmatch(str(doc_id))):
            _LOG.warning("%s listed an item without a usable docId, skipped: %.200r (%s)",
                         platform, item, where)
            continue
        yield str(doc_id), item


class PlatformSender:
    """The transport port of a platform that reads the recipients from the packet (the
    LGSP dialects): ``send_document`` and ``send_status`` queue it with ``send_edoc``."""

    def send_edoc(self, packet: bytes, *, message_type: str = "edoc") -> str:
        """Queue ``packet`` (``edoc`` or ``status``); returns the platform's id for it."""
        raise NotImplementedError

    def send_document(self, recipient: Any, packet: PacketData, *,
                      via: Any = None) -> bytes | None:
        """Queue a document (its recipients are read from it; no receipt now: None)."""
        self.send_edoc(as_bytes(packet), message_type="edoc")
        return None

    def send_status(self, recipient: Any, packet: PacketData, *, via: Any = None) -> None:
        """Queue a status packet."""
        self.send_edoc(as_bytes(packet), message_type="status")


class EnvironmentOnce(requests.Session):
    """A requests session that reads the environment's proxy and CA settings once per
    host instead of on every request: requests walks ``os.environ`` (``*_proxy``,
    ``no_proxy``, ``REQUESTS_CA_BUNDLE``...) for each call, which cost ~1 ms per packet
    on a machine with a large environment. Changes to those variables after the first
    request to a host are not seen (restart the node)."""

    def __init__(self) -> None:
        super().__init__()
        self._settings: dict[tuple[Any, ...], dict[str, Any]] = {}

    def merge_environment_settings(self, url: Any, proxies: Any, stream: Any, verify: Any,
                                   cert: Any) -> dict[str, Any]:
        verify = session_verify(self, verify)
        parts = urlsplit(str(url))
        key = (parts.scheme, parts.netloc, tuple(sorted((proxies or {}).items())), stream,
               verify, cert)
        settings = self._settings.get(key)
        if settings is None:
            settings = super().merge_environment_settings(url, proxies, stream, verify, cert)
            if len(self._settings) < 1024:
                self._settings[key] = settings
        return dict(settings)


def session_verify(session: requests.Session, verify: bool | str | None
                   ) -> bool | str | None:
    """The ``verify`` a request of ``session`` uses: the session's own when the request
    names none. requests lets ``REQUESTS_CA_BUNDLE`` (or ``CURL_CA_BUNDLE``) override a
    session's ``verify`` (its issue 3829): a CA bundle given to a client, or
    ``verify = false``, would be ignored wherever that variable is set."""
    return session.verify if verify is None and session.verify is not True else verify


def trust_https(session: requests.Session, url: str, ca_bundle: str | Path | None,
                verify: bool) -> None:
    """How ``session`` checks the HTTPS certificates of ``url``: against the system's CAs
    (the default), against ``ca_bundle`` (a PEM file, e.g. a province's own CA), or not
    at all (``verify=False``, as Quảng Nam's example client does: a WARNING is logged
    each time a client is made, never silently). Both given is a ConfigError."""
    if ca_bundle is not None and not verify:
        raise ConfigError("a CA bundle and verify = false together",
                          where=url, hint="give one: the bundle checks, false does not")
    if ca_bundle is not None:
        if not Path(ca_bundle).is_file():
            raise ConfigError(f"the CA bundle {ca_bundle} does not exist", where=url)
        session.verify = str(ca_bundle)
    elif not verify:
        session.verify = False
        _LOG.warning("TLS certificate checks are OFF for %s (verify = false): whoever is on "
                     "the path can read and change what is sent; give the platform's CA "
                     "(ca_bundle) instead", url)
