"""the signed-PDF verdicts of received documents

Every PDF attachment of a received document is checked on receipt (docflow.pdf): its
verdict and report are kept with the attachment's link, the worst of them with the
document (what ``inbox`` marks).

Revision ID: 0008
Revises: 0007
Create Date: 2026-12-06 06:15:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = '0008'
down_revision = '0007'
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table('documents', schema=None) as batch_op:
        batch_op.add_column(sa.Column(
            'pdf', sa.String(length=10), nullable=True,
            comment="a received document's signed-PDF verdict, the worst of its PDF "
                    "attachments': valid | incomplete | invalid | unchecked; NULL: no PDF"))
    with op.batch_alter_table('document_attachments', schema=None) as batch_op:
        batch_op.add_column(sa.Column(
            'pdf_verdict', sa.String(length=10), nullable=True,
            comment="a received PDF's verdict: valid | incomplete | invalid | unchecked"))
        batch_op.add_column(sa.Column(
            'pdf_report', sa.Text(), nullable=True,
            comment="the PDF's check, signature by signature (JSON)"))


def downgrade() -> None:
    with op.batch_alter_table('document_attachments', schema=None) as batch_op:
        batch_op.drop_column('pdf_report')
        batch_op.drop_column('pdf_verdict')
    with op.batch_alter_table('documents', schema=None) as batch_op:
        batch_op.drop_column('pdf')
