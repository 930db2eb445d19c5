"""Hostile PDFs (``pdf_catalogue.py``): each an ``invalid`` verdict with its reason, never
an exception, checked in a process whose address space is capped (a decompression bomb
or a deep tree cannot take the machine); and each through a node's receive path, where
the document is received with the verdict (or, under ``reject``, returned) and the node
goes on serving with its audit chain intact."""

from __future__ import annotations

import datetime as dt
import json
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from docflow.domain import OnInvalid
from docflow.model import Attachment
from docflow.node import Node
from docflow.pdf import PdfPolicy, PdfTrust, sign_official, sign_organ, verify_pdf
from docflow.pdf.samples import sample_pdf
from docflow.samples import PROVINCE, TAM_KY, sample_envelope
from docflow.security import create_crl, issue_official_certificate
from docflow.store import Store, sqlite_url
from docflow.transport import InMemoryTransport
from tests.conftest import NOW, Clock, Pki
from tests.hostile.pdf_catalogue import PDF_CASES, PdfCase

AT = NOW + dt.timedelta(hours=1)
LATER = NOW + dt.timedelta(hours=2)
ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def signed(pki: Pki) -> bytes:
    official = issue_official_certificate(pki.ca, "000.00.00.H41", "Trần Văn Tân", now=NOW)
    return sign_organ(sign_official(sample_pdf(), official, signed_at=AT), pki.province,
                      signed_at=AT)


@pytest.fixture(scope="module")
def trust(pki: Pki) -> PdfTrust:
    return PdfTrust.of([pki.ca.certificate],
                       crls=[create_crl(pki.ca, [], now=NOW - dt.timedelta(days=1))])


@pytest.mark.parametrize("case", PDF_CASES, ids=[case.name for case in PDF_CASES])
def test_each_case_is_an_invalid_verdict_with_its_reason(case: PdfCase, signed: bytes,
                                                         trust: PdfTrust) -> None:
    report = verify_pdf(case.build(signed), trust, at=LATER)
    assert report.verdict.value == "invalid"
    assert any(case.reason in reason for reason in report.reasons()), report.reasons()


def test_the_catalogue_in_a_process_capped_at_1_gib(tmp_path: Path) -> None:
    """The same cases in a child process whose address space is capped at 1 GiB: every
    verdict comes back (a 2 GiB inflation would be a MemoryError, or the kernel's kill).
    The timeout is a guard against a hang, not a timing goal."""
    script = textwrap.dedent("""
        import datetime as dt, json, resource, sys
        resource.setrlimit(resource.RLIMIT_AS, (1 << 30, 1 << 30))
        from docflow.pdf import PdfTrust, sign_official, sign_organ, verify_pdf
        from docflow.pdf.samples import sample_pdf
        from docflow.security import (create_ca, create_crl, issue_certificate,
                                      issue_official_certificate)
        from tests.hostile.pdf_catalogue import PDF_CASES
        now = dt.datetime(2026, 11, 25, 3, 0, tzinfo=dt.UTC)
        ca = create_ca("CA", now=now)
        official = issue_official_certificate(ca, "000.00.00.H41", "A", now=now)
        organ = issue_certificate(ca, "000.00.00.H41", "UBND", now=now)
        at = now + dt.timedelta(hours=1)
        signed = sign_organ(sign_official(sample_pdf(), official, signed_at=at), organ,
                            signed_at=at)
        trust = PdfTrust.of([ca.certificate], crls=[create_crl(ca, [], now=now)])
        verdicts = {case.name: verify_pdf(case.build(signed), trust,
                                          at=now + dt.timedelta(hours=2)).verdict.value
                    for case in PDF_CASES}
        # this process's own peak (ru_maxrss would carry the forking parent's across exec)
        from tests.proc import status
        print(json.dumps({"verdicts": verdicts, "peak_kib": status("VmHWM") // 1024}))
    """)
    result = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True,
                            cwd=ROOT, timeout=300, check=False)
    assert result.returncode == 0, (result.returncode, result.stdout[-500:],
                                    result.stderr[-2000:])
    found = json.loads(result.stdout.strip().splitlines()[-1])
    assert found["verdicts"] == {case.name: "invalid" for case in PDF_CASES}
    assert found["peak_kib"] < 600 * 1024  # far below the 2 GiB a bomb inflates to


@pytest.mark.parametrize("policy", [OnInvalid.RECORD, OnInvalid.REJECT])
def test_every_case_through_the_receive_path(pki: Pki, tmp_path: Path, signed: bytes,
                                             trust: PdfTrust, policy: OnInvalid) -> None:
    clock = Clock(LATER)
    transport = InMemoryTransport()
    nodes = []
    for organ, credentials in ((PROVINCE, pki.province), (TAM_KY, pki.district)):
        node = Node(organ, credentials, pki.trust,
                    Store.open(sqlite_url(tmp_path / f"{organ.code}.db"), clock=clock),
                    transport, clock=clock, pdf=PdfPolicy(trust, policy))
        transport.register(organ.code, node)
        nodes.append(node)
    province, district = nodes
    try:
        for number, case in enumerate(PDF_CASES, start=5000):
            info = sample_envelope(number=str(number)).info
            province.send(info, (Attachment(f"{number}.pdf", case.build(signed),
                                            "application/pdf"),))
        report = province.deliver()
        assert (report.delivered, report.failed) == (len(PDF_CASES), 0), report.errors
        documents = district.inbox(page_size=100).items
        assert {d.pdf for d in documents} == {"invalid"}
        expected = "rejected" if policy is OnInvalid.REJECT else "received"
        assert {d.state for d in documents} == {expected}
        # the node goes on: a validly signed PDF is received as valid afterwards
        good = sample_envelope(number="6000").info
        province.send(good, (Attachment("6000.pdf", signed, "application/pdf"),))
        province.deliver()
        (last,) = [d for d in district.inbox(page_size=100).items if d.code.startswith("6000")]
        assert (last.pdf, last.state) == ("valid", "received")
        assert district.store.audit.verify().ok and province.store.audit.verify().ok
    finally:
        for node in nodes:
            node.close()


def test_security_md_lists_the_pdf_cases() -> None:
    text = (ROOT / "SECURITY.md").read_text(encoding="utf-8")
    for case in PDF_CASES:
        assert f"| {case.name} |" in text, case.name
