"""What a province simulation runs: how many documents, the workload's mix, the faults,
the retry schedule and where the rows are kept (:class:`SimulationConfig`)."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from typing import Any

from docflow.errors import ConfigError
from docflow.harness.faults import Faults
from docflow.reform import ReformPlan
from docflow.store import RetryPolicy

__all__ = ["SimulationConfig"]


@dataclass(frozen=True)
class SimulationConfig:
    """What to simulate.

    Attributes:
        documents: how many documents to send (a broadcast counts as one).
        faults: what goes wrong.
        seed: the random seed (a run is reproducible from its seed).
        tick: simulated seconds per round.
        send_rounds: the rounds over which the documents are sent.
        max_rounds: give up (and report) after this many rounds.
        reject_rate: how often a receiver rejects instead of accepting.
        recall_rate: how often a sender recalls a document it sent.
        broadcast_rate: how often the province broadcasts to every district and commune.
        retry: the outbox's retry schedule.
        durable: SQLite fsync on every commit (off by default: a simulation, not a node).
        shared_store: every node keeps its rows in one database (as a province hosting
            its communes' nodes would); False gives each node its own SQLite file.
        reform: a re-parenting applied mid-run (at half the send rounds; its
            ``effective`` becomes that moment): the reform scenario
            (:mod:`docflow.harness.reorganisation`).
    """

    documents: int = 100
    faults: Faults = field(default_factory=Faults)
    seed: int = 1
    tick: float = 30.0
    send_rounds: int = 20
    max_rounds: int = 2000
    reject_rate: float = 0.1
    recall_rate: float = 0.03
    broadcast_rate: float = 0.005
    retry: RetryPolicy = field(default_factory=lambda: RetryPolicy(
        intervals=(30, 60, 120, 240, 480), max_attempts=12, jitter=0.2))
    durable: bool = False
    shared_store: bool = True
    reform: ReformPlan | None = None

    def __post_init__(self) -> None:
        if self.documents < 0 or self.send_rounds < 1 or self.tick <= 0:
            raise ConfigError("documents >= 0, send_rounds >= 1 and tick > 0 are required")

    #: the workload's shares, by the names ``--mix`` takes
    MIX = ("reject", "recall", "broadcast")  # option words, not a state

    def mix(self) -> str:
        """The workload's shares, as :meth:`with_mix` reads them."""
        return ",".join(f"{name}={getattr(self, f'{name}_rate')}" for name in self.MIX)

    def with_mix(self, text: str) -> SimulationConfig:
        """This configuration with the shares of ``text``
        (``"reject=0.2,recall=0.1,broadcast=0.01"``: each a rate from 0 to 1; those not
        named stay as they are)."""
        rates: dict[str, Any] = {}
        for item in filter(None, (part.strip() for part in text.split(","))):
            name, sep, value = (part.strip() for part in item.partition("="))
            if name not in self.MIX:
                raise ConfigError(f"unknown share {name!r} in the mix",
                                  hint="the shares are " + ", ".join(self.MIX))
            try:
                rate = float(value) if sep else -1.0
            except ValueError:
                rate = -1.0
            if not 0.0 <= rate <= 1.0:
                raise ConfigError(f"the {name} share needs a rate from 0 to 1, not {value!r}",
                                  hint=f"write {name}=0.1")
            rates[f"{name}_rate"] = rate
        return dataclasses.replace(self, **rates)
