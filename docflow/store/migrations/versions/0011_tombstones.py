"""what a receiver destroyed when it agreed to a recall

Nghị định 30/2020, Art. 18.4.b (Phụ lục VI III.8): a recalled document's copy is destroyed
at the receiver; its metadata, the reason and the digests of what was removed remain.

Revision ID: 0011
Revises: 0010
Create Date: 2026-12-06 07:15:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = '0011'
down_revision = '0010'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        'tombstones',
        sa.Column('document_ref', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'),
                  nullable=False),
        sa.Column('destroyed_at', sa.DateTime(), nullable=False),
        sa.Column('reason', sa.Text(), nullable=True),
        sa.Column('packet_sha256', sa.String(length=64), nullable=False),
        sa.Column('packet_size', sa.Integer(), nullable=False),
        sa.Column('attachments', sa.Text(), nullable=False,
                  comment='JSON: [{name, sha256, size}] of the attachments destroyed'),
        sa.ForeignKeyConstraint(['document_ref'], ['documents.id'],
                                name=op.f('fk_tombstones_document_ref_documents')),
        sa.PrimaryKeyConstraint('document_ref', name=op.f('pk_tombstones')),
    )


def downgrade() -> None:
    op.drop_table('tombstones')
