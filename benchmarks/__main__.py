"""Run every benchmark and write benchmarks/RESULTS.md: ``python -m benchmarks [names]``;
``--quick``: every benchmark at a small size, the table printed, nothing written."""

from __future__ import annotations

import importlib
import sys
import warnings
from pathlib import Path

from benchmarks import _harness
from benchmarks._harness import Row, table, write_results

MODULES = ["bench_envelope", "bench_security", "bench_lifecycle", "bench_store", "bench_soap",
           "bench_hub", "bench_axis", "bench_network", "bench_pdf", "bench_large"]


def main(argv: list[str]) -> int:
    # pyHanko imports cryptography's deprecated DSA support (docflow.pdf hides it too)
    warnings.filterwarnings("ignore", message="DSA is deprecated")
    _harness.QUICK = "--quick" in argv
    selected = [name for name in argv if name != "--quick"] or MODULES
    rows: list[Row] = []
    notes: list[str] = []
    for name in selected:
        module = importlib.import_module(f"benchmarks.{name}")
        print(f"running {name} ...", flush=True)
        rows.extend(module.run())
        notes.extend(getattr(module, "NOTES", []))
    if _harness.QUICK:
        print(table(rows))  # a smoke run: nothing written
        return 0
    print(write_results(rows, Path(__file__).with_name("RESULTS.md"), notes))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
