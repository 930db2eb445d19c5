"""What a simulation found: invariants, figures, latency per level; as JSON, as a readable
summary and as an SVG chart (written by hand: a few rectangles need no plotting
library)."""

from __future__ import annotations

import json
import math
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass, field
from html import escape
from typing import Any

from docflow.harness.reorganisation import ReformOutcome

__all__ = ["Latency", "SimulationReport"]


@dataclass(frozen=True)
class Latency:
    """Percentiles of send-to-arrival times, in simulated seconds."""

    count: int
    p50: float
    p95: float
    p99: float
    max: float

    @classmethod
    def of(cls, values: Sequence[float]) -> Latency:
        """Nearest-rank percentiles of ``values``."""
        ordered = sorted(values)
        if not ordered:
            return cls(0, 0.0, 0.0, 0.0, 0.0)

        def rank(p: float) -> float:
            return ordered[max(0, math.ceil(p * len(ordered)) - 1)]

        return cls(len(ordered), rank(0.5), rank(0.95), rank(0.99), ordered[-1])


@dataclass(frozen=True)
class SimulationReport:
    """The outcome of a :class:`~docflow.harness.simulator.Simulation` run.

    ``ok`` holds when nothing was lost or duplicated, every tampered packet was refused,
    every sender's view of each copy equals the receiver's state, every received packet
    carries exactly what was signed, and every audit chain verifies.
    """

    organs: int
    hubs: int
    documents: int
    copies: int
    packets: int
    rounds: int
    simulated_seconds: float
    wall_seconds: float
    lost: int
    duplicated: int
    dead_lettered: int
    diverged: int
    content_mismatches: int
    tampered: int
    tampered_rejected: int
    tampered_accepted: int
    duplicate_mismatches: int
    dropped: int
    replies_lost: int
    duplicates_sent: int
    delayed: int
    crashes: int
    hub_outages: int
    recalls: int
    replacements: int
    rejects: int
    retries: int
    audits_broken: tuple[str, ...]
    latency: Mapping[str, Latency]
    #: packets receivers refused, by the error's class (what tampering, truncation and
    #: duplicates on the way make receivers refuse: expected under faults, and never
    #: lost, since the sender retries)
    refusals: Mapping[str, int] = field(default_factory=dict)
    #: the văn thư deadlines breached at the end, by the receivers' level and the kind
    #: (register, due, ...): what the workload's pace left late (Nghị định 30/2020)
    deadline_breaches: Mapping[str, Mapping[str, int]] = field(default_factory=dict)
    #: the reform scenario's outcome (organs closed and moved mid-run, documents
    #: readdressed, every document under a closed code traced), when the run had one
    reform: ReformOutcome | None = None
    faults: str = ""
    problems: tuple[str, ...] = ()
    #: what reproduces the run: its seed, directory, workload mix and docflow's version
    seed: int = 0
    directory: str = ""
    mix: str = ""
    version: str = ""

    @property
    def ok(self) -> bool:
        """Every invariant holds."""
        return not (self.lost or self.duplicated or self.diverged or self.content_mismatches
                    or self.tampered_accepted or self.duplicate_mismatches
                    or self.audits_broken or self.tampered != self.tampered_rejected
                    or (self.reform is not None and self.reform.untraceable))

    @property
    def documents_per_second(self) -> float:
        """Documents sent and settled per wall-clock second."""
        return self.documents / self.wall_seconds if self.wall_seconds else 0.0

    def to_json(self) -> str:
        """The report as JSON (with ``ok`` and the throughput)."""
        data: dict[str, Any] = asdict(self)
        data["ok"] = self.ok
        data["documents_per_second"] = round(self.documents_per_second, 2)
        return json.dumps(data, ensure_ascii=False, indent=2)

    def invariants(self) -> list[tuple[str, str, bool]]:
        """Each invariant by name, with its count, and whether it holds (as the demo
        prints them)."""
        delivered = self.copies - self.lost - self.duplicated
        return [
            *copy_invariants(delivered, self.copies, self.lost, self.duplicated,
                             self.diverged, self.content_mismatches),
            ("a duplicate carries the first's content",
             f"{self.duplicate_mismatches} differing", not self.duplicate_mismatches),
            ("tampered packets refused", f"{self.tampered_rejected}/{self.tampered} "
             f"({self.tampered_accepted} accepted)",
             not self.tampered_accepted and self.tampered == self.tampered_rejected),
            audit_invariant(self.audits_broken),
            *([self.reform.invariant()] if self.reform is not None else []),
        ]

    def summary(self) -> str:
        """A readable summary."""
        verdict = "ALL INVARIANTS HOLD" if self.ok else "INVARIANTS VIOLATED"
        lines = [
            f"{verdict}",
            f"run         seed {self.seed}, directory {self.directory or '?'}, mix "
            f"{self.mix or 'default'}, docflow {self.version or '?'}",
            f"network     {self.organs} organs, {self.hubs} hubs; faults: {self.faults or 'none'}",
            f"workload    {self.documents} documents, {self.copies} copies, "
            f"{self.packets} packets pushed, {self.recalls} recalls, {self.replacements} "
            f"replacements, {self.rejects} rejections",
            f"time        {self.rounds} rounds ({self.simulated_seconds / 3600:.1f} h simulated), "
            f"{self.wall_seconds:.1f} s wall, {self.documents_per_second:.1f} documents/s",
            f"delivery    lost {self.lost}, duplicated {self.duplicated}, dead-lettered "
            f"{self.dead_lettered}, views diverged {self.diverged}, content mismatches "
            f"{self.content_mismatches}",
            f"faults      dropped {self.dropped}, replies lost {self.replies_lost}, duplicated "
            f"{self.duplicates_sent}, delayed {self.delayed}, crashes {self.crashes}, hub "
            f"outages {self.hub_outages}, retries {self.retries}",
            f"tampering   {self.tampered} tampered, {self.tampered_rejected} rejected, "
            f"{self.tampered_accepted} accepted",
            "refused     " + (", ".join(f"{name} {count}" for name, count in sorted(
                self.refusals.items())) + " (packets receivers refused, by error: what "
                "the faults on the way make them refuse; the sender retries)"
                if self.refusals else "nothing"),
            "deadlines   " + ("; ".join(
                f"{level}: " + ", ".join(f"{kind} {count}" for kind, count in sorted(
                    kinds.items())) for level, kinds in sorted(self.deadline_breaches.items()))
                + " breached" if self.deadline_breaches else "none breached"),
            "invariants",
            *(f"  {'ok  ' if holds else 'FAIL'} {name}: {counts}"
              for name, counts, holds in self.invariants()),
            "latency     level        copies      p50      p95      p99   (simulated s)",
        ]
        for level, latency in self.latency.items():
            lines.append(f"            {level:<12} {latency.count:>6} {latency.p50:>8.0f} "
                         f"{latency.p95:>8.0f} {latency.p99:>8.0f}")
        lines += [f"problem     {problem}" for problem in self.problems[:10]]
        return "\n".join(lines)

    def svg(self) -> str:
        """A bar chart of p50/p95/p99 latency per level."""
        levels = list(self.latency.items())
        width, height, left, bottom, top = 640, 360, 60, 50, 40
        plot_w, plot_h = width - left - 20, height - top - bottom
        peak = max([lat.p99 for _, lat in levels] + [1.0])
        group = plot_w / max(1, len(levels))
        bar = group / 4
        colours = (("p50", "#4e79a7"), ("p95", "#f28e2b"), ("p99", "#e15759"))
        parts = [
            f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" '
            f'font-family="sans-serif" font-size="12">',
            f'<text x="{width / 2}" y="20" text-anchor="middle" font-size="14">'
            f'Send-to-arrival latency per level (simulated seconds)</text>',
            f'<line x1="{left}" y1="{top + plot_h}" x2="{left + plot_w}" y2="{top + plot_h}" '
            'stroke="black"/>',
            f'<line x1="{left}" y1="{top}" x2="{left}" y2="{top + plot_h}" stroke="black"/>',
        ]
        for tick in range(5):
            value = peak * tick / 4
            y = top + plot_h - plot_h * tick / 4
            parts.append(f'<text x="{left - 6}" y="{y + 4}" text-anchor="end">{value:.0f}</text>')
        for index, (level, latency) in enumerate(levels):
            x0 = left + index * group + bar / 2
            for offset, (name, colour) in enumerate(colours):
                value = getattr(latency, name)
                h = plot_h * value / peak
                parts.append(
                    f'<rect x="{x0 + offset * bar:.1f}" y="{top + plot_h - h:.1f}" '
                    f'width="{bar * 0.9:.1f}" height="{h:.1f}" fill="{colour}">'
                    f'<title>{escape(level)} {name}: {value:.0f} s</title></rect>')
            parts.append(f'<text x="{x0 + 1.5 * bar:.1f}" y="{top + plot_h + 18}" '
                         f'text-anchor="middle">{escape(level)} ({latency.count})</text>')
        for offset, (name, colour) in enumerate(colours):
            x = left + 10 + offset * 70
            parts.append(f'<rect x="{x}" y="{height - 22}" width="12" height="12" '
                         f'fill="{colour}"/><text x="{x + 16}" y="{height - 12}">{name}</text>')
        parts.append("</svg>")
        return "\n".join(parts)


def copy_invariants(delivered: int, copies: int, lost: int, duplicated: int, diverged: int,
                    content_mismatches: int) -> list[tuple[str, str, bool]]:
    """The invariants every simulation checks of the copies (in one process or in
    several): each delivered exactly once, the sender's view equal to the receiver's
    state, the content received equal to what was signed."""
    return [
        ("copies delivered exactly once", f"{delivered}/{copies} (lost {lost}, "
         f"duplicated {duplicated})", not (lost or duplicated)),
        ("sender's view equals the receiver's state", f"{copies - diverged}/{copies}",
         not diverged),
        ("received content equals what was signed", f"{copies - content_mismatches}/{copies}",
         not content_mismatches),
    ]


def audit_invariant(broken: Sequence[str]) -> tuple[str, str, bool]:
    """Every organ's audit chain intact (the organs whose chain is broken named)."""
    return ("audit chains intact", "all" if not broken else "BROKEN: " + ", ".join(broken),
            not broken)
