"""Signing a PDF as Nghị định 30/2020 asks (Art. 5, 32.2.c-d; Phụ lục I): the official
signs first (:func:`sign_official`, the signature image), then the organ's văn thư signs
only a document its official validly signed (:func:`sign_organ`, the seal over the left
third of the official's image), each in its own incremental revision; an attachment or
appendix in a separate file gets the organ's signature alone at the top right of page 1,
without an image, printing the number and notation and the signing time in ISO 8601
Vietnam time (:func:`sign_attachment`). PAdES baseline (B-B; B-T with a time-stamping
authority's ``timestamper``), on pyHanko.
"""

from __future__ import annotations

import datetime as dt
import io
from collections.abc import Sequence

from asn1crypto import keys as asn1_keys
from asn1crypto import x509 as asn1_x509
from cryptography import x509
from cryptography.hazmat.primitives.serialization import (
    Encoding,
    NoEncryption,
    PrivateFormat,
)
from PIL import Image, UnidentifiedImageError
from pyhanko.pdf_utils import layout
from pyhanko.pdf_utils.images import PdfImage
from pyhanko.pdf_utils.incremental_writer import IncrementalPdfFileWriter
from pyhanko.pdf_utils.misc import PdfError as PyHankoPdfError
from pyhanko.pdf_utils.text import TextBoxStyle
from pyhanko.pdf_utils.writer import BasePdfFileWriter
from pyhanko.sign import fields, signers
from pyhanko.sign.general import SigningError
from pyhanko.sign.signers.pdf_signer import PdfSigningSession
from pyhanko.sign.timestamps import TimeStamper, TimestampRequestError
from pyhanko.stamp import StaticStampStyle, TextStampStyle
from pyhanko_certvalidator.registry import SimpleCertificateStore

from docflow.errors import CredentialsError, PdfError, TransportError
from docflow.model import DEFAULT_TZ
from docflow.pdf._font import stamp_font
from docflow.pdf._read import Box, read_pdf, signatures_of
from docflow.pdf._roles import ATTACHMENT_FIELD, OFFICIAL_FIELD, ORGAN_FIELD, Role, role_of
from docflow.pdf._trust import PdfTrust
from docflow.pdf._verify import verify_pdf
from docflow.security import Credentials

__all__ = ["DEFAULT_OFFICIAL_BOX", "seal_box", "sign_attachment", "sign_official",
           "sign_organ"]

#: Where the official's signature image goes by default, on the last page (points from
#: the bottom left): the right half, above the footer, as templates place "người ký".
DEFAULT_OFFICIAL_BOX: Box = (350, 60, 500, 120)
_ATTACHMENT_SIZE = (200, 55)  # the attachment stamp's width and height, in points


def seal_box(official: Box) -> Box:
    """The organ's seal over the left third of the official's image (Phụ lục I): a
    square two thirds of the image's width, centred on its left edge's height."""
    x1, y1, x2, y2 = official
    third = (x2 - x1) / 3
    middle = (y1 + y2) / 2
    return (round(x1 - third), round(middle - third), round(x1 + third), round(middle + third))


class _FixedTimeSigner(signers.PdfSigner):
    """A signer whose session carries one moment: the CMS signing time and the time a
    stamp prints are the same instant (pyHanko takes two clock readings otherwise, in
    the server's zone)."""

    def __init__(self, *args: object, signing_time: dt.datetime, **kwargs: object) -> None:
        super().__init__(*args, **kwargs)  # type: ignore[arg-type]
        self._signing_time = signing_time

    def init_signing_session(self, pdf_out: BasePdfFileWriter,
                             existing_fields_only: bool = False) -> PdfSigningSession:
        session = super().init_signing_session(pdf_out, existing_fields_only)
        session.system_time = self._signing_time
        return session


def _signer(credentials: Credentials, chain: Sequence[x509.Certificate]
            ) -> signers.SimpleSigner:
    key = credentials.signing_key()
    der = key.private_bytes(Encoding.DER, PrivateFormat.PKCS8, NoEncryption())
    certificate = asn1_x509.Certificate.load(credentials.certificate.public_bytes(Encoding.DER))
    others = [asn1_x509.Certificate.load(c.public_bytes(Encoding.DER)) for c in chain]
    return signers.SimpleSigner(signing_cert=certificate,
                                signing_key=asn1_keys.PrivateKeyInfo.load(der),
                                cert_registry=SimpleCertificateStore.from_certs(others))


