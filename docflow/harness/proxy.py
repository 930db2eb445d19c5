"""A faulty network between processes: an HTTP proxy in front of every node.

:class:`ProcessNetwork` can put one in front of each ``docflow serve`` process: the
directory gives the proxy's address as the organ's endpoint, so every SOAP request of
the province (pushes, pulls, acknowledgements, receipts) crosses it. At the rates of
:class:`~docflow.harness.Faults`, from a seeded random source, it

- **drops**: half of the drops never reach the node (the caller gets ``502``), the other
  half reach it and lose the answer (the node has acted: the caller retries what was
  done, and the node must recognise it);
- **duplicates**: the request reaches the node twice; the caller gets the first answer;
- **delays**: the caller gets ``504`` at once, and the request reaches the node later
  (after the caller may have retried);
- **tampers**: flips a bit inside the signed part of the packet (or receipt) a request
  carries, or, for a request without one, of the first packet or receipt its answer
  carries (a signed receipt, a pulled packet), re-encoded so that the SOAP message stays
  well formed: only the signatures can tell.

It is the process-level twin of :class:`~docflow.harness.FaultyTransport`; crashes are
SIGKILLs (``ProcessNetwork.run(kills=...)``).
"""

from __future__ import annotations

import base64
import binascii
import random
import re
import threading
import time
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

import requests
import waitress.server
import waitress.trigger
from werkzeug.wrappers import Request, Response

from docflow.harness.faults import Faults, tamper

__all__ = ["FaultyProxy", "ProxyStats"]

# The first base64 Packet or Receipt element of a SOAP message, whatever its prefix.
_PACKET = re.compile(
    rb"(<(?:[A-Za-z_][\w.-]*:)?(?:Packet|Receipt)(?:\s[^>]*)?>)([A-Za-z0-9+/=\s]+)(</)")
_FORWARDED = ("Content-Type", "SOAPAction")


@dataclass
class ProxyStats:
    """What the proxies did (all of them, summed)."""

    requests: int = 0
    dropped: int = 0
    replies_lost: int = 0
    duplicated: int = 0
    delayed: int = 0
    tampered_requests: int = 0
    #: tampered requests the node answered with a success: must stay 0
    tampered_accepted: int = 0
    tampered_replies: int = 0


def _tampered(message: bytes, rng: random.Random) -> bytes | None:
    """``message`` with its first packet tampered, or None if it carries none."""
    match = _PACKET.search(message)
    if match is None:
        return None
    try:
        packet = base64.b64decode(b"".join(match.group(2).split()), validate=True)
    except binascii.Error:
        return None
    changed = base64.b64encode(tamper(packet, rng))
    return message[:match.start(2)] + changed + message[match.end(2):]


