"""Running a node: ``init``, ``serve``, ``status``, ``doctor``, ``bench``."""

from __future__ import annotations

import os
import sys
from pathlib import Path
from typing import Any

import click

from docflow.cli._app import cli, home_option
from docflow.cli._logs import LEVELS, configure_logging
from docflow.cli._output import (
    EXIT_CANNOT_LISTEN,
    ExistingPath,
    emit,
    emit_checks,
    fail,
    health_exit,
    health_of,
    json_option,
    local_time,
    note,
    say,
    section,
)
from docflow.cli.pki import issue_keys, new_passphrase
from docflow.errors import ConfigError, DocflowError
from docflow.model import OrganCode, OrganInfo


@cli.command()
@click.argument("home", type=click.Path(file_okay=False, path_type=Path))
@click.option("--organ", required=True, help="This node's organ code.")
@click.option("--name", help="This node's organ name (default: the directory's).")
@click.option("--ca", "ca_dir", type=click.Path(file_okay=False, path_type=Path), required=True,
              help="A CA folder (from `docflow pki ca create`) to issue the node's certificate "
                   "and to trust.")
@click.option("--port", type=int, help="The port to serve on (default: the port of the "
              "organ's endpoint in --directory, else 8080).")
@click.option("--peer", "peers", multiple=True, metavar="CODE=URL",
              help="Another organ's SOAP endpoint (repeatable).")
@click.option("--directory", "directory_file",
              type=ExistingPath(dir_okay=False),
              help="The organ directory (copied into the home): routes, hubs, endpoints.")
@click.option("--shared-directory", is_flag=True,
              help="Refer to --directory where it is (its absolute path) instead of copying "
                   "it: the homes of one machine share one file, and an endpoint changed "
                   "there reaches every node on its next start.")
@click.option("--hub", "is_hub", is_flag=True,
              help="This home runs a hub (the province's LGSP) listed in the directory.")
@click.option("--encrypt", is_flag=True,
              help="Encrypt the node's key ($DOCFLOW_KEY_PASSPHRASE, else asked twice); "
                   "commands that sign then need DOCFLOW_KEY_PASSPHRASE.")
@json_option
def init(home: Path, organ: str, name: str | None, ca_dir: Path, port: int | None,
         peers: tuple[str, ...], directory_file: Path | None, shared_directory: bool,
         is_hub: bool, encrypt: bool, as_json: bool) -> None:
    """Create a node home: node.toml, keys, trust store, migrated SQLite database."""
    import shutil

    from docflow.config import load_config, write_config
    from docflow.routing import Directory
    from docflow.store import Store

    try:
        code = OrganCode.parse(organ)
        if directory_file is not None:
            directory = Directory.from_toml(directory_file)
            listed = (directory.hub(code).name if is_hub
                      else directory.entry(code).organ.name)
            name = name or listed
            if port is None:  # where the directory says the others reach this organ
                port = _endpoint_port(directory, code, is_hub)
        elif is_hub:
            raise ConfigError("a hub home needs --directory")
        if shared_directory and directory_file is None:
            raise ConfigError("--shared-directory needs --directory FILE")
        if not name:
            raise ConfigError("--name is required without a directory")
        info = OrganInfo(code, name)
        peer_map = {}
        for item in peers:
            peer, _, url = item.partition("=")
            peer_map[str(OrganCode.parse(peer))] = url
    except DocflowError as exc:
        fail(exc)
    if (home / "node.toml").exists():
        fail(ConfigError(f"{home} is already a node home", where=str(home / "node.toml"),
                         hint="nothing was written; choose another folder"))
    passphrase = new_passphrase() if encrypt else None  # asked before anything is written
    home.mkdir(parents=True, exist_ok=True)
    issue_keys(ca_dir, organ, name, home / "keys", ecdsa=False, passphrase=passphrase,
               quiet=as_json)
    (home / "trust").mkdir(exist_ok=True)
    shutil.copy(ca_dir / "ca.crt", home / "trust" / "ca.crt")
    referred: str | None = None
    if directory_file is not None and shared_directory:
        referred = str(directory_file.resolve())
    elif directory_file is not None:
        shutil.copy(directory_file, home / "directory.toml")
        referred = "directory.toml"
    write_config(home, info, port=port or 8080, peers=peer_map, directory=referred,
                 role="hub" if is_hub else "node")
    config = load_config(home)
    with Store.open(config.database) as store:
        revision = store.schema_revision()
    emit({"home": str(home), "organ": organ, "name": name, "role": config.role,
          "port": config.server.port, "directory": str(config.directory or "") or None,
          "database": str(config.database), "revision": revision,
          "key_encrypted": passphrase is not None}, as_json,
         lambda: say(f"node home {home} ready for {organ} (database at revision {revision})"))


