"""Lifecycle events per second next to a bare dict transition table, and the memory that
1M documents' states take.

The events are 1M random valid events over 100k documents (random walks through the
incoming machine, interleaved across documents), applied by `INCOMING.apply` and, in the
same run and the same loop shape, by a bare `{(state, event): next}` lookup: the limit.
"""

from __future__ import annotations

import json
import random
import subprocess
import sys
import textwrap

from benchmarks._harness import Row, sized
from docflow.lifecycle import INCOMING

DOCUMENTS = sized(100_000, 1000)
EVENTS = sized(1_000_000, 10_000)


def _workload(seed: int = 2018) -> tuple[list[int], list[str]]:
    rng = random.Random(seed)
    per_doc = EVENTS // DOCUMENTS
    walks: list[list[str]] = []
    for _ in range(DOCUMENTS):
        state, walk = INCOMING.initial, []
        for _ in range(per_doc):
            allowed = INCOMING.allowed(state)
            if not allowed:
                break
            event = rng.choice(allowed)
            walk.append(event)
            state = INCOMING.apply(state, event, "r").state
        walks.append(walk)
    # Interleave: each step takes the next event of a random document.
    docs, events = [], []
    cursors = [0] * DOCUMENTS
    pending = [d for d in range(DOCUMENTS) if walks[d]]
    while pending:
        slot = rng.randrange(len(pending))
        doc = pending[slot]
        docs.append(doc)
        events.append(walks[doc][cursors[doc]])
        cursors[doc] += 1
        if cursors[doc] == len(walks[doc]):
            pending[slot] = pending[-1]
            pending.pop()
    return docs, events


def _time(loop) -> float:  # type: ignore[no-untyped-def]
    import time

    best = float("inf")
    for _ in range(3):
        start = time.perf_counter()
        loop()
        best = min(best, time.perf_counter() - start)
    return best


MEASURE_RSS = textwrap.dedent(
    """
    import json
    from docflow.lifecycle import INCOMING
    from tests.proc import status

    base = status("VmRSS")
    states = [INCOMING.initial] * 1_000_000
    for i in range(len(states)):
        states[i] = INCOMING.apply(states[i], "receive").state
    states = [INCOMING.apply(s, "accept").state for s in states]
    print(json.dumps({"used": status("VmHWM") - base, "count": len(states)}))
    """
)


def run() -> list[Row]:
    docs, events = _workload()
    table = {(state, event): INCOMING.apply(state, event, "r").state
             for state in INCOMING.states for event in INCOMING.allowed(state)}
    apply = INCOMING.apply
    count = len(events)

    def ours() -> None:
        states = [INCOMING.initial] * DOCUMENTS
        for doc, event in zip(docs, events, strict=True):
            states[doc] = apply(states[doc], event, "r").state

    def bare() -> None:
        states = [INCOMING.initial] * DOCUMENTS
        for doc, event in zip(docs, events, strict=True):
            states[doc] = table[(states[doc], event)]

    ours_rate, bare_rate = count / _time(ours), count / _time(bare)
    rss = json.loads(subprocess.run([sys.executable, "-c", MEASURE_RSS], check=True,
                                    capture_output=True, text=True).stdout)
    used_mb = rss["used"] / 1e6
    return [
        Row("lifecycle", f"{count:,} random valid events over {DOCUMENTS:,} documents",
            ours_rate, "bare dict transition table", bare_rate, unit="events/s", goal=0.25),
        Row("lifecycle", "peak RSS growth for 1M documents' states", used_mb,
            "budget", 200.0, unit="MB", goal=1.0, higher_is_better=False),
    ]


NOTES = [
    "lifecycle: `INCOMING.apply` returns a precomputed Step from a dict compiled out of the "
    "transitions machine; a transitions trigger per event would run at ~0.4% of the bare "
    "table (~27 us per event).",
]
