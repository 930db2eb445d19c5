"""An act on a received document (accept, reject, assign, process, complete, or an
answer to a change request): the step the tables allow, at the version the actor read."""

from __future__ import annotations

from docflow.errors import ConcurrencyError
from docflow.lifecycle import INCOMING, IncomingEvent, IncomingState, Step

__all__ = ["act"]


def act(state: IncomingState | str, version: int, event: IncomingEvent,
        reason: str | None = None, *, expected_version: int | None = None,
        document_ref: int | None = None) -> Step[IncomingState]:
    """The step ``event`` takes the document from ``state`` (at ``version``): a
    :class:`~docflow.errors.ConcurrencyError` when the actor read another version
    (``expected_version``), a :class:`~docflow.errors.LifecycleError` naming the acts
    possible when the state does not allow it."""
    if expected_version is not None and expected_version != version:
        raise ConcurrencyError(f"the document is at version {version}, not {expected_version}",
                               where=f"document {document_ref}", hint="read it again and retry")
    return INCOMING.apply(state, event, reason)