def _endpoint_port(directory: Any, code: OrganCode, is_hub: bool) -> int | None:
    """The port of the organ's (or hub's) endpoint in the directory, if it names one."""
    from urllib.parse import urlsplit

    endpoint = (directory.hub(code).endpoint if is_hub
                else directory.entry(code).endpoint)
    if not endpoint:
        return None
    try:
        parts = urlsplit(endpoint)
        return parts.port or (443 if parts.scheme == "https" else 80)
    except ValueError as exc:
        raise ConfigError(f"the directory's endpoint {endpoint!r} for {code} has no usable "
                          "port", hint="give --port") from exc


@cli.command()
@home_option
@click.option("--host", help="Override [server] host.")
@click.option("--port", type=int, help="Override [server] port.")
@click.option("--threads", "--workers", "threads", type=int,
              help="Override [server] threads (request workers).")
@click.option("--processes", type=click.IntRange(min=1), default=1, show_default=True,
              help="Server processes sharing the port and the database, each with its "
                   "request threads and its background worker (use PostgreSQL: SQLite "
                   "serialises their writes).")
@click.option("--log-level", type=click.Choice(LEVELS), default="info", show_default=True,
              help="info: what moved and each failure once; debug: every pass.")
@click.option("--log-file", type=click.Path(dir_okay=False, path_type=Path),
              help="Append the log here (default: stderr).")
@click.option("--log-json", is_flag=True, help="One JSON object per line.")
def serve(home: Path, host: str | None, port: int | None, threads: int | None,
          processes: int, log_level: str, log_file: Path | None, log_json: bool) -> None:
    """Run the node: its SOAP endpoint, GET /health, and its background worker (outbox,
    pulls, axis polls, audit checkpoints), until Ctrl-C or SIGTERM.

    A node whose directory entry says `pull = true` also pulls from its hub on every
    pass; a hub home (`role = "hub"`) serves the hub's endpoint (push and pull
    operations) and forwards what it holds.

    A stop never loses a delivery: the outbox lives in the database, and a delivery in
    flight when the process stops is claimed again once its lease runs out. With
    --processes N, N forked processes share the listening socket and the database; each
    runs its own outbox worker (they claim different deliveries, each under a lease), and
    the first writes the audit checkpoints.
    """
    import logging
    import signal

    from docflow.config import load_config
    from docflow.transport import listen, serve_processes

    try:
        config = load_config(home)
        # opened here first (also with --processes: a bad home fails before any fork)
        served = _Served.open(home, config, checkpoints=processes == 1)
    except DocflowError as exc:
        fail(exc)
    listen_host = host or config.server.host
    listen_port = port or config.server.port
    request_threads = threads or config.server.threads
    handler = configure_logging(log_level, file=log_file, as_json=log_json, zone=config.zone)
    log = logging.getLogger("docflow.serve")
    banner = (f"docflow {config.role} {config.organ.code} serving on "
              f"http://{listen_host}:{listen_port}/")
    try:
        if processes > 1:
            served.node.store.close()  # nothing opened here may cross the fork

            def make(index: int) -> tuple[Any, Any]:
                one = _Served.open(home, config, checkpoints=index == 0)
                one.worker.start()
                log.info("%s (process %d of %d; loops: %s)", banner, index + 1, processes,
                         ", ".join(one.worker.health))
                return one.app, one.close

            try:
                status = serve_processes(make, host=listen_host, port=listen_port,
                                         processes=processes, threads=request_threads)
            except DocflowError as exc:
                fail(exc, code=EXIT_CANNOT_LISTEN)
            if status:
                sys.exit(status)
            return
        try:  # bound before anything starts or claims to serve
            server = listen(served.app, host=listen_host, port=listen_port,
                            threads=request_threads)
        except DocflowError as exc:
            served.node.store.close()
            fail(exc, code=EXIT_CANNOT_LISTEN)

        def on_term(_signum: int, _frame: Any) -> None:
            raise KeyboardInterrupt

        signal.signal(signal.SIGTERM, on_term)
        served.worker.start()
        log.info("%s (loops: %s)", banner, ", ".join(served.worker.health))
        try:
            server.run()
        except KeyboardInterrupt:
            pass
        finally:
            server.close()
            served.close()
    finally:
        for name in ("docflow", "waitress"):
            logging.getLogger(name).removeHandler(handler)
        handler.close()


