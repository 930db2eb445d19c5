"""HTTP plumbing shared by the transport adapters (SOAP client, the axis and LGSP
clients)."""

from __future__ import annotations

from typing import Any
from urllib.parse import urlsplit

import requests

from docflow.errors import TransportError

__all__ = ["EnvironmentOnce", "PlatformSender", "json_object"]


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


class PlatformSender:
    """The transport port of a platform that reads the recipients from the packet (the
    LGSP dialects): ``send_document`` and ``send_status`` queue it with ``send_edoc``."""

    def send_edoc(self, packet: bytes, *, message_type: str = "edoc") -> str:
        """Queue ``packet`` (``edoc`` or ``status``); returns the platform's id for it."""
        raise NotImplementedError

    def send_document(self, recipient: Any, packet: bytes, *,
                      via: Any = None) -> bytes | None:
        """Queue a document (its recipients are read from it; no receipt now: None)."""
        self.send_edoc(packet, message_type="edoc")
        return None

    def send_status(self, recipient: Any, packet: bytes, *, via: Any = None) -> None:
        """Queue a status packet."""
        self.send_edoc(packet, message_type="status")


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
        parts = urlsplit(str(url))
        key = (parts.scheme, parts.netloc, tuple(sorted((proxies or {}).items())), stream,
               verify, cert)
        settings = self._settings.get(key)
        if settings is None:
            settings = super().merge_environment_settings(url, proxies, stream, verify, cert)
            if len(self._settings) < 1024:
                self._settings[key] = settings
        return dict(settings)