def _image(png: bytes, what: str) -> PdfImage:
    try:
        picture = Image.open(io.BytesIO(png))
        picture.load()
    except (UnidentifiedImageError, OSError, ValueError) as exc:
        raise PdfError(f"the {what} is not an image: {exc}",
                       hint="give a PNG (a transparent background keeps the page visible)"
                       ) from exc
    return PdfImage(picture)


def _moment(signed_at: dt.datetime | None) -> dt.datetime:
    moment = signed_at if signed_at is not None else dt.datetime.now(DEFAULT_TZ)
    if moment.tzinfo is None:
        raise PdfError("the signing time needs a time zone",
                       hint="pass an aware datetime (Vietnam time: UTC+07:00)")
    return moment.astimezone(DEFAULT_TZ).replace(microsecond=0)


def _sign(pdf: bytes, credentials: Credentials, *, field: str, page: int, box: Box,
          style: StaticStampStyle | TextStampStyle | None, reason: str,
          signed_at: dt.datetime | None, timestamper: TimeStamper | None,
          chain: Sequence[x509.Certificate],
          text: dict[str, str] | None = None) -> bytes:
    moment = _moment(signed_at)
    meta = signers.PdfSignatureMetadata(
        field_name=field, md_algorithm="sha256", subfilter=fields.SigSeedSubFilter.PADES,
        reason=reason, name=credentials.certificate.subject.rfc4514_string())
    signer = _FixedTimeSigner(meta, _signer(credentials, chain), timestamper=timestamper,
                              stamp_style=style, signing_time=moment,
                              new_field_spec=fields.SigFieldSpec(field, on_page=page,
                                                                 box=box))
    try:
        writer = IncrementalPdfFileWriter(io.BytesIO(pdf), strict=False)
        out = signer.sign_pdf(writer, appearance_text_params=text)
    except TimestampRequestError as exc:
        where = str(getattr(timestamper, "url", "the time-stamping authority"))
        raise TransportError(f"no time-stamp: {exc}", where=where,
                             hint="check that the TSA runs and can be reached; nothing "
                                  "was signed") from exc
    except (PyHankoPdfError, SigningError, ValueError, KeyError, IndexError) as exc:
        raise PdfError(f"cannot sign the PDF: {exc}", where=field,
                       hint="is it a PDF? (an encrypted or broken file cannot be signed)"
                       ) from exc
    return bytes(out.getbuffer())


def sign_official(pdf: bytes, credentials: Credentials, *, image: bytes | None = None,
                  box: Box = DEFAULT_OFFICIAL_BOX, page: int = -1,
                  signed_at: dt.datetime | None = None, timestamper: TimeStamper | None = None,
                  chain: Sequence[x509.Certificate] = (),
                  reason: str = "Ký ban hành") -> bytes:
    """The official's signature (the first of the two): ``credentials`` an official's
    (:func:`docflow.security.issue_official_certificate`), ``image`` the signature's
    picture (PNG) in ``box`` on ``page`` (the last by default); a new revision of
    ``pdf``. ``chain``: the CA certificates to embed; ``timestamper`` makes it PAdES-T.

    Refused (:class:`~docflow.errors.PdfError`) on a PDF that holds a signature of the
    decree already: the official signs first."""
    if role_of(credentials.certificate)[0] is not Role.OFFICIAL:
        raise CredentialsError(
            "this certificate is not an official's: the official's signature is a person's",
            where=credentials.certificate.subject.rfc4514_string(),
            hint="`docflow pki issue --person NAME --organ CODE` issues one")
    existing = [s for s in signatures_of(read_pdf(pdf)) if not s.document_timestamp]
    if existing:
        raise PdfError(f"the PDF is signed already ({len(existing)} signature(s)): the "
                       "official signs first", hint="sign the unsigned PDF")
    style = None if image is None else StaticStampStyle(
        background=_image(image, "signature image"), border_width=0, background_opacity=1.0,
        background_layout=layout.SimpleBoxLayoutRule(
            x_align=layout.AxisAlignment.ALIGN_MID, y_align=layout.AxisAlignment.ALIGN_MID,
            margins=layout.Margins.uniform(0)))
    return _sign(pdf, credentials, field=OFFICIAL_FIELD, page=page, box=box, style=style,
                 reason=reason, signed_at=signed_at, timestamper=timestamper, chain=chain)


