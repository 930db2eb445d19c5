"""Documents at a node: ``send``, ``inbox``, ``outbox``, ``show``, ``trace``, the acts,
updates and replacements, dead letters."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

import click

from docflow.cli._app import cli, home_option, opened
from docflow.cli._output import emit, json_option, table
from docflow.errors import ModelError, RoutingError
from docflow.model import DOCUMENT_TYPES, OrganCode, OrganInfo, organ_codes


@cli.command()
@home_option
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

    with opened(home) as node:
        targets = tuple(OrganInfo(code, str(code)) for code in
                        organ_codes(recipients.split(",")) if recipients) if recipients else ()
        if not targets:
            raise ModelError("no recipient", hint="--to CODE[,CODE...]")
        _require_routes(home, node, [target.code for target in targets])
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
                # One replace, with the DocumentId left to be derived: it is computed
                # when the header is made, from the number and notation it then has.
                info = replace(
                    base.info, document_type=DOCUMENT_TYPES[sample or doc_type],
                    document_id="",
                    code_notation=base.info.code_notation if sample else notation,
                    subject=base.info.subject if sample else (subject or base.info.subject))
                message_id = uuid.uuid4().hex
                node.send(info, base.attachments if sample else files,
                          message_id=message_id)
                click.echo(message_id)
        if deliver:
            report = node.deliver()
            click.echo(f"delivered {report.delivered}, failed {report.failed}", err=True)
            for error in report.errors:
                click.echo(f"  {error}", err=True)


def _require_routes(home: Path, node: Any, codes: list[OrganCode]) -> None:
    """Refuse, before anything is signed, recipients this node has no way to reach:
    neither its directory nor its [peers] know them, and it has no axis to ask."""
    from docflow.config import load_config

    config = load_config(home)
    if config.axis is not None:
        return  # the axis/LGSP knows organs this node does not
    known = set(config.peers)
    if node.directory is not None:
        known |= set(node.directory.entries)
    unknown = [str(code) for code in codes if code not in known]
    if unknown:
        raise RoutingError(
            f"no route to {', '.join(unknown)}: neither the directory nor [peers] of "
            f"{home / 'node.toml'} know it", where=", ".join(unknown),
            hint="nothing was signed; add the organ's endpoint under [peers], a directory "
                 "that lists it, or an [axis]")


def _documents(home: Path, direction: str, state: str | None, as_json: bool) -> None:
    import datetime as dt

    with opened(home) as node:
        page = node.store.queries.documents(direction=direction, organ=str(node.code),
                                            state=state, page_size=1000)
        today = dt.datetime.now(dt.UTC).date()
        rows = [{"id": d.id, "code": d.code, "sender": d.sender, "state": d.state,
                 "due": d.due_date, "overdue": d.overdue(today), "subject": d.subject,
                 "message_id": d.message_id, "document_id": d.document_id,
                 "signature": d.signature,
                 "findings": len(d.findings)} for d in page.items]
        emit(rows, as_json, lambda: table(
            ["id", "code", "from", "state", "due", "", "signature", "findings", "subject"],
            [[r["id"], r["code"], r["sender"], r["state"], r["due"] or "-",
              "OVERDUE" if r["overdue"] else "", r["signature"] or "-", r["findings"] or "-",
              str(r["subject"])[:50]] for r in rows]))


@cli.command()
@home_option
@click.option("--state", help="Only documents in this state.")
@json_option
def inbox(home: Path, state: str | None, as_json: bool) -> None:
    """Documents this organ received (state, due date, overdue marks)."""
    _documents(home, "in", state, as_json)


@cli.command()
@home_option
@click.option("--state", help="Only documents in this state.")
@json_option
def outbox(home: Path, state: str | None, as_json: bool) -> None:
    """Documents this organ sent."""
    _documents(home, "out", state, as_json)


@cli.command()
@home_option
@click.argument("document", type=int)
@json_option
def show(home: Path, document: int, as_json: bool) -> None:
    """One document and the state of each of its copies."""
    _trace(home, document, as_json, full=False)


@cli.command()
@home_option
@click.argument("document", type=int)
@click.option("--local", is_flag=True,
              help="Only what this node knows: do not ask its hub (sent documents).")
@json_option
def trace(home: Path, document: int, local: bool, as_json: bool) -> None:
    """A document's hops, status timeline and state history, and for a document sent
    through a hub what the hub saw (its copies and statuses) unless --local."""
    _trace(home, document, as_json, full=True, ask_hub=not local)


def _trace(home: Path, document: int, as_json: bool, *, full: bool,
           ask_hub: bool = False) -> None:
    from dataclasses import asdict

    from docflow.errors import TransportError

    with opened(home) as node:
        try:
            story = node.trace(document, ask_hub=ask_hub)
        except TransportError as exc:  # the hub is away: what this node knows, said so
            click.echo(f"warning: the hub was not asked: {exc}", err=True)
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
                table(["copy", "to", "transport", "business", "change", "attempts",
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
            if story.hub is not None:
                seen = story.hub
                hub = node.directory.entry(node.code).hub
                click.echo(f"hub {hub} saw: " + (" -> ".join(
                    f"{organ} ({when:%Y-%m-%d %H:%M:%S})" for organ, when in seen.hops)
                    or "no hops"))
                table(["hub copy", "transport", "business", "attempts", "last error"],
                      [[c.recipient, c.transport_state, c.business_state or "-",
                        c.attempts, (c.last_error or "")[:40]] for c in seen.copies])
                for status in seen.statuses:
                    click.echo(f"hub status {status.code} from {status.from_organ} at "
                               f"{status.timestamp:%Y-%m-%d %H:%M:%S}: {status.description}")

        emit(data, as_json, text)


@cli.command()
@home_option
@json_option
def deadletters(home: Path, as_json: bool) -> None:
    """Deliveries that failed for good, with the last error."""
    with opened(home) as node:
        items = node.store.outbox.dead_letters(page_size=1000).items
        rows = [{"delivery": d.id, "document": d.document_ref, "to": d.recipient,
                 "kind": d.kind, "attempts": d.attempts, "last_error": d.last_error}
                for d in items]
        emit(rows, as_json, lambda: table(
            ["delivery", "document", "to", "kind", "attempts", "last error"],
            [list(r.values()) for r in rows]))


@cli.command()
@home_option
@click.argument("delivery", type=int)
def resend(home: Path, delivery: int) -> None:
    """Queue a dead-lettered delivery again (same packet, same message id)."""
    with opened(home) as node:
        node.store.outbox.resend(delivery)
        click.echo(f"delivery {delivery} queued again")


def _act_command(event: str, summary: str, *, needs_reason: bool = False) -> None:
    @cli.command(name=event, help=summary)
    @home_option
    @click.argument("document", type=int)
    @click.option("--reason", required=needs_reason, help="Why (sent with the status).")
    def command(home: Path, document: int, reason: str | None) -> None:
        with opened(home) as node:
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
    @home_option
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

        with opened(home) as node:
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
