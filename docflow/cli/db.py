"""``docflow db upgrade``: the schema's migrations."""

from __future__ import annotations

from docflow.cli._app import cli, database_option
from docflow.cli._output import fail, say
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
            say(f"database at schema revision {store.schema_revision()}")
    except DocflowError as exc:
        fail(exc)
