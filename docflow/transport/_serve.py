"""Running a node's WSGI application under waitress (any WSGI server works too), or, for
HTTPS, under cheroot with Python's own TLS: waitress speaks no TLS, and the platforms
docflow emulates are HTTPS (Quảng Nam's gateway on port 8247)."""

from __future__ import annotations

import contextlib
import logging
import os
import signal
import socket
import ssl
import threading
from collections.abc import Callable
from typing import Any, Protocol

import waitress.server
from cheroot import wsgi
from cheroot.ssl.builtin import BuiltinSSLAdapter

from docflow.errors import ConfigError

__all__ = ["Listening", "listen", "serve", "serve_processes", "shutdown"]

_LOG = logging.getLogger("docflow.serve")


class Listening(Protocol):
    """A bound server: ``run()`` serves until interrupted, ``close()`` frees the port,
    ``effective_port`` is the port bound (the one given for ``port=0``)."""

    @property
    def effective_port(self) -> int: ...

    def run(self) -> None: ...

    def close(self) -> None: ...


def listen(app: Any, *, host: str = "127.0.0.1", port: int = 8080, threads: int = 4,
           max_body: int = 70 * 1024 * 1024, channel_timeout: int = 60,
           tls: tuple[str | os.PathLike[str], str | os.PathLike[str]] | None = None,
           port_option: str = "--port or [server] port") -> Listening:
    """Bind ``host:port`` for ``app`` and return the server, not yet serving: a port in
    use (or not allowed) is a :class:`~docflow.errors.ConfigError` here, before anything
    claims to serve. ``channel_timeout`` drops clients that stall mid-request (slow-body
    attacks); ``max_body`` is enforced by the server before docflow sees the request.
    ``tls``: (certificate chain file, key file) to serve HTTPS (TLS 1.2 at least).
    ``port_option``: where the port is chosen, for the error's hint."""
    if tls is not None:
        return _TlsServer(app, host=host, port=port, threads=threads, max_body=max_body,
                          timeout=channel_timeout, certificate=str(tls[0]), key=str(tls[1]),
                          port_option=port_option)
    # Bound here, then handed to waitress: a port in use fails before waitress makes
    # anything (it leaked its wake-up pipe and socket when its own bind failed).
    try:
        family, _, _, _, address = socket.getaddrinfo(
            host, port, type=socket.SOCK_STREAM, flags=socket.AI_PASSIVE)[0]
        sock = socket.create_server(address, family=family, backlog=1024)
    except OSError as exc:  # socket.gaierror too
        raise _cannot_listen(host, port, exc, port_option) from exc
    try:
        server = waitress.server.create_server(
            app, sockets=[sock], threads=threads, max_request_body_size=max_body,
            channel_timeout=channel_timeout, ident="docflow")
    except (OSError, ValueError) as exc:
        sock.close()
        raise _cannot_listen(host, port, OSError(str(exc)), port_option) from exc
    return _WaitressServer(server)


class _WaitressServer:
    """waitress serving ``app``, with a ``close()`` safe from any thread: waitress's own
    closes file descriptors under its running loop (whose next ``select`` then fails
    with EBADF), so a close while ``run()`` is under way in another thread first ends
    that loop from inside (:func:`shutdown`) and waits for it."""

    def __init__(self, server: Any) -> None:
        self.server = server
        self._idle = threading.Event()
        self._idle.set()
        self._runner: threading.Thread | None = None

    @property
    def effective_port(self) -> int:
        """The port bound (the one asked for, or the one given for 0)."""
        return int(self.server.effective_port)

    def run(self) -> None:
        self._runner = threading.current_thread()
        self._idle.clear()
        try:
            self.server.run()
        finally:
            self._idle.set()

    def close(self) -> None:
        if not self._idle.is_set() and threading.current_thread() is not self._runner:
            shutdown(self)
            self._idle.wait(30)
        self.server.close()


class _TlsServer:
    """cheroot serving ``app`` over TLS (Python's ``ssl``), bound at once."""

    def __init__(self, app: Any, *, host: str, port: int, threads: int, max_body: int,
                 timeout: int, certificate: str, key: str, port_option: str):
        for name, path in (("certificate", certificate), ("key", key)):
            if not os.path.isfile(path):
                raise ConfigError(f"the TLS {name} file {path} does not exist",
                                  hint="--tls-cert and --tls-key name PEM files")
        try:
            adapter = BuiltinSSLAdapter(certificate, key)
        except (OSError, ValueError) as exc:  # ssl.SSLError is an OSError
            raise ConfigError(f"cannot use the TLS certificate and key: {exc}",
                              where=f"{certificate}, {key}",
                              hint="a PEM certificate (chain) and its PEM private key") from exc
        adapter.context.minimum_version = ssl.TLSVersion.TLSv1_2
        self._server = wsgi.Server((host, port), app, numthreads=threads, timeout=timeout,
                                   server_name="docflow")
        self._server.ssl_adapter = adapter
        self._server.max_request_body_size = max_body
        try:
            self._server.prepare()  # binds: a port in use fails here
        except OSError as exc:
            raise _cannot_listen(host, port, exc, port_option) from exc

    @property
    def effective_port(self) -> int:
        """The port bound (the one asked for, or the one given for 0)."""
        return int(self._server.bind_addr[1])

    def run(self) -> None:
        try:
            self._server.serve()
        finally:
            self._server.stop()

    def close(self) -> None:
        self._server.stop()


