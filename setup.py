"""Which packages the wheel holds, found rather than listed: every package under
``docflow/`` (setuptools finds them), and ``docflow.schemas`` mapped from the top-level
``xsd/`` folder, the schemas' source of truth. Everything else is declared in
``pyproject.toml`` and ``setup.cfg``."""

from setuptools import find_packages, setup

setup(
    packages=[*find_packages(include=["docflow", "docflow.*"]), "docflow.schemas"],
    package_dir={"docflow.schemas": "xsd"},
)