def sign_organ(pdf: bytes, credentials: Credentials, *, seal: bytes | None = None,
               box: Box | None = None, trust: PdfTrust | None = None,
               signed_at: dt.datetime | None = None, timestamper: TimeStamper | None = None,
               chain: Sequence[x509.Certificate] = (),
               reason: str = "Văn thư cơ quan ký số") -> bytes:
    """The organ's signature (the second), by its văn thư: ``credentials`` the organ's,
    ``seal`` its seal's picture (PNG) over the left third of the official's image
    (:func:`seal_box` of the official's box unless ``box`` is given), on the official's
    page; a new revision of ``pdf``.

    Refused (:class:`~docflow.errors.PdfError`) unless the PDF holds exactly one
    signature, the official's, and it is valid: intact and unmodified since (and, with
    ``trust``, chained to the PDF trust list and not revoked: what
    :func:`docflow.pdf.verify_pdf` checks, at ``signed_at``)."""
    if role_of(credentials.certificate)[0] is not Role.ORGAN:
        raise CredentialsError("this certificate is not an organ's",
                               where=credentials.certificate.subject.rfc4514_string(),
                               hint="the văn thư signs with the organ's certificate")
    reader = read_pdf(pdf)
    found = [s for s in signatures_of(reader) if not s.document_timestamp]
    if len(found) != 1 or found[0].role is not Role.OFFICIAL:
        raise PdfError("the organ signs a document its official signed, and only that: "
                       f"found {len(found)} signature(s)"
                       + (f" ({', '.join(s.role.value for s in found)})" if found else ""),
                       hint="have the official sign first (`docflow pdf sign --as official`)")
    report = verify_pdf(pdf, trust, at=_moment(signed_at)) if trust is not None else None
    official = report.signatures[0] if report is not None else None
    if official is not None and official.problems:
        raise PdfError("the official's signature is not valid: " + "; ".join(
            official.problems), hint="the văn thư signs only a validly signed document")
    if report is None and not found[0].intact():
        raise PdfError("the official's signature does not cover the PDF as it is: it "
                       "changed after signing", hint="ask for the signed original")
    return _sign(pdf, credentials, field=ORGAN_FIELD, page=found[0].page,
                 box=box if box is not None else seal_box(found[0].box),
                 style=None if seal is None else StaticStampStyle(
                     background=_image(seal, "seal image"), border_width=0,
                     background_opacity=1.0),
                 reason=reason, signed_at=signed_at, timestamper=timestamper, chain=chain)


def sign_attachment(pdf: bytes, credentials: Credentials, *, number: str, notation: str,
                    organ_name: str | None = None, signed_at: dt.datetime | None = None,
                    timestamper: TimeStamper | None = None,
                    chain: Sequence[x509.Certificate] = (),
                    reason: str = "Văn thư cơ quan ký số") -> bytes:
    """The organ's signature on an attachment or appendix in a separate file: top right
    of page 1, no image, printing the organ (``organ_name``, else the certificate's
    name), ``number/notation`` and the signing time in ISO 8601 Vietnam time (the same
    instant as the CMS signing time)."""
    if role_of(credentials.certificate)[0] is not Role.ORGAN:
        raise CredentialsError("this certificate is not an organ's",
                               where=credentials.certificate.subject.rfc4514_string(),
                               hint="attachments are signed with the organ's certificate")
    moment = _moment(signed_at)
    width, height = read_pdf(pdf).page_size(0)
    box = (round(width) - 15 - _ATTACHMENT_SIZE[0], round(height) - 20 - _ATTACHMENT_SIZE[1],
           round(width) - 15, round(height) - 20)
    name = organ_name or _common_name(credentials.certificate)
    style = TextStampStyle(stamp_text="%(organ)s\nSố: %(code)s\nThời gian ký: %(at)s",
                           text_box_style=TextBoxStyle(font=stamp_font(7), font_size=7),
                           border_width=1)
    return _sign(pdf, credentials, field=ATTACHMENT_FIELD, page=0, box=box, style=style,
                 reason=reason, signed_at=moment, timestamper=timestamper, chain=chain,
                 text={"organ": name, "code": f"{number}/{notation}",
                       "at": moment.isoformat()})


def _common_name(certificate: x509.Certificate) -> str:
    names = certificate.subject.get_attributes_for_oid(x509.NameOID.COMMON_NAME)
    return str(names[0].value) if names else certificate.subject.rfc4514_string()
