"""A non-editable wheel ships the schemas and validates packets without the source tree."""

from __future__ import annotations

import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def wheel(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("wheel")
    subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation",
         "--disable-pip-version-check", "-q", "-w", str(out), str(ROOT)],
        check=True, capture_output=True,
    )
    (path,) = out.glob("docflow-*.whl")
    return path


def test_wheel_contains_package_schemas_and_typing_marker(wheel: Path) -> None:
    names = set(zipfile.ZipFile(wheel).namelist())
    for name in ("edxml.xsd", "edxml-types.xsd", "status.xsd", "xlink.xsd"):
        assert f"docflow/schemas/{name}" in names
    assert "docflow/py.typed" in names
    assert "docflow/envelope/__init__.py" in names
    assert not any(name.startswith(("tests/", "xsd/")) for name in names)


def test_installed_wheel_validates_an_envelope(wheel: Path, tmp_path: Path) -> None:
    target = tmp_path / "site"
    zipfile.ZipFile(wheel).extractall(target)
    script = (
        "import docflow, pathlib, sys\n"
        "assert pathlib.Path(docflow.__file__).is_relative_to(sys.argv[1]), docflow.__file__\n"
        "from docflow.samples import sample_envelope\n"
        "data = docflow.build_envelope(sample_envelope())\n"
        "print(docflow.validate_packet(data).name)\n"
        "from docflow.envelope import schema_path\n"
        "print(schema_path('edxml.xsd'))\n"
    )
    # Run outside the source tree so that only the extracted wheel can provide docflow.
    result = subprocess.run(
        [sys.executable, "-I", "-c", f"import sys; sys.path.insert(0, {str(target)!r}); "
         + f"sys.argv = ['x', {str(target)!r}]; exec({script!r})"],
        cwd=tmp_path, check=True, capture_output=True, text=True,
    )
    kind, schema = result.stdout.split()
    assert kind == "DOCUMENT"
    assert Path(schema).is_relative_to(target)
