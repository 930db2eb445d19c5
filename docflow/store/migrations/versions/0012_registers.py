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
    # The documents already there, numbered as they would have been: received ones by
    # the year and order they arrived, sent ones by the year they are dated, in order.
    sqlite = op.get_bind().dialect.name == "sqlite"
    for book, column in (("in", "created_at"), ("out", "promulgation_date")):
        year_of = _YEAR_OF[(sqlite, column)]
        # the year's expression is fixed text (_YEAR_OF); the only value is bound
        statement = f"INSERT INTO register_entries (organ, register, year, number, document_ref, registered_at) SELECT organ, :book, {year_of}, ROW_NUMBER() OVER (PARTITION BY organ, {year_of} ORDER BY id), id, created_at FROM documents WHERE direction = :book"  # noqa: S608
        op.execute(sa.text(statement).bindparams(book=book))


# the year of a date column, per dialect (fixed text, no outside value in it)
_YEAR_OF = {
    (True, "created_at"): "CAST(strftime('%Y', created_at) AS INTEGER)",
    (True, "promulgation_date"): "CAST(strftime('%Y', promulgation_date) AS INTEGER)",
    (False, "created_at"): "CAST(EXTRACT(YEAR FROM created_at) AS INTEGER)",
    (False, "promulgation_date"): "CAST(EXTRACT(YEAR FROM promulgation_date) AS INTEGER)",
}

def downgrade() -> None:
    op.drop_table('register_entries')
