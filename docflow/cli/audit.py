"""``docflow audit verify|checkpoint``: the tamper-evident audit chain."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import click

from docflow.cli._app import cli, home_option
from docflow.cli._output import ExistingPath, emit, fail, json_option, note, say
from docflow.errors import ConfigError, DocflowError, NotFoundError


@cli.group()
def audit() -> None:
    """The hash-chained audit log."""


@audit.command("verify")
@click.option("--database", "database", envvar="DOCFLOW_DATABASE",
              help="sqlite:///path/to/node.db or postgresql+psycopg://user@host/db (or "
                   "DOCFLOW_DATABASE; default: the database of --home).")
@home_option
@click.option("--checkpoint", "checkpoint_files", multiple=True,
              type=ExistingPath(),
              help="A signed checkpoint (`docflow audit checkpoint`) the chain must still "
                   "match, or a folder of them (`docflow serve`'s checkpoint_dir: every "
                   "*.json in it); repeat for several.")
@click.option("--trust", "trust_path", type=ExistingPath(),
              help="CA certificates (file or folder) that verify the checkpoints.")
@click.option("--tsa-trust", "tsa_trust", type=ExistingPath(),
              help="The time-stamping authorities' CA certificates (file or folder): "
                   "every checkpoint's time-stamp is checked, and one without is refused.")
@click.option("--tsa-crls", "tsa_crls", type=ExistingPath(),
              help="CRLs (PEM or DER) for --tsa-trust.")
@click.option("--json", "as_json", is_flag=True, help="Print the result as JSON.")
def audit_verify(database: str | None, home: Path, checkpoint_files: tuple[Path, ...],
                 trust_path: Path | None, tsa_trust: Path | None, tsa_crls: Path | None,
                 as_json: bool) -> None:
    """Recompute the audit chain; exit 1 and say where if any entry was changed (or, with
    checkpoints, if the chain is not the one that was signed)."""
    from docflow.security import AuditCheckpoint, TrustStore
    from docflow.store import Store

    try:
        organ = None
        if database is None:  # the node home's (its trust folder verifies checkpoints)
            from docflow.config import load_config

            config = load_config(home)
            database, organ = config.database, str(config.organ.code)
            trust_path = trust_path or (config.trust if checkpoint_files else None)
        if checkpoint_files and trust_path is None:
            raise ConfigError("--checkpoint needs --trust (the CA that verifies it)")
        paths: list[Path] = []
        for given in checkpoint_files:
            found = sorted(given.glob("*.json")) if given.is_dir() else [given]
            if not found:
                raise NotFoundError("no checkpoint (*.json) in the folder", where=str(given))
            paths += found
        checkpoints = [AuditCheckpoint.from_json(path.read_text(encoding="utf-8"))
                       for path in paths]
        stamps: list[dict[str, object]] = []
        if tsa_trust is not None:
            from docflow.pdf import PdfTrust
            from docflow.timestamps import check_checkpoint_stamp

            authorities = PdfTrust.load(tsa_trust, crls=tsa_crls,
                                        revocation="require" if tsa_crls else "soft-fail")
            stamps = [{"organ": str(c.organ), "entry": c.seq,
                       "stamped_at": check_checkpoint_stamp(c, authorities).isoformat()}
                      for c in checkpoints]
        trust = TrustStore.from_paths(trust_path) if trust_path is not None else None
        with Store(database) as store:
            report = store.audit.verify(checkpoints, trust=trust, organ=organ)
    except DocflowError as exc:
        fail(exc)
    if as_json:
        click.echo(json.dumps({"ok": report.ok, "entries": report.entries,
                               "broken_at": report.broken_at, "reason": report.reason,
                               "checkpoints": report.matched,
                               "skipped": list(report.skipped), "time_stamps": stamps}))
    else:
        if report.ok:
            matched = (f" (matches {report.matched} signed checkpoint(s))"
                       if report.matched else "")
            say(f"audit chain intact: {report.entries} entries{matched}")
            for stamp in stamps:
                say(f"  checkpoint at entry {stamp['entry']} time-stamped "
                    f"{stamp['stamped_at']}")
        else:
            say(f"audit chain BROKEN at entry {report.broken_at}: {report.reason} "
                f"({report.entries} entries read)")
        for other in report.skipped:
            note(f"skipped a checkpoint of another organ's chain: {other}")
    sys.exit(0 if report.ok else 1)


@audit.command("checkpoint")
@home_option
@click.option("-o", "--output", type=click.Path(dir_okay=False, path_type=Path),
              help="Write the checkpoint here (default: standard output).")
@click.option("--tsa", metavar="URL",
              help="Have a time-stamping authority (RFC 3161) stamp the checkpoint: it "
                   "existed then, whoever holds the key later.")
@json_option
def audit_checkpoint(home: Path, output: Path | None, tsa: str | None,
                     as_json: bool) -> None:
    """Sign the audit chain's head (entries, last hash) with the home's organ key.

    Keep the file outside the database: `docflow audit verify --checkpoint FILE` then
    also catches a chain rewritten whole after it was signed.
    """
    import datetime as dt

    from docflow import bootstrap
    from docflow.config import load_config
    from docflow.security import sign_checkpoint
    from docflow.store import Store

    try:
        config = load_config(home)
        credentials = bootstrap.credentials(config)
        with Store(config.database) as store:
            seq, head = store.audit.head()
        checkpoint = sign_checkpoint(credentials, seq, head, now=dt.datetime.now(dt.UTC))
        if tsa is not None:
            from docflow.timestamps import pdf_timestamper, stamp_checkpoint

            checkpoint = stamp_checkpoint(checkpoint, pdf_timestamper(tsa))
    except DocflowError as exc:
        fail(exc)
    if output is None:
        click.echo(checkpoint.to_json())  # the checkpoint itself is JSON
        return
    output.write_text(checkpoint.to_json() + "\n", encoding="utf-8")
    emit({"file": str(output), "entries": seq, "organ": str(checkpoint.organ),
          "time_stamped": checkpoint.timestamp is not None}, as_json,
         lambda: say(f"signed the audit chain at entry {seq} as {checkpoint.organ}"
                     f"{' (time-stamped)' if checkpoint.timestamp else ''}: {output}"))
