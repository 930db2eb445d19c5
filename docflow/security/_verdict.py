"""Signature verdicts and trust policies: what a receiver may accept, by channel.

Packets circulate with docflow's W3C XML-DSig (verifiable), with the official edXML
library's block of edXML-namespace ``SignedInfo``/``SignatureValue``/``KeyInfo`` (a
placeholder: not verifiable), with an empty ``Signature`` element, or with none. The
national axis does not verify edXML signatures; integrity there rests on the signed PDF
attachments and the authenticated channel. A :class:`TrustPolicy` says, per peer or
channel, what is enough:

- ``REQUIRE`` (docflow peers, SOAP between docflow nodes: the default): a valid docflow
  XML-DSig, checked strictly by :func:`~docflow.security.verify`.
- ``CHANNEL`` (packets fetched over an authenticated axis or LGSP channel): a packet
  without a verifiable signature is read leniently and accepted under the interop
  :class:`~docflow.envelope.Policy`; its verdict (``unverifiable`` or ``absent``) is kept
  with it. A real XML-DSig is still verified, and an invalid one is always refused.

No I/O: bytes in, a verdict out.
"""

from __future__ import annotations

import datetime as dt
import enum
import hashlib
from dataclasses import dataclass

from docflow.envelope import (
    DEFAULT_POLICY,
    Envelope,
    Finding,
    ParseLimits,
    Policy,
    SignatureForm,
    read_packet,
)
from docflow.errors import EnvelopeError
from docflow.model import OrganCode, StatusInfo
from docflow.security._trust import TrustStore
from docflow.security._verify import verify
from docflow.spool import PacketData, as_bytes

__all__ = ["Received", "TrustPolicy", "Verdict", "check_packet"]

_DEFAULT_LIMITS = ParseLimits()


class Verdict(enum.StrEnum):
    """What the signature of a received packet is worth."""

    VERIFIED = "verified"  #: a docflow XML-DSig that verified (``signer`` says by whom)
    UNVERIFIABLE = "unverifiable"  #: the official library's placeholder block
    ABSENT = "absent"  #: no signature, or an empty element
    INVALID = "invalid"  #: a real XML-DSig that does not verify (never accepted)


class TrustPolicy(enum.StrEnum):
    """What a channel requires of a packet's signature (see the module docstring)."""

    REQUIRE = "require"
    CHANNEL = "channel"


@dataclass(frozen=True)
class Received:
    """A packet a trust policy accepted: the model, its verdict, who signed it (verified
    packets), the findings of a lenient reading, and the identity of its content (the
    signed content's digest when verified, the bytes' SHA-256 otherwise)."""

    packet: Envelope | StatusInfo
    verdict: Verdict
    content_digest: str
    signer: OrganCode | None = None
    findings: tuple[Finding, ...] = ()

    @property
    def envelope(self) -> Envelope:
        """The packet as a document (:class:`~docflow.errors.EnvelopeError` if it is a
        status: outside bytes of the wrong kind, such as a status a platform listed as a
        document)."""
        if not isinstance(self.packet, Envelope):
            raise EnvelopeError("the packet is a status packet, not a document",
                                hint="it came where a document belongs (a platform listed "
                                "it as one)")
        return self.packet

    @property
    def status(self) -> StatusInfo:
        """The packet as a status (:class:`~docflow.errors.EnvelopeError` if it is a
        document)."""
        if not isinstance(self.packet, StatusInfo):
            raise EnvelopeError("the packet is a document, not a status packet",
                                hint="it came where a status belongs (a platform listed it "
                                "as one)")
        return self.packet


def check_packet(data: PacketData, trust: TrustStore, *, now: dt.datetime | None = None,
                 trust_policy: TrustPolicy = TrustPolicy.REQUIRE,
                 policy: Policy = DEFAULT_POLICY,
                 limits: ParseLimits = _DEFAULT_LIMITS) -> Received:
    """Accept a packet under ``trust_policy`` or raise why not.

    ``REQUIRE``: :func:`~docflow.security.verify` (every ``SecurityError`` and
    ``SchemaError`` of it). ``CHANNEL``: hostile input is refused as always; a packet
    carrying an XML-DSig must verify; any other is read leniently and must satisfy
    ``policy`` (:class:`~docflow.errors.PacketRefusedError` otherwise).
    """
    if trust_policy is TrustPolicy.REQUIRE:
        verified = verify(data, trust, now=now, limits=limits, tz=policy.tz)
        return Received(verified.packet, Verdict.VERIFIED, verified.content_digest,
                        verified.signer)
    data = as_bytes(data)  # the lenient reader reads bytes (a spool is read whole)
    reading = read_packet(data, policy=policy, limits=limits)
    if reading.signature == SignatureForm.XMLDSIG:
        verified = verify(data, trust, now=now, limits=limits, tz=policy.tz)
        return Received(verified.packet, Verdict.VERIFIED, verified.content_digest,
                        verified.signer, reading.findings)
    packet = reading.accepted(policy)
    verdict = (Verdict.UNVERIFIABLE if reading.signature == SignatureForm.OFFICIAL
               else Verdict.ABSENT)
    return Received(packet, verdict, hashlib.sha256(data).hexdigest(),
                    findings=reading.findings)
