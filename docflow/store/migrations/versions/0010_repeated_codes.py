"""a received document repeating another's number and notation

Phụ lục VI III.1.h asks for a warning when a document arrives with the number and
notation of one the same organ issued that year (another DocumentId): the first one's
id is kept with the second.

Revision ID: 0010
Revises: 0009
Create Date: 2026-12-06 07:10:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = '0010'
down_revision = '0009'
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table('documents', schema=None) as batch_op:
        batch_op.add_column(sa.Column(
            'duplicate_of', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'),
            nullable=True,
            comment="a received document repeating the number and notation of one the same "
                    "sender issued that year: that one's id (Phụ lục VI III.1.h)"))


def downgrade() -> None:
    with op.batch_alter_table('documents', schema=None) as batch_op:
        batch_op.drop_column('duplicate_of')
