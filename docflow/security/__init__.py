"""Keys, certificates, trust and XML-DSig for edXML packets.

>>> import datetime as dt
>>> from docflow.envelope import build_envelope
>>> from docflow.samples import sample_envelope
>>> now = dt.datetime(2026, 1, 1, tzinfo=dt.UTC)
>>> ca = create_ca("Quảng Nam CA", now=now, key_type=KeyType.ECDSA_P256)
>>> province = issue_certificate(ca, "000.00.00.H41", "UBND tỉnh Quảng Nam", now=now,
...                              key_type=KeyType.ECDSA_P256)
>>> signed = sign(build_envelope(sample_envelope()), province)
>>> verify(signed, TrustStore([ca.certificate]), now=now).envelope.info.code
'4512/QĐ-UBND'

Core module: no I/O except reading and writing PEM files when asked; ``now`` comes from
the caller or the trust store's clock.
"""

from docflow.security._checkpoint import AuditCheckpoint, sign_checkpoint, verify_checkpoint
from docflow.security._dsig import sign, sign_envelope, sign_envelope_spooled, sign_hop, sign_status
from docflow.security._layout import SIGNED_INFO_ID
from docflow.security._pki import (
    OFFICIAL_URI_PREFIX,
    ORGAN_DOMAIN,
    ORGAN_URI_PREFIX,
    Credentials,
    KeyType,
    PrivateKey,
    create_ca,
    create_crl,
    issue_certificate,
    issue_official_certificate,
    key_is_encrypted,
    load_certificates,
    load_crls,
    official_of,
    organ_domain,
    organ_of,
    organ_subtrees,
    subtree_pattern,
)
from docflow.security._token import (
    DEFAULT_SKEW,
    NonceCache,
    RequestToken,
    sign_request,
    verify_request,
)
from docflow.security._trust import CONSTRAINTS_FILE, CaScope, TrustStore
from docflow.security._verdict import Received, TrustPolicy, Verdict, check_packet
from docflow.security._verify import Verified, VerifiedHop, signed_content_digest, verify

__all__ = [
    "CONSTRAINTS_FILE",
    "DEFAULT_SKEW",
    "OFFICIAL_URI_PREFIX",
    "ORGAN_DOMAIN",
    "ORGAN_URI_PREFIX",
    "SIGNED_INFO_ID",
    "AuditCheckpoint",
    "CaScope",
    "Credentials",
    "KeyType",
    "NonceCache",
    "PrivateKey",
    "Received",
    "RequestToken",
    "TrustPolicy",
    "TrustStore",
    "Verdict",
    "Verified",
    "VerifiedHop",
    "check_packet",
    "create_ca",
    "create_crl",
    "issue_certificate",
    "issue_official_certificate",
    "key_is_encrypted",
    "load_certificates",
    "load_crls",
    "official_of",
    "organ_domain",
    "organ_of",
    "organ_subtrees",
    "sign",
    "sign_checkpoint",
    "sign_envelope",
    "sign_envelope_spooled",
    "sign_hop",
    "sign_request",
    "sign_status",
    "signed_content_digest",
    "subtree_pattern",
    "verify",
    "verify_checkpoint",
    "verify_request",
]
