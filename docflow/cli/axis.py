"""``docflow axis serve|status|check|agencies``: the national axis and the LGSPs."""

from __future__ import annotations

import json
import os
import sys
import threading
from pathlib import Path
from typing import Any

import click

from docflow.agencies import Agency
from docflow.cli._app import cli, home_option
from docflow.cli._output import (
    EXIT_CANNOT_LISTEN,
    EXIT_UNAVAILABLE,
    ExistingPath,
    emit,
    emit_checks,
    fail,
    health_exit,
    health_of,
    json_option,
    local_time,
    say,
    section,
    table,
)
from docflow.config import DIALECTS
from docflow.errors import ConfigError, DocflowError


@cli.group()
def axis() -> None:
    """A local emulator of the national document axis / an LGSP (its HTTP API)."""


@axis.command("serve")
@click.option("--systems", "systems_file", required=True,
              type=ExistingPath(dir_okay=False),
              help="TOML with [[systems]] tables: system_id, secret, name, organs, and "
                   "what the operator grants: relay, serves (organ patterns it registers "
                   "and relays for), register (may register/delete organs), max_agencies "
                   "(and [[accounts]] for lgsp-token, with the system_id of the unit each "
                   "works for; [[consumers]] and an optional "
                   "[locations] table for wso2).")
@click.option("--dialect", type=click.Choice(DIALECTS), default="vdxp",
              show_default=True, help="Which platform to emulate.")
@click.option("--database", default="sqlite:///axis.db", show_default=True,
              help="Where the packets wait (a SQLite file or a PostgreSQL URL).")
@click.option("--code", default="000.00.00.G22", show_default=True,
              help="The axis's own organ code.")
@click.option("--host", default="127.0.0.1", show_default=True)
@click.option("--port", type=int, default=8090, show_default=True)
@click.option("--threads", type=int, default=4, show_default=True)
@click.option("--parent", help="The URL of the axis above (an LGSP's national axis).")
@click.option("--parent-system-id",
              help="This platform's system id at the parent (default: its --code).")
@click.option("--parent-secret-env", default="DOCFLOW_AXIS_PARENT_SECRET", show_default=True,
              help="The environment variable holding this axis's secret at the parent.")
@click.option("--forward-every", type=float, default=2.0, show_default=True,
              help="Seconds between exchanges with the parent.")
@click.option("--processes", type=int, default=1, show_default=True,
              help="Server processes sharing the port and the database (each with "
                   "--threads threads; tokens signed with one key work in all).")
@click.option("--province", default="H41", show_default=True,
              help="wso2: the province whose organs GET donvilienthongs/qn lists (the "
                   "level-1 part of their codes, e.g. H47).")
@click.option("--tls-cert", type=click.Path(dir_okay=False, path_type=Path),
              help="Serve HTTPS with this PEM certificate (chain); with --tls-key.")
@click.option("--tls-key", type=click.Path(dir_okay=False, path_type=Path),
              help="The PEM private key of --tls-cert.")
