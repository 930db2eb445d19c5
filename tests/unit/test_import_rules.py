"""The architecture's import rules, checked on the source: the core (model, envelope,
security, lifecycle, routing, errors, clock) imports no adapter and no service; the
transport (clients and the SOAP endpoint) never imports the store; the emulators are
services over the store and the core."""

from __future__ import annotations

import ast
from pathlib import Path

PACKAGE = Path(__file__).resolve().parents[2] / "docflow"
CORE = ("model", "envelope", "security", "lifecycle", "routing", "errors", "clock")
ADAPTERS_AND_SERVICES = ("store", "transport", "emulators", "node", "hub", "harness", "cli",
                         "config", "demo")


def imports(path: Path) -> set[str]:
    """The docflow modules a file imports (first component under docflow)."""
    found = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        names = []
        if isinstance(node, ast.Import):
            names = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names = [node.module]
        for name in names:
            parts = name.split(".")
            if parts[0] == "docflow" and len(parts) > 1:
                found.add(parts[1])
    return found


def files(part: str) -> list[Path]:
    target = PACKAGE / part
    return sorted(target.rglob("*.py")) if target.is_dir() else [target.with_suffix(".py")]


def test_the_core_imports_no_adapter() -> None:
    for part in CORE:
        for path in files(part):
            bad = imports(path) & set(ADAPTERS_AND_SERVICES)
            assert not bad, f"{path.relative_to(PACKAGE)} imports {sorted(bad)}"


def test_the_transport_never_imports_the_store() -> None:
    for path in files("transport"):
        bad = imports(path) & {"store", "emulators", "node", "hub", "harness", "cli"}
        assert not bad, f"{path.relative_to(PACKAGE)} imports {sorted(bad)}"


def test_the_rule_catches_a_violation(tmp_path: Path) -> None:
    """The check itself fails on a module that breaks the rule."""
    bad = tmp_path / "bad.py"
    bad.write_text("from docflow.store import Store\nimport docflow.transport._vxp\n",
                   encoding="utf-8")
    assert imports(bad) == {"store", "transport"}