class FaultyProxy:
    """A WSGI application forwarding each request to the node behind the port it came
    in on (``targets``: listening port -> the node's URL), misbehaving at the rates of
    ``faults``. Run it with :meth:`serve` (one waitress server, one socket per port)."""

    def __init__(self, targets: Mapping[int, str], faults: Faults, *, seed: int = 1,
                 timeout: float = 30.0):
        self.targets = dict(targets)
        self.faults = faults
        self.stats = ProxyStats()
        self.timeout = timeout
        self._rng = random.Random(seed)
        self._lock = threading.Lock()
        self._local = threading.local()
        self._sessions: list[requests.Session] = []
        self._late: list[threading.Thread] = []
        self._server: Any = None
        self._thread: threading.Thread | None = None

    # ------------------------------------------------------------------ decisions

    def _draw(self) -> tuple[str, random.Random]:
        """The fault for one request, and a random source of its own for its details."""
        f = self.faults
        with self._lock:
            self.stats.requests += 1
            roll, detail = self._rng.random(), random.Random(self._rng.getrandbits(64))
        for name, rate in (("drop", f.drop), ("duplicate", f.duplicate), ("delay", f.delay),
                           ("tamper", f.tamper)):
            if roll < rate:
                return name, detail
            roll -= rate
        return "none", detail  # not a state: no fault

    def _count(self, name: str) -> None:
        with self._lock:
            setattr(self.stats, name, getattr(self.stats, name) + 1)

    # ------------------------------------------------------------------ forwarding

    def _session(self) -> requests.Session:
        session = getattr(self._local, "session", None)
        if session is None:
            session = self._local.session = requests.Session()
            session.trust_env = False  # loopback only: no proxy from the environment
            with self._lock:
                self._sessions.append(session)
        return session

    def _forward(self, url: str, body: bytes | None, headers: dict[str, str]) -> Response:
        """POST ``body`` to the node (GET when None); its answer, or 502."""
        try:
            answer = (self._session().get(url, timeout=self.timeout) if body is None else
                      self._session().post(url, data=body, headers=headers,
                                           timeout=self.timeout))
        except requests.RequestException as exc:
            return Response(f"proxy: the node did not answer: {exc}", status=502)
        return Response(answer.content, status=answer.status_code,
                        content_type=answer.headers.get("Content-Type", "text/plain"))

    def _later(self, url: str, body: bytes, headers: dict[str, str], delay: float) -> None:
        def run() -> None:
            time.sleep(delay)
            self._forward(url, body, headers)

        thread = threading.Thread(target=run, name="docflow-proxy-late", daemon=True)
        with self._lock:
            self._late = [late for late in self._late if late.is_alive()]
            self._late.append(thread)
        thread.start()

    def handle(self, request: Request, port: int) -> Response:
        """Forward one request, with the fault drawn for it."""
        target = self.targets.get(port)
        if target is None:
            return Response(f"proxy: nothing behind port {port}", status=404)
        url = target.rstrip("/") + request.full_path.rstrip("?")
        body = request.get_data()
        headers = {name: request.headers[name] for name in _FORWARDED
                   if name in request.headers}
        if request.method != "POST":  # the WSDL and other reads pass untouched
            return self._forward(url, None, headers)
        fault, detail = self._draw()
        if fault == "drop":
            if detail.random() < 0.5:
                self._count("dropped")
                return Response("proxy: request lost (simulated)", status=502)
            self._forward(url, body, headers)
            self._count("replies_lost")
            return Response("proxy: reply lost (simulated)", status=502)
        if fault == "delay":
            self._count("delayed")
            self._later(url, body, headers, detail.uniform(0.5, 2.0))
            return Response("proxy: timed out (simulated)", status=504)
        if fault == "tamper":
            # The request's packet, or (half the time, or when it carries none) the
            # answer's: a signed receipt, a pulled packet.
            changed = _tampered(body, detail) if detail.random() < 0.5 else None
            if changed is not None:
                self._count("tampered_requests")
                answer = self._forward(url, changed, headers)
                if answer.status_code == 200:
                    self._count("tampered_accepted")
                return answer
            answer = self._forward(url, body, headers)
            changed = _tampered(answer.get_data(), detail) if answer.status_code == 200 else None
            if changed is not None:
                self._count("tampered_replies")
                answer.set_data(changed)
            return answer
        answer = self._forward(url, body, headers)
        if fault == "duplicate":
            self._count("duplicated")
            self._forward(url, body, headers)
        return answer

    def __call__(self, environ: dict[str, Any], start_response: Any) -> Iterable[bytes]:
        response = self.handle(Request(environ), int(environ["SERVER_PORT"]))
        result: Iterable[bytes] = response(environ, start_response)
        return result

    # ------------------------------------------------------------------ serving

    def serve(self, *, threads: int = 32) -> None:
        """Listen on every port of ``targets`` (127.0.0.1), in a background thread."""
        listen = " ".join(f"127.0.0.1:{port}" for port in self.targets)
        self._server = waitress.server.create_server(self, listen=listen, threads=threads,
                                                     channel_timeout=60)
        self._thread = threading.Thread(target=self._server.run, name="docflow-proxy",
                                        daemon=True)
        self._thread.start()

    def close(self) -> None:
        """Stop listening, after the requests in progress and the late ones."""
        for late in list(self._late):
            late.join(timeout=self.timeout)
        if self._server is None or self._thread is None:
            return
        server, self._server = self._server, None
        server.task_dispatcher.shutdown()
        # One socket: a TcpWSGIServer; several: a MultiSocketServer over a shared map.
        sockets = server.map if isinstance(server, waitress.server.MultiSocketServer) \
            else server._map
        wake = next(d for d in sockets.values() if isinstance(d, waitress.trigger.trigger))

        def stop() -> None:
            # Closing sockets from another thread while the loop sits in select() makes
            # it fail: close every channel from inside the loop; an empty map ends it.
            for dispatcher in list(sockets.values()):
                dispatcher.close()
            sockets.clear()

        wake.pull_trigger(stop)
        self._thread.join(timeout=10)
        for session in self._sessions:
            session.close()
