"""A failed attempt as a report carries it to the edge (:class:`Failure`): the error's
class, fault code, message, where and hint kept apart, whether it may succeed later,
and what failed. Reports (an outbox pass, a pull, a poll) hold these, not strings; the
CLI and the logs format them."""

from __future__ import annotations

from dataclasses import dataclass

from docflow.errors import DocflowError

__all__ = ["Failure"]


@dataclass(frozen=True)
class Failure:
    """A :class:`DocflowError` as a report carries it to the edge (a pass of the outbox,
    a pull, a poll): its class, ``fault_code``, ``message``, ``where`` and ``hint`` kept
    apart, ``retryable``, and what failed (``subject``: a recipient, a handle, a
    platform's docId). ``str()`` is the line an operator reads.

    >>> from docflow.errors import TransportError
    >>> failure = Failure.of(TransportError("refused", where="http://x/"), "000.00.01.H41")
    >>> str(failure), failure.fault_code, failure.retryable
    ('000.00.01.H41: refused (at http://x/)', 'docflow.transport', True)
    """

    error: str
    fault_code: str
    message: str
    where: str | None = None
    hint: str | None = None
    retryable: bool = False
    subject: str | None = None
    #: the class's name in the line (a pull's and a poll's lines name it)
    named: bool = False

    @classmethod
    def of(cls, exc: DocflowError, subject: str | None = None, *,
           named: bool = False) -> Failure:
        """The failure ``exc`` is, about ``subject``."""
        return cls(type(exc).__name__, exc.fault_code, exc.message, exc.where, exc.hint,
                   exc.retryable, subject, named)

    @property
    def cause(self) -> str:
        """What failed and where, without the hint (a dead letter's reason: its hint,
        a promise of another attempt, no longer holds)."""
        return self.message + (f" (at {self.where})" if self.where else "")

    def __str__(self) -> str:
        text = self.cause + (f". {self.hint}" if self.hint else "")
        if self.named:
            text = f"{self.error}: {text}"
        return f"{self.subject}: {text}" if self.subject else text