def _cannot_listen(host: str, port: int, exc: OSError,
                   port_option: str = "--port or [server] port") -> ConfigError:
    return ConfigError(f"cannot listen on {host}:{port}: {exc.strerror or exc}",
                       where=f"{host}:{port}",
                       hint="another process holds the port (stop it, or choose another "
                            f"with {port_option})")


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
            shutdown(server)  # run() returns, keep-alive clients or not

    if stop is not None:
        threading.Thread(target=watch, args=(stop,), name="docflow-serve-stop",
                         daemon=True).start()
    try:
        server.run()
    finally:
        done.set()
        server.close()


def shutdown(server: Listening) -> None:
    """Make a running server's ``run()`` return, from another thread: the listening
    socket and every open client channel closed (a client holding a keep-alive
    connection kept waitress's loop going when only the listener was closed), the
    requests under way finished first."""
    if isinstance(server, _WaitressServer):
        server = server.server
    if not isinstance(server, waitress.server.BaseWSGIServer):
        server.close()
        return
    server.task_dispatcher.shutdown()

    def stop() -> None:  # in the loop's own thread: an empty map ends waitress's loop
        for dispatcher in list(server._map.values()):
            dispatcher.close()
        server._map.clear()

    try:
        server.trigger.pull_trigger(stop)
    except OSError:  # the trigger is gone already: the loop is ending on its own
        stop()


def serve_processes(make_app: Callable[[int], tuple[Any, Callable[[], None]]], *,
                    host: str = "127.0.0.1", port: int = 8080, processes: int = 2,
                    threads: int = 4, max_body: int = 70 * 1024 * 1024,
                    channel_timeout: int = 60,
                    on_ready: Callable[[], None] | None = None,
                    port_option: str = "--port or [server] port") -> int:
    """Serve with ``processes`` forked workers sharing one listening socket (the kernel
    hands each new connection to one of them), each running ``make_app(index)``'s
    application under waitress with ``threads`` threads; returns the exit status.

    ``make_app`` runs in each worker after the fork (open databases there, never
    before: a connection pool must not cross a fork) and returns the application and
    what to call when the worker stops. The port is bound first: a port in use is a
    :class:`~docflow.errors.ConfigError` before anything forks. SIGTERM or SIGINT stops
    every worker; a worker that dies on its own stops the others too (exit status 1:
    let the supervisor restart the whole), so no half-served platform keeps running.
    ``on_ready`` is called in the parent once every worker is forked."""
    if processes < 1:
        raise ConfigError(f"at least one process, not {processes}")
    try:
        sock = socket.create_server((host, port), backlog=1024)
    except OSError as exc:
        raise _cannot_listen(host, port, exc, port_option) from exc
    sock.setblocking(False)
    children: dict[int, int] = {}
    stopping = False

    def stop_all(_signum: int = 0, _frame: Any = None) -> None:
        nonlocal stopping
        stopping = True
        for child in children:
            with contextlib.suppress(ProcessLookupError):
                os.kill(child, signal.SIGTERM)

    # handlers first: a signal while forking still reaches every worker
    previous = {sig: signal.signal(sig, stop_all) for sig in (signal.SIGTERM, signal.SIGINT)}
    for index in range(processes):
        pid = os.fork()
        if pid == 0:  # a worker: serve until told to stop
            os._exit(_worker(make_app, index, sock, threads, max_body, channel_timeout))
        children[pid] = index
    if on_ready is not None:
        on_ready()
    status = 0
    try:
        while children:
            try:
                pid, code = os.wait()
            except ChildProcessError:
                break
            index = children.pop(pid, -1)
            if not stopping:
                _LOG.error("worker %d (pid %d) ended on its own (status %d): stopping all",
                           index, pid, os.waitstatus_to_exitcode(code))
                status = 1
                stop_all()
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)
        sock.close()
    return status


def _worker(make_app: Callable[[int], tuple[Any, Callable[[], None]]], index: int,
            sock: socket.socket, threads: int, max_body: int, channel_timeout: int) -> int:
    def on_term(_signum: int, _frame: Any) -> None:
        raise KeyboardInterrupt

    signal.signal(signal.SIGTERM, on_term)
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # the parent forwards Ctrl-C as SIGTERM
    cleanup: Callable[[], None] = lambda: None  # noqa: E731 - until the app exists
    try:
        app, cleanup = make_app(index)
        server: Listening = waitress.server.create_server(
            app, sockets=[sock], threads=threads, max_request_body_size=max_body,
            channel_timeout=channel_timeout, ident="docflow")
        server.run()
    except KeyboardInterrupt:
        pass
    except Exception:  # a worker reports, then ends with status 1
        _LOG.exception("worker %d failed", index)
        return 1
    finally:
        with contextlib.suppress(Exception):
            cleanup()
    return 0
