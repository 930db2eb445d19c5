"""The root ``docflow`` group and what node commands share: ``--home``,
``--database``, opening a home."""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import click

from docflow.cli._output import fail
from docflow.errors import DocflowError


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(package_name="docflow")
def cli() -> None:
    """docflow: edXML document interconnection (liên thông văn bản) between state bodies."""


def database_option(function: Any) -> Any:
    """The ``--database`` URL (or ``DOCFLOW_DATABASE``) of a command on a store."""
    return click.option(
        "--database", "database", required=True, envvar="DOCFLOW_DATABASE",
        help="sqlite:///path/to/node.db or postgresql+psycopg://user@host/db "
             "(or DOCFLOW_DATABASE).")(function)


def home_option(function: Any) -> Any:
    """The ``--home`` of a node command (default ``$DOCFLOW_HOME`` or ``.``)."""
    return click.option("--home", type=click.Path(file_okay=False, path_type=Path),
                        default=lambda: os.environ.get("DOCFLOW_HOME", "."),
                        show_default="$DOCFLOW_HOME or .",
                        help="The node home (from `docflow init`).")(function)


def open_home(home: Path) -> Any:
    """The node of ``home`` (its ``node.toml``), opened."""
    from docflow.config import load_config

    return load_config(home).open_node()


@contextmanager
def opened(home: Path) -> Iterator[Any]:
    """The home's node, its store closed afterwards; a DocflowError, opening it or
    inside the block, is reported and exits with status 2."""
    try:
        node = open_home(home)
    except DocflowError as exc:
        fail(exc)
        raise  # fail exits; this line only satisfies the type checker
    try:
        yield node
    except DocflowError as exc:
        fail(exc)
    finally:
        node.store.close()
