"""``docflow db upgrade``: the schema's migrations."""

from __future__ import annotations

import click

from docflow.cli._app import cli, database_option
from docflow.cli._output import fail
from docflow.errors import DocflowError


@cli.group()
def db() -> None:
    """The node's database."""


@db.command("upgrade")
@database_option
def db_upgrade(database: str) -> None:
    """Create the database schema, or migrate it to this docflow's revision."""
    from docflow.store import Store

    try:
        with Store.open(database) as store:
            click.echo(f"database at schema revision {store.schema_revision()}")
    except DocflowError as exc:
        fail(exc)
