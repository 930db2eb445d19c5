"""a large packet's bytes in pieces on PostgreSQL

A 50 MiB packet bound as one parameter is copied whole by the driver, next to the
packet itself: the streaming path (issue 31, item 5) writes it in 1 MiB pieces instead,
one row each, and reads it back piece by piece. SQLite needs no table: it writes large
blobs by incremental I/O into the envelope's own row.

Revision ID: 0016
Revises: 0015
Create Date: 2026-12-06 14:40:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = '0016'
down_revision = '0015'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        'envelope_chunks',
        sa.Column('envelope_ref', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'),
                  nullable=False),
        sa.Column('seq', sa.Integer(), autoincrement=False, nullable=False),
        sa.Column('data', sa.LargeBinary(), nullable=False),
        sa.ForeignKeyConstraint(['envelope_ref'], ['envelopes.id'],
                                name=op.f('fk_envelope_chunks_envelope_ref_envelopes')),
        sa.PrimaryKeyConstraint('envelope_ref', 'seq', name=op.f('pk_envelope_chunks')),
        comment="a large packet's bytes in pieces on PostgreSQL (whose driver binds a "
                "value whole), its envelopes.raw then empty; SQLite writes large blobs "
                "by incremental I/O instead",
    )


def downgrade() -> None:
    op.drop_table('envelope_chunks')
