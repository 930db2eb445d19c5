"""The background loops of a running node or hub: outbox passes, pulls from the hub,
polls of the axis, signed audit checkpoints; started and stopped cleanly.

::

    with node.running(every=0.5):   # the node delivers, pulls and polls meanwhile
        ...

Each pass is logged by its loop (``docflow.outbox``, ``docflow.pull``, ``docflow.axis``,
``docflow.checkpoint``): what moved at INFO, idle passes at DEBUG, and a failure once
while it lasts (the same error every two seconds is one line, then one line when the
loop recovers; a delivery error the outbox already said, such as the same peer down for
each of its copies and retries, is said again at DEBUG only until a clean pass).
:attr:`Worker.health` is what ``/health`` and ``docflow status`` show.
A stop never loses anything: the outbox is in the database, and a delivery claimed
when the worker stopped is claimed again once its lease runs out.
"""

from __future__ import annotations

import datetime as dt
import logging
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from docflow.errors import DocflowError

__all__ = ["LoopHealth", "Worker"]


@dataclass
class LoopHealth:
    """How one loop of a :class:`Worker` stands."""

    passes: int = 0
    #: when it last moved something (a delivery, a pulled packet, a checkpoint)
    last_success_at: dt.datetime | None = None
    #: the error of the failure going on now (None: its last pass went well)
    failing: str | None = None
    failures: int = 0

    def as_dict(self) -> dict[str, Any]:
        return {"passes": self.passes, "failures": self.failures, "failing": self.failing,
                "last_success_at": self.last_success_at.isoformat()
                if self.last_success_at else None}


@dataclass
class _Loop:
    name: str
    step: Callable[[], str | None]  # one pass: what it moved (None: nothing)
    log: logging.Logger
    health: LoopHealth = field(default_factory=LoopHealth)


