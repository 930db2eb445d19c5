"""Issue 27, M7: an embedding application is told of what arrives (node.on_document,
node.on_status) instead of polling; after the store committed, once per document, and
an application's exception never makes a delivery fail."""

from __future__ import annotations

import logging
from pathlib import Path

import pytest

from docflow.errors import ModelError
from docflow.hooks import StatusArrival
from docflow.model import StatusCode
from docflow.samples import sample_envelope
from docflow.store import DocumentView
from tests.conftest import Pki, node_pair


def test_documents_and_statuses_are_told_once_stored(
        pki: Pki, tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    province, district = node_pair(pki, tmp_path)
    arrived: list[DocumentView] = []
    reports: list[StatusArrival] = []
    seen_stored: list[bool] = []

    @district.on_document
    def stored(document: DocumentView) -> None:
        arrived.append(document)  # the packet is already there to read
        seen_stored.append(district.stored(document.id).info.subject != "")

    def broken(_document: DocumentView) -> None:
        raise RuntimeError("the application's own bug")

    district.on_document(broken)
    province.on_status(reports.append)
    recalls: list[StatusArrival] = []
    district.on_status(recalls.append)
    with province, district:
        envelope = sample_envelope(date=pki.now.date())
        ref = province.send(envelope.info, envelope.attachments).document_ref
        province.deliver()
        (document,) = arrived
        assert seen_stored == [True] and document.state == "received"
        assert district.inbox().total == 1  # the broken hook stopped nothing
        assert any("a document hook (broken) raised" in r.getMessage()
                   for r in caplog.records if r.levelno == logging.ERROR)
        packet = district.store.queries.packet(document.id)
        district.receive_document(packet)  # the same copy again: not told twice
        assert len(arrived) == 1
        district.accept(document.id)
        district.deliver()
        (report,) = reports
        assert report.status.code is StatusCode.ACCEPTED and report.document_ref == ref
        province.recall(ref, "ban hành nhầm")
        province.deliver()
        (request,) = recalls
        assert request.status.code is StatusCode.RECALL_REQUESTED
        assert request.document_ref == document.id
        district.document_hooks.remove(broken)
        with pytest.raises(ModelError, match="must be callable"):
            district.on_document("not a function")  # type: ignore[arg-type]
