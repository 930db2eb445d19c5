"""Commands on packet files: ``validate``, ``conform``, ``verify``, ``sample``."""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path
from typing import Any

import click

from docflow.cli._app import cli
from docflow.cli._output import (
    EXIT_FINDINGS,
    ExistingPath,
    echo_problem,
    emit,
    explain_refusal,
    fail,
    json_option,
    packet_summary,
    say,
    verdict_of,
)
from docflow.envelope import (
    ParseLimits,
    build_envelope,
    build_status,
    load_tree,
    parse_packet,
    unprefixed,
)
from docflow.errors import DocflowError, SchemaError
from docflow.model import OrganCode, OrganInfo


@cli.command()
@click.argument("file", type=ExistingPath(dir_okay=False))
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
            echo_problem(file, "INVALID", exc)
        sys.exit(1)
    summary = packet_summary(packet)
    warnings = [] if not unprefixed(load_tree(data, limits=ParseLimits(max_bytes=max_bytes))[0]) \
        else ["the elements inside edXMLEnvelope are written without the edXML: prefix "
              "(valid: the namespace is the same); strict receivers that read by prefix "
              "refuse such a packet"]
    if as_json:
        click.echo(json.dumps({"file": str(file), "valid": True, **summary,
                               "warnings": warnings}, ensure_ascii=False, indent=2))
    else:
        for warning in warnings:
            say(f"warning: {warning}", err=True)
        say(f"{file}: valid {summary['kind']} packet")
        for key, value in summary.items():
            if key != "kind":
                say(f"  {key}: {value}")


@cli.command()
@click.argument("files", nargs=-1, required=True,
                type=ExistingPath(dir_okay=False))
@click.option("--accept", "accepted", multiple=True, metavar="CODE",
              help="Record, never refuse, findings with this code (shell pattern, "
                   "repeatable), e.g. 'M.MessageHeader.DocumentId'.")
@click.option("--refuse", "refused", multiple=True, metavar="CODE",
              help="Refuse packets with a finding of this code (shell pattern, repeatable).")
@click.option("--alias", "aliases", multiple=True, metavar="ID=CODE",
              help="Read the identifier ID (an axis system id) as the organ CODE.")
