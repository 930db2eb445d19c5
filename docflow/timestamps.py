"""Time-stamping authorities (RFC 3161) docflow asks for time-stamps: the PAdES-T
time-stamp of a PDF signature (:func:`pdf_timestamper`). An adapter (HTTP, with
``requests``): the signing code takes the time-stamper it is given."""

from __future__ import annotations

from pyhanko.sign.timestamps import TimeStamper
from pyhanko.sign.timestamps.requests_client import RequestsHTTPTimeStamper

from docflow.errors import ConfigError

__all__ = ["pdf_timestamper"]


def pdf_timestamper(url: str, *, timeout: float = 10.0) -> TimeStamper:
    """A time-stamper asking the authority at ``url`` (http or https), each request
    bounded by ``timeout`` seconds."""
    if not url.startswith(("http://", "https://")):
        raise ConfigError(f"{url!r} is not an http(s) URL of a time-stamping authority",
                          hint="e.g. http://127.0.0.1:9876/vn/tsa/tsa")
    return RequestsHTTPTimeStamper(url, timeout=timeout)
