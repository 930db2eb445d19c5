"""the văn thư deadlines of each document

Computed when a document is received or sent (docflow.domain.deadlines), met by the act
that fulfils each (registration by accepting or returning it, the due date by completing
it), breached when met late or found still open after it ended.

Revision ID: 0009
Revises: 0008
Create Date: 2026-12-06 07:05:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op


revision = '0009'
down_revision = '0008'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        'deadlines',
        sa.Column('document_ref', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'),
                  nullable=False),
        sa.Column('kind', sa.String(length=12), nullable=False,
                  comment='acknowledge | register | return | due'),
        sa.Column('deadline', sa.DateTime(), nullable=False),
        sa.Column('met_at', sa.DateTime(), nullable=True),
        sa.Column('breached_at', sa.DateTime(), nullable=True,
                  comment='when the breach was recorded: met late, or found open after it'),
        sa.ForeignKeyConstraint(['document_ref'], ['documents.id'],
                                name=op.f('fk_deadlines_document_ref_documents')),
        sa.PrimaryKeyConstraint('document_ref', 'kind', name=op.f('pk_deadlines')),
    )
    with op.batch_alter_table('deadlines', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_deadlines_met_at_deadline'),
                              ['met_at', 'deadline'], unique=False)


def downgrade() -> None:
    with op.batch_alter_table('deadlines', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_deadlines_met_at_deadline'))
    op.drop_table('deadlines')
