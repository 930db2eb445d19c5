"""Documents at a node: ``send``, ``inbox``, ``outbox``, ``show``, ``trace``, the acts,
updates and replacements, dead letters."""

from __future__ import annotations

import sys
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import click

from docflow.cli._app import cli, home_option, opened
from docflow.cli._output import (
    ExistingPath,
    clip,
    emit,
    exit_status,
    json_option,
    local_time,
    note,
    quiet,
    say,
    table,
)
from docflow.errors import DocflowError, ModelError
from docflow.lifecycle import (
    INCOMING,
    OUTGOING,
    WAITING,
    ChangeKind,
    IncomingEvent,
    MessageKind,
    OutgoingEvent,
    standing,
)
from docflow.model import DOCUMENT_TYPES, OrganCode, OrganInfo, organ_codes


@cli.command()
@home_option
@click.option("--to", "recipients", help="Recipient organ codes, comma-separated.")
@click.option("--header", "header_file",
              type=ExistingPath(dir_okay=False),
              help="A TOML or JSON file of header fields (the options below, '-' written "
                   "'_'); options given here win.")
@click.option("--subject", help="The subject (trích yếu); required unless --sample.")
@click.option("--signer", help="The signer's full name; required unless --sample.")
@click.option("--signer-position", help="The signer's position (chức vụ).")
@click.option("--signer-competence", help="The signing competence, e.g. 'KT. Chủ tịch'.")
@click.option("--type", "doc_type", type=click.Choice(sorted(DOCUMENT_TYPES)),
              help="The document type (default: letter).")
@click.option("--number", help="The number (default: the next free one).")
@click.option("--notation", help="The notation (ký hiệu), e.g. QĐ-UBND (default: VP).")
@click.option("--date", "issued", help="The issue date, YYYY-MM-DD (default: today in the "
              "node's time zone).")
@click.option("--place", help="The place of issue (địa danh), e.g. 'Tam Kỳ'.")
@click.option("--priority", help="normal, urgent, very-urgent, flash, flash-timed (or 0-4); "
              "default normal.")
@click.option("--due", help="The due date, YYYY-MM-DD (default: none).")
@click.option("--content", help="The summary (nội dung).")
@click.option("--to-place", "to_places", multiple=True,
              help="A 'Nơi nhận' line (repeatable).")
@click.option("--attach", "attachments", multiple=True,
              type=ExistingPath(dir_okay=False),
              help="A file to attach (repeatable).")
@click.option("--sign-pdf", is_flag=True,
              help="Sign each attached PDF as this organ (its văn thư) over the official's "
                   "signature, which must be valid ([pdf] trust checks it).")
@click.option("--attachment-only", is_flag=True,
              help="With --sign-pdf: a PDF nobody signed is an attachment file: stamp it "
                   "with the number and notation (top right of page 1).")
@click.option("--sample", type=click.Choice(["decision", "letter", "report"]),
              help="Send a sample document of this kind instead (its header is the sample's).")
@click.option("--count", type=click.IntRange(min=1), default=1, show_default=True,
              help="How many (with --sample).")
@click.option("--deliver/--no-deliver", default=True, show_default=True,
              help="Run one outbox pass now (a served node's worker would too).")
