"""The domain: what a received packet, an answer or an act changes, decided by pure
functions of what the store loaded (cosmicpython's "the domain decides, the service
layer loads, calls and commits").

Each function takes plain values (a copy's states, a document's state, what was seen of
a message before) and returns plain values: the new states, the history entries to
append, whether a transport ends, whether a document settles; or raises the
:class:`~docflow.errors.DocflowError` that refuses the change. The store's rooms load
the rows, call these, and save what they return; they decide nothing. The rules
themselves (which transition, which rank, which answer) are the tables of
:mod:`docflow.lifecycle`; this package applies them to one situation at a time.

- :mod:`~docflow.domain.history`: :class:`Entry`, one state change as history keeps it.
- :mod:`~docflow.domain.admission`: a packet received before (the same message, a
  rebuilt retry, a replay, an expired memory) and a DocumentId's unsigned twin.
- :mod:`~docflow.domain.sender`: a sent copy taking a status packet (progress, a change
  answer, a receipt), the document settling once every copy agreed, a change asked.
- :mod:`~docflow.domain.receiver`: an act on a received document (optimistic version).
- :mod:`~docflow.domain.outbox`: a failed attempt (retry or dead letter), a platform
  client's word on an item it fetched.
- :mod:`~docflow.domain.attachments`: a received document's signed PDFs: its mark, and
  the reason it goes back under a ``reject`` policy.
- :mod:`~docflow.domain.deadlines`: the văn thư deadlines of a received or sent document
  (Nghị định 30/2020), in working days.
"""

from docflow.domain.admission import (
    Admission,
    Note,
    Seen,
    Twin,
    admit,
    rebuilt_note,
    received_note,
    repeated_code_note,
    superseded_note,
    twin_of,
    unsigned_twin_note,
)
from docflow.domain.attachments import OnInvalid, PdfCheck, PdfMark, document_mark, refusal
from docflow.domain.history import Entry
from docflow.domain.outbox import after_failure, settlement
from docflow.domain.receiver import act, destroyed_note, destroys
from docflow.domain.retry import RetryPolicy
from docflow.domain.sender import (
    Copy,
    StatusTaken,
    ask_change,
    progress,
    settle_document,
    take_status,
)

__all__ = [
    "Admission",
    "Copy",
    "Entry",
    "Note",
    "OnInvalid",
    "PdfCheck",
    "PdfMark",
    "RetryPolicy",
    "Seen",
    "StatusTaken",
    "Twin",
    "act",
    "admit",
    "after_failure",
    "ask_change",
    "destroyed_note",
    "destroys",
    "document_mark",
    "progress",
    "rebuilt_note",
    "received_note",
    "refusal",
    "repeated_code_note",
    "settle_document",
    "settlement",
    "superseded_note",
    "take_status",
    "twin_of",
    "unsigned_twin_note",
]
