"""Running a node's WSGI application under waitress (any WSGI server works too)."""

from __future__ import annotations

from typing import Any

import waitress

__all__ = ["serve"]


def serve(app: Any, *, host: str = "127.0.0.1", port: int = 8080, threads: int = 4,
          max_body: int = 70 * 1024 * 1024, channel_timeout: int = 60) -> None:
    """Serve ``app`` until interrupted. ``channel_timeout`` drops clients that stall
    mid-request (slow-body attacks); ``max_body`` is enforced by waitress before docflow
    sees the request."""
    waitress.serve(app, host=host, port=port, threads=threads,
                   max_request_body_size=max_body, channel_timeout=channel_timeout,
                   ident="docflow")
