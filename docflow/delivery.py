"""An outbox pass, the part a node and a hub share: send claimed deliveries (side by
side when asked), record each outcome, and check that a receipt proves its delivery."""

from __future__ import annotations

import datetime as dt
import logging
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

from docflow.clock import Clock
from docflow.errors import ConfigError, DocflowError, SecurityError
from docflow.failure import Failure
from docflow.lifecycle import TransportState
from docflow.model import OrganCode, StatusCode
from docflow.security import TrustStore, Verified, signed_content_digest, verify
from docflow.spool import PacketData, sha256_of
from docflow.store import Claim
from docflow.store.protocols import NodeStore
from docflow.transport import Transport

__all__ = ["DeliveryReport", "PassReport", "check_receipt", "run_outbox"]

_LOG = logging.getLogger("docflow.outbox")


@dataclass(frozen=True)
class PassReport:
    """What one outbox pass did, a node's or a hub's: how many deliveries went through
    (a hub's: were forwarded), how many attempts failed, and each failure as an object
    (:class:`~docflow.errors.Failure`: its class, fault code, where, hint, recipient)."""

    delivered: int = 0
    failed: int = 0
    failures: tuple[Failure, ...] = ()

    @property
    def errors(self) -> tuple[str, ...]:
        """The failures as the lines an operator reads."""
        return tuple(str(failure) for failure in self.failures)

    @property
    def forwarded(self) -> int:
        """A hub's word for :attr:`delivered`."""
        return self.delivered


#: the report of a node's outbox pass (the same type as a hub's)
DeliveryReport = PassReport


def run_outbox(claims: Sequence[Claim], store: NodeStore, transport: Transport, clock: Clock, *,
               via: Callable[[OrganCode], OrganCode | None],
               settle: Callable[[Claim, OrganCode, OrganCode | None, bytes], None],
               workers: int = 1) -> PassReport:
    """Send claimed deliveries (a node's or a hub's outbox pass): a status packet is
    acknowledged once sent; a document's receipt goes to ``settle`` (which verifies and
    records it), or, from a transport that only queued it (an axis), the copy waits for
    its receipt; any DocflowError is a failed attempt (retried, then dead-lettered).

    ``workers`` > 1 sends that many deliveries at a time (threads): a broadcast to many
    organs waits on their networks side by side instead of one after the other. The
    packets of one document to one organ still go one after the other, in their order
    (its statuses 03, 04, 05, 06 arrive as they were given). Each delivery is settled in
    its own transaction either way; the transport must be safe to share between threads
    (the SOAP client and the in-memory transport are)."""
    def one(claim: Claim) -> Failure | None:
        recipient = OrganCode(claim.recipient)
        what = _named(claim)
        try:
            next_stop = via(recipient)
            hop = f" via {next_stop}" if next_stop is not None else ""
            if claim.kind == "status":
                transport.send_status(recipient, claim.packet, via=next_stop)
                store.outbox.acknowledge(claim.delivery_id, now=clock())
                _LOG.info("sent %s to %s%s", what, recipient, hop)
            else:
                receipt = transport.send_document(recipient, claim.packet, via=next_stop)
                if receipt is None:  # queued by an axis: the 01 comes as a status
                    store.outbox.mark_sent(claim.delivery_id, now=clock())
                    _LOG.info("handed %s for %s to %s (its receipt comes later)", what,
                              recipient, next_stop or "the transport")
                else:
                    settle(claim, recipient, next_stop, receipt)
                    _LOG.info("delivered %s to %s%s (receipt checked)", what, recipient, hop)
            return None
        except DocflowError as exc:
            state = store.outbox.fail(claim.delivery_id, Failure.of(exc), now=clock())
            if state is TransportState.FAILED:
                _LOG.warning("gave up on %s to %s after %d attempt(s), a dead letter "
                             "(delivery %d): %s; see `docflow deadletters`, then "
                             "`docflow resend %d`", what, recipient, claim.attempts,
                             claim.delivery_id, exc, claim.delivery_id)
            else:
                _LOG.debug("%s to %s: attempt %d failed: %s", what, recipient,
                           claim.attempts, exc)
            return Failure.of(exc, claim.recipient)

    if workers < 1:
        raise ConfigError(f"an outbox pass needs at least one worker, not {workers}")
    groups: dict[tuple[int, str], list[Claim]] = {}
    for claim in claims:
        groups.setdefault((claim.document_ref, claim.recipient), []).append(claim)
    if workers == 1 or len(groups) < 2:
        outcomes = [one(claim) for claim in claims]
    else:
        with ThreadPoolExecutor(max_workers=min(workers, len(groups)),
                                thread_name_prefix="docflow-outbox") as pool:
            outcomes = [outcome for done in pool.map(
                lambda group: [one(claim) for claim in group], groups.values())
                for outcome in done]
    failures = tuple(failure for failure in outcomes if failure is not None)
    return PassReport(len(claims) - len(failures), len(failures), failures)


def _named(claim: Claim) -> str:
    """A delivery as a log line names it: ``document 201/UBND-VP (message <id>)``."""
    label = f" {claim.label}" if claim.label else ""
    message = f" (message {claim.message_id})" if claim.message_id else ""
    return f"{claim.kind}{label}{message}"


def check_receipt(receipt: bytes, trust: TrustStore, *, now: dt.datetime,
                  signers: Sequence[OrganCode], message_id: str | None, packet: PacketData,
                  recipient: OrganCode) -> Verified:
    """Verify a receipt and check that it proves this delivery: status 01, signed by one
    of ``signers`` (the recipient, or a hub that took custody), naming ``message_id`` and
    the signed content of ``packet`` (:func:`~docflow.security.signed_content_digest`,
    or the SHA-256 of its bytes, as docflow receipts named before); a
    :class:`~docflow.errors.SecurityError` otherwise (the delivery then counts as not
    acknowledged). Returns the verified receipt."""
    verified = verify(receipt, trust, now=now)
    status = verified.status
    problems = []
    if status.code is not StatusCode.ARRIVED:
        problems.append(f"status {status.code.value} instead of 01")
    if status.sender.code not in signers:
        problems.append(f"signed by {status.sender.code}, not the recipient {recipient}"
                        + (f" or the hub {signers[1]}" if len(signers) > 1 else ""))
    if status.message_id != message_id:
        problems.append(f"for message {status.message_id}, not {message_id}")
    if status.received_sha256 not in (signed_content_digest(packet),
                                      sha256_of(packet)):
        problems.append("for other content than was sent")
    if problems:
        raise SecurityError("the receipt does not prove this delivery: "
                            + "; ".join(problems), where=str(recipient))
    return verified