def axis_serve(systems_file: Path, dialect: str, database: str, code: str, host: str,
               port: int, threads: int, parent: str | None, parent_system_id: str | None,
               parent_secret_env: str, forward_every: float, processes: int, province: str,
               tls_cert: Path | None, tls_key: Path | None) -> None:
    """Serve the axis API (sendEdoc, getReceivedEdocList, getEdoc, updateStatus, ...).

    With --parent, packets for organs not registered here go up to the parent axis and
    packets waiting there for this axis's organs come down (whatever the dialect served
    here, the parent is the national axis: vdxp)."""
    import logging
    import secrets
    import signal

    from docflow.bootstrap import EmulatorApp, axis_app, read_systems
    from docflow.store import Store
    from docflow.transport import VxpClient, listen, serve_processes

    try:
        systems = read_systems(systems_file, dialect)
        secret = os.environ.get(parent_secret_env) if parent else None
        if parent and not secret:
            raise ConfigError(f"--parent needs the secret in ${parent_secret_env}")
        if processes < 1:
            raise ConfigError(f"--processes must be at least 1, not {processes}")
        if (tls_cert is None) != (tls_key is None):
            raise ConfigError("--tls-cert and --tls-key go together")
        if tls_cert is not None and processes > 1:
            raise ConfigError("HTTPS is served by one process (--processes 1)",
                              hint="or put a TLS proxy in front of several processes")
    except DocflowError as exc:
        fail(exc)
    token_key = secrets.token_bytes(32)  # one key: every process checks every token

    def make(store: Store) -> EmulatorApp:
        """The dialect's application over ``store`` (and its parent axis, if any)."""
        upstream = (VxpClient(parent, parent_system_id or code, secret or "", organ=code)
                    if parent else None)
        return axis_app(dialect, code, store, systems, parent=upstream, token_key=token_key,
                        province=province)

    # waitress warns on every queued request under load ("Task queue depth"): a line per
    # request costs the emulator CPU and fills its log; real errors still show
    logging.getLogger("waitress.queue").setLevel(logging.ERROR)
    made = _new_sqlite_file(database)  # removed again if the emulator does not start

    try:
        store = Store.open(database)  # creates or upgrades it, registers the systems
        app = make(store)
    except DocflowError as exc:
        _remove(made)
        fail(exc)
    scheme = "https" if tls_cert is not None else "http"
    banner = (f"axis {code} ({dialect}) serving {len(systems.systems)} system(s) on "
              f"{scheme}://{host}:{port}/ "
              f"(database {store.engine.url.render_as_string(hide_password=True)})"
              + (f", parent {parent}" if parent else "")
              + (f", {processes} processes" if processes > 1 else ""))
    if processes > 1:
        _release(app, store)  # nothing opened here may cross the fork

        def worker(index: int) -> tuple[Any, Any]:
            store = Store(database)
            app = make(store)
            stop = _forward(app, forward_every) if parent and index == 0 else None
            return app, lambda: _release(app, store, stop)

        try:
            status = serve_processes(worker, host=host, port=port, processes=processes,
                                     threads=threads, on_ready=lambda: click.echo(banner),
                                     port_option="--port")
        except DocflowError as exc:
            _remove(made)
            fail(exc, code=EXIT_CANNOT_LISTEN)
        sys.exit(status)
    stop = _forward(app, forward_every) if parent else None

    def on_term(_signum: int, _frame: Any) -> None:
        raise KeyboardInterrupt

    signal.signal(signal.SIGTERM, on_term)
    try:
        server = listen(app, host=host, port=port, threads=threads, port_option="--port",
                        tls=None if tls_cert is None or tls_key is None else (tls_cert, tls_key))
    except DocflowError as exc:
        _release(app, store, stop)
        _remove(made)
        fail(exc, code=EXIT_CANNOT_LISTEN)
    click.echo(banner)
    try:
        server.run()
    except KeyboardInterrupt:
        pass
    finally:
        server.close()
        _release(app, store, stop)


def _new_sqlite_file(database: str) -> Path | None:
    """The SQLite file ``database`` names when it does not exist yet (opening creates
    it): removed again when the emulator does not start. None otherwise."""
    from sqlalchemy.engine import make_url
    from sqlalchemy.exc import ArgumentError

    try:
        url = make_url(database)
    except ArgumentError:
        return None
    if not url.drivername.startswith("sqlite") or not url.database or \
            url.database == ":memory:":
        return None
    path = Path(url.database)
    return None if path.exists() else path


def _remove(made: Path | None) -> None:
    """Remove the SQLite file this run created (and its journal files)."""
    if made is None:
        return
    for suffix in ("", "-wal", "-shm", "-journal"):
        Path(str(made) + suffix).unlink(missing_ok=True)


def _forward(app: Any, every: float) -> threading.Event:
    """Exchange with the parent axis every ``every`` seconds, in a thread, until the
    returned event is set."""
    stop = threading.Event()

    def loop() -> None:
        while not stop.wait(every):
            try:
                app.forward()
            except DocflowError as exc:  # the parent is away: try again next time
                say(f"exchange with the parent failed: {exc}", err=True)

    threading.Thread(target=loop, name="docflow-axis-parent", daemon=True).start()
    return stop


def _release(app: Any, store: Any, stop: threading.Event | None = None) -> None:
    """Stop the exchange with the parent, close its client and the store."""
    if stop is not None:
        stop.set()
    if getattr(app, "parent", None) is not None:
        app.parent.close()
    store.close()


def _axis_client(home: Path) -> tuple[Any, str]:
    from docflow import bootstrap
    from docflow.config import load_config

    try:
        config = load_config(home)
        if config.axis is None:
            raise ConfigError("this home has no [axis] table",
                              where=str(home / "node.toml"),
                              hint='add [axis] with dialect, url and credentials')
        return bootstrap.axis_client(config.axis, config.organ.code), config.axis.url
    except DocflowError as exc:
        fail(exc)


@axis.command("check")
@home_option
@json_option
def axis_check(home: Path, as_json: bool) -> None:
    """Check the home's [axis]: reachable, credentials accepted, clocks in step, what
    waits. One line each; exit status 1 when one fails."""
    from docflow.transport._check import check_channel

    client, url = _axis_client(home)
    try:
        checks = check_channel(client, url)
    finally:
        client.close()
    emit_checks(checks, as_json, 1)


@axis.command("status")
@click.option("--url", default="http://127.0.0.1:8090/", show_default=True,
              help="The emulator's base URL (what `axis serve` printed).")
