"""The architecture's import rules, checked on the source: the core (model, envelope,
security, lifecycle, domain, failure, routing, errors, clock) imports no adapter and no
service; the two adapters (the store, the transport: clients and the SOAP endpoint) never
import each other nor a service, so they meet only in the services (node, hub,
emulators, bootstrap); nothing outside the store reads its tables (the emulators use
its agencies room); no module of the package is much over 600 lines; no import
cycles."""

from __future__ import annotations

import ast
from pathlib import Path

PACKAGE = Path(__file__).resolve().parents[2] / "docflow"
CORE = ("model", "envelope", "security", "lifecycle", "domain", "failure", "routing", "spool",
        "agencies", "reform", "errors", "clock", "pdf", "calendar")
ADAPTERS_AND_SERVICES = ("store", "transport", "emulators", "node", "hub", "delivery",
                         "worker", "harness", "cli", "config", "demo", "tracing", "intake",
                         "hooks", "bootstrap", "endpoint", "timestamps", "sending",
                         "receiving")


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
    assert meeting <= {"node", "hub", "delivery", "emulators", "bootstrap", "endpoint", "cli",
                       "harness", "demo", "tracing", "intake", "sending", "receiving"}, meeting
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


def _module_name(path: Path) -> str:
    parts = path.relative_to(PACKAGE.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def import_graph() -> dict[str, set[str]]:
    """Every docflow module and the docflow modules it imports, wherever the import is
    (module level, inside a function, under TYPE_CHECKING): a cycle through any of them
    is a cycle of concepts."""
    modules = {_module_name(path): path for path in PACKAGE.rglob("*.py")}

    def known(name: str) -> str:
        while name and name not in modules:
            name = name.rpartition(".")[0]
        return name

    graph: dict[str, set[str]] = {}
    for name, path in modules.items():
        edges = graph.setdefault(name, set())
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            targets: list[str] = []
            if isinstance(node, ast.Import):
                targets = [alias.name for alias in node.names]
            elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
                targets = [f"{node.module}.{alias.name}" for alias in node.names]
            for target in targets:
                if target.startswith("docflow.") and (found := known(target)) != name \
                        and found != "docflow":
                    edges.add(found)
    return graph


def cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """The strongly connected components of more than one module (Tarjan's)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    found: list[list[str]] = []

    def visit(node: str) -> None:
        index[node] = low[node] = len(index)
        stack.append(node)
        for other in graph.get(node, ()):
            if other not in index:
                visit(other)
                low[node] = min(low[node], low[other])
            elif other in stack:
                low[node] = min(low[node], index[other])
        if low[node] == index[node]:
            component = []
            while True:
                other = stack.pop()
                component.append(other)
                if other == node:
                    break
            if len(component) > 1:
                found.append(sorted(component))

    for node in sorted(graph):
        if node not in index:
            visit(node)
    return found


def test_no_import_cycles() -> None:
    """No module imports, even lazily or for types only, one that imports it back:
    config reads, bootstrap composes, the services build on both."""
    assert not cycles(import_graph())


def test_the_cycle_check_catches_a_cycle() -> None:
    assert cycles({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}) == [["a", "b", "c"]]


def test_imports_inside_functions_only_in_the_command_line() -> None:
    """Outside the CLI (which loads a command's services when the command runs, so that
    ``docflow --help`` and ``docflow validate`` start at once) and the package's lazy
    public names, every import is at the top of its module."""
    lazy = []
    for path in PACKAGE.rglob("*.py"):
        relative = path.relative_to(PACKAGE)
        if relative.parts[0] == "cli" or relative == Path("__init__.py"):
            continue
        for function in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(function, ast.FunctionDef | ast.AsyncFunctionDef):
                lazy += [f"{relative}:{node.lineno}" for node in ast.walk(function)
                         if isinstance(node, ast.Import | ast.ImportFrom)]
    assert not lazy, lazy


#: public functions typed ``-> Any`` because they override a third party's interface
#: that is typed so (authlib's request wrappers, SQLAlchemy's result processors)
_ANY_OVERRIDES = {("emulators/wso2.py", "args"), ("emulators/wso2.py", "form"),
                  ("store/_driver.py", "process"),
                  ("transport/_wso2.py", "merge_environment_settings")}


def test_no_public_function_returns_any() -> None:
    """A public function says what it returns: ``-> Any`` blinds the type checker where
    the pieces are wired."""
    untyped = []
    for path in PACKAGE.rglob("*.py"):
        relative = str(path.relative_to(PACKAGE))
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.FunctionDef) and not node.name.startswith("_") \
                    and node.returns is not None and ast.unparse(node.returns) == "Any" \
                    and (relative, node.name) not in _ANY_OVERRIDES:
                untyped.append(f"{relative}:{node.lineno} {node.name}")
    assert not untyped, untyped


def test_nothing_outside_the_store_reads_its_tables() -> None:
    """The schema, the engine and the driver stay in the store: the emulators, the CLI
    and the services go through its rooms (no raw SQL over its columns elsewhere)."""
    for path in PACKAGE.rglob("*.py"):
        if path.relative_to(PACKAGE).parts[0] == "store":
            continue
        source = path.read_text(encoding="utf-8")
        for private in ("store._schema", "store import _schema", "driver_reader",
                        "store._unit", "store._driver"):
            assert private not in source, f"{path.relative_to(PACKAGE)} uses {private}"