@json_option
def conform(files: tuple[Path, ...], accepted: tuple[str, ...], refused: tuple[str, ...],
            aliases: tuple[str, ...], as_json: bool) -> None:
    """Read packets as other systems write them (leniently) and say what docflow would
    do with each: its findings, its signature, accept / accept with findings / refuse.

    Exit status 0 when every packet is clean, 10 when all are accepted but some with
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
            results.append({"file": str(file), "decision": "refuse",  # not a state
                            "error":
                            type(exc).__name__, "message": str(exc), "findings": []})
            continue
        refusing = reading.refusing(policy)
        decision = ("refuse" if refusing or reading.packet is None else  # not a state
                    "accept with findings" if reading.findings else "accept")  # not a state
        results.append({
            "file": str(file), "decision": decision, "kind": reading.kind.name.lower(),
            "layout": reading.layout, "signature": verdict_of(reading.signature),
            "findings": [dict(finding.to_dict(), refuses=policy.refuses(finding))
                         for finding in reading.findings],
            **(packet_summary(reading.packet) if reading.packet is not None else {}),
        })

    def text() -> None:
        for result in results:
            say(f"{result['file']}: {result['decision'].upper()}")
            if "error" in result:
                say(f"  {result['error']}: {result['message']}")
                continue
            say(f"  {result['kind']} packet, {result['layout']} layout, signature "
                       f"{result['signature']}")
            for finding in result["findings"]:
                mark = "REFUSES " if finding["refuses"] else ""
                say(f"  {mark}{finding['severity']} {finding['code']}: "
                           f"{finding['message']}"
                           + (f" (line {finding['line']})" if finding["line"] else ""))

    emit(results if len(results) > 1 else results[0], as_json, text)
    decisions = {result["decision"] for result in results}
    sys.exit(1 if "refuse" in decisions  # not a state: a conform decision
             else EXIT_FINDINGS if "accept with findings" in decisions else 0)


def _indented(data: bytes) -> bytes:
    """A packet docflow built, indented one element per line (its text untouched)."""
    from lxml import etree

    root = etree.fromstring(data, etree.XMLParser(remove_blank_text=True, resolve_entities=False,
                                                  no_network=True))
    etree.indent(root, space="  ")
    return bytes(etree.tostring(root, xml_declaration=True, encoding="UTF-8"))


@cli.command()
@click.argument("kind", type=click.Choice(["decision", "letter", "report", "status"]))
@click.option("--from", "sender", default="000.00.00.H41", show_default=True,
              help="Sender organ code.")
@click.option("--to", "recipient", default="000.00.01.H41", show_default=True,
              help="Recipient organ code(s), comma-separated.")
@click.option("--attachment-bytes", type=int, default=1024, show_default=True,
              help="Size of the sample attachment (0 for none).")
@click.option("--key", type=ExistingPath(dir_okay=False),
              help="Sign with this private key (PEM; passphrase in $DOCFLOW_KEY_PASSPHRASE).")
@click.option("--cert", type=ExistingPath(dir_okay=False),
              help="The certificate that goes with --key.")
@click.option("--number", default="4512", show_default=True, help="The document's number.")
@click.option("--message-id", help="The packet's message id (default: a new one each time, "
              "so that a system under test does not take a second sample as a replay).")
@click.option("--pretty", is_flag=True,
              help="Indent the XML, one element per line (to edit by hand; errors then name "
                   "a useful line). Signed after indenting when --key is given.")
@click.option("-o", "--output", type=click.Path(dir_okay=False, path_type=Path), required=True,
              help="Where to write the packet ('-' for stdout).")
def sample(kind: str, sender: str, recipient: str, attachment_bytes: int, number: str,
           message_id: str | None, pretty: bool, output: Path, key: Path | None,
           cert: Path | None) -> None:
    """Write a sample packet (a document of KIND, or a status) for testing other systems;
    signed when --key and --cert are given (the certificate must name the --from organ;
    for a status, the first --to organ reports). Each kind has its own type, notation
    and subject; each packet its own message id unless --message-id."""
    import uuid

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
                                   attachment_bytes=attachment_bytes, number=number,
                                   kind="decision" if kind == "status" else kind,
                                   message_id=message_id or uuid.uuid4().hex)
        if kind == "status":
            data = build_status(sample_status(envelope))
        else:
            data = build_envelope(envelope)
        if pretty:
            data = _indented(data)
        if (key is None) != (cert is None):
            raise click.UsageError("--key and --cert go together")
        if key is not None and cert is not None:
            from docflow.security import Credentials, sign

            passphrase = os.environ.get("DOCFLOW_KEY_PASSPHRASE")
            data = sign(data, Credentials.load(
                key, cert, passphrase=passphrase.encode() if passphrase else None))
    except DocflowError as exc:
        fail(exc)
    if str(output) == "-":
        sys.stdout.buffer.write(data)
    else:
        output.write_bytes(data)
        say(f"wrote {kind} packet ({len(data)} bytes) to {output}")


@cli.command()
@click.argument("file", type=ExistingPath(dir_okay=False))
@click.option("--trust", "trust_path", required=True,
              type=ExistingPath(),
              help="A CA certificate file, or a folder of them.")
@click.option("--crls", type=ExistingPath(),
              help="A CRL file or folder.")
@click.option("--at", "at", help="Verify as of this ISO time (default: now).")
@json_option
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
        explain_refusal(file, exc, as_json)
        sys.exit(1)
    data = {"file": str(file), "valid": True, "signer": str(verified.signer),
            "certificate": verified.certificate.subject.rfc4514_string(),
            "hops": [str(hop.organ) for hop in verified.hops],
            **packet_summary(verified.packet)}
    def text() -> None:
        say(f"{file}: verified, signed by {verified.signer}")
        for key, value in data.items():
            if key not in ("file", "valid"):
                say(f"  {key}: {value}")

    emit(data, as_json, text)
