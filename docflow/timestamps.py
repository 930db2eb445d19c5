"""Time-stamping authorities (RFC 3161): the PAdES-T time-stamp of a PDF signature
(:func:`pdf_timestamper`), and a time-stamp token over any bytes, an audit checkpoint's
signature above all (:func:`stamp_checkpoint`, :func:`check_checkpoint_stamp`): it proves
the checkpoint existed at the authority's time, so no one holding the organ's key later
can sign a backdated one. An adapter (HTTP, with ``requests``); the checks are pyHanko's
validation of the token against a trust list for time-stamping authorities."""

from __future__ import annotations

import asyncio
import dataclasses
import datetime as dt
import hashlib

from asn1crypto import cms
from pyhanko.sign.timestamps import TimeStamper, TimestampRequestError
from pyhanko.sign.timestamps.requests_client import RequestsHTTPTimeStamper
from pyhanko.sign.validation.errors import SignatureValidationError
from pyhanko.sign.validation.generic_cms import validate_tst_signed_data
from pyhanko.sign.validation.status import TimestampSignatureStatus
from pyhanko_certvalidator.errors import PathBuildingError, ValidationError

from docflow.errors import ConfigError, SignatureValueError, TransportError
from docflow.pdf import PdfTrust
from docflow.security import AuditCheckpoint

__all__ = ["check_checkpoint_stamp", "check_token", "pdf_timestamper", "stamp_checkpoint",
           "timestamp_token"]


def pdf_timestamper(url: str, *, timeout: float = 10.0) -> TimeStamper:
    """A time-stamper asking the authority at ``url`` (http or https), each request
    bounded by ``timeout`` seconds."""
    if not url.startswith(("http://", "https://")):
        raise ConfigError(f"{url!r} is not an http(s) URL of a time-stamping authority",
                          hint="e.g. http://127.0.0.1:9876/vn/tsa/tsa")
    return RequestsHTTPTimeStamper(url, timeout=timeout)


def timestamp_token(data: bytes, stamper: TimeStamper) -> bytes:
    """An RFC 3161 time-stamp token (DER) over SHA-256 of ``data``;
    :class:`~docflow.errors.TransportError` when the authority cannot be reached."""
    try:
        token = asyncio.run(stamper.async_timestamp(hashlib.sha256(data).digest(), "sha256"))
    except TimestampRequestError as exc:
        raise TransportError(f"no time-stamp: {exc}",
                             where=str(getattr(stamper, "url", "the authority")),
                             hint="check that the TSA runs and can be reached") from exc
    return bytes(token.dump())


def check_token(token: bytes, data: bytes, trust: PdfTrust, *,
                at: dt.datetime | None = None) -> dt.datetime:
    """Check a token over ``data``: its signature, the authority's chain to ``trust``
    (as of ``at``), and that it names SHA-256 of ``data``; return the authority's time.
    :class:`~docflow.errors.SignatureValueError` naming what failed otherwise."""
    try:
        signed = cms.ContentInfo.load(token)["content"]
        status = TimestampSignatureStatus(**asyncio.run(validate_tst_signed_data(
            signed, trust.context(moment=at),
            lambda algorithm: hashlib.new(algorithm, data).digest())))
    except (ValueError, KeyError, TypeError, SignatureValidationError, ValidationError,
            PathBuildingError) as exc:
        raise SignatureValueError(f"the time-stamp token cannot be checked: {exc}") from exc
    if not status.intact:
        raise SignatureValueError("the time-stamp token is over other bytes")
    if not status.valid:
        raise SignatureValueError("the time-stamp token's signature does not verify")
    if not status.trusted:
        raise SignatureValueError(
            "the time-stamping authority does not chain to the trust list given",
            hint="give the TSA's CA certificates (and their CRLs)")
    return status.timestamp


def stamp_checkpoint(checkpoint: AuditCheckpoint, stamper: TimeStamper) -> AuditCheckpoint:
    """The checkpoint with a time-stamp token over its signature."""
    return dataclasses.replace(checkpoint,
                               timestamp=timestamp_token(checkpoint.signature, stamper))


def check_checkpoint_stamp(checkpoint: AuditCheckpoint, trust: PdfTrust, *,
                           skew: dt.timedelta = dt.timedelta(minutes=5)) -> dt.datetime:
    """Check a checkpoint's time-stamp (over its signature, from an authority ``trust``
    knows, at or after the time the checkpoint claims, less ``skew``); return the
    authority's time. :class:`~docflow.errors.SignatureValueError` otherwise, also
    when the checkpoint carries no time-stamp."""
    where = f"audit checkpoint of {checkpoint.organ} at entry {checkpoint.seq}"
    if checkpoint.timestamp is None:
        raise SignatureValueError("the checkpoint carries no time-stamp", where=where,
                                  hint="`docflow audit checkpoint --tsa URL` adds one")
    try:
        moment = check_token(checkpoint.timestamp, checkpoint.signature, trust)
    except SignatureValueError as exc:
        raise SignatureValueError(exc.message, where=where, hint=exc.hint) from exc
    if moment < checkpoint.at - skew:
        raise SignatureValueError(
            f"the time-stamp ({moment.isoformat()}) is before the time the checkpoint "
            f"claims ({checkpoint.at.isoformat()})", where=where)
    return moment