@json_option
def send(home: Path, recipients: str | None, header_file: Path | None, sample: str | None,
         count: int, deliver: bool, attachments: tuple[Path, ...], as_json: bool,
         sign_pdf: bool, attachment_only: bool, **options: Any) -> None:
    """Sign documents and put them in the outbox; print their message ids.

    The header comes from the options and --header only (nothing from the samples):
    --subject and --signer are required, the rest is empty unless given."""
    import uuid

    if attachment_only and not sign_pdf:
        raise click.BadParameter("--attachment-only goes with --sign-pdf",
                                 param_hint="--attachment-only")
    from docflow.cli._compose import compose_info, read_header_file
    from docflow.model import Attachment
    from docflow.samples import sample_envelope

    options["type"] = options.pop("doc_type")
    options["date"] = options.pop("issued")
    options["to_places"] = options["to_places"] or None
    with opened(home) as node:
        codes = organ_codes(recipients.split(",")) if recipients else []
        if not codes:
            raise ModelError("no recipient", hint="--to CODE[,CODE...]")
        targets = tuple(_organ(node, code) for code in codes)
        files = tuple(Attachment(name=path.name, data=path.read_bytes())
                      for path in attachments)  # the content type guessed from the name
        fields = {**(read_header_file(header_file) if header_file else {}),
                  **{key: value for key, value in options.items() if value is not None}}
        today = node.today()
        given = options.get("number") or ""
        first = int(given) if sample and given.isdigit() else int(node.next_number())
        sent = []
        with click.progressbar(range(count if sample else 1), label="signing",
                               file=sys.stderr, hidden=count == 1 or quiet()) as items:
            for index in items:
                if sample:
                    base = sample_envelope(sender=node.organ, recipients=targets, date=today,
                                           number=str(first + index), kind=sample)
                    info, parts = base.info, base.attachments
                else:
                    info = compose_info(fields, sender=node.organ, recipients=targets,
                                        today=today, number=str(first))
                    parts = files
                if sign_pdf:
                    from docflow.pdf import seal_attachments

                    parts = seal_attachments(parts, node.credentials,
                                             number=info.code_number,
                                             notation=info.code_notation,
                                             trust=node.pdf.trust,
                                             attachment_only=attachment_only,
                                             signed_at=node.clock())
                message_id = uuid.uuid4().hex
                record = node.send(info, parts, message_id=message_id)
                if info.due_date is not None and info.due_date < today and index == 0:
                    note(f"warning: the due date {info.due_date:%d/%m/%Y} has passed: the "
                         "document is OVERDUE from the start")
                sent.append({"message_id": message_id, "document": record.document_ref,
                             "document_id": info.document_id, "code": info.code,
                             "to": [str(code) for code in codes]})
                if not as_json:
                    say(message_id)
        report = node.deliver() if deliver else None
        if report is not None:
            note(f"delivered {report.delivered}, failed {report.failed}")
            for error in report.errors:
                note(f"  {error}")
        if as_json:
            emit({"sent": sent, "delivered": report.delivered if report else None,
                  "failed": report.failed if report else None}, True, lambda: None)


def _organ(node: Any, code: OrganCode) -> OrganInfo:
    """A recipient as the directory names it (else by its code)."""
    if node.directory is not None and code in node.directory.entries:
        known: OrganInfo = node.directory.entries[code].organ.info()  # with its contacts
        return known
    return OrganInfo(code, str(code))


def _documents(home: Path, direction: str, state: str | None, as_json: bool) -> None:
    from docflow.hub import Hub

    with opened(home, hub=True, signing=False) as node:
        if isinstance(node, Hub):
            _hub_copies(node, held=direction == "in", as_json=as_json)
            return
        page = node.store.queries.documents(direction=direction, organ=str(node.code),
                                            state=state, page_size=1000)
        today = node.today()
        late = {d.document_ref for d in node.store.deadlines.list(
            node.code, breached_only=True, now=node.clock())}
        rows = [{"id": d.id, "code": d.code, "sender": d.sender, "state": d.state,
                 "due": d.due_date, "overdue": d.overdue(today),
                 "deadline_breached": d.id in late, "subject": d.subject,
                 "message_id": d.message_id, "document_id": d.document_id,
                 "signature": d.signature, "pdf": d.pdf, "duplicate_of": d.duplicate_of,
                 "findings": len(d.findings)} for d in page.items]
        if direction == "out":
            for row in rows:
                copies = node.store.queries.deliveries(document_ref=int(row["id"]),
                                                       kind="document", page_size=1000).items
                row["recipients"] = [c.recipient for c in copies]
                row["copies"] = copy_summary([copy_standing(c) for c in copies])
                row["copy_states"] = [{"to": c.recipient, "standing": copy_standing(c),
                                       "transport": c.transport_state,
                                       "business": c.business_state,
                                       "change": c.change_state} for c in copies]
            emit(rows, as_json, lambda: table(
                ["id", "code", "state", "due", "", "to", "copies", "subject"],
                [[r["id"], r["code"], r["state"], r["due"] or "-",
                  "OVERDUE" if r["overdue"] else "LATE" if r["deadline_breached"] else "",
                  clip(", ".join(r["recipients"])),
                  r["copies"] or "-", clip(str(r["subject"]), 40)] for r in rows]))
            return
        emit(rows, as_json, lambda: table(
            ["id", "code", "from", "state", "due", "", "signature", "pdf", "findings",
             "subject"],
            [[r["id"], r["code"], r["sender"], r["state"], r["due"] or "-",
              " ".join(mark for mark, on in (
                  ("OVERDUE", r["overdue"]), ("LATE", r["deadline_breached"]),
                  (f"DUP of {r['duplicate_of']}", r["duplicate_of"])) if on),
              r["signature"] or "-", r["pdf"] or "-",
              r["findings"] or "-", clip(str(r["subject"]), 50)] for r in rows]))


