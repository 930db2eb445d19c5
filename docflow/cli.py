"""The ``docflow`` command: an entry point that only translates arguments and output.

Commands grow with the library's capabilities (see the README's "Command line"). Every
``DocflowError`` becomes a one-line message on stderr and exit status 2; usage errors
exit with 2 as click does; success is 0; a check that finds a problem (``validate``)
exits with 1.
"""

from __future__ import annotations

import json
import os
import sys
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import click

from docflow.envelope import (
    Envelope,
    ParseLimits,
    build_envelope,
    build_status,
    parse_packet,
)
from docflow.errors import ConfigError, DocflowError, ModelError, SchemaError
from docflow.model import DOCUMENT_TYPES, OrganCode, OrganInfo, StatusInfo, organ_codes

__all__ = ["main"]

_SAMPLE_TYPES = {"decision": "decision", "letter": "letter", "report": "report"}


def _fail(exc: DocflowError) -> None:
    click.echo(f"error: {exc}", err=True)
    sys.exit(2)


def _json_option(function: Any) -> Any:
    return click.option("--json", "as_json", is_flag=True,
                        help="Print the result as JSON.")(function)


def _emit(data: Any, as_json: bool, text: Callable[[], None]) -> None:
    if as_json:
        click.echo(json.dumps(data, ensure_ascii=False, indent=2, default=str))
    else:
        text()


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(package_name="docflow")
def cli() -> None:
    """docflow: edXML document interconnection (liên thông văn bản) between state bodies."""


