"""An act on a received document (accept, reject, assign, process, complete, or an
answer to a change request): the step the tables allow, at the version the actor read;
and whether it destroys the receiver's copy (a recall agreed: Nghị định 30/2020, Art.
18.4.b), with the tombstone's audit note."""

from __future__ import annotations

from collections.abc import Sequence

from docflow.domain.admission import Note
from docflow.errors import ConcurrencyError
from docflow.lifecycle import INCOMING, IncomingEvent, IncomingState, Step

__all__ = ["act", "destroyed_note", "destroys"]


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


def destroys(before: IncomingState | str, step: Step[IncomingState]) -> bool:
    """Whether a step destroys the receiver's copy: a recall agreed (Art. 18.4.b; Phụ
    lục VI III.8) removes the packet and its attachments, keeping the metadata, the
    reason and a tombstone of what was removed; once, when the document becomes
    recalled."""
    return step.state is IncomingState.RECALLED and before != IncomingState.RECALLED


def destroyed_note(document_ref: int, reason: str | None, packet_sha256: str,
                   packet_size: int, attachments: Sequence[tuple[str, str, int]]) -> Note:
    """The audit entry of a destroyed copy: what was removed, by digest (the packet's
    and each attachment's name, SHA-256 and size), and why."""
    return Note("destroyed", f"document:{document_ref}", {
        "reason": reason, "packet_sha256": packet_sha256, "packet_size": packet_size,
        "attachments": [{"name": name, "sha256": digest, "size": size}
                        for name, digest, size in attachments]})