def _hub_copies(hub: Any, *, held: bool, as_json: bool) -> None:
    """A hub's inbox (what it holds now: for pulling organs, or waiting for a retry)
    and outbox (every copy it relayed), one row per copy."""
    copies = hub.store.queries.deliveries(organ=hub.code, page_size=1000,
                                          transport_state=WAITING if held else None).items
    pulling = {str(code) for code in hub.pulling}
    documents: dict[int, Any] = {}
    rows = []
    for copy in copies:
        if copy.document_ref not in documents:
            documents[copy.document_ref] = hub.store.queries.document(copy.document_ref)
        document = documents[copy.document_ref]
        sender = document.sender if copy.kind == MessageKind.DOCUMENT \
            else _status_sender(hub, copy.id)
        rows.append({"delivery": copy.id, "document": copy.document_ref, "kind": copy.kind,
                     "code": document.code, "from": sender, "to": copy.recipient,
                     "state": copy.transport_state, "attempts": copy.attempts,
                     "held_for_pull": copy.recipient in pulling and copy.transport_state
                     in WAITING, "subject": document.subject})
    emit(rows, as_json, lambda: table(
        ["copy", "doc", "kind", "code", "from", "to", "state", "", "subject"],
        [[r["delivery"], r["document"], r["kind"], r["code"], r["from"], r["to"], r["state"],
          "held for pull" if r["held_for_pull"] else "", clip(str(r["subject"]), 36)]
         for r in rows]))


def _status_sender(hub: Any, delivery_id: int) -> str:
    """Who sent the status packet a hub relays (its ``From``; not the document's sender,
    to whom it goes)."""
    from docflow.envelope import read_packet
    from docflow.model import StatusInfo

    try:
        status = read_packet(hub.store.queries.delivery_packet(delivery_id)).packet
    except DocflowError:
        return "?"
    return str(status.sender.code) if isinstance(status, StatusInfo) else "?"


def copy_standing(copy: Any) -> str:
    """How one copy stands, as its sender reads it (:func:`docflow.lifecycle.standing`)."""
    return standing(copy.transport_state, copy.business_state, copy.change_state)


def copy_summary(standings: Sequence[str]) -> str:
    """How a sent document's copies stand: ``2 copies: 1 accepted, 1 rejected``."""
    if not standings:
        return ""
    counts = {state: standings.count(state) for state in dict.fromkeys(standings)}
    if len(counts) == 1:
        return f"{len(standings)}/{len(standings)} {standings[0]}"
    return f"{len(standings)} copies: " + ", ".join(
        f"{n} {state}" for state, n in counts.items())


@cli.command()
@home_option
@click.option("--state", type=click.Choice([state.value for state in INCOMING.states]),
              help="Only documents in this state.")
@json_option
def inbox(home: Path, state: str | None, as_json: bool) -> None:
    """Documents this organ received (state, due date, overdue marks); on a hub, the
    copies it holds (for pulling organs, or waiting for a retry)."""
    _documents(home, "in", state, as_json)


