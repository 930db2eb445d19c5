"""A packet on its way: what a failed attempt leads to (another attempt after a delay,
or a dead letter after the last), and what a platform client's word on an item it
fetched does to its transport."""

from __future__ import annotations

import datetime as dt

from docflow.domain.retry import RetryPolicy
from docflow.errors import StoreError
from docflow.lifecycle import TRANSPORT, Outcome, TransportEvent, TransportState

__all__ = ["after_failure", "settlement"]


def after_failure(attempts: int, policy: RetryPolicy, roll: float
                  ) -> tuple[TransportEvent, dt.timedelta | None]:
    """After attempt number ``attempts`` failed: ``GIVE_UP`` (a dead letter) once the
    policy's attempts are spent, else ``FAIL`` with the delay before the next one
    (``roll``, from 0 to 1, draws the jitter)."""
    if attempts >= policy.max_attempts:
        return TransportEvent.GIVE_UP, None
    return TransportEvent.FAIL, policy.delay(attempts, roll)


def settlement(state: TransportState | str, outcome: Outcome | str, *,
               delivery_id: int | None = None) -> tuple[TransportEvent, ...]:
    """What a platform client's word on a delivery it fetched does, in order: a copy
    not yet leased is claimed first (``CLAIM``); then ``done`` acknowledges it, ``fail``
    is a failed attempt (``FAIL``: the caller applies :func:`after_failure`),
    ``processing`` keeps the lease only. A copy acknowledged already, or a dead letter
    failed again, is left alone (nothing)."""
    try:
        word = Outcome(outcome)
    except ValueError:
        raise StoreError(f"unknown outcome {outcome!r}", hint="done, fail or processing",
                         where=f"delivery {delivery_id}") from None
    events: list[TransportEvent] = []
    if TRANSPORT.can(state, TransportEvent.CLAIM):
        events.append(TransportEvent.CLAIM)
    elif word is Outcome.FAIL or not TRANSPORT.can(state, TransportEvent.ACKNOWLEDGE):
        return ()
    if word is Outcome.DONE:
        events.append(TransportEvent.ACKNOWLEDGE)
    elif word is Outcome.FAIL:
        events.append(TransportEvent.FAIL)
    return tuple(events)
