"""The simulated province's workload: which organ sends what to whom, and when, drawn
from the directory's levels by the run's seed."""

from __future__ import annotations

import random
from collections.abc import Callable
from dataclasses import dataclass

from docflow.errors import ConfigError
from docflow.harness.simulation_config import SimulationConfig
from docflow.model import OrganCode
from docflow.routing import Directory

__all__ = ["Plan", "plan_workload"]


@dataclass
class Plan:
    """One document of the workload: when, from whom, to whom, of which kind."""

    at_round: int
    sender: OrganCode
    recipients: tuple[OrganCode, ...]
    kind: str


def plan_workload(directory: Directory, config: SimulationConfig, rng: random.Random
                  ) -> list[Plan]:
    """What is sent when: ``config.documents`` documents spread over the send rounds,
    each of a kind drawn by its weight (province to departments, department and
    district, commune reports, district to communes, across provinces, a rare
    broadcast)."""
    by_level: dict[str, list[OrganCode]] = {}
    for entry in directory:
        by_level.setdefault(entry.organ.level, []).append(entry.code)
    province = by_level.get("province", [])
    departments = by_level.get("department", [])
    districts = by_level.get("district", [])
    communes = by_level.get("commune", [])
    lacking = [f"{need} {level} organ(s) (it has {len(found)})" for level, found, need in (
        ("province", province, 1), ("department", departments, 1),
        ("commune", communes, 2)) if len(found) < need]
    if lacking:
        raise ConfigError(
            "the directory is too small to simulate: it needs at least "
            + ", ".join(lacking), where="simulation directory",
            hint="add organs under [[organs]] (the workload sends province -> "
                 "departments, department <-> district, commune reports, district -> "
                 "two communes), or use the bundled Quảng Nam directory")
    own = [code for code in province if code.root == (departments or communes)[0].root]
    top = own[0] if own else province[0]
    foreign = [code for code in province if code != top]
    lower = districts or communes

    def parent_of(commune: OrganCode) -> OrganCode:
        parent = directory.entry(commune).organ.parent
        return parent if parent is not None else top

    def to_communes(sender: OrganCode) -> tuple[OrganCode, tuple[OrganCode, ...]]:
        """Two communes (never the sender: in 3 levels the senders are communes too)."""
        others = [code for code in communes if code != sender]
        return sender, tuple(rng.sample(others, min(2, len(others))))

    kinds: list[tuple[str, float, Callable[[], tuple[OrganCode, tuple[OrganCode, ...]]]]]
    kinds = [
        ("broadcast", config.broadcast_rate, lambda: (top, tuple(districts + communes))),
        ("province to departments", 0.05,
         lambda: (top, tuple(rng.sample(departments, min(3, len(departments)))))),
        ("department to district", 0.3,
         lambda: (rng.choice(departments), (rng.choice(lower),))),
        ("district to department", 0.15,
         lambda: (rng.choice(lower), (rng.choice(departments),))),
        ("commune report", 0.3,
         lambda: (c := rng.choice(communes), (parent_of(c),))),
        ("district to communes", 0.15, lambda: to_communes(rng.choice(lower))),
        ("across provinces", 0.05 if foreign else 0.0,
         lambda: (top, (rng.choice(foreign),))),
    ]
    weights = [weight for _, weight, _ in kinds]
    plans = []
    for number in range(config.documents):
        name, _, pick = rng.choices(kinds, weights=weights)[0]
        sender, recipients = pick()
        at_round = number * config.send_rounds // max(1, config.documents)
        plans.append(Plan(at_round, sender, recipients, name))
    return plans
