"""Reading a PDF's signatures: the file opened with bounded decoding (a hostile PDF is a
clear :class:`~docflow.errors.PdfError`, never a crash), and each signature found with
its role, organ, page and box, in file order."""

from __future__ import annotations

import io
from dataclasses import dataclass

from cryptography import x509
from pyhanko.pdf_utils.decode_limits import DecodeLimits
from pyhanko.pdf_utils.generic import ArrayObject, IndirectObject
from pyhanko.pdf_utils.misc import PdfError as PyHankoPdfError
from pyhanko.pdf_utils.reader import PdfFileReader
from pyhanko.sign.diff_analysis import ModificationLevel
from pyhanko.sign.validation.generic_cms import validate_sig_integrity
from pyhanko.sign.validation.pdf_embedded import EmbeddedPdfSignature

from docflow.errors import PdfError
from docflow.model import OrganCode
from docflow.pdf._roles import Role, role_of

__all__ = ["MAX_PDF_BYTES", "Box", "Found", "Pdf", "read_pdf", "signatures_of"]

#: a box on a page: (x1, y1, x2, y2) in points from the bottom left
Box = tuple[int, int, int, int]
#: the largest PDF docflow reads (the axis carries packets up to 50 MB)
MAX_PDF_BYTES = 64 * 1024 * 1024
# Bounds on what streams may decode to: a decompression bomb stops here.
_LIMITS = DecodeLimits()  # pyHanko's defaults bound each stream and the whole document


@dataclass(frozen=True)
class Pdf:
    """A PDF opened for reading (pyHanko's reader, lazily resolving objects)."""

    reader: PdfFileReader
    size: int

    def page_size(self, index: int) -> tuple[float, float]:
        """The width and height of a page (its media box), in points."""
        try:
            page_ref, _ = self.reader.find_page_for_modification(index)
            page = page_ref.get_object() if isinstance(page_ref, IndirectObject) else page_ref
            x1, y1, x2, y2 = (float(v) for v in page["/MediaBox"])
        except (PyHankoPdfError, KeyError, IndexError, TypeError, ValueError) as exc:
            raise PdfError(f"page {index + 1} has no readable size: {exc}") from exc
        return x2 - x1, y2 - y1

    def page_index(self, page: object) -> int:
        """The index of a page object (-1 when it is not in the page tree)."""
        try:
            count = int(self.reader.root["/Pages"]["/Count"])
            for index in range(min(count, 10_000)):
                ref, _ = self.reader.find_page_for_modification(index)
                if ref == page or (isinstance(ref, IndirectObject) and ref.get_object() is page):
                    return index
        except (PyHankoPdfError, KeyError, IndexError, TypeError, ValueError):
            return -1
        return -1


@dataclass(frozen=True)
class Found:
    """One signature of a PDF, in file order: pyHanko's embedded signature, the role and
    organ its certificate names, its field, page and box, and whether it is a document
    time-stamp (which never counts as one of the decree's two signatures)."""

    embedded: EmbeddedPdfSignature
    role: Role
    organ: OrganCode | None
    field: str
    box: Box
    document_timestamp: bool
    pdf: Pdf

    @property
    def page(self) -> int:
        """The index of the page its widget is on (-1: none, or not in the page tree)."""
        field = self.embedded.sig_field
        return self.pdf.page_index(field.raw_get("/P")) if "/P" in field else -1

    def intact(self) -> bool:
        """Whether the signed bytes still hash to what was signed, the signature value
        verifies with its certificate's key, and what came after only added signatures
        or form fills (no trust decided: :func:`docflow.pdf.verify_pdf` does that)."""
        embedded = self.embedded
        try:
            embedded.compute_integrity_info()
            intact, valid = validate_sig_integrity(
                embedded.signer_info, embedded.signer_cert, "data", embedded.compute_digest())
            summary = embedded.summarise_integrity_info()
        except (PyHankoPdfError, ValueError, KeyError, TypeError):
            return False
        diff = summary.get("diff_result")
        level = getattr(diff, "modification_level", None)
        return bool(intact and valid and summary.get("docmdp_ok", False)) and (
            level is None or level <= ModificationLevel.FORM_FILLING)


def read_pdf(data: bytes) -> Pdf:
    """Open a PDF (``PdfError`` when it is none, or too large, or encrypted)."""
    if len(data) > MAX_PDF_BYTES:
        raise PdfError(f"the PDF is {len(data)} bytes, more than the {MAX_PDF_BYTES} read",
                       hint="a document larger than the axis carries is not read")
    if b"%PDF-" not in data[:1024]:  # the header may follow a little junk, as readers allow
        raise PdfError("not a PDF: no %PDF- header in its first 1024 bytes")
    try:
        reader = PdfFileReader(io.BytesIO(data), strict=False, decode_limits=_LIMITS)
        if reader.encrypted:
            raise PdfError("the PDF is encrypted", hint="signed documents are not encrypted")
        reader.root  # noqa: B018 - resolves the trailer and the catalog now
    except PdfError:
        raise
    except (PyHankoPdfError, ValueError, KeyError, TypeError, IndexError, RecursionError,
            OverflowError, MemoryError) as exc:
        raise PdfError(f"the PDF cannot be read: {exc.__class__.__name__}: {exc}",
                       hint="a truncated or damaged file; ask the sender for it again") from exc
    return Pdf(reader, len(data))


def signatures_of(pdf: Pdf) -> list[Found]:
    """Every signature of the PDF, in file order, with what its certificate says."""
    try:
        embedded = list(pdf.reader.embedded_signatures)
    except (PyHankoPdfError, ValueError, KeyError, TypeError, IndexError,
            RecursionError) as exc:
        raise PdfError(f"the PDF's signatures cannot be read: {exc}",
                       hint="a damaged file; ask the sender for it again") from exc
    found = []
    for signature in embedded:
        timestamp = signature.sig_object_type == "/DocTimeStamp"
        try:
            role, organ = (Role.UNKNOWN, None) if timestamp else role_of(_certificate(signature))
        except (ValueError, TypeError, KeyError) as exc:
            raise PdfError(f"signature {signature.field_name!r} carries no readable "
                           f"certificate: {exc}") from exc
        box = _box(signature.sig_field.get("/Rect"))
        found.append(Found(signature, role, organ, str(signature.field_name), box, timestamp,
                           pdf))
    return found


def _certificate(signature: EmbeddedPdfSignature) -> x509.Certificate:
    return x509.load_der_x509_certificate(signature.signer_cert.dump())


def _box(rect: object) -> Box:
    if not isinstance(rect, ArrayObject | list) or len(rect) != 4:
        return (0, 0, 0, 0)
    try:
        x1, y1, x2, y2 = (round(float(v)) for v in rect)
    except (TypeError, ValueError):
        return (0, 0, 0, 0)
    return (min(x1, x2), min(y1, y2), max(x1, x2), max(y1, y2))