class _Served:
    """What one serving process runs: the node (or hub), its background worker, its SOAP
    application and, when it writes them, its audit checkpoints."""

    def __init__(self, role: str, node: Any, worker: Any, app: Any,
                 checkpoints: _Checkpoints | None):
        self.role, self.node, self.worker, self.app = role, node, worker, app
        self.checkpoints = checkpoints

    @classmethod
    def open(cls, home: Path, config: Any, *, checkpoints: bool) -> _Served:
        import datetime as dt

        from docflow.hub import Hub
        from docflow.node import Node
        from docflow.transport import SoapApp
        from docflow.worker import Worker

        node: Any = Hub.from_config(config) if config.role == "hub" \
            else Node.from_config(config)
        if config.role == "hub":
            node.pull_lease = dt.timedelta(seconds=config.server.lease)
        writer = (_Checkpoints(home / config.server.checkpoint_dir, node,
                               config.server.checkpoint_every, config.server.checkpoint_tsa)
                  if checkpoints else None)
        options: dict[str, Any] = {"every": config.server.deliver_every,
                                   "lease": config.server.lease,
                                   "workers": config.server.deliver_workers,
                                   "checkpoint": writer.when_due if writer else None,
                                   "name": f"serve-{os.getpid()}"}
        worker = node.running(**options) if isinstance(node, Node) else Worker(node, **options)
        return cls(config.role, node, worker, SoapApp(node, health=worker.report), writer)

    def close(self) -> None:
        """Stop the worker (if it runs), write the last checkpoint, close the store."""
        import logging

        log = logging.getLogger("docflow.serve")
        self.worker.stop()
        if self.checkpoints is not None:
            try:
                self.checkpoints.when_due(now=True)
            except (DocflowError, OSError) as exc:
                log.error("writing the last audit checkpoint failed: %s", exc)
        self.node.store.close()
        log.info("docflow %s stopped", self.role)


@cli.command()
@home_option
@json_option
def status(home: Path, as_json: bool) -> None:
    """Ask the home's running node (GET /health at its [server] address): ok, degraded
    (it runs but needs an operator: dead letters, a loop failing pass after pass) or
    unhealthy, with the reasons; database, outbox backlog, last delivery, each loop, and
    for a hub when each pulling organ last pulled. Exit status 0 ok, 11 degraded, 7 when
    it does not answer or is unhealthy (with --json: ``{"status": "unreachable"}``)."""
    import datetime as dt

    from docflow.config import load_config

    try:
        config = load_config(home)
    except DocflowError as exc:
        fail(exc)
    host = "127.0.0.1" if config.server.host in ("0.0.0.0", "::", "") else config.server.host  # noqa: S104 - reached, not bound
    url = f"http://{host}:{config.server.port}/health"
    healthy, facts = health_of(url, f"is `docflow serve --home {home}` running?",
                               as_json=as_json)

    def when(value: Any, never: str) -> str:
        try:
            return local_time(dt.datetime.fromisoformat(value), config.zone) if value \
                else never
        except (TypeError, ValueError):
            return str(value)  # another server's form: shown as it came

    def text() -> None:
        say(f"{facts.get('organ')}: {facts.get('status')} ({url}, {when(facts.get('time'), '?')})")
        reasons = facts.get("reasons")
        for reason in reasons if isinstance(reasons, list) else []:
            say(f"  ! {reason}")
        outbox = section(facts, "outbox")
        say(f"  database: {facts.get('database')}; worker {facts.get('worker')}")
        say(f"  outbox: {outbox.get('outstanding', '?')} on their way, "
            f"{outbox.get('dead_letters', '?')} dead letter(s); last delivery "
            f"{when(facts.get('last_delivery_at'), 'none yet')}")
        for name, loop in section(facts, "loops").items():
            loop = loop if isinstance(loop, dict) else {}
            state = (f"FAILING ({loop.get('failures')} passes): {loop['failing']}"
                     if loop.get("failing") else "ok")
            say(f"  {name}: {state} ({loop.get('passes')} passes, last success "
                f"{when(loop.get('last_success_at'), 'never')})")
        for organ, pulled in section(facts, "pulls").items():
            say(f"  {organ} last pulled {when(pulled, 'not since this hub started')}")

    emit(facts, as_json, text)
    sys.exit(health_exit(healthy, facts))


