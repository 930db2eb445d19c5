"""The lifecycle vocabulary is typed: no state, event, direction or kind of a machine is
written as a bare string outside :mod:`docflow.lifecycle` (a typo there would be a silent
no-op; an enum member is a type error)."""

from __future__ import annotations

import ast
import enum
import re
from pathlib import Path

import docflow.lifecycle as lifecycle

PACKAGE = Path(lifecycle.__file__).parent.parent

#: every state and event of the machines, as the store's columns hold them (the kinds
#: and directions, "document", "status", "in", are ordinary words too: they are typed in
#: the store's signatures instead)
WORDS = frozenset(
    member.value for name in lifecycle.__all__
    if name.endswith(("State", "Event"))
    and issubclass(kind := getattr(lifecycle, name), enum.StrEnum) for member in kind)

#: calls whose string arguments are names of something else (an audit action, a CLI
#: option, a log message, a JSON key): the same words there are not the vocabulary
_NOT_STATES = frozenset({"audit", "option", "argument", "say", "note", "debug", "info",
                         "warning", "error", "exception", "get", "pop", "setdefault",
                         "getattr", "Choice", "table", "emit", "fault"})


_PRAGMA = re.compile(r"#.*\b(wire|not a state)\b")


def _parents(tree: ast.AST) -> dict[ast.AST, ast.AST]:
    return {child: node for node in ast.walk(tree) for child in ast.iter_child_nodes(node)}


def _callee(call: ast.Call) -> str:
    func = call.func
    return func.attr if isinstance(func, ast.Attribute) else getattr(func, "id", "")


def _ancestors(node: ast.AST, parents: dict[ast.AST, ast.AST]) -> list[ast.AST]:
    chain = []
    while (node := parents.get(node)) is not None:  # type: ignore[assignment]
        chain.append(node)
    return chain


def _other_vocabulary(ancestors: list[ast.AST]) -> bool:
    """Inside an f-string, ``__all__``, or another enum's members (a wire word)."""
    for node in ancestors:
        if isinstance(node, ast.JoinedStr):
            return True
        if isinstance(node, ast.Assign) and any(
                isinstance(t, ast.Name) and t.id == "__all__" for t in node.targets):
            return True
        if isinstance(node, ast.ClassDef) and any(
                "Enum" in ast.unparse(base) for base in node.bases):
            return True
    return False


def _is_bare_word(node: ast.Constant, parents: dict[ast.AST, ast.AST]) -> bool:
    if _other_vocabulary(_ancestors(node, parents)):
        return False
    parent = parents.get(node)
    if isinstance(parent, ast.Dict) and node in parent.keys:
        return False  # a JSON key
    if isinstance(parent, ast.Subscript) and parent.slice is node:
        return False  # row["state"]
    if isinstance(parent, ast.Expr | ast.JoinedStr | ast.FormattedValue):
        return False  # a docstring, a part of an f-string
    if isinstance(parent, ast.keyword):
        parent = parents.get(parent)
    return not (isinstance(parent, ast.Call) and _callee(parent) in _NOT_STATES)


def test_no_state_or_event_literal_outside_the_lifecycle() -> None:
    found = []
    for path in sorted(PACKAGE.rglob("*.py")):
        if "lifecycle" in path.relative_to(PACKAGE).parts:
            continue
        text = path.read_text(encoding="utf-8")
        lines = text.splitlines()
        tree = ast.parse(text)
        parents = _parents(tree)
        found += [f"{path.relative_to(PACKAGE)}:{node.lineno}: {node.value!r}"
                  for node in ast.walk(tree)
                  if isinstance(node, ast.Constant) and isinstance(node.value, str)
                  and node.value in WORDS and _is_bare_word(node, parents)
                  # another system's word that happens to be spelt the same, said so
                  and not _PRAGMA.search(lines[node.lineno - 1])]
    assert not found, "use the lifecycle's enums:\n" + "\n".join(found)


def test_the_store_columns_hold_the_enum_values() -> None:
    """A StrEnum member is its value: what the columns held before still reads."""
    assert lifecycle.IncomingState("accepted") is lifecycle.IncomingState.ACCEPTED
    assert lifecycle.TransportState.FAILED == "failed"
    assert f"{lifecycle.Direction.OUT}" == "out"
