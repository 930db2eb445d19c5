"""Which packages the wheel holds, found rather than listed: every package under
``docflow/`` (setuptools finds them), and ``docflow.schemas`` mapped from the top-level
``xsd/`` folder, the schemas' source of truth. Everything else is declared in
``pyproject.toml`` and ``setup.cfg``.

``build_py`` starts from an empty ``build/lib/docflow``: setuptools copies the sources
there and never removes what is no longer in the tree, so a module deleted or moved
since the last build would otherwise ship in the next wheel (and import what is gone)."""

import shutil
from pathlib import Path

from setuptools import find_packages, setup
from setuptools.command.build_py import build_py


class FreshBuildPy(build_py):
    """``build_py`` over an emptied package folder (no module left from a past build)."""

    def run(self) -> None:
        shutil.rmtree(Path(self.build_lib) / "docflow", ignore_errors=True)
        super().run()


setup(
    packages=[*find_packages(include=["docflow", "docflow.*"]), "docflow.schemas"],
    package_dir={"docflow.schemas": "xsd"},
    cmdclass={"build_py": FreshBuildPy},
)
