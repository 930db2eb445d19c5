"""signature verdicts and findings of received documents

Documents read leniently from an axis or LGSP channel may carry no verifiable signature
(the official library's placeholder block, an empty element, none) and deviate from the
strict layout: each received document keeps its signature verdict and its findings
(JSON), shown by ``docflow show``, ``trace`` and ``inbox``. Rows before stay NULL (they
were all verified docflow packets, or are not received documents).

Revision ID: 0005
Revises: 0004
Create Date: 2026-12-02 12:00:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = '0005'
down_revision = '0004'
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table('documents', schema=None) as batch_op:
        batch_op.add_column(sa.Column(
            'signature', sa.String(length=12), nullable=True,
            comment="a received document's signature verdict: verified | unverifiable | "
            "absent"))
        batch_op.add_column(sa.Column('findings', sa.Text(), nullable=True,
                                      comment="a received document's findings (JSON), if any"))


def downgrade() -> None:
    with op.batch_alter_table('documents', schema=None) as batch_op:
        batch_op.drop_column('findings')
        batch_op.drop_column('signature')
