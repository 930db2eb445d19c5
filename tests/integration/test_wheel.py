"""What `pip install .` installs works with no source tree beside it: the wheel is built,
installed into a fresh virtual environment (its dependencies reached through a path file
to this environment's site-packages, where docflow itself is only an editable hook that
a path file does not run), and used from a folder outside the source tree: every module
imports, and the `docflow` command runs `--version`, `init`, `db upgrade` (the migrations
shipped), `sample` and `validate` (the schemas shipped)."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import sysconfig
import zipfile
from pathlib import Path

import pytest

from docflow.store._schema import SCHEMA_REVISION

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def wheel(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Built from a copy of the source tree: never from a build folder another worker
    (pytest -n) is writing, nor one an earlier build left behind."""
    out = tmp_path_factory.mktemp("wheel")
    source = tmp_path_factory.mktemp("source") / "docflow"
    shutil.copytree(ROOT, source, ignore=shutil.ignore_patterns(
        ".git", ".venv", "build", "dist", "*.egg-info", "__pycache__", ".hypothesis",
        ".mypy_cache", ".ruff_cache", ".pytest_cache"))
    subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation",
         "--disable-pip-version-check", "-q", "-w", str(out), str(source)],
        check=True, capture_output=True,
    )
    (path,) = out.glob("docflow-*.whl")
    return path


@pytest.fixture(scope="module")
def installed(wheel: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A fresh venv with the wheel installed (not editable); its bin folder."""
    venv = tmp_path_factory.mktemp("venv") / "env"
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(venv)], check=True)
    python = venv / "bin" / "python"
    subprocess.run([sys.executable, "-m", "pip", "--python", str(python), "install", "-q",
                    "--no-deps", "--no-index", "--disable-pip-version-check", str(wheel)],
                   check=True, capture_output=True)
    purelib = subprocess.run([str(python), "-c", "import sysconfig; print(sysconfig."
                              "get_paths()['purelib'])"], check=True, capture_output=True,
                             text=True).stdout.strip()
    # The dependencies, from this environment: a plain path (no .pth of it is run, so
    # the editable install of docflow there stays out).
    ours = sysconfig.get_paths()
    (Path(purelib) / "_dependencies.pth").write_text(
        "\n".join(dict.fromkeys([ours["purelib"], ours["platlib"]])) + "\n", encoding="utf-8")
    return venv / "bin"


def test_wheel_contains_package_schemas_migrations_and_typing_marker(wheel: Path) -> None:
    names = set(zipfile.ZipFile(wheel).namelist())
    for name in ("edxml.xsd", "edxml-types.xsd", "status.xsd", "xlink.xsd"):
        assert f"docflow/schemas/{name}" in names
    assert "docflow/py.typed" in names
    assert "docflow/store/migrations/script.py.mako" in names
    # the stamp font (and its licence) signed PDFs are stamped with
    assert {"docflow/pdf/fonts/DejaVuSans-vi.ttf",
            "docflow/pdf/fonts/LICENSE-DejaVu.txt"} <= names
    modules = {str(path.relative_to(ROOT)) for path in (ROOT / "docflow").rglob("*.py")}
    assert modules <= names, sorted(modules - names)  # every module of the source tree
    shipped = {name for name in names if name.startswith("docflow/") and name.endswith(".py")}
    # and no other: a module deleted or moved since an earlier build in this tree must
    # not ship (setuptools never cleans build/lib; setup.py's build_py starts afresh)
    mapped = {f"docflow/schemas/{path.name}" for path in (ROOT / "xsd").glob("*.py")}
    assert shipped <= modules | mapped, sorted(shipped - modules - mapped)
    assert not any(name.startswith(("tests/", "xsd/")) for name in names)


def _run(bin_dir: Path, cwd: Path, *args: str) -> subprocess.CompletedProcess[str]:
    env = {key: value for key, value in os.environ.items()
           if key not in ("PYTHONPATH", "DOCFLOW_HOME", "DOCFLOW_DATABASE")}
    env.update(PATH=f"{bin_dir}{os.pathsep}{env.get('PATH', '')}", PYTHONIOENCODING="utf-8")
    done = subprocess.run([str(bin_dir / args[0]), *args[1:]], cwd=cwd, env=env,
                          capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stdout + done.stderr
    return done


def test_every_module_imports_from_the_installed_wheel(installed: Path, tmp_path: Path) -> None:
    script = (
        "import importlib, pathlib, pkgutil, sys, docflow\n"
        "home = pathlib.Path(docflow.__file__).parent\n"
        "assert home.is_relative_to(sys.prefix), (home, sys.prefix)\n"
        "names = [m.name for m in pkgutil.walk_packages([str(home)], 'docflow.')\n"
        "         if not m.name.endswith('__main__')  # runs the CLI\n"
        "         and not m.name.startswith('docflow.store.migrations.')]  # alembic's\n"
        "for name in names:\n"
        "    module = importlib.import_module(name)\n"
        "    assert pathlib.Path(module.__file__).is_relative_to(sys.prefix), name\n"
        "from docflow.envelope import schema_path\n"
        "assert schema_path('edxml.xsd').is_relative_to(sys.prefix)\n"
        "print(len(names))\n"
    )
    done = _run(installed, tmp_path, "python", "-I", "-c", script)
    assert int(done.stdout) > 80


def test_the_installed_command_sets_up_a_home_and_validates(installed: Path,
                                                            tmp_path: Path) -> None:
    version = _run(installed, tmp_path, "docflow", "--version").stdout
    assert "docflow" in version and "0." in version
    _run(installed, tmp_path, "docflow", "pki", "ca", "create", "--name", "CA", "--ecdsa",
         "--out", str(tmp_path / "ca"))
    home = tmp_path / "home"
    _run(installed, tmp_path, "docflow", "init", str(home), "--organ", "000.00.00.H41",
         "--name", "UBND tỉnh Quảng Nam",
         "--ca", str(tmp_path / "ca"))
    assert (home / "node.toml").is_file()
    upgraded = _run(installed, tmp_path, "docflow", "db", "upgrade", "--database",
                    f"sqlite:///{tmp_path / 'another.db'}")
    assert SCHEMA_REVISION in upgraded.stdout
    packet = tmp_path / "decision.edxml"
    _run(installed, tmp_path, "docflow", "sample", "decision", "-o", str(packet))
    valid = _run(installed, tmp_path, "docflow", "validate", str(packet))
    assert "valid document packet" in valid.stdout
    # a PDF stamped as an attachment file with the installed font, and verified
    _run(installed, tmp_path, "docflow", "pdf", "sample", "-o", str(tmp_path / "qd.pdf"))
    _run(installed, tmp_path, "docflow", "pki", "crl", "--ca", str(tmp_path / "ca"), "-o",
         str(tmp_path / "ca.crl"))
    _run(installed, tmp_path, "docflow", "pdf", "sign", str(tmp_path / "qd.pdf"), "-o",
         str(tmp_path / "pl.pdf"), "--as", "attachment", "--key",
         str(home / "keys" / "organ.key"), "--cert", str(home / "keys" / "organ.crt"),
         "--number", "1", "--notation", "QĐ-UBND")
    checked = _run(installed, tmp_path, "docflow", "pdf", "verify", str(tmp_path / "pl.pdf"),
                   "--trust", str(tmp_path / "ca" / "ca.crt"), "--crls",
                   str(tmp_path / "ca.crl"))
    assert "pl.pdf: valid" in checked.stdout
