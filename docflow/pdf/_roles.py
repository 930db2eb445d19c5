"""Who signed: the two roles of Nghị định 30/2020 (the official, a person; the organ,
signed by its văn thư), read from a signer's certificate, and the signature fields
docflow names after them."""

from __future__ import annotations

import enum

from cryptography import x509

from docflow.model import OrganCode
from docflow.security import official_of, organ_of

__all__ = ["ATTACHMENT_FIELD", "OFFICIAL_FIELD", "ORGAN_FIELD", "Role", "role_of"]

#: the signature fields docflow creates (other signers name theirs as they like)
OFFICIAL_FIELD = "ChuKyNguoiCoThamQuyen"
ORGAN_FIELD = "ChuKyCoQuan"
ATTACHMENT_FIELD = "ChuKyCoQuanTepDinhKem"


class Role(enum.StrEnum):
    """A signature's role in a document of the decree."""

    OFFICIAL = "official"  #: the person with the authority to sign (first)
    ORGAN = "organ"  #: the organ, by its văn thư (second; alone on an attachment)
    UNKNOWN = "unknown"  #: the certificate says neither (its place in the order decides)


def role_of(certificate: x509.Certificate) -> tuple[Role, OrganCode | None]:
    """The role a certificate binds its holder to, and the organ: an official's
    (``urn:vn:official:<code>``) or an organ's (``urn:vn:organ:<code>``) subjectAltName;
    :attr:`Role.UNKNOWN` for a certificate that says neither (another CA's)."""
    official = official_of(certificate)
    if official is not None:
        return Role.OFFICIAL, official
    organ = organ_of(certificate)
    if organ is not None:
        return Role.ORGAN, organ
    return Role.UNKNOWN, None
