"""the văn thư registers: arrival and outgoing numbers

Nghị định 30/2020 (Phụ lục VI): every received document gets an arrival number (số đến)
in its organ's register of the year, in order of receipt; every sent one its number in
the outgoing register; unique and without gaps.

Revision ID: 0012
Revises: 0011
Create Date: 2026-12-06 07:40:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = '0012'
down_revision = '0011'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        'register_entries',
        sa.Column('organ', sa.String(length=13), nullable=False),
        sa.Column('register', sa.String(length=3), nullable=False, comment='in | out'),
        sa.Column('year', sa.SmallInteger(), nullable=False),
        sa.Column('number', sa.Integer(), nullable=False),
        sa.Column('document_ref', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'),
                  nullable=False),
        sa.Column('registered_at', sa.DateTime(), nullable=False),
        sa.ForeignKeyConstraint(['document_ref'], ['documents.id'],
                                name=op.f('fk_register_entries_document_ref_documents')),
        sa.PrimaryKeyConstraint('organ', 'register', 'year', 'number',
                                name=op.f('pk_register_entries')),
        sa.UniqueConstraint('document_ref', name=op.f('uq_register_entries_document_ref')),
    )


def downgrade() -> None:
    op.drop_table('register_entries')
