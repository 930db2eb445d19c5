"""``docflow pdf sign|verify``: the official's and the organ's PAdES signatures on a PDF,
and a receiver's check of them (Nghị định 30/2020)."""

from __future__ import annotations

import datetime as dt
import os
from pathlib import Path
from typing import Any

import click

from docflow.cli._app import cli
from docflow.cli._output import ExistingPath, emit, fail, json_option, say
from docflow.errors import ConfigError, DocflowError


@cli.group()
def pdf() -> None:
    """Signed PDFs: sign as the official, the organ or on an attachment; verify."""


@pdf.command("sample")
@click.option("-o", "--output", "output", type=click.Path(dir_okay=False, path_type=Path),
              required=True, help="Where the sample decision's PDF goes.")
@click.option("--images", type=click.Path(file_okay=False, path_type=Path),
              help="Also write a sample signature (chu-ky.png) and seal (con-dau.png) here.")
def pdf_sample(output: Path, images: Path | None) -> None:
    """Write a sample decision as an unsigned PDF (and sample pictures) to try signing."""
    from docflow.pdf.samples import sample_pdf, sample_seal_png, sample_signature_png

    output.write_bytes(sample_pdf())
    say(f"wrote {output}")
    if images is not None:
        images.mkdir(parents=True, exist_ok=True)
        (images / "chu-ky.png").write_bytes(sample_signature_png())
        (images / "con-dau.png").write_bytes(sample_seal_png())
        say(f"wrote {images / 'chu-ky.png'} and {images / 'con-dau.png'}")


@pdf.command("sign")  # not a state: the command's name
@click.argument("source", type=ExistingPath(dir_okay=False))
@click.option("-o", "--output", "output", type=click.Path(dir_okay=False, path_type=Path),
              required=True, help="Where the signed PDF goes (never over SOURCE).")
@click.option("--as", "role", type=click.Choice(["official", "organ", "attachment"]),
              required=True, help="Sign as the official (first), the organ (second, by its "
                                  "văn thư), or the organ on an attachment file.")
@click.option("--key", type=ExistingPath(dir_okay=False), required=True,
              help="The signer's private key (PEM; an encrypted one reads "
                   "$DOCFLOW_KEY_PASSPHRASE).")
@click.option("--cert", type=ExistingPath(dir_okay=False), required=True,
              help="The signer's certificate (PEM).")
@click.option("--image", type=ExistingPath(dir_okay=False),
              help="The signature's picture (official) or the seal's (organ), PNG.")
@click.option("--number", help="The document's number (số), for --as attachment.")
@click.option("--notation", help="The document's notation (ký hiệu), for --as attachment.")
@click.option("--trust", type=ExistingPath(),
              help="For --as organ: check the official's signature against these CA "
                   "certificates (file or folder) before signing.")
@click.option("--crls", type=ExistingPath(), help="CRLs (PEM or DER) for --trust.")
@click.option("--tsa", metavar="URL", help="A time-stamping authority (RFC 3161): PAdES-T.")
def pdf_sign(source: Path, output: Path, role: str, key: Path, cert: Path,
             image: Path | None, number: str | None, notation: str | None,
             trust: Path | None, crls: Path | None, tsa: str | None) -> None:
    """Sign SOURCE into OUTPUT as a new revision: the official first, the organ only
    over a valid official signature, an attachment with its number/notation stamped at
    the top right of page 1."""
    from docflow.pdf import PdfTrust, sign_attachment, sign_official, sign_organ
    from docflow.security import Credentials
    from docflow.timestamps import pdf_timestamper

    if output.resolve() == source.resolve():
        raise click.BadParameter("the signed PDF is a new file: choose another OUTPUT",
                                 param_hint="--output")
    if role == "attachment" and not (number and notation):
        raise click.BadParameter("an attachment's stamp prints the document's number and "
                                 "notation: give both", param_hint="--number/--notation")
    try:
        credentials = Credentials.load(key, cert,
                                       passphrase=os.environ.get("DOCFLOW_KEY_PASSPHRASE"))
        data = source.read_bytes()
        picture = image.read_bytes() if image is not None else None
        stamper = pdf_timestamper(tsa) if tsa else None
        if role == "official":
            signed = sign_official(data, credentials, image=picture, timestamper=stamper)
        elif role == "organ":
            checked = PdfTrust.load(trust, crls=crls) if trust is not None else None
            signed = sign_organ(data, credentials, seal=picture, trust=checked,
                                timestamper=stamper)
        else:
            signed = sign_attachment(data, credentials, number=str(number),
                                     notation=str(notation), timestamper=stamper)
    except DocflowError as exc:
        fail(exc)
    except OSError as exc:
        fail(ConfigError(f"cannot read: {exc}", where=str(source)))
    output.write_bytes(signed)
    say(f"signed as the {role}: {output} ({len(signed)} bytes)")