@cli.command()
@click.argument("file", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option("--max-bytes", type=int, default=ParseLimits().max_bytes, show_default=True,
              help="Refuse packets larger than this.")
@click.option("--json", "as_json", is_flag=True, help="Print the result as JSON.")
def validate(file: Path, max_bytes: int, as_json: bool) -> None:
    """Check that FILE is a valid edXML document or status packet in the strict layout
    (the official order docflow writes, or docflow's earlier layout).

    Exit status 0 when valid, 1 when not (the problem is printed with its element path
    and line). For packets other systems write, `docflow conform` reads them leniently
    and lists every deviation.
    """
    data = file.read_bytes()
    try:
        packet = parse_packet(data, limits=ParseLimits(max_bytes=max_bytes))
    except DocflowError as exc:
        result: dict[str, Any] = {
            "file": str(file),
            "valid": False,
            "error": type(exc).__name__,
            "message": exc.message,
            "where": exc.where,
            "hint": exc.hint,
        }
        if isinstance(exc, SchemaError):
            result["path"], result["line"] = exc.path, exc.line
        if as_json:
            click.echo(json.dumps(result, ensure_ascii=False, indent=2))
        else:
            click.echo(f"{file}: INVALID ({type(exc).__name__})")
            click.echo(f"  what:  {exc.message}")
            if exc.where:
                click.echo(f"  where: {exc.where}")
            if exc.hint:
                click.echo(f"  hint:  {exc.hint}")
        sys.exit(1)
    summary = _summary(packet)
    if as_json:
        click.echo(json.dumps({"file": str(file), "valid": True, **summary}, ensure_ascii=False,
                              indent=2))
    else:
        click.echo(f"{file}: valid {summary['kind']} packet")
        for key, value in summary.items():
            if key != "kind":
                click.echo(f"  {key}: {value}")


@cli.command()
@click.argument("files", nargs=-1, required=True,
                type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option("--accept", "accepted", multiple=True, metavar="CODE",
              help="Record, never refuse, findings with this code (shell pattern, "
                   "repeatable), e.g. 'M.MessageHeader.DocumentId'.")
@click.option("--refuse", "refused", multiple=True, metavar="CODE",
              help="Refuse packets with a finding of this code (shell pattern, repeatable).")
@click.option("--alias", "aliases", multiple=True, metavar="ID=CODE",
              help="Read the identifier ID (an axis system id) as the organ CODE.")
@_json_option
def conform(files: tuple[Path, ...], accepted: tuple[str, ...], refused: tuple[str, ...],
            aliases: tuple[str, ...], as_json: bool) -> None:
    """Read packets as other systems write them (leniently) and say what docflow would
    do with each: its findings, its signature, accept / accept with findings / refuse.

    Exit status 0 when every packet is clean, 3 when all are accepted but some with
    findings, 1 when one is refused.
    """
    from docflow.envelope import DEFAULT_POLICY, read_packet

    try:
        mapping = dict(alias.split("=", 1) for alias in aliases)
    except ValueError as exc:
        raise click.BadParameter("--alias takes ID=CODE") from exc
    policy = DEFAULT_POLICY.clone(accept=accepted, refuse=refused, aliases=mapping)
    results: list[dict[str, Any]] = []
    for file in files:
        try:
            reading = read_packet(file.read_bytes(), policy=policy)
        except DocflowError as exc:
            results.append({"file": str(file), "decision": "refuse", "error":
                            type(exc).__name__, "message": str(exc), "findings": []})
            continue
        refusing = reading.refusing(policy)
        decision = ("refuse" if refusing or reading.packet is None else
                    "accept with findings" if reading.findings else "accept")
        results.append({
            "file": str(file), "decision": decision, "kind": reading.kind.name.lower(),
            "layout": reading.layout, "signature": _verdict_of(reading.signature),
            "findings": [dict(finding.to_dict(), refuses=policy.refuses(finding))
                         for finding in reading.findings],
            **(_summary(reading.packet) if reading.packet is not None else {}),
        })

    def text() -> None:
        for result in results:
            click.echo(f"{result['file']}: {result['decision'].upper()}")
            if "error" in result:
                click.echo(f"  {result['error']}: {result['message']}")
                continue
            click.echo(f"  {result['kind']} packet, {result['layout']} layout, signature "
                       f"{result['signature']}")
            for finding in result["findings"]:
                mark = "REFUSES " if finding["refuses"] else ""
                click.echo(f"  {mark}{finding['severity']} {finding['code']}: "
                           f"{finding['message']}"
                           + (f" (line {finding['line']})" if finding["line"] else ""))

    _emit(results if len(results) > 1 else results[0], as_json, text)
    decisions = {result["decision"] for result in results}
    sys.exit(1 if "refuse" in decisions else 3 if "accept with findings" in decisions
             else 0)


def _verdict_of(form: str) -> str:
    """What a signature form is worth before verification."""
    return {"xmldsig": "xmldsig (check it with docflow verify)",
            "official": "unverifiable (the official library's placeholder block)",
            "empty": "absent (an empty element)", "absent": "absent"}.get(form, form)


def _summary(packet: Envelope | StatusInfo) -> dict[str, Any]:
    if isinstance(packet, StatusInfo):
        return {
            "kind": "status",
            "status": f"{packet.code.value} {packet.code.name.lower()}",
            "from": str(packet.sender.code),
            "document_id": packet.response_for.document_id,
            "timestamp": packet.timestamp.isoformat(),
        }
    info = packet.info
    return {
        "kind": "document",
        "message_id": packet.message_id,
        "document_id": info.document_id,
        "code": info.code,
        "type": info.document_type.name,
        "subject": info.subject,
        "from": str(info.sender.code),
        "to": [str(organ.code) for organ in info.recipients],
        "business": info.business.doc_type.name.lower(),
        "attachments": [f"{att.name} ({len(att.data)} bytes)" for att in packet.attachments],
        "hops": [str(hop.organ_id) for hop in packet.trace],
    }


@cli.command()
@click.argument("kind", type=click.Choice(["decision", "letter", "report", "status"]))
@click.option("--from", "sender", default="000.00.00.H41", show_default=True,
              help="Sender organ code.")
@click.option("--to", "recipient", default="000.00.01.H41", show_default=True,
              help="Recipient organ code(s), comma-separated.")
@click.option("--attachment-bytes", type=int, default=1024, show_default=True,
              help="Size of the sample attachment (0 for none).")
@click.option("--key", type=click.Path(exists=True, dir_okay=False, path_type=Path),
              help="Sign with this private key (PEM; passphrase in $DOCFLOW_KEY_PASSPHRASE).")
@click.option("--cert", type=click.Path(exists=True, dir_okay=False, path_type=Path),
              help="The certificate that goes with --key.")
@click.option("-o", "--output", type=click.Path(dir_okay=False, path_type=Path), required=True,
              help="Where to write the packet ('-' for stdout).")
def sample(kind: str, sender: str, recipient: str, attachment_bytes: int, output: Path,
           key: Path | None, cert: Path | None) -> None:
    """Write a sample packet (a document of KIND, or a status) for testing other systems;
    signed when --key and --cert are given (the certificate must name the --from organ;
    for a status, the first --to organ reports)."""
    from dataclasses import replace

    from docflow.samples import PROVINCE, TAM_KY, sample_envelope, sample_status

    try:
        sender_info = OrganInfo(OrganCode.parse(sender), PROVINCE.name if sender == str(
            PROVINCE.code) else f"Cơ quan {sender}")
        recipients = tuple(
            OrganInfo(OrganCode.parse(code), TAM_KY.name if code == str(TAM_KY.code)
                      else f"Cơ quan {code}")
            for code in recipient.split(",") if code.strip()
        )
        envelope = sample_envelope(sender=sender_info, recipients=recipients,
                                   attachment_bytes=attachment_bytes)
        if kind == "status":
            data = build_status(sample_status(envelope))
        else:
            info = replace(envelope.info, document_type=DOCUMENT_TYPES[_SAMPLE_TYPES[kind]])
            data = build_envelope(replace(envelope, info=info))
        if (key is None) != (cert is None):
            raise ConfigError("--key and --cert go together")
        if key is not None and cert is not None:
            from docflow.security import Credentials, sign

            passphrase = os.environ.get("DOCFLOW_KEY_PASSPHRASE")
            data = sign(data, Credentials.load(
                key, cert, passphrase=passphrase.encode() if passphrase else None))
    except DocflowError as exc:
        _fail(exc)
        return
    if str(output) == "-":
        sys.stdout.buffer.write(data)
    else:
        output.write_bytes(data)
        click.echo(f"wrote {kind} packet ({len(data)} bytes) to {output}")


@cli.group()
def lifecycle() -> None:
    """Document and delivery state machines."""


@lifecycle.command("diagram")
@click.option("--format", "fmt", type=click.Choice(["mermaid", "dot"]), default="mermaid",
              show_default=True)
@click.option("--machine", multiple=True, help="Only these machines (default: all).",
              type=click.Choice(["outgoing", "transport", "delivery", "incoming", "change"]))
@click.option("--update-readme", type=click.Path(exists=True, dir_okay=False, path_type=Path),
              help="Rewrite the <!-- lifecycle:NAME --> blocks of this Markdown file.")
def lifecycle_diagram(fmt: str, machine: tuple[str, ...], update_readme: Path | None) -> None:
    """Print the state machines as Mermaid or Graphviz DOT text."""
    from docflow.lifecycle import LIFECYCLES, readme_with_diagrams

    if update_readme is not None:
        text = update_readme.read_text(encoding="utf-8")
        updated = readme_with_diagrams(text)
        if updated != text:
            update_readme.write_text(updated, encoding="utf-8")
        click.echo(f"{update_readme}: diagrams {'updated' if updated != text else 'up to date'}")
        return
    for name in machine or tuple(LIFECYCLES):
        item = LIFECYCLES[name]
        click.echo(item.mermaid() if fmt == "mermaid" else item.dot())


def _database_option(function: Any) -> Any:
    return click.option(
        "--database", "database", required=True, envvar="DOCFLOW_DATABASE",
        help="sqlite:///path/to/node.db or postgresql+psycopg://user@host/db "
             "(or DOCFLOW_DATABASE).")(function)


def _home_option(function: Any) -> Any:
    return click.option("--home", type=click.Path(file_okay=False, path_type=Path),
                        default=lambda: os.environ.get("DOCFLOW_HOME", "."),
                        show_default="$DOCFLOW_HOME or .",
                        help="The node home (from `docflow init`).")(function)


@cli.group()
def db() -> None:
    """The node's database."""


@db.command("upgrade")
@_database_option
def db_upgrade(database: str) -> None:
    """Create the database schema, or migrate it to this docflow's revision."""
    from docflow.store import Store

    try:
        with Store.open(database) as store:
            click.echo(f"database at schema revision {store.schema_revision()}")
    except DocflowError as exc:
        _fail(exc)


@cli.group()
def audit() -> None:
    """The hash-chained audit log."""


@audit.command("verify")
@_database_option
@click.option("--checkpoint", "checkpoint_files", multiple=True,
              type=click.Path(exists=True, path_type=Path),
              help="A signed checkpoint (`docflow audit checkpoint`) the chain must still "
                   "match, or a folder of them (`docflow serve`'s checkpoint_dir: every "
                   "*.json in it); repeat for several.")
@click.option("--trust", "trust_path", type=click.Path(exists=True, path_type=Path),
              help="CA certificates (file or folder) that verify the checkpoints.")
@click.option("--json", "as_json", is_flag=True, help="Print the result as JSON.")
def audit_verify(database: str, checkpoint_files: tuple[Path, ...], trust_path: Path | None,
                 as_json: bool) -> None:
    """Recompute the audit chain; exit 1 and say where if any entry was changed (or, with
    checkpoints, if the chain is not the one that was signed)."""
    from docflow.security import AuditCheckpoint, TrustStore
    from docflow.store import Store

    try:
        if checkpoint_files and trust_path is None:
            raise ConfigError("--checkpoint needs --trust (the CA that verifies it)")
        paths: list[Path] = []
        for given in checkpoint_files:
            found = sorted(given.glob("*.json")) if given.is_dir() else [given]
            if not found:
                raise ConfigError("no checkpoint (*.json) in the folder", where=str(given))
            paths += found
        checkpoints = [AuditCheckpoint.from_json(path.read_text(encoding="utf-8"))
                       for path in paths]
        trust = TrustStore.from_paths(trust_path) if trust_path is not None else None
        with Store(database) as store:
            report = store.verify_audit(checkpoints, trust=trust)
    except DocflowError as exc:
        _fail(exc)
        return
    if as_json:
        click.echo(json.dumps({"ok": report.ok, "entries": report.entries,
                               "broken_at": report.broken_at, "reason": report.reason,
                               "checkpoints": len(checkpoints)}))
    elif report.ok:
        matched = f" (matches {len(checkpoints)} signed checkpoint(s))" if checkpoints else ""
        click.echo(f"audit chain intact: {report.entries} entries{matched}")
    else:
        click.echo(f"audit chain BROKEN at entry {report.broken_at}: {report.reason} "
                   f"({report.entries} entries read)")
    sys.exit(0 if report.ok else 1)


@audit.command("checkpoint")
@_home_option
@click.option("-o", "--output", type=click.Path(dir_okay=False, path_type=Path),
              help="Write the checkpoint here (default: standard output).")
def audit_checkpoint(home: Path, output: Path | None) -> None:
    """Sign the audit chain's head (entries, last hash) with the home's organ key.

    Keep the file outside the database: `docflow audit verify --checkpoint FILE` then
    also catches a chain rewritten whole after it was signed.
    """
    import datetime as dt

    from docflow.config import load_config
    from docflow.security import sign_checkpoint
    from docflow.store import Store

    try:
        config = load_config(home)
        credentials = config.credentials()
        with Store(config.database) as store:
            seq, head = store.audit_head()
        checkpoint = sign_checkpoint(credentials, seq, head, now=dt.datetime.now(dt.UTC))
    except DocflowError as exc:
        _fail(exc)
        return
    if output is None:
        click.echo(checkpoint.to_json())
    else:
        output.write_text(checkpoint.to_json() + "\n", encoding="utf-8")
        click.echo(f"signed the audit chain at entry {seq} as {checkpoint.organ}: {output}")


@cli.group()
def pki() -> None:
    """Test PKI: a province CA and organ certificates (real deployments use the CA of the
    government's signing service)."""


@pki.command("ca")
@click.argument("action", type=click.Choice(["create"]))
@click.option("--name", required=True, help="The CA's name, e.g. 'Quảng Nam province CA'.")
@click.option("--out", "out", type=click.Path(file_okay=False, path_type=Path), required=True,
              help="Folder for ca.key and ca.crt.")
@click.option("--ecdsa", is_flag=True, help="ECDSA P-256 instead of RSA-2048.")
@click.option("--organs", "organs", multiple=True, metavar="PATTERN",
              help="Bind the CA to these organs with X.509 name constraints, e.g. "
                   "'*.*.*.H41' (repeatable; default: unconstrained).")
def pki_ca(action: str, name: str, out: Path, ecdsa: bool, organs: tuple[str, ...]) -> None:
    """Create a CA: OUT/ca.key and OUT/ca.crt."""
    from docflow.clock import system_clock
    from docflow.security import KeyType, create_ca

    try:
        ca = create_ca(name, now=system_clock(),
                       key_type=KeyType.ECDSA_P256 if ecdsa else KeyType.RSA2048,
                       organs=organs or None)
    except DocflowError as exc:
        _fail(exc)
        return
    out.mkdir(parents=True, exist_ok=True)
    ca.save(out / "ca.key", out / "ca.crt")
    scope = f" for {', '.join(organs)}" if organs else ""
    click.echo(f"created CA {name!r}{scope}: {out / 'ca.crt'}")


@pki.command("issue")
@click.option("--ca", "ca_dir", type=click.Path(file_okay=False, path_type=Path), required=True,
              help="The CA folder (ca.key, ca.crt).")
@click.option("--organ", required=True, help="The organ code, e.g. 000.00.01.H41.")
@click.option("--name", required=True, help="The organ's name.")
@click.option("--out", "out", type=click.Path(file_okay=False, path_type=Path), required=True,
              help="Folder for organ.key and organ.crt.")
@click.option("--ecdsa", is_flag=True, help="ECDSA P-256 instead of RSA-2048.")
def pki_issue(ca_dir: Path, organ: str, name: str, out: Path, ecdsa: bool) -> None:
    """Issue an organ certificate (its organ code in a subjectAltName URI)."""
    _issue(ca_dir, organ, name, out, ecdsa)


def _issue(ca_dir: Path, organ: str, name: str, out: Path, ecdsa: bool) -> None:
    from docflow.clock import system_clock
    from docflow.security import Credentials, KeyType, issue_certificate

    try:
        ca = Credentials.load(ca_dir / "ca.key", ca_dir / "ca.crt")
        credentials = issue_certificate(ca, organ, name, now=system_clock(),
                                        key_type=KeyType.ECDSA_P256 if ecdsa else KeyType.RSA2048)
    except DocflowError as exc:
        _fail(exc)
        return
    out.mkdir(parents=True, exist_ok=True)
    credentials.save(out / "organ.key", out / "organ.crt")
    click.echo(f"issued a certificate for {organ}: {out / 'organ.crt'}")


@pki.command("show")
@click.argument("certificate", type=click.Path(exists=True, dir_okay=False, path_type=Path))
def pki_show(certificate: Path) -> None:
    """Print who a certificate names, who issued it, and when it is valid."""
    from docflow.security import load_certificates, organ_of, organ_subtrees

    try:
        certs = load_certificates(certificate)
    except DocflowError as exc:
        _fail(exc)
        return
    for cert in certs:
        click.echo(f"subject:  {cert.subject.rfc4514_string()}")
        click.echo(f"organ:    {organ_of(cert) or '-'}")
        click.echo(f"issuer:   {cert.issuer.rfc4514_string()}")
        click.echo(f"valid:    {cert.not_valid_before_utc:%Y-%m-%d} .. "
                   f"{cert.not_valid_after_utc:%Y-%m-%d}")
        click.echo(f"serial:   {cert.serial_number:x}")
        subtrees = organ_subtrees(cert)
        if subtrees is not None:
            permitted, excluded = subtrees
            click.echo(f"organs:   {', '.join(permitted) or '-'}"
                       + (f" (excluding {', '.join(excluded)})" if excluded else ""))


@cli.command()
@click.argument("home", type=click.Path(file_okay=False, path_type=Path))
@click.option("--organ", required=True, help="This node's organ code.")
@click.option("--name", help="This node's organ name (default: the directory's).")
@click.option("--ca", "ca_dir", type=click.Path(file_okay=False, path_type=Path), required=True,
              help="A CA folder (from `docflow pki ca create`) to issue the node's certificate "
                   "and to trust.")
@click.option("--port", type=int, default=8080, show_default=True)
@click.option("--peer", "peers", multiple=True, metavar="CODE=URL",
              help="Another organ's SOAP endpoint (repeatable).")
@click.option("--directory", "directory_file",
              type=click.Path(exists=True, dir_okay=False, path_type=Path),
              help="The organ directory (copied into the home): routes, hubs, endpoints.")
@click.option("--hub", "is_hub", is_flag=True,
              help="This home runs a hub (the province's LGSP) listed in the directory.")
def init(home: Path, organ: str, name: str | None, ca_dir: Path, port: int,
         peers: tuple[str, ...], directory_file: Path | None, is_hub: bool) -> None:
    """Create a node home: node.toml, keys, trust store, migrated SQLite database."""
    import shutil

    from docflow.config import load_config, write_config
    from docflow.model import OrganCode, OrganInfo
    from docflow.routing import Directory
    from docflow.store import Store

    try:
        code = OrganCode.parse(organ)
        if directory_file is not None:
            directory = Directory.from_toml(directory_file)
            listed = (directory.hub(code).name if is_hub
                      else directory.entry(code).organ.name)
            name = name or listed
        elif is_hub:
            raise ConfigError("a hub home needs --directory")
        if not name:
            raise ConfigError("--name is required without a directory")
        info = OrganInfo(code, name)
        peer_map = {}
        for item in peers:
            peer, _, url = item.partition("=")
            peer_map[str(OrganCode.parse(peer))] = url
    except DocflowError as exc:
        _fail(exc)
        return
    if (home / "node.toml").exists():
        click.echo(f"error: {home} is already a node home", err=True)
        sys.exit(2)
    home.mkdir(parents=True, exist_ok=True)
    _issue(ca_dir, organ, name, home / "keys", ecdsa=False)
    (home / "trust").mkdir(exist_ok=True)
    shutil.copy(ca_dir / "ca.crt", home / "trust" / "ca.crt")
    if directory_file is not None:
        shutil.copy(directory_file, home / "directory.toml")
    write_config(home, info, port=port, peers=peer_map,
                 directory="directory.toml" if directory_file else None,
                 role="hub" if is_hub else "node")
    config = load_config(home)
    with Store.open(config.database) as store:
        revision = store.schema_revision()
    click.echo(f"node home {home} ready for {organ} (database at revision {revision})")


@cli.command()
@click.option("--home", type=click.Path(file_okay=False, path_type=Path), required=True,
              help="The node home (from `docflow init`).")
@click.option("--host", help="Override [server] host.")
@click.option("--port", type=int, help="Override [server] port.")
@click.option("--threads", "--workers", "threads", type=int,
              help="Override [server] threads (request workers).")
def serve(home: Path, host: str | None, port: int | None, threads: int | None) -> None:
    """Run the node: its SOAP endpoint and its outbox worker, until Ctrl-C or SIGTERM.

    A node whose directory entry says `pull = true` also pulls from its hub on every
    pass; a hub home (`role = "hub"`) serves the hub's endpoint (push and pull
    operations) and forwards what it holds.

    A stop never loses a delivery: the outbox lives in the database, and a delivery in
    flight when the process stops is claimed again once its lease runs out.
    """
    import datetime as dt
    import signal
    import threading

    from docflow.config import load_config
    from docflow.node import Node
    from docflow.transport import SoapApp
    from docflow.transport import serve as serve_wsgi

    try:
        config = load_config(home)
        node: Any = config.open_hub() if config.role == "hub" else config.open_node()
        if config.role == "hub":
            node.pull_lease = dt.timedelta(seconds=config.server.lease)
        pulls = (config.role == "node" and node.directory is not None
                 and node.directory.entry(node.code).pull)
        polls = config.role == "node" and config.axis is not None
    except DocflowError as exc:
        _fail(exc)
        return
    stop = threading.Event()
    checkpoints = _Checkpoints(home / config.server.checkpoint_dir, node,
                               config.server.checkpoint_every)

    def worker() -> None:
        while not stop.wait(config.server.deliver_every):
            try:
                node.deliver(worker=f"serve-{os.getpid()}",
                             lease=dt.timedelta(seconds=config.server.lease),
                             workers=config.server.deliver_workers)
                if pulls and isinstance(node, Node):
                    node.pull()
                if polls and isinstance(node, Node):
                    node.poll_axis()  # acknowledges each packet only after it is stored
                checkpoints.when_due()
            except DocflowError as exc:  # a database hiccup, a hub away: next pass
                click.echo(f"outbox pass failed: {exc}", err=True)
            except OSError as exc:  # the checkpoint folder: say so, keep serving
                click.echo(f"writing an audit checkpoint failed: {exc}", err=True)

    def on_term(_signum: int, _frame: Any) -> None:
        raise KeyboardInterrupt

    signal.signal(signal.SIGTERM, on_term)
    thread = threading.Thread(target=worker, name="docflow-outbox", daemon=True)
    thread.start()
    listen_host = host or config.server.host
    listen_port = port or config.server.port
    click.echo(f"docflow {config.role} {config.organ.code} serving on "
               f"http://{listen_host}:{listen_port}/", err=True)
    try:
        serve_wsgi(SoapApp(node), host=listen_host, port=listen_port,
                   threads=threads or config.server.threads)
    except KeyboardInterrupt:
        pass
    finally:
        stop.set()
        thread.join(timeout=30)
        try:
            checkpoints.when_due(now=True)
        except (DocflowError, OSError) as exc:
            click.echo(f"writing the last audit checkpoint failed: {exc}", err=True)
        node.store.close()
        click.echo(f"docflow {config.role} stopped", err=True)


class _Checkpoints:
    """`docflow serve`'s signed audit checkpoints: every ``every`` seconds (0: never),
    when the chain has grown since the last one, a JSON file in ``folder`` named after
    the entry it signs (written whole, then renamed into place)."""

    def __init__(self, folder: Path, node: Any, every: float):
        import time

        self.folder, self.node, self.every = folder, node, every
        self._clock = time.monotonic
        self._next = self._clock() + every
        self._last: int | None = None

    def when_due(self, *, now: bool = False) -> Path | None:
        import datetime as dt

        from docflow.security import sign_checkpoint

        if not self.every or (not now and self._clock() < self._next):
            return None
        self._next = self._clock() + self.every
        seq, head = self.node.store.audit_head()
        if seq == 0 or seq == self._last or any(self.folder.glob(f"audit-{seq:010d}-*.json")):
            self._last = seq
            return None
        checkpoint = sign_checkpoint(self.node.credentials, seq, head,
                                     now=dt.datetime.now(dt.UTC))
        self.folder.mkdir(parents=True, exist_ok=True)
        path = self.folder / f"audit-{seq:010d}-{checkpoint.at:%Y%m%dT%H%M%S}Z.json"
        partial = path.with_suffix(".partial")
        partial.write_text(checkpoint.to_json() + "\n", encoding="utf-8")
        partial.replace(path)
        self._last = seq
        return path


# ---------------------------------------------------------------------- node operations

def _open(home: Path) -> Any:
    from docflow.config import load_config

    return load_config(home).open_node()


@contextmanager
def _opened(home: Path) -> Iterator[Any]:
    """The home's node, its store closed afterwards; a DocflowError, opening it or
    inside the block, is reported and exits with status 2."""
    try:
        node = _open(home)
    except DocflowError as exc:
        _fail(exc)
        raise  # _fail exits; this line only satisfies the type checker
    try:
        yield node
    except DocflowError as exc:
        _fail(exc)
    finally:
        node.store.close()


def _table(headers: Sequence[str], rows: Sequence[Sequence[Any]]) -> None:
    cells = [[str(value) for value in row] for row in rows]
    widths = [max([len(h), *(len(row[i]) for row in cells)]) for i, h in enumerate(headers)]
    click.echo("  ".join(h.ljust(w) for h, w in zip(headers, widths, strict=True)).rstrip())
    for row in cells:
        click.echo("  ".join(c.ljust(w) for c, w in zip(row, widths, strict=True)).rstrip())


@cli.command()
@_home_option
@click.option("--to", "recipients", help="Recipient organ codes, comma-separated.")
@click.option("--type", "doc_type", type=click.Choice(sorted(DOCUMENT_TYPES)),
              default="letter", show_default=True)
@click.option("--number", help="The document number (default: the next free one).")
@click.option("--notation", default="VP", show_default=True,
              help="The notation (ký hiệu), e.g. QĐ-UBND.")
@click.option("--subject", help="The document's subject (trích yếu).")
@click.option("--attach", "attachments", multiple=True,
              type=click.Path(exists=True, dir_okay=False, path_type=Path),
              help="A file to attach (repeatable).")
@click.option("--sample", type=click.Choice(["decision", "letter", "report"]),
              help="Send a sample document of this kind instead.")
@click.option("--count", type=click.IntRange(min=1), default=1, show_default=True,
              help="How many (with --sample).")
@click.option("--deliver/--no-deliver", default=True, show_default=True,
              help="Run one outbox pass now (a served node's worker would too).")
def send(home: Path, recipients: str | None, doc_type: str, number: str | None,
         notation: str, subject: str | None, attachments: tuple[Path, ...],
         sample: str | None, count: int, deliver: bool) -> None:
    """Sign documents and put them in the outbox; print their message ids."""
    import datetime as dt
    import mimetypes
    import uuid
    from dataclasses import replace

    from docflow.model import Attachment
    from docflow.samples import sample_envelope

    with _opened(home) as node:
        targets = tuple(OrganInfo(code, str(code)) for code in
                        organ_codes(recipients.split(",")) if recipients) if recipients else ()
        if not targets:
            raise ModelError("no recipient", hint="--to CODE[,CODE...]")
        files = tuple(Attachment(name=path.name, data=path.read_bytes(),
                                 content_type=mimetypes.guess_type(path.name)[0]
                                 or "application/octet-stream") for path in attachments)
        today = dt.datetime.now(dt.UTC).date()
        first = int(number) if number and number.isdigit() else node.outbox().total + 1
        with click.progressbar(range(count if sample else 1), label="signing",
                               file=sys.stderr, hidden=count == 1) as items:
            for index in items:
                base = sample_envelope(sender=node.organ, recipients=targets, date=today,
                                       number=str(first + index))
                info = replace(base.info, document_type=DOCUMENT_TYPES[sample or doc_type],
                               document_id="")
                if not sample:
                    info = replace(info, code_notation=notation,
                                   subject=subject or base.info.subject)
                message_id = uuid.uuid4().hex
                node.send(info, base.attachments if sample else files,
                          message_id=message_id)
                click.echo(message_id)
        if deliver:
            report = node.deliver()
            click.echo(f"delivered {report.delivered}, failed {report.failed}", err=True)
            for error in report.errors:
                click.echo(f"  {error}", err=True)


def _documents(home: Path, direction: str, state: str | None, as_json: bool) -> None:
    import datetime as dt

    with _opened(home) as node:
        page = node.store.documents(direction=direction, organ=str(node.code), state=state,
                                    page_size=1000)
        today = dt.datetime.now(dt.UTC).date()
        rows = [{"id": d.id, "code": d.code, "sender": d.sender, "state": d.state,
                 "due": d.due_date, "overdue": d.overdue(today), "subject": d.subject,
                 "message_id": d.message_id, "signature": d.signature,
                 "findings": len(d.findings)} for d in page.items]
        _emit(rows, as_json, lambda: _table(
            ["id", "code", "from", "state", "due", "", "signature", "findings", "subject"],
            [[r["id"], r["code"], r["sender"], r["state"], r["due"] or "-",
              "OVERDUE" if r["overdue"] else "", r["signature"] or "-", r["findings"] or "-",
              str(r["subject"])[:50]] for r in rows]))


@cli.command()
@_home_option
@click.option("--state", help="Only documents in this state.")
@_json_option
def inbox(home: Path, state: str | None, as_json: bool) -> None:
    """Documents this organ received (state, due date, overdue marks)."""
    _documents(home, "in", state, as_json)


@cli.command()
@_home_option
@click.option("--state", help="Only documents in this state.")
@_json_option
def outbox(home: Path, state: str | None, as_json: bool) -> None:
    """Documents this organ sent."""
    _documents(home, "out", state, as_json)


@cli.command()
@_home_option
@click.argument("document", type=int)
@_json_option
def show(home: Path, document: int, as_json: bool) -> None:
    """One document and the state of each of its copies."""
    _trace(home, document, as_json, full=False)


@cli.command()
@_home_option
@click.argument("document", type=int)
@_json_option
def trace(home: Path, document: int, as_json: bool) -> None:
    """A document's hops, status timeline and state history."""
    _trace(home, document, as_json, full=True)


def _trace(home: Path, document: int, as_json: bool, *, full: bool) -> None:
    from dataclasses import asdict

    with _opened(home) as node:
        story = node.trace(document, ask_hub=False)
        data = asdict(story)
        data["document"]["findings"] = [f.to_dict() for f in story.document.findings]
        if not full:
            data = {"document": data["document"], "deliveries": data["deliveries"]}

        def text() -> None:
            d = story.document
            click.echo(f"document {d.id}: {d.code} ({d.type_name}), {d.direction}, "
                       f"state {d.state}")
            click.echo(f"  from {d.sender}, message {d.message_id}, due {d.due_date or '-'}")
            click.echo(f"  subject: {d.subject}")
            if d.signature is not None:
                click.echo(f"  signature: {d.signature}")
            for finding in d.findings:
                click.echo(f"  finding: {finding}")
            copies = [c for c in story.deliveries if c.kind == "document"]
            if copies:
                _table(["copy", "to", "transport", "business", "change", "attempts",
                        "last error"],
                       [[c.id, c.recipient, c.transport_state, c.business_state or "-",
                         c.change_state or "-", c.attempts, (c.last_error or "")[:40]]
                        for c in copies])
            if not full:
                return
            if story.hops:
                click.echo("hops: " + " -> ".join(f"{organ} ({when:%Y-%m-%d %H:%M:%S})"
                                                  for organ, when in story.hops))
            for event in story.statuses:
                click.echo(f"status {event.code.value} {event.direction} from "
                           f"{event.from_organ} at {event.timestamp:%Y-%m-%d %H:%M:%S}: "
                           f"{event.description}")
            for entry in story.history:
                click.echo(f"{entry.at:%Y-%m-%d %H:%M:%S} {entry.machine:<9} "
                           f"{entry.from_state} -{entry.event}-> {entry.to_state}"
                           + (f" ({entry.reason})" if entry.reason else ""))

        _emit(data, as_json, text)


@cli.command()
@_home_option
@_json_option
def deadletters(home: Path, as_json: bool) -> None:
    """Deliveries that failed for good, with the last error."""
    with _opened(home) as node:
        items = node.store.dead_letters(page_size=1000).items
        rows = [{"delivery": d.id, "document": d.document_ref, "to": d.recipient,
                 "kind": d.kind, "attempts": d.attempts, "last_error": d.last_error}
                for d in items]
        _emit(rows, as_json, lambda: _table(
            ["delivery", "document", "to", "kind", "attempts", "last error"],
            [list(r.values()) for r in rows]))


@cli.command()
@_home_option
@click.argument("delivery", type=int)
def resend(home: Path, delivery: int) -> None:
    """Queue a dead-lettered delivery again (same packet, same message id)."""
    with _opened(home) as node:
        node.store.resend(delivery)
        click.echo(f"delivery {delivery} queued again")


def _act_command(event: str, summary: str, *, needs_reason: bool = False) -> None:
    @cli.command(name=event, help=summary)
    @_home_option
    @click.argument("document", type=int)
    @click.option("--reason", required=needs_reason, help="Why (sent with the status).")
    def command(home: Path, document: int, reason: str | None) -> None:
        with _opened(home) as node:
            if event == "recall":
                asked = node.recall(document, reason or "thu hồi")
                click.echo(f"recall requested from {len(asked)} recipient(s)")
            else:
                step = node.act(document, event, reason)
                click.echo(f"document {document}: {step.state}"
                           + (f" (status {step.emit.value} queued for the sender)"
                              if step.emit else ""))


_act_command("accept", "Register a received document (status 03).")
_act_command("reject", "Refuse a received document, with a reason (02).", needs_reason=True)
_act_command("assign", "A leader assigns the document (04).")
_act_command("process", "Work on the document has started (05).")
_act_command("complete", "The document is dealt with (06).")
_act_command("recall", "Ask every recipient to give a sent document back (13).",
             needs_reason=True)


def _change_command(kind: str, summary: str) -> None:
    @cli.command(name=kind, help=summary)
    @_home_option
    @click.argument("document", type=int)
    @click.option("--reason", required=True, help="Why (sent with the new document).")
    @click.option("--subject", help="The new document's subject (default: the original's).")
    @click.option("--number", help="The new document's number (default: the next free one).")
    @click.option("--attach", "attachments", multiple=True,
                  type=click.Path(exists=True, dir_okay=False, path_type=Path),
                  help="A file to attach to the new document (repeatable; default: the "
                       "original's attachments).")
    def command(home: Path, document: int, reason: str, subject: str | None,
                number: str | None, attachments: tuple[Path, ...]) -> None:
        import mimetypes
        from dataclasses import replace

        from docflow.model import Attachment

        with _opened(home) as node:
            envelope = node.stored(document)
            original = envelope.info
            new = replace(original, code_number=number or str(node.outbox().total + 1),
                          subject=subject or original.subject, document_id="",
                          response_for=())
            files = tuple(Attachment(name=path.name, data=path.read_bytes(),
                                     content_type=mimetypes.guess_type(path.name)[0]
                                     or "application/octet-stream") for path in attachments)
            change = node.update if kind == "update" else node.replace
            record = change(document, new, files or envelope.attachments, reason=reason)
            click.echo(f"document {record.document_ref} sent as the {kind} of {document} "
                       f"to {len(record.deliveries)} recipient(s)")


_change_command("update", "Send an update of a sent document (each copy answers 15/16).")
_change_command("replace", "Send a replacement of a sent document (agreeing copies end "
                "replaced).")


@cli.command()
@click.argument("file", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option("--trust", "trust_path", required=True,
              type=click.Path(exists=True, path_type=Path),
              help="A CA certificate file, or a folder of them.")
@click.option("--crls", type=click.Path(exists=True, path_type=Path),
              help="A CRL file or folder.")
@click.option("--at", "at", help="Verify as of this ISO time (default: now).")
@_json_option
def verify(file: Path, trust_path: Path, crls: Path | None, at: str | None,
           as_json: bool) -> None:
    """Verify a signed packet's signatures, certificate chain and organ binding.

    Exit status 1 and an explanation when it does not verify.
    """
    import datetime as dt

    from docflow.security import TrustStore
    from docflow.security import verify as verify_packet

    try:
        trust = TrustStore.from_paths(trust_path, crls)
        when = dt.datetime.fromisoformat(at) if at else dt.datetime.now(dt.UTC)
        if when.tzinfo is None:
            when = when.replace(tzinfo=dt.UTC)
        verified = verify_packet(file.read_bytes(), trust, now=when)
    except ValueError as exc:
        raise click.BadParameter(f"--at: {exc}") from exc
    except DocflowError as exc:
        _explain_refusal(file, exc, as_json)
        sys.exit(1)
    data = {"file": str(file), "valid": True, "signer": str(verified.signer),
            "certificate": verified.certificate.subject.rfc4514_string(),
            "hops": [str(hop.organ) for hop in verified.hops],
            **_summary(verified.packet)}
    def text() -> None:
        click.echo(f"{file}: verified, signed by {verified.signer}")
        for key, value in data.items():
            if key not in ("file", "valid"):
                click.echo(f"  {key}: {value}")

    _emit(data, as_json, text)


def _explain_refusal(file: Path, exc: DocflowError, as_json: bool) -> None:
    def text() -> None:
        click.echo(f"{file}: NOT VERIFIED ({type(exc).__name__})")
        click.echo(f"  what:  {exc.message}")
        if exc.where:
            click.echo(f"  where: {exc.where}")
        if exc.hint:
            click.echo(f"  hint:  {exc.hint}")

    _emit({"file": str(file), "valid": False, "error": type(exc).__name__,
           "message": exc.message, "where": exc.where, "hint": exc.hint}, as_json, text)


@cli.command()
@click.argument("names", nargs=-1)
def bench(names: tuple[str, ...]) -> None:
    """Run the benchmarks (from a source checkout) and print the table."""
    try:
        from benchmarks.__main__ import main as run_benchmarks
    except ImportError:
        _fail(ConfigError("the benchmarks ship with the source, not the wheel",
                          hint="run `make bench` in a checkout of docflow"))
        return
    sys.exit(run_benchmarks(list(names)))


@cli.command()
def doctor() -> None:
    """Check the installation: lxml and xmlsec must share one libxml2, schemas must load."""
    from lxml import etree

    from docflow.envelope import schema_path

    problems = 0
    lxml_libxml = ".".join(map(str, etree.LIBXML_VERSION))
    click.echo(f"lxml {etree.__version__} with libxml2 {lxml_libxml}")
    try:
        import xmlsec

        xmlsec_libxml = ".".join(map(str, xmlsec.get_libxml_version()))
        click.echo(f"xmlsec with libxml2 {xmlsec_libxml}")
        if xmlsec_libxml != lxml_libxml:
            problems += 1
            click.echo("  PROBLEM: lxml and xmlsec use different libxml2 builds; "
                       "reinstall both at the versions pinned by docflow")
    except Exception as exc:  # an import failure here is exactly what doctor reports
        problems += 1
        click.echo(f"  PROBLEM: xmlsec cannot be imported: {exc}")
    for name in ("edxml.xsd", "status.xsd"):
        try:
            click.echo(f"schema {name}: {schema_path(name)}")
        except FileNotFoundError as exc:
            problems += 1
            click.echo(f"  PROBLEM: {exc}")
    click.echo("ok" if not problems else f"{problems} problem(s)")
    sys.exit(1 if problems else 0)


@cli.group()
def axis() -> None:
    """A local emulator of the national document axis / an LGSP (its HTTP API)."""


@axis.command("serve")
@click.option("--systems", "systems_file", required=True,
              type=click.Path(exists=True, dir_okay=False, path_type=Path),
              help="TOML with [[systems]] tables: system_id, secret, name, relay, organs "
                   "(and [[accounts]] for lgsp-token; [[consumers]] and an optional "
                   "[locations] table for wso2).")
@click.option("--dialect", type=click.Choice(["vdxp", "lgsp-token", "wso2"]), default="vdxp",
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
def axis_serve(systems_file: Path, dialect: str, database: str, code: str, host: str,
               port: int, threads: int, parent: str | None, parent_system_id: str | None,
               parent_secret_env: str, forward_every: float) -> None:
    """Serve the axis API (sendEdoc, getReceivedEdocList, getEdoc, updateStatus, ...).

    With --parent, packets for organs not registered here go up to the parent axis and
    packets waiting there for this axis's organs come down (whatever the dialect served
    here, the parent is the national axis: vdxp)."""
    import signal
    import threading
    import tomllib

    from docflow.emulators import (
        AxisApp,
        AxisSystem,
        LgspAccount,
        TokenLgspApp,
        Wso2App,
        Wso2Consumer,
    )
    from docflow.errors import ConfigError
    from docflow.store import Store
    from docflow.transport import serve

    try:
        try:
            data = tomllib.loads(systems_file.read_text(encoding="utf-8"))
            systems = [AxisSystem(str(t["system_id"]), str(t["secret"]), str(t.get("name", "")),
                                  bool(t.get("relay", False)),
                                  tuple(str(code) for code in t.get("organs", ())))
                       for t in data.get("systems", [])]
            accounts = [LgspAccount(str(t["username"]), str(t["password"]),
                                    str(t["application_code"]))
                        for t in data.get("accounts", [])]
            consumers = [Wso2Consumer(str(t["key"]), str(t["secret"]))
                         for t in data.get("consumers", [])]
            locations = {str(k): str(v) for k, v in data.get("locations", {}).items()}
        except (tomllib.TOMLDecodeError, KeyError, TypeError) as exc:
            raise ConfigError(f"bad systems file: {exc}", where=str(systems_file),
                              hint="[[systems]] tables with system_id and secret (and "
                              "organs = [...] for a system id that is not an organ code)"
                              ) from exc
        except DocflowError as exc:
            raise ConfigError(exc.message, where=str(systems_file), hint=exc.hint) from exc
        upstream = None
        if parent:
            secret = os.environ.get(parent_secret_env)
            if not secret:
                raise ConfigError(f"--parent needs the secret in ${parent_secret_env}")
            from docflow.transport import VxpClient

            upstream = VxpClient(parent, parent_system_id or code, secret, organ=code)
        store = Store.open(database)
        app: Any
        if dialect == "lgsp-token":
            app = TokenLgspApp(code, store, systems, accounts, parent=upstream)
        elif dialect == "wso2":
            from docflow.transport import Wso2Profile

            app = Wso2App(code, store, systems, consumers, parent=upstream,
                          profile=Wso2Profile({**Wso2Profile().locations, **locations}))
        else:
            app = AxisApp(code, store, systems, parent=upstream)
    except DocflowError as exc:
        _fail(exc)
        return
    stop = threading.Event()

    def forwarder() -> None:
        while not stop.wait(forward_every):
            try:
                app.forward()
            except DocflowError as exc:  # the parent is away: try again next time
                click.echo(f"exchange with the parent failed: {exc}", err=True)

    def on_term(_signum: int, _frame: Any) -> None:
        raise KeyboardInterrupt

    signal.signal(signal.SIGTERM, on_term)
    thread = threading.Thread(target=forwarder, name="docflow-axis-parent", daemon=True)
    if upstream is not None:
        thread.start()
    click.echo(f"axis {code} ({dialect}) serving {len(systems)} system(s) on "
               f"http://{host}:{port}/ "
               f"(database {store.engine.url.render_as_string(hide_password=True)})"
               + (f", parent {parent}" if parent else ""))
    try:
        serve(app, host=host, port=port, threads=threads)
    except KeyboardInterrupt:
        pass
    finally:
        stop.set()
        if upstream is not None:
            thread.join(timeout=30)
            upstream.close()
        store.close()


def _axis_client(home: Path) -> tuple[Any, str]:
    from docflow.config import load_config
    from docflow.errors import ConfigError

    try:
        config = load_config(home)
        if config.axis is None:
            raise ConfigError("this home has no [axis] table",
                              where=str(home / "node.toml"),
                              hint='add [axis] with dialect, url and credentials')
        return config.axis.client(config.organ.code), config.axis.url
    except DocflowError as exc:
        _fail(exc)
        raise


@axis.command("check")
@_home_option
def axis_check(home: Path) -> None:
    """Check the home's [axis]: reachable, credentials accepted, clocks in step, what
    waits. One line each; exit status 1 when one fails."""
    from docflow.transport._check import check_channel

    client, url = _axis_client(home)
    try:
        checks = check_channel(client, url)
    finally:
        client.close()
    for check in checks:
        click.echo(str(check))
    sys.exit(0 if all(check.ok for check in checks) else 1)


@axis.command("agencies")
@_home_option
@_json_option
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
        _fail(exc)
        return
    finally:
        client.close()
    if not sync:
        _emit(rows, as_json, lambda: _table(
            ["code", "name", "parent"],
            [[row.get("code", ""), row.get("name", ""),
              row.get("pcode") or row.get("centerCode") or row.get("pid") or ""]
             for row in rows]))
        return
    try:
        result, path = _sync_directory(home, rows, url, hub)
    except DocflowError as exc:
        _fail(exc)
        return
    summary = {"directory": str(path), "added": [str(o.code) for o in result.added],
               "known": len(result.known),
               "skipped": [{"code": code, "why": why} for code, why in result.skipped]}
    _emit(summary, as_json, lambda: click.echo("\n".join(
        [f"{len(result.added)} organ(s) added to {path}, {len(result.known)} already known"]
        + [f"  + {o.code} {o.name} ({o.level}"
           + (f" under {o.parent})" if o.parent else ")") for o in result.added]
        + [f"  skipped {code}: {why}" for code, why in result.skipped])))


def _sync_directory(home: Path, rows: list[dict[str, Any]], url: str,
                    hub: str | None) -> tuple[Any, Path]:
    """Merge an agency list into the home's directory file (written whole, atomically)."""
    import datetime as dt

    from docflow.config import load_config
    from docflow.errors import ConfigError
    from docflow.routing import Agency, import_agencies

    config = load_config(home)
    if config.directory is None:
        raise ConfigError("this home names no directory to import into",
                          where=str(home / "node.toml"),
                          hint='set directory = "directory.toml" in [node] (the file may '
                          'start empty)')
    path = config.directory
    text = path.read_text(encoding="utf-8") if path.exists() else ""
    agencies = [Agency(str(row.get("code") or ""), str(row.get("name") or ""),
                       str(row.get("mail") or row.get("email") or "")) for row in rows]
    when = dt.datetime.now(dt.UTC).strftime("%Y-%m-%d %H:%M UTC")
    result = import_agencies(text, agencies, hub=hub,
                             note=f"imported from {url} on {when} (docflow axis agencies --sync)")
    if result.added:
        scratch = path.with_name(path.name + ".tmp")
        scratch.write_text(result.text, encoding="utf-8")
        os.replace(scratch, path)
    return result, path


@cli.command()
@click.option("--directory", "directory_file",
              type=click.Path(exists=True, dir_okay=False, path_type=Path),
              help="A directory TOML (default: the Quảng Nam sample).")
@click.option("--levels", type=click.Choice(["4", "3"]), default="4", show_default=True,
              help="The sample directory with or without the district level.")
@click.option("--documents", type=click.IntRange(min=0), default=200, show_default=True)
@click.option("--faults", default="", help="e.g. drop=0.05,duplicate=0.05,tamper=0.01,"
              "delay=0.02,crash=0.02,hub_down=5,skew=30")
@click.option("--seed", type=int, default=1, show_default=True)
@click.option("--home", type=click.Path(file_okay=False, path_type=Path),
              help="Where the stores go (default: a temporary folder, removed after).")
@click.option("--report", "report_file", type=click.Path(dir_okay=False, path_type=Path),
              help="Also write the report as JSON here.")
@click.option("--chart", type=click.Path(dir_okay=False, path_type=Path),
              help="Also write the latency chart (SVG) here.")
@click.option("--json", "as_json", is_flag=True, help="Print the report as JSON.")
@click.option("--processes", is_flag=True,
              help="Run every organ and hub as a `docflow serve` process over SOAP instead "
                   "(use a small --directory), SIGKILLing --kills of them mid-run; "
                   "--faults drop/duplicate/delay/tamper then act on the real requests "
                   "through a proxy in front of each process.")
@click.option("--kills", type=click.IntRange(min=0), default=3, show_default=True)
def simulate(directory_file: Path | None, levels: str, documents: int, faults: str,
             seed: int, home: Path | None, report_file: Path | None, chart: Path | None,
             as_json: bool, processes: bool, kills: int) -> None:
    """Run a whole province in one process, with faults; check the invariants.

    Exit status 1 when an invariant does not hold.
    """
    import tempfile

    from docflow.harness import Faults, Simulation, SimulationConfig, quang_nam
    from docflow.routing import Directory

    if processes:
        _simulate_processes(directory_file, levels, documents, seed, home, kills, as_json,
                            faults)
        return

    try:
        directory = (Directory.from_toml(directory_file) if directory_file
                     else Directory.from_toml(quang_nam(levels=int(levels))))
        config = SimulationConfig(documents=documents, faults=Faults.parse(faults), seed=seed)
        with tempfile.TemporaryDirectory(prefix="docflow-sim-") as scratch:
            simulation = Simulation(directory, home or Path(scratch), config)
            label = f"{len(directory)} organs, {documents} documents"
            with click.progressbar(length=max(1, documents), label=label,
                                   file=sys.stderr) as bar:
                done = [0]

                def progress(sent: int, total: int) -> None:
                    bar.update(sent - done[0])
                    done[0] = sent

                try:
                    report = simulation.run(progress)
                finally:
                    simulation.close()
    except DocflowError as exc:
        _fail(exc)
        return
    if report_file:
        report_file.write_text(report.to_json(), encoding="utf-8")
    if chart:
        chart.write_text(report.svg(), encoding="utf-8")
    click.echo(report.to_json() if as_json else report.summary())
    sys.exit(0 if report.ok else 1)


def _simulate_processes(directory_file: Path | None, levels: str, documents: int, seed: int,
                        home: Path | None, kills: int, as_json: bool, faults: str) -> None:
    import dataclasses
    import tempfile

    from docflow.harness import Faults, ProcessNetwork, quang_nam

    text = (directory_file.read_text(encoding="utf-8") if directory_file
            else quang_nam(levels=int(levels), districts=2, communes=2, departments=1))
    try:
        with tempfile.TemporaryDirectory(prefix="docflow-proc-") as scratch:
            network = ProcessNetwork(text, home or Path(scratch), faults=Faults.parse(faults))
            report = network.run(documents, kills=kills, seed=seed,
                                 progress=lambda line: click.echo(line, err=True))
    except DocflowError as exc:
        _fail(exc)
        return
    if as_json:
        click.echo(json.dumps({**dataclasses.asdict(report), "ok": report.ok}, indent=2))
    else:
        click.echo(f"{'ALL INVARIANTS HOLD' if report.ok else 'INVARIANTS VIOLATED'}: "
                   f"{report.documents} documents, {report.copies} copies, {report.kills} "
                   f"processes killed with SIGKILL; delivered {report.delivered}, lost "
                   f"{report.lost}, duplicated {report.duplicated}, diverged "
                   f"{report.diverged}, content mismatches {report.mismatched}, audit chains "
                   f"{'intact' if not report.audits_broken else 'BROKEN'} "
                   f"({report.seconds:.0f} s)")
        if report.network is not None:
            n = report.network
            click.echo(f"network: {n.requests} requests; dropped {n.dropped}, replies lost "
                       f"{n.replies_lost}, duplicated {n.duplicated}, delayed {n.delayed}, "
                       f"tampered {n.tampered_requests} requests (accepted "
                       f"{n.tampered_accepted}) and {n.tampered_replies} replies")
        for problem in report.problems[:10]:
            click.echo(f"  problem: {problem}")
    sys.exit(0 if report.ok else 1)


def main(argv: list[str] | None = None) -> None:
    """Run the ``docflow`` command (the console-script entry point)."""
    cli.main(args=argv, prog_name="docflow")


if __name__ == "__main__":  # pragma: no cover
    main()
