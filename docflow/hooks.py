"""Callbacks an embedding application registers on a node, so it is told what arrived
instead of polling ``node.inbox()`` and the deliveries: ``node.on_document(callback)``
and ``node.on_status(callback)``. They run after the store committed (what they are
told of is durable), in the thread that received it (a SOAP request's, the worker's
pull or poll); one that raises is logged with its traceback and the others still run:
an application's bug never makes a received document fail or be received again."""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass
from typing import Generic, TypeVar

from docflow.errors import ModelError
from docflow.model import StatusInfo

__all__ = ["Hooks", "StatusArrival"]

_LOG = logging.getLogger("docflow.hooks")
_T = TypeVar("_T")


@dataclass(frozen=True)
class StatusArrival:
    """A status packet this node received: ``status`` (its code, sender, description
    and the document it is about) and ``document_ref``, this node's document it
    concerns (a sent document's for progress reports, 15/16 answers; a received one's
    for a recall request, 13), None when this node holds no such document."""

    status: StatusInfo
    document_ref: int | None


class Hooks(Generic[_T]):
    """Callbacks of one kind: :meth:`add` (usable as a decorator), :meth:`remove`,
    :meth:`fire`."""

    def __init__(self, kind: str):
        self.kind = kind
        self._callbacks: list[Callable[[_T], object]] = []

    def __bool__(self) -> bool:
        return bool(self._callbacks)

    def add(self, callback: Callable[[_T], object]) -> Callable[[_T], object]:
        """Register ``callback``; returns it (so ``@node.on_document`` decorates)."""
        candidate: object = callback  # what a caller handed, whatever its annotation says
        if not callable(candidate):
            raise ModelError(f"a {self.kind} hook must be callable, not "
                             f"{type(callback).__name__}")
        self._callbacks.append(callback)
        return callback

    def remove(self, callback: Callable[[_T], object]) -> None:
        """Unregister ``callback`` (a callback not registered is ignored)."""
        if callback in self._callbacks:
            self._callbacks.remove(callback)

    def fire(self, event: _T) -> None:
        """Call every callback with ``event``; one that raises is logged, not raised."""
        for callback in list(self._callbacks):
            try:
                callback(event)
            except Exception:
                _LOG.exception("a %s hook (%s) raised; what it was told of is stored all "
                               "the same", self.kind, getattr(callback, "__name__", callback))