@cli.command()
@home_option
@click.option("--state", type=click.Choice([state.value for state in OUTGOING.states]),
              help="Only documents in this state.")
@json_option
def outbox(home: Path, state: str | None, as_json: bool) -> None:
    """Documents this organ sent: recipients and how their copies stand; on a hub,
    every copy it relayed."""
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

    from docflow.errors import CredentialsError, TransportError
    from docflow.hub import Hub

    with opened(home, hub=True, signing=False) as node:
        try:
            story = (node.document_trace(document) if isinstance(node, Hub)
                     else node.trace(document, ask_hub=ask_hub))
        except (TransportError, CredentialsError) as exc:  # the hub is away, or the key
            # is locked (asking signs a request): what this node knows, said so
            say(f"warning: the hub was not asked: {exc}", err=True)
            story = node.trace(document, ask_hub=False)
        data = asdict(story)
        data["document"]["findings"] = [f.to_dict() for f in story.document.findings]
        gone = node.store.queries.tombstone(document)
        files = node.stored(document).attachments if gone is None else ()
        checked = {a.position: a for a in node.store.queries.attachments(document)}
        data["attachments"] = [{"name": a.name, "bytes": len(a.data),
                                "content_type": a.content_type,
                                "pdf": checked[i].pdf_report if i in checked else None}
                               for i, a in enumerate(files)]
        if gone is not None:
            data["destroyed"] = {"at": gone.destroyed_at.isoformat(), "reason": gone.reason,
                                 "packet_sha256": gone.packet_sha256,
                                 "packet_size": gone.packet_size,
                                 "attachments": [{"name": n, "sha256": d, "size": z}
                                                 for n, d, z in gone.attachments]}
        if not full:
            data = {"document": data["document"], "deliveries": data["deliveries"],
                    "attachments": data["attachments"], "destroyed": data.get("destroyed")}

        def shown(when: Any) -> str:
            return local_time(when, node.zone)

        def text() -> None:
            d = story.document
            say(f"document {d.id}: {d.code} ({d.type_name}), {d.direction}, "
                       f"state {d.state}")
            say(f"  from {d.sender}, message {d.message_id}, due {d.due_date or '-'}")
            say(f"  subject: {d.subject}")
            if d.signature is not None:
                say(f"  signature: {d.signature}")
            for finding in d.findings:
                say(f"  finding: {finding}")
            if gone is not None:
                say(f"  content destroyed {shown(gone.destroyed_at)} when its recall was "
                    f"agreed (packet sha256 {gone.packet_sha256}, {gone.packet_size} bytes; "
                    f"{len(gone.attachments)} attachment(s))")
            if files:
                say("  attachments: " + ", ".join(
                    f"{a.name} ({len(a.data)} bytes)" for a in files)
                    + f" (docflow attachments {d.id} -o DIR)")
            for item in checked.values():
                if item.pdf_verdict is None:
                    continue
                say(f"  signed PDF {item.name}: {item.pdf_verdict}")
                for check in (item.pdf_report or {}).get("signatures", []):
                    say(f"    {check['role']}: {check['signer']}"
                        + (f" for {check['organ']}" if check.get("organ") else "")
                        + f", signed {check.get('signed_at') or '?'}")
                    for problem in check.get("problems", []):
                        say(f"      - {problem}")
                for problem in (item.pdf_report or {}).get("problems", []):
                    say(f"    - {problem}")
            copies = [c for c in story.deliveries if c.kind == "document"]
            if copies:
                table(["copy", "to", "transport", "business", "change", "attempts",
                        "last error"],
                       [[c.id, c.recipient, c.transport_state, c.business_state or "-",
                         c.change_state or "-", c.attempts, clip(c.last_error or "", 40)]
                        for c in copies])
            if not full:
                return
            if story.hops:
                say("hops: " + " -> ".join(f"{organ} ({shown(when)})"
                                                  for organ, when in story.hops))
            for event in story.statuses:
                say(f"status {event.code.value} {event.direction} from "
                           f"{event.from_organ} at {shown(event.timestamp)}: "
                           f"{event.description}")
            to_whom = {c.id: f"{c.kind} copy {c.id} to {c.recipient}"
                       for c in story.deliveries}
            for entry in story.history:
                which = ("the document" if entry.delivery_ref is None
                         else to_whom.get(entry.delivery_ref, f"copy {entry.delivery_ref}"))
                say(f"{shown(entry.at)} {entry.machine:<9} "
                    f"{entry.from_state} -{entry.event}-> {entry.to_state} [{which}]"
                    + (f" ({entry.reason})" if entry.reason else ""))
            if story.hub is not None:
                seen = story.hub
                hub = node.directory.entry(node.code).hub
                say(f"hub {hub} saw: " + (" -> ".join(
                    f"{organ} ({shown(when)})" for organ, when in seen.hops)
                    or "no hops"))
                table(["hub copy", "transport", "business", "attempts", "last error"],
                      [[c.recipient, c.transport_state, c.business_state or "-",
                        c.attempts, clip(c.last_error or "", 40)] for c in seen.copies])
                for status in seen.statuses:
                    say(f"hub status {status.code} from {status.from_organ} at "
                               f"{shown(status.timestamp)}: {status.description}")

        emit(data, as_json, text)


