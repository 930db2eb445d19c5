"""Issue 27, D18 and D33: the mistakes an embedding developer makes first are a
ModelError at construction, naming the field, what came and what to write; not an
AttributeError or an lxml TypeError when the packet is built later."""

from __future__ import annotations

import dataclasses
import datetime as dt
from pathlib import Path
from typing import Any

import pytest

import docflow
from docflow import DOCUMENT_TYPES, Attachment, DocflowError, DocumentInfo, ModelError, Signer
from docflow.node import Node
from docflow.samples import PROVINCE, TAM_KY, sample_envelope
from docflow.store import Store, sqlite_url
from docflow.transport import InMemoryTransport
from tests.conftest import Pki


def _fields(**changed: Any) -> dict[str, Any]:
    info = sample_envelope().info
    fields = {field.name: getattr(info, field.name) for field in dataclasses.fields(info)}
    fields["document_id"] = ""
    return {**fields, **changed}


@pytest.mark.parametrize(("field", "value", "said", "hint"), [
    ("promulgation_date", "2026-12-05", "promulgation_date must be a date, not str",
     "datetime.date(2026, 12, 5)"),
    ("code_number", 12, "code_number must be a str, not int 12", '"12"'),
    ("signer", "Nguyễn Văn A", "signer must be a Signer, not str", "Signer("),
    ("recipients", TAM_KY, "recipients must be a tuple of OrganInfo, not OrganInfo",
     "(district,)"),
    ("recipients", ("000.00.01.H41",), "recipients[0] must be a OrganInfo, not str", ""),
    ("document_type", "letter", "document_type must be a DocumentType", "DOCUMENT_TYPES"),
    ("due_date", "2026-12-20", "due_date must be a date", "or None"),
    ("priority", 9, "priority 9 is not an edXML priority", "0 normal"),
    ("page_amount", True, "page_amount must be a int, not bool", ""),
])
def test_a_wrong_type_in_a_document_header_is_named(field: str, value: Any, said: str,
                                                    hint: str) -> None:
    with pytest.raises(ModelError) as refused:
        DocumentInfo(**_fields(**{field: value}))
    assert said in refused.value.message
    assert refused.value.where is not None and field in refused.value.where
    assert hint in (refused.value.hint or "")


def test_lists_are_taken_where_tuples_belong() -> None:
    info = DocumentInfo(**_fields(recipients=[TAM_KY], to_places=["Như trên"], priority=1))
    assert info.recipients == (TAM_KY,) and info.to_places == ("Như trên",)
    assert info.priority is docflow.Priority.URGENT
    assert info.signer == sample_envelope().info.signer and isinstance(info.signer, Signer)


def test_an_attachment_takes_bytes_and_guesses_its_content_type() -> None:
    with pytest.raises(ModelError, match=r"Attachment.data must be a bytes, not str 'text'"):
        Attachment("a.pdf", "text")  # type: ignore[arg-type]
    assert Attachment("quyet-dinh.pdf", b"%PDF").content_type == "application/pdf"
    assert Attachment("bao-cao.docx", b"PK").content_type == (
        "application/vnd.openxmlformats-officedocument.wordprocessingml.document")
    assert Attachment("noname", b"x").content_type == "application/octet-stream"
    assert Attachment("a.pdf", bytearray(b"%PDF")).data == b"%PDF"
    assert Attachment("a.pdf", b"x", "text/plain").content_type == "text/plain"


def test_an_unknown_document_kind_lists_the_known_ones() -> None:
    with pytest.raises(ModelError, match="unknown document kind 'quyet-dinh'") as refused:
        DOCUMENT_TYPES["quyet-dinh"]
    assert "decision" in (refused.value.hint or "")
    assert DOCUMENT_TYPES.get("quyet-dinh") is None and "letter" in DOCUMENT_TYPES


def test_node_send_says_what_it_takes(pki: Pki, tmp_path: Path) -> None:
    class Closing(InMemoryTransport):
        closed = False

        def close(self) -> None:
            self.closed = True

    store, transport = Store.open(sqlite_url(tmp_path / "p.db")), Closing()
    with Node(PROVINCE, pki.province, pki.trust, store, transport) as node:
        envelope = sample_envelope()
        for call, said in (
                (lambda: node.send(envelope), "takes a DocumentInfo, not an Envelope"),  # type: ignore[arg-type]
                (lambda: node.send(envelope.info, [b"%PDF"]),  # type: ignore[list-item]
                 r"attachments\[0\] must be an Attachment, not bytes"),
                (lambda: node.send(envelope.info, Attachment("a.pdf", b"x")),  # type: ignore[arg-type]
                 "a sequence of Attachment"),
                (lambda: node.running(every="fast"), "every must be a positive number")):
            with pytest.raises(DocflowError, match=said):
                call()
        assert node.outbox().total == 0  # nothing was written
    assert transport.closed  # and the store's connections released, on leaving the block


def test_dir_lists_the_public_names_only() -> None:
    names = dir(docflow)
    assert "Any" not in names and "Node" in names and "DocflowError" in names
    assert [name for name in names if name.startswith("_")] == ["__version__"]
    assert dt.date(2026, 1, 1)  # a date is what a header wants