class Worker:
    """A node's (or hub's) background loops in one thread, every ``every`` seconds.

    Args:
        endpoint: a :class:`~docflow.node.Node` or :class:`~docflow.hub.Hub`.
        every: seconds between passes.
        lease: how long a claimed delivery stays this worker's.
        workers: deliveries sent at a time in a pass.
        pull: also pull from the node's hub (a node whose directory entry pulls).
        poll: also poll the node's axis or LGSP (a node with an ``[axis]``).
        checkpoint: called on every pass; writes a signed audit checkpoint when one is
            due and returns its path (see ``docflow serve``).
        name: the worker's name in claims (default ``worker-<organ>``).
        expire_every: seconds between forgetting the received message ids older than
            the store's retention (``[node] keep_message_ids``) and recording the
            breaches of văn thư deadlines still open after they ended, on the first pass
            and then this often.
        stale_pull: a hub's health is degraded when a packet has waited this many
            seconds for an organ that pulls (it stopped pulling).
    """

    def __init__(self, endpoint: Any, *, every: float = 2.0, lease: float = 300.0,
                 workers: int = 4, pull: bool = False, poll: bool = False,
                 checkpoint: Callable[[], object] | None = None, name: str | None = None,
                 expire_every: float = 3600.0, stale_pull: float = 900.0):
        for option, value in (("every", every), ("lease", lease),
                              ("expire_every", expire_every), ("stale_pull", stale_pull)):
            if isinstance(value, bool) or not isinstance(value, int | float) or value <= 0:
                raise DocflowError(f"a worker's {option} must be a positive number of "
                                   f"seconds, not {value!r}", where=f"{option}={value!r}")
        if isinstance(workers, bool) or not isinstance(workers, int) or workers < 1:
            raise DocflowError(f"a worker needs at least one delivery worker, not {workers!r}",
                               where=f"workers={workers!r}",
                               hint="workers is how many deliveries go at a time (4)")
        self.endpoint, self.every = endpoint, every
        self.name = name or f"worker-{endpoint.organ.code}"
        self._lease = dt.timedelta(seconds=lease)
        self._workers = workers
        self.stale_pull = dt.timedelta(seconds=stale_pull)
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._clock = endpoint.clock
        #: delivery errors said at WARNING and not yet followed by a clean pass: the
        #: same error again (a peer down, its copies retried) is said at DEBUG only
        self._undelivered: dict[str, int] = {}
        steps: dict[str, Callable[[], str | None]] = {"outbox": self._deliver}
        if pull:
            steps["pull"] = self._pull
        if poll:
            steps["axis"] = self._poll
        if checkpoint is not None:
            steps["checkpoint"] = lambda: _moved(checkpoint())
        self._expire_every = dt.timedelta(seconds=expire_every)
        self._expired_at: dt.datetime | None = None
        steps["expire"] = self._expire
        self._loops = {name: _Loop(name, step, logging.getLogger(f"docflow.{name}"))
                       for name, step in steps.items()}

    # ------------------------------------------------------------------ the loops

    def _deliver(self) -> str | None:
        report = self.endpoint.deliver(worker=self.name, lease=self._lease,
                                       workers=self._workers)
        moved = report.delivered
        log = self._loops["outbox"].log
        for error in report.errors:
            if error in self._undelivered:
                self._undelivered[error] += 1
                log.debug("again (%d times): %s", self._undelivered[error], error)
            else:
                self._undelivered[error] = 1
                log.warning("%s", error)
        if moved and not report.errors and self._undelivered:
            log.info("deliveries go through again (%d failure(s) seen, %d distinct)",
                     sum(self._undelivered.values()), len(self._undelivered))
            self._undelivered.clear()
        # Only a pass that delivered something counts as a success (last_delivery_at);
        # failed attempts are said by the lines above.
        if moved:
            return f"delivered {moved}, failed {report.failed}"
        return None

    def _pull(self) -> str | None:
        return _pulled(self.endpoint.pull(), self._loops["pull"].log)

    def _expire(self) -> str | None:
        now = self._clock()
        if self._expired_at is not None and now - self._expired_at < self._expire_every:
            return None
        forgotten = self.endpoint.store.inbox.expire(now=now)
        breached = self.endpoint.store.deadlines.sweep(now=now)  # the văn thư deadlines
        self._expired_at = now
        said = [f"forgot {forgotten} received message id(s) past their retention"
                if forgotten else "", f"recorded {breached} deadline breach(es)"
                if breached else ""]
        return "; ".join(part for part in said if part) or None

    def _poll(self) -> str | None:
        # acknowledges each packet only after it is stored
        return _pulled(self.endpoint.poll_axis(), self._loops["axis"].log)

    def run_once(self) -> None:
        """One pass of every loop (what the thread does every ``every`` seconds)."""
        for loop in self._loops.values():
            if self._stop.is_set() and loop.name != "checkpoint":
                continue
            loop.health.passes += 1
            try:
                moved = loop.step()
            except Exception as exc:  # the thread must outlive any pass
                # DocflowError, OSError: a database hiccup, a hub away. Anything else is a
                # defect (in docflow, or a peer's answer no check foresaw): said with its
                # traceback, and the loop goes on; a dead thread would stop the node.
                expected = isinstance(exc, DocflowError | OSError)
                message = str(exc) if expected else f"{type(exc).__name__}: {exc}"
                if message != loop.health.failing:  # one line per distinct failure
                    if expected:
                        loop.log.error("%s pass failed: %s", loop.name, message)
                    else:
                        loop.log.exception("%s pass failed unexpectedly: %s", loop.name,
                                           message)
                loop.health.failing = message
                loop.health.failures += 1
                continue
            if loop.health.failing is not None:
                loop.log.info("%s recovered after %d failed pass(es)", loop.name,
                              loop.health.failures)
                loop.health.failing, loop.health.failures = None, 0
            if moved:
                loop.health.last_success_at = self._clock()
                loop.log.info("%s", moved)
            else:
                loop.log.debug("%s: nothing to do", loop.name)

    def _run(self) -> None:
        while not self._stop.wait(self.every):
            self.run_once()

    # ------------------------------------------------------------------ control

    @property
    def running(self) -> bool:
        """Whether the thread is alive."""
        return self._thread is not None and self._thread.is_alive()

    def start(self) -> Worker:
        """Start the thread (once); returns the worker."""
        if self._thread is not None:
            raise DocflowError("this worker was started already",
                               hint="make a new Worker (or node.running()) to start again")
        self._thread = threading.Thread(target=self._run, name=f"docflow-{self.name}",
                                        daemon=True)
        self._thread.start()
        return self

    def stop(self, timeout: float = 30.0) -> None:
        """Stop after the pass under way (waits up to ``timeout`` seconds for it)."""
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=timeout)

    def __enter__(self) -> Worker:
        return self.start()

    def __exit__(self, *exc_info: object) -> None:
        self.stop()

    @property
    def health(self) -> dict[str, LoopHealth]:
        """Each loop's :class:`LoopHealth`, by name."""
        return {name: loop.health for name, loop in self._loops.items()}

    def report(self) -> tuple[bool, dict[str, Any]]:
        """Whether the node serves, and how it stands (what ``GET /health`` answers):
        ``status`` is ``ok``, ``degraded`` (it runs, but something needs an operator:
        dead letters, a loop failing pass after pass, such as a commune's pull from a hub
        that is down) or ``unhealthy`` (the worker stopped, the database does not
        answer), with ``reasons``; the outbox backlog, when something was last
        delivered, each loop's state, and for a hub when each pulling organ last pulled.
        The boolean is False only when unhealthy (``GET /health`` answers 503 then)."""
        store = self.endpoint.store
        facts: dict[str, Any] = {"organ": str(self.endpoint.organ.code),
                                 "time": self._clock().isoformat(),
                                 "worker": "running" if self.running else "stopped"}
        unhealthy, degraded = [], []
        if not self.running:
            unhealthy.append("the worker is stopped")
        try:
            dead = store.outbox.dead_letters(page_size=1).total
            facts["outbox"] = {"outstanding": store.queries.outstanding(),
                               "dead_letters": dead}
            facts["database"] = "ok"
            if dead:
                degraded.append(f"{dead} dead letter(s): docflow deadletters, then resend")
        except DocflowError as exc:
            facts["database"] = str(exc)
            unhealthy.append(f"the database does not answer: {exc}")
        delivered = self._loops["outbox"].health.last_success_at
        facts["last_delivery_at"] = delivered.isoformat() if delivered else None
        facts["loops"] = {name: loop.health.as_dict() for name, loop in self._loops.items()}
        for name, loop in self._loops.items():
            if loop.health.failing is not None and loop.health.failures >= 2:
                degraded.append(f"the {name} loop fails ({loop.health.failures} passes): "
                                f"{loop.health.failing}")
        pulls = getattr(self.endpoint, "pulls", None)
        if callable(pulls) and "database" in facts and facts["database"] == "ok":
            # a hub: when each organ that pulls from it last did, what waits for it
            now, watches = self._clock(), pulls()
            facts["pulls"] = {organ: watch.as_dict() for organ, watch in watches.items()}
            for organ, watch in watches.items():
                if watch.oldest_due_at is not None and \
                        now - watch.oldest_due_at > self.stale_pull:
                    last = watch.last_pull.isoformat() if watch.last_pull else "not since start"
                    degraded.append(f"{organ} has not pulled its {watch.waiting} packet(s) "
                                    f"(oldest due {watch.oldest_due_at.isoformat()}, last "
                                    f"pull {last})")
        facts["reasons"] = unhealthy + degraded
        facts["status"] = "unhealthy" if unhealthy else "degraded" if degraded else "ok"
        return not unhealthy, facts


def _pulled(report: Any, log: logging.Logger) -> str | None:
    """A pull's or poll's report as a loop's outcome: errors with nothing received are
    a failed pass; errors beside received packets are warnings."""
    if report.documents or report.statuses or report.refused:
        for error in report.errors:
            log.warning("%s", error)
        return (f"received {report.documents} document(s), {report.statuses} status(es), "
                f"refused {report.refused}")
    if report.errors:
        raise DocflowError("; ".join(report.errors))
    return None


def _moved(result: object) -> str | None:
    return None if result is None else f"wrote {result}"