@cli.command()
@home_option
@json_option
def deadletters(home: Path, as_json: bool) -> None:
    """Deliveries that failed for good, with the last error (a node's or a hub's)."""
    with opened(home, hub=True, signing=False) as node:
        items = node.store.outbox.dead_letters(page_size=1000).items
        rows = [{"delivery": d.id, "document": d.document_ref, "to": d.recipient,
                 "kind": d.kind, "attempts": d.attempts, "last_error": d.last_error}
                for d in items]
        emit(rows, as_json, lambda: table(
            ["delivery", "document", "to", "kind", "attempts", "last error"],
            [list(r.values()) for r in rows]))


@cli.command()
@home_option
@click.argument("deliveries", type=int, nargs=-1)
@click.option("--all", "every", is_flag=True, help="Every dead letter.")
@click.option("--to", "to", help="Every dead letter to these organs (CODE[,CODE...]).")
@json_option
def resend(home: Path, deliveries: tuple[int, ...], every: bool, to: str | None,
           as_json: bool) -> None:
    """Queue dead-lettered deliveries again (same packet, same message id): the ids
    given, --all of them, or those --to some organs (after an outage they come by the
    dozen). Each is resent on its own; one that is not a dead letter is said and left
    alone (exit 4 if any was)."""
    from docflow.errors import LifecycleError, NotFoundError

    if bool(deliveries) + every + (to is not None) != 1:
        raise click.UsageError("give delivery ids, --all or --to CODE (one of them)")
    with opened(home, hub=True) as node:
        outbox = node.store.outbox
        if not deliveries:
            organs = None if to is None else [str(OrganCode.parse(code))
                                              for code in to.split(",") if code.strip()]
            deliveries = tuple(outbox.dead_letter_ids(recipients=organs))
        queued, refused, statuses = [], {}, set()
        for delivery in deliveries:
            try:
                outbox.resend(delivery)
                queued.append(delivery)
            except (LifecycleError, NotFoundError) as exc:
                refused[delivery] = str(exc)
                statuses.add(exit_status(exc))

        def text() -> None:
            say(f"{len(queued)} delivery(ies) queued again"
                + (f": {', '.join(map(str, queued))}" if queued else ""))
            for why in refused.values():
                say(f"  not resent: {why}", err=True)

        emit({"queued": queued, "refused": refused}, as_json, text)
        if refused:
            sys.exit(min(statuses))  # not found (3) before not a dead letter (4)


