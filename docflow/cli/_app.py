"""The root ``docflow`` group and what node commands share: ``--home``,
``--database``, opening a home."""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Any

import click

from docflow.cli._output import F, fail
from docflow.errors import DocflowError

if TYPE_CHECKING:
    from docflow.hub import Hub
    from docflow.node import Node


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(package_name="docflow")
@click.option("-q", "--quiet", is_flag=True,
              help="Print results and errors only (no progress, no pass summaries).")
@click.option("-v", "--verbose", count=True,
              help="Log what docflow does to stderr (-v: info, -vv: debug).")
@click.pass_context
def cli(ctx: click.Context, quiet: bool, verbose: int) -> None:
    """docflow: edXML document interconnection (liên thông văn bản) between state bodies.

    Exit statuses: 0 done, 1 invalid input or a failed check, 2 usage, 3 not found,
    4 illegal transition, 5 configuration, 6 cannot listen, 7 unavailable, 10 accepted
    with findings (conform)."""
    ctx.obj = {"quiet": quiet and not verbose}
    if verbose:
        from docflow.cli._logs import configure_logging
        from docflow.model import DEFAULT_TZ

        configure_logging("debug" if verbose > 1 else "info", file=None, as_json=False,
                          zone=DEFAULT_TZ)


def database_option(function: F) -> F:
    """The ``--database`` URL (or ``DOCFLOW_DATABASE``) of a command on a store."""
    return click.option(
        "--database", "database", required=True, envvar="DOCFLOW_DATABASE",
        help="sqlite:///path/to/node.db or postgresql+psycopg://user@host/db "
             "(or DOCFLOW_DATABASE).")(function)


def home_option(function: F) -> F:
    """The ``--home`` of a node command (default ``$DOCFLOW_HOME`` or ``.``)."""
    return click.option("--home", type=click.Path(file_okay=False, path_type=Path),
                        default=lambda: os.environ.get("DOCFLOW_HOME", "."),
                        show_default="$DOCFLOW_HOME or .",
                        help="The node home (from `docflow init`).")(function)


def open_home(home: Path, *, hub: bool = False, signing: bool = True) -> Node | Hub:
    """The node of ``home`` (its ``node.toml``), opened; with ``hub``, a hub home opens
    as its :class:`~docflow.hub.Hub` (commands that also work on a hub); without
    ``signing``, an encrypted key needs no passphrase (commands that only read)."""
    from docflow.config import load_config
    from docflow.hub import Hub
    from docflow.node import Node

    config = load_config(home)
    if hub and config.role == "hub":
        return Hub.from_config(config, signing=signing)
    return Node.from_config(config, signing=signing)


@contextmanager
def opened(home: Path, *, hub: bool = False, signing: bool = True) -> Iterator[Any]:
    """The home's node (or hub, with ``hub``), its store closed afterwards; a
    DocflowError, opening it or inside the block, is reported and exits with the status
    of its kind."""
    try:
        node = open_home(home, hub=hub, signing=signing)
    except DocflowError as exc:
        fail(exc)
        raise  # fail exits; this line only satisfies the type checker
    try:
        yield node
    except DocflowError as exc:
        fail(exc)
    finally:
        node.store.close()
