"""The ``docflow`` command: an entry point that only translates arguments and output.

One module per command group (see the README's "Command line" and "Development"):
``conform`` (packet files), ``documents`` (send, act, show, trace), ``node`` (init,
serve), ``pdf`` (signed PDFs), ``calendar`` (working days), ``pki``, ``audit``,
``axis``, ``simulate``, ``db``, ``lifecycle``; ``_app`` holds the root group and the
options node commands share, ``_output`` how results and errors are printed. Every
``DocflowError`` becomes a one-line message on stderr and exit status 2; usage errors
exit with 2 as click does; success is 0; a check that finds a problem (``validate``)
exits with 1.
"""

from __future__ import annotations

# Importing a command module registers its commands on the root group.
from docflow.cli import (  # noqa: F401 - imported for their commands
    audit,
    axis,
    calendar,
    conform,
    db,
    deadlines,
    directory,
    documents,
    lifecycle,
    node,
    operate,
    pdf,
    pki,
    register,
    simulate,
)
from docflow.cli._app import cli

__all__ = ["cli", "main"]


def main(argv: list[str] | None = None) -> None:
    """Run the ``docflow`` command (the console-script entry point)."""
    cli.main(args=argv, prog_name="docflow")


if __name__ == "__main__":  # pragma: no cover
    main()