def _act_command(event: IncomingEvent | OutgoingEvent, summary: str, *,
                 needs_reason: bool = False) -> None:
    @cli.command(name=event.value, help=summary)
    @home_option
    @click.argument("document", type=int)
    @click.option("--reason", required=needs_reason, help="Why (sent with the status).")
    @json_option
    def command(home: Path, document: int, reason: str | None, as_json: bool) -> None:
        with opened(home) as node, _as_verbs(document):
            if event is OutgoingEvent.RECALL:
                asked = node.recall(document, reason or "thu hồi")
                emit({"document": document, "act": event, "asked": len(asked)}, as_json,
                     lambda: say(f"recall requested from {len(asked)} recipient(s)"))
            else:
                step = node.act(document, INCOMING.event(event), reason)
                emit({"document": document, "act": event, "state": step.state,
                      "status": step.emit.value if step.emit else None}, as_json,
                     lambda: say(f"document {document}: {step.state}"
                                        + (f" (status {step.emit.value} queued for the "
                                           "sender)" if step.emit else "")))


#: the acts a person types, in the order of a document's life
ACT_VERBS: tuple[IncomingEvent | OutgoingEvent, ...] = (
    IncomingEvent.ACCEPT, IncomingEvent.REJECT, IncomingEvent.ASSIGN, IncomingEvent.PROCESS,
    IncomingEvent.COMPLETE, OutgoingEvent.RECALL)


@contextmanager
def _as_verbs(document: int) -> Iterator[None]:
    """A refused act said in the commands a person can type now, not the machine's
    event names (agree_update and its kin are answered by docflow itself)."""
    from docflow.errors import LifecycleError

    try:
        yield
    except LifecycleError as exc:
        if exc.state is None:
            raise
        verbs = [verb for verb in ACT_VERBS if verb in exc.allowed]
        raise LifecycleError(
            f"document {document} is {exc.state}: that act is not possible now",
            where=f"document {document}", state=exc.state, allowed=exc.allowed,
            hint=("what you can do now: " + ", ".join(f"docflow {verb} {document}"
                                                     for verb in verbs)) if verbs
            else "nothing more can be done to it from here") from exc


_act_command(IncomingEvent.ACCEPT, "Register a received document (status 03).")


_act_command(IncomingEvent.REJECT, "Refuse a received document, with a reason (02).",
             needs_reason=True)


_act_command(IncomingEvent.ASSIGN, "A leader assigns the document (04).")


_act_command(IncomingEvent.PROCESS, "Work on the document has started (05).")


_act_command(IncomingEvent.COMPLETE, "The document is dealt with (06).")


_act_command(OutgoingEvent.RECALL, "Ask every recipient to give a sent document back (13).",
             needs_reason=True)


def _change_command(kind: ChangeKind, summary: str) -> None:
    @cli.command(name=kind.value, help=summary)
    @home_option
    @click.argument("document", type=int)
    @click.option("--reason", required=True, help="Why (sent with the new document).")
    @click.option("--subject", help="The new document's subject (default: the original's).")
    @click.option("--number", help="The new document's number (default: the next free one).")
    @click.option("--attach", "attachments", multiple=True,
                  type=ExistingPath(dir_okay=False),
                  help="A file to attach to the new document (repeatable; default: the "
                       "original's attachments).")
    @json_option
    def command(home: Path, document: int, reason: str, subject: str | None,
                number: str | None, attachments: tuple[Path, ...], as_json: bool) -> None:
        from dataclasses import replace

        from docflow.model import Attachment

        with opened(home) as node:
            envelope = node.stored(document)
            original = envelope.info
            new = replace(original, code_number=number or node.next_number(),
                          subject=subject or original.subject, document_id="",
                          response_for=())
            files = tuple(Attachment(name=path.name, data=path.read_bytes())
                          for path in attachments)
            change = node.update if kind is ChangeKind.UPDATE else node.replace
            record = change(document, new, files or envelope.attachments, reason=reason)
            emit({"document": record.document_ref, kind: document,
                  "deliveries": list(record.deliveries)}, as_json,
                 lambda: say(f"document {record.document_ref} sent as the {kind} of "
                                    f"{document} to {len(record.deliveries)} recipient(s)"))


_change_command(ChangeKind.UPDATE, "Send an update of a sent document (each copy answers 15/16).")


_change_command(ChangeKind.REPLACE, "Send a replacement of a sent document (agreeing copies end "
                "replaced).")