@json_option
def axis_status(url: str, as_json: bool) -> None:
    """Ask a running emulator (GET /health): its database, the organs registered, the
    packets waiting (documents, statuses), the dead letters, and when the oldest waiting
    copy was due. Exit status 7 when it does not answer or is unhealthy."""
    probe = url.rstrip("/") + "/health"
    healthy, facts = health_of(probe, "is `docflow axis serve` running there?",
                               as_json=as_json)
    if "axis" not in facts or "dialect" not in facts:  # something else holds the address
        what = (f"a docflow node ({facts['organ']}): `docflow status --home HOME` asks it"
                if "organ" in facts else "not a docflow axis emulator")
        if as_json:
            click.echo(json.dumps({"status": "not an axis", "url": probe}))
        say(f"error: {probe} answered, but it is {what}", err=True)
        sys.exit(EXIT_UNAVAILABLE)

    def text() -> None:
        import datetime as dt

        from docflow.model import DEFAULT_TZ

        waiting = section(facts, "waiting")
        oldest = facts.get("oldest_due_at")
        try:
            due = local_time(dt.datetime.fromisoformat(oldest), DEFAULT_TZ) if oldest else (
                "none waiting")
        except (TypeError, ValueError):
            due = str(oldest)  # another server's form: shown as it came
        say(f"{facts.get('axis')} ({facts.get('dialect')}): {facts.get('status')} "
                   f"({probe})")
        say(f"  database: {facts.get('database')}; {facts.get('agencies', '?')} "
                   "organ(s) registered")
        say(f"  waiting: {waiting.get('documents', '?')} document(s), "
                   f"{waiting.get('statuses', '?')} status(es); oldest due {due}; "
                   f"{facts.get('dead_letters', '?')} dead letter(s)")

    emit(facts, as_json, text)
    sys.exit(health_exit(healthy, facts))


@axis.command("agencies")
@home_option
@json_option
@click.option("--sync", is_flag=True,
              help="Also add the organs the home's directory lacks to its directory file.")
@click.option("--hub", help="With --sync: the directory's hub the added organs are "
              "reached through (the axis or LGSP, if the directory lists it).")
def axis_agencies(home: Path, as_json: bool, sync: bool, hub: str | None) -> None:
    """The organs the home's axis or LGSP knows (--sync: import them into the directory)."""
    client, url = _axis_client(home)
    try:
        rows = client.agencies()
    except DocflowError as exc:
        fail(exc)
    finally:
        client.close()
    if not sync:
        emit([dict(row.row) for row in rows], as_json, lambda: table(
            ["code", "name", "parent"], [[row.code, row.name, row.parent] for row in rows]))
        return
    try:
        result, path = _sync_directory(home, rows, url, hub)
    except DocflowError as exc:
        fail(exc)
    summary = {"directory": str(path), "added": [str(o.code) for o in result.added],
               "known": len(result.known),
               "closed": [{"code": str(old), "successor": str(new)}
                          for old, new in result.closed],
               "skipped": [{"code": code, "why": why} for code, why in result.skipped]}

    def text() -> None:
        say(f"{len(result.added)} organ(s) added to {path}, {len(result.known)} already known")
        for o in result.added:
            say(f"  + {o.code} {o.name} ({o.level}"
                + (f" under {o.parent})" if o.parent else ")"))
        for old, new in result.closed:
            say(f"  closed {old}: replaced by {new} (oldCode)")
        for code, why in result.skipped:
            say(f"  skipped {code}: {why}")

    emit(summary, as_json, text)


def _sync_directory(home: Path, agencies: list[Agency], url: str,
                    hub: str | None) -> tuple[Any, Path]:
    """Merge an agency list into the home's directory file (written whole, atomically)."""
    import datetime as dt

    from docflow.agencies import import_agencies
    from docflow.config import load_config

    config = load_config(home)
    if config.directory is None:
        raise ConfigError("this home names no directory to import into",
                          where=str(home / "node.toml"),
                          hint='set directory = "directory.toml" in [node] (the file may '
                          'start empty)')
    path = config.directory
    text = path.read_text(encoding="utf-8") if path.exists() else ""
    now = dt.datetime.now(config.zone)  # the node's zone
    when = now.strftime("%Y-%m-%d %H:%M %z")
    result = import_agencies(text, agencies, hub=hub, at=now.replace(microsecond=0),
                             keep=[config.organ.code],
                             note=f"imported from {url} on {when} (docflow axis agencies --sync)")
    if result.text != text:
        scratch = path.with_name(path.name + ".tmp")
        scratch.write_text(result.text, encoding="utf-8")
        os.replace(scratch, path)
    return result, path
