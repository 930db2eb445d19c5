"""The architecture's import rules, checked on the source: the core (model, envelope,
security, lifecycle, routing, errors, clock) imports no adapter and no service; the two
adapters (the store, the transport: clients and the SOAP endpoint) never import each
other nor a service, so they meet only in the services (node, hub, emulators); the
store's rooms know nothing of axes (the emulators' agencies live beside the emulators);
no module of the package is much over 600 lines."""

from __future__ import annotations

import ast
from pathlib import Path

PACKAGE = Path(__file__).resolve().parents[2] / "docflow"
CORE = ("model", "envelope", "security", "lifecycle", "routing", "errors", "clock")
ADAPTERS_AND_SERVICES = ("store", "transport", "emulators", "node", "hub", "delivery",
                         "worker", "harness", "cli", "config", "demo", "tracing", "intake",
                         "hooks")


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
        bad = imports(path) & {"store", "emulators", "node", "hub", "delivery", "worker",
                               "harness", "cli"}
        assert not bad, f"{path.relative_to(PACKAGE)} imports {sorted(bad)}"


def test_the_store_imports_no_other_adapter_and_no_service() -> None:
    for path in files("store"):
        bad = imports(path) & {"transport", "emulators", "node", "hub", "delivery", "worker",
                               "harness", "cli", "config", "demo"}
        assert not bad, f"{path.relative_to(PACKAGE)} imports {sorted(bad)}"


def test_adapters_meet_only_in_services() -> None:
    """Whatever imports both adapters is a service or the outer shell, never the core or
    an adapter."""
    meeting = {path.relative_to(PACKAGE).parts[0].removesuffix(".py")
               for path in PACKAGE.rglob("*.py") if {"store", "transport"} <= imports(path)}
    assert meeting <= {"node", "hub", "delivery", "emulators", "config", "cli", "harness",
                       "demo", "tracing"}, meeting
    assert not meeting & set(CORE)


def test_no_module_is_much_over_600_lines() -> None:
    long = {str(path.relative_to(PACKAGE)): count for path in PACKAGE.rglob("*.py")
            if (count := len(path.read_text(encoding="utf-8").splitlines())) > 650}
    assert not long, f"split these by concept: {long}"


def test_the_rule_catches_a_violation(tmp_path: Path) -> None:
    """The check itself fails on a module that breaks the rule."""
    bad = tmp_path / "bad.py"
    bad.write_text("from docflow.store import Store\nimport docflow.transport._vxp\n",
                   encoding="utf-8")
    assert imports(bad) == {"store", "transport"}
