"""Linking a change to the document it changes (:func:`link_change`: how edXML says
"this recalls / updates / replaces that"), and the README's diagrams drawn from the
tables (:func:`readme_with_diagrams`)."""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import replace

from docflow.errors import LifecycleError
from docflow.lifecycle.tables import CHANGE_BUSINESS_TYPE, LIFECYCLES
from docflow.lifecycle.vocabulary import ChangeKind
from docflow.model import (
    Business,
    BusinessDocumentInfo,
    DocumentInfo,
    OrganCode,
    ReplacementInfo,
    ResponseFor,
    StaffInfo,
)

__all__ = ["link_change", "readme_with_diagrams"]


def readme_with_diagrams(text: str) -> str:
    """``text`` with every ``<!-- lifecycle:NAME -->`` block replaced by the current Mermaid
    diagram of that machine (pure: the CLI reads and writes the file)."""

    def render(match: re.Match[str]) -> str:
        machine = LIFECYCLES.get(match.group(1))
        if machine is None:
            raise LifecycleError(f"unknown lifecycle {match.group(1)!r} in a diagram marker")
        return (f"<!-- lifecycle:{machine.name} -->\n```mermaid\n{machine.mermaid()}```\n"
                "<!-- /lifecycle -->")

    return re.sub(r"<!-- lifecycle:(\w+) -->\n.*?<!-- /lifecycle -->", render, text,
                  flags=re.DOTALL)

def link_change(
    kind: ChangeKind,
    original: DocumentInfo,
    *,
    reason: str,
    new: DocumentInfo | None = None,
    receivers: Sequence[OrganCode] = (),
    staff: StaffInfo | None = None,
) -> DocumentInfo:
    """The document that carries a change request, linked to the ``original`` as edXML
    does it: ``ResponseFor`` -> the original, and in ``Bussiness`` the type (1 recall,
    2 update, 3 replace), the reason, and for an update the original's ``DocumentId`` (and
    which parts changed), for a replacement a ``ReplacementInfo`` naming the original and
    where it went.

    A recall re-sends the original's header with the recall business section; an update
    or a replacement needs the ``new`` document (its own number, subject, content).

    >>> from docflow.samples import sample_envelope
    >>> original = sample_envelope().info
    >>> recall = link_change(ChangeKind.RECALL, original, reason="ban hành nhầm")
    >>> recall.business.doc_type.name, recall.response_for[0].document_id == original.document_id
    ('RECALL', True)
    """
    if kind is not ChangeKind.RECALL and new is None:
        raise LifecycleError(f"a {kind.value} needs the new document", hint="pass new=...")
    base = new if new is not None else original
    targets = tuple(receivers) or tuple(organ.code for organ in original.recipients)
    business = Business(
        doc_type=CHANGE_BUSINESS_TYPE[kind],
        reason=reason,
        document_id=original.document_id if kind is ChangeKind.UPDATE else None,
        document_info=BusinessDocumentInfo(
            document_info_changed=True,
            receivers_changed=bool(receivers),
            receivers=tuple(receivers),
        ) if kind is ChangeKind.UPDATE else None,
        replacements=(ReplacementInfo(original.document_id, targets),)
        if kind is ChangeKind.REPLACE else (),
        staff=staff,
    )
    link = ResponseFor(
        organ_id=original.sender.code,
        code=original.code,
        promulgation_date=original.promulgation_date,
        document_id=original.document_id,
    )
    return replace(base, business=business, response_for=(link, *base.response_for))
