"""HTTP plumbing shared by the transport adapters (SOAP client, national axis client)."""

from __future__ import annotations

from typing import Any
from urllib.parse import urlsplit

import requests

__all__ = ["EnvironmentOnce"]


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
