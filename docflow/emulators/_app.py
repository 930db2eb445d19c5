"""The WSGI shape every emulated platform shares (:class:`PlatformApp`): a request read
and closed (a multipart upload spools to a file), ``GET /health`` and ``POST /echo``
answered alike in every dialect, the body's size checked before anything reads it, the
exchange with a parent axis; the dialect answers the rest (:meth:`PlatformApp.route`),
with its own paths, errors and JSON shapes."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any, ClassVar

from werkzeug.wrappers import Request, Response

from docflow.emulators._queue import AxisQueue, RefusalError, health_response
from docflow.transport import VxpClient

__all__ = ["PlatformApp"]


class PlatformApp:
    """What the vdxp, lgsp-token and wso2 emulators share; each sets :attr:`dialect`,
    ``queue`` and ``max_body`` and answers its own requests in :meth:`route`."""

    #: the dialect's name, as ``/health`` reports it
    dialect: ClassVar[str]
    queue: AxisQueue
    max_body: int
    #: the national axis above (packets for organs not registered here go up to it)
    parent: VxpClient | None

    def __call__(self, environ: dict[str, Any], start_response: Any) -> Iterable[bytes]:
        request = Request(environ)
        try:
            response = self.handle(request)
        finally:
            request.close()  # a multipart upload's spooled file
        result: Iterable[bytes] = response(environ, start_response)
        return result

    def handle(self, request: Request) -> Response:
        """Answer one HTTP request: the shared paths here, the dialect's in
        :meth:`route`."""
        path = request.path.strip("/")
        if path == "health" and request.method == "GET":
            return health_response(self.queue, self.dialect)
        if path == "echo" and request.method == "POST":  # the bare HTTP rate, for benchmarks
            return Response(request.get_data(), content_type="application/octet-stream")
        return self.route(request, path)

    def route(self, request: Request, path: str) -> Response:
        """The dialect's answer to ``request`` at ``path`` (without its slashes)."""
        raise NotImplementedError

    def forward(self, *, limit: int = 100) -> int:
        """One exchange with the parent axis, if any (see :meth:`AxisQueue.exchange`):
        how many packets moved."""
        return 0 if self.parent is None else self.queue.exchange(self.parent, limit=limit)

    def check_size(self, request: Request) -> None:
        """Refuse a body larger than ``max_body`` by its declared length, before it is
        read (the dialect maps the refusal to its error and HTTP status 413)."""
        if request.content_length is not None and request.content_length > self.max_body:
            raise RefusalError("TOO_LARGE", f"request exceeds {self.max_body} bytes", 413)