class _Checkpoints:
    """`docflow serve`'s signed audit checkpoints: every ``every`` seconds (0: never),
    when the chain has grown since the last one, a JSON file in ``folder`` named after
    the entry it signs (written whole, then renamed into place)."""

    def __init__(self, folder: Path, node: Any, every: float, tsa: str = ""):
        import time

        self.folder, self.node, self.every, self.tsa = folder, node, every, tsa
        self._clock = time.monotonic
        self._next = self._clock() + every
        self._last: int | None = None

    def when_due(self, *, now: bool = False) -> Path | None:
        import datetime as dt

        from docflow.security import sign_checkpoint

        if not self.every or (not now and self._clock() < self._next):
            return None
        self._next = self._clock() + self.every
        seq, head = self.node.store.audit.head()
        if seq == 0 or seq == self._last or any(self.folder.glob(f"audit-{seq:010d}-*.json")):
            self._last = seq
            return None
        checkpoint = sign_checkpoint(self.node.credentials, seq, head,
                                     now=dt.datetime.now(dt.UTC))
        if self.tsa:
            from docflow.errors import DocflowError
            from docflow.timestamps import pdf_timestamper, stamp_checkpoint

            try:
                checkpoint = stamp_checkpoint(checkpoint, pdf_timestamper(self.tsa))
            except DocflowError as exc:  # the checkpoint is kept, unstamped, said so
                note(f"warning: the audit checkpoint at entry {seq} is not time-stamped: "
                     f"{exc}")
        self.folder.mkdir(parents=True, exist_ok=True)
        path = self.folder / f"audit-{seq:010d}-{checkpoint.at:%Y%m%dT%H%M%S}Z.json"
        partial = path.with_suffix(".partial")
        partial.write_text(checkpoint.to_json() + "\n", encoding="utf-8")
        partial.replace(path)
        self._last = seq
        return path


@cli.command()
@click.argument("names", nargs=-1)
def bench(names: tuple[str, ...]) -> None:
    """Run the benchmarks (from a source checkout) and print the table."""
    try:
        from benchmarks.__main__ import main as run_benchmarks
    except ImportError:
        fail(ConfigError("the benchmarks ship with the source, not the wheel",
                          hint="run `make bench` in a checkout of docflow"))
    sys.exit(run_benchmarks(list(names)))


@cli.command()
@json_option
def doctor(as_json: bool) -> None:
    """Check the installation: lxml and xmlsec must share one libxml2, schemas must load.
    One line each; exit status 1 when one fails."""
    from lxml import etree

    from docflow.envelope import schema_path
    from docflow.transport._check import Check

    lxml_libxml = ".".join(map(str, etree.LIBXML_VERSION))
    checks = [Check("lxml", True, f"lxml {etree.__version__} with libxml2 {lxml_libxml}")]
    try:
        import xmlsec

        xmlsec_libxml = ".".join(map(str, xmlsec.get_libxml_version()))
        same = xmlsec_libxml == lxml_libxml
        checks.append(Check("xmlsec", same, f"xmlsec with libxml2 {xmlsec_libxml}" + (
            "" if same else "; lxml and xmlsec use different libxml2 builds: reinstall both "
            "at the versions pinned by docflow")))
    except Exception as exc:  # an import failure here is exactly what doctor reports
        checks.append(Check("xmlsec", False, f"xmlsec cannot be imported: {exc}"))
    for name in ("edxml.xsd", "status.xsd"):
        try:
            checks.append(Check(f"schema {name}", True, str(schema_path(name))))
        except FileNotFoundError as exc:
            checks.append(Check(f"schema {name}", False, str(exc)))
    emit_checks(checks, as_json, 1)
