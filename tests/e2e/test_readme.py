"""The README's Python blocks run, in order, as one program (they build on each other)."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

README = Path(__file__).resolve().parents[2] / "README.md"


def test_readme_python_blocks_run(capsys) -> None:  # type: ignore[no-untyped-def]
    blocks = re.findall(r"```python\n(.*?)```", README.read_text(encoding="utf-8"), re.DOTALL)
    assert blocks
    namespace: dict[str, object] = {"__name__": "__main__"}  # as a script runs them
    for block in blocks:
        exec(compile(block, str(README), "exec"), namespace)  # noqa: S102 - our own README
    out = capsys.readouterr().out
    assert "Subjekt" in out


def test_readme_shows_the_two_commands() -> None:
    text = README.read_text(encoding="utf-8")
    assert "make demo" in text and "make test" in text


def test_the_readme_tells_what_really_happens(tmp_path: Path) -> None:
    """Issue 20, item 13: the README's printed outputs, byte counts and paths are the
    real ones (they had drifted)."""
    from docflow.lifecycle import INCOMING, merge_status
    from docflow.model import StatusCode

    text = README.read_text(encoding="utf-8")
    step = INCOMING.apply("received", "accept")
    assert f"print(step.state, step.emit)                      # {step.state} {step.emit}" in text
    state = "pending"
    for code in (StatusCode.PROCESSING, StatusCode.ARRIVED, StatusCode.PROCESSING):
        state = merge_status(state, code)
    assert f"print(state)                                      # {state}" in text
    # `docflow sample decision --to 000.00.05.H41` writes the sample packet, unsigned.
    out = tmp_path / "decision.edxml"
    subprocess.run([str(Path(sys.executable).with_name("docflow")), "sample", "decision",
                    "--to", "000.00.05.H41", "-o", str(out)], check=True, timeout=60)
    assert f"wrote decision packet ({out.stat().st_size} bytes) to decision.edxml" in text
    root = README.parent
    named = set(re.findall(r"`((?:docflow|tests|examples|benchmarks|xsd)/[\w./-]+)`", text))
    missing = sorted(path for path in named if not (root / path).exists())
    assert not missing, f"the README names files that are not in the repository: {missing}"