@pdf.command("verify")
@click.argument("file", type=ExistingPath(dir_okay=False))
@click.option("--trust", type=ExistingPath(), required=True,
              help="The PDF trust list: CA certificates (PEM or DER), a file or a folder.")
@click.option("--crls", type=ExistingPath(),
              help="CRLs (PEM or DER), a file or a folder.")
@click.option("--at", "at", metavar="TIME",
              help="Check as of this moment (ISO 8601, e.g. 2026-12-01T09:00:00+07:00); "
                   "default now.")
@click.option("--revocation", type=click.Choice(["require", "hard-fail", "soft-fail"]),
              default="require", show_default=True,
              help="require: every certificate below a root needs revocation information.")
@click.option("--fetch", is_flag=True,
              help="Fetch the CRLs and OCSP answers the certificates name.")
@click.option("--signer", metavar="NAME",
              help="The name the official's certificate must carry (the packet's "
                   "SignerInfo).")
@json_option
def pdf_verify(file: Path, trust: Path, crls: Path | None, at: str | None, revocation: str,
               fetch: bool, signer: str | None, as_json: bool) -> None:
    """Check every signature of FILE (integrity, chain, revocation, time-stamp, later
    changes, role, organ) and print the verdict: exit 0 when valid, 1 otherwise."""
    from docflow.model import Signer
    from docflow.pdf import PdfTrust, verify_pdf

    moment = _moment(at)
    try:
        checked = PdfTrust.load(trust, crls=crls, revocation=revocation, fetch=fetch)
        report = verify_pdf(file.read_bytes(), checked, at=moment,
                            signer=Signer(signer) if signer else None)
    except DocflowError as exc:
        fail(exc)

    def text() -> None:
        say(f"{file.name}: {report.verdict.value}")
        for problem in report.problems:
            say(f"  {problem}")
        for number, check in enumerate(report.signatures, start=1):
            marks = ", ".join(part for part in (
                "intact" if check.intact else "NOT intact",
                "trusted" if check.trusted else "NOT trusted",
                "REVOKED" if check.revoked else "", f"later changes: {check.modification}")
                if part)
            when = check.signed_at.isoformat() if check.signed_at else "?"
            say(f"  {number}. {check.role.value} ({check.role_by}): {check.signer}"
                f"{' for ' + check.organ if check.organ else ''}, signed {when}; {marks}")
            if check.timestamp is not None:
                say(f"     time-stamped {check.timestamp.isoformat()}")
            for problem in check.problems:
                say(f"     - {problem}")

    data: dict[str, Any] = report.as_dict()
    emit(data, as_json, text)
    raise SystemExit(0 if report.valid else 1)


def _moment(at: str | None) -> dt.datetime | None:
    if at is None:
        return None
    try:
        moment = dt.datetime.fromisoformat(at)
    except ValueError as exc:
        raise click.BadParameter(f"{at!r} is not an ISO 8601 time", param_hint="--at") from exc
    if moment.tzinfo is None:
        raise click.BadParameter("give the time zone (e.g. +07:00)", param_hint="--at")
    return moment
