"""Signed PDFs checked on receipt (Nghị định 30, Art. 21.2), on SQLite and in memory: a
document whose decision PDF carries the official's and the organ's valid signatures is
marked valid; a changed byte is recorded invalid with its reason; under ``on_invalid =
"reject"`` the document goes back at once as status 02 naming the attachment, and the
sender's copy reads rejected with that reason; without a trust list, unchecked."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import pytest

from docflow.domain import OnInvalid
from docflow.model import Attachment
from docflow.node import Node
from docflow.pdf import PdfPolicy, PdfTrust, sign_official, sign_organ
from docflow.pdf.samples import sample_pdf
from docflow.samples import PROVINCE, TAM_KY, sample_envelope
from docflow.security import create_crl, issue_official_certificate
from docflow.store import Store, sqlite_url
from docflow.store.memory import MemoryStore
from docflow.store.protocols import NodeStore
from docflow.transport import InMemoryTransport
from tests.conftest import NOW, Clock, Pki

LATER = NOW + dt.timedelta(hours=2)


@pytest.fixture(scope="module")
def signed_pdf(pki: Pki) -> bytes:
    # the sample packets' SignerInfo names Trần Văn Tân (KT. Chủ tịch)
    official = issue_official_certificate(pki.ca, "000.00.00.H41", "Trần Văn Tân", now=NOW)
    at = NOW + dt.timedelta(hours=1)
    return sign_organ(sign_official(sample_pdf(), official, signed_at=at), pki.province,
                      signed_at=at)


def network(pki: Pki, tmp_path: Path, kind: str, policy: PdfPolicy
            ) -> tuple[Node, Node, list[NodeStore]]:
    clock = Clock(LATER)
    transport = InMemoryTransport()
    nodes, stores = [], []
    for organ, credentials in ((PROVINCE, pki.province), (TAM_KY, pki.district)):
        store: NodeStore = Store.open(sqlite_url(tmp_path / f"{organ.code}.db"), clock=clock) \
            if kind == "sqlite" else MemoryStore(clock=clock)
        node = Node(organ, credentials, pki.trust, store, transport, clock=clock,
                    pdf=policy if organ is TAM_KY else None)
        transport.register(organ.code, node)
        nodes.append(node)
        stores.append(store)
    return nodes[0], nodes[1], stores


@pytest.fixture(params=["sqlite", "memory"])
def kind(request: pytest.FixtureRequest) -> str:
    return str(request.param)


def trust_of(pki: Pki) -> PdfTrust:
    return PdfTrust.of([pki.ca.certificate],
                       crls=[create_crl(pki.ca, [], now=NOW - dt.timedelta(days=1))])


def send(province: Node, pdf: bytes, number: str) -> int:
    info = sample_envelope(number=number).info
    attachments = (Attachment(f"qd-{number}.pdf", pdf, "application/pdf"),
                   Attachment("ghi-chu.txt", b"not a PDF", "text/plain"))
    return province.send(info, attachments).document_ref


def test_a_valid_pdf_is_marked_and_a_changed_one_recorded_with_its_reason(
        pki: Pki, tmp_path: Path, signed_pdf: bytes, kind: str) -> None:
    province, district, stores = network(pki, tmp_path, kind, PdfPolicy(trust_of(pki)))
    send(province, signed_pdf, "4512")
    marker = signed_pdf.index(b"/Body Do")
    send(province, signed_pdf[:marker] + b"/Bodz Do" + signed_pdf[marker + 8:], "4513")
    assert province.deliver().delivered == 2
    good, bad = sorted(district.inbox().items, key=lambda d: d.id)
    assert (good.pdf, good.state) == ("valid", "received")
    assert (bad.pdf, bad.state) == ("invalid", "received")  # recorded, not returned
    pdf, text = district.store.queries.attachments(bad.id)
    assert (pdf.name, pdf.pdf_verdict, text.pdf_verdict) == ("qd-4513.pdf", "invalid", None)
    assert pdf.pdf_report is not None and pdf.pdf_report["verdict"] == "invalid"
    assert any("integrity" in p for s in pdf.pdf_report["signatures"] for p in s["problems"])
    assert district.store.audit.verify().ok
    for store in stores:
        store.close()


def test_under_reject_an_invalid_pdf_goes_back_as_02_naming_it(
        pki: Pki, tmp_path: Path, signed_pdf: bytes, kind: str) -> None:
    province, district, stores = network(pki, tmp_path, kind,
                                         PdfPolicy(trust_of(pki), OnInvalid.REJECT))
    ref = send(province, sample_pdf(), "4600")  # unsigned: invalid
    kept = send(province, signed_pdf, "4601")
    assert province.deliver().delivered == 2
    returned, received = sorted(district.inbox().items, key=lambda d: d.id)
    assert (returned.state, returned.pdf) == ("rejected", "invalid")
    assert (received.state, received.pdf) == ("received", "valid")
    assert district.deliver().delivered == 1  # the 02 goes back
    copy = next(d for d in province.store.queries.deliveries(document_ref=ref).items
                if d.kind == "document")
    assert copy.business_state == "rejected"
    (event,) = [e for e in province.store.queries.status_events(ref) if e.code.value == "02"]
    assert "the attachment 'qd-4600.pdf' is not validly signed" in event.description
    assert "carries no signature" in event.description and "21.2" in event.description
    assert next(d for d in province.store.queries.deliveries(document_ref=kept).items
                if d.kind == "document").business_state == "arrived"
    for store in stores:
        store.close()


def test_without_a_trust_list_pdfs_are_unchecked(pki: Pki, tmp_path: Path,
                                                 signed_pdf: bytes) -> None:
    province, district, stores = network(pki, tmp_path, "memory", PdfPolicy())
    send(province, signed_pdf, "4700")
    province.deliver()
    (document,) = district.inbox().items
    assert document.pdf == "unchecked"
    for store in stores:
        store.close()
