"""Running a node's WSGI application under waitress (any WSGI server works too)."""

from __future__ import annotations

import threading
from typing import Any, Protocol

import waitress.server

from docflow.errors import ConfigError

__all__ = ["Listening", "listen", "serve"]


class Listening(Protocol):
    """A bound server: ``run()`` serves until interrupted, ``close()`` frees the port."""

    def run(self) -> None: ...

    def close(self) -> None: ...


def listen(app: Any, *, host: str = "127.0.0.1", port: int = 8080, threads: int = 4,
           max_body: int = 70 * 1024 * 1024, channel_timeout: int = 60) -> Listening:
    """Bind ``host:port`` for ``app`` and return the server, not yet serving: a port in
    use (or not allowed) is a :class:`~docflow.errors.ConfigError` here, before anything
    claims to serve. ``channel_timeout`` drops clients that stall mid-request (slow-body
    attacks); ``max_body`` is enforced by waitress before docflow sees the request."""
    try:
        server: Listening = waitress.server.create_server(
            app, host=host, port=port, threads=threads, max_request_body_size=max_body,
            channel_timeout=channel_timeout, ident="docflow")
    except OSError as exc:
        raise ConfigError(f"cannot listen on {host}:{port}: {exc.strerror or exc}",
                          where=f"{host}:{port}",
                          hint="another process holds the port (stop it, or choose "
                               "another with --port or [server] port)") from exc
    return server


def serve(app: Any, *, host: str = "127.0.0.1", port: int = 8080, threads: int = 4,
          max_body: int = 70 * 1024 * 1024, channel_timeout: int = 60,
          stop: threading.Event | None = None) -> None:
    """Serve ``app`` until interrupted, or until ``stop`` is set from another thread
    (:func:`listen`, then run; the port is free again when it returns)."""
    server = listen(app, host=host, port=port, threads=threads, max_body=max_body,
                    channel_timeout=channel_timeout)
    done = threading.Event()

    def watch(event: threading.Event) -> None:
        while not event.wait(0.2):
            if done.is_set():
                return
        if not done.is_set():
            server.close()  # run() returns

    if stop is not None:
        threading.Thread(target=watch, args=(stop,), name="docflow-serve-stop",
                         daemon=True).start()
    try:
        server.run()
    finally:
        done.set()
        server.close()
