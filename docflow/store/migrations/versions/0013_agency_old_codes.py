"""the code an organ registered with an axis had before (the axis's oldCode)

The national axis lists, with each organ, the code it had before the 2025 reform gave it a
new one (``oldCode`` in getAgenciesList); an emulated axis keeps it with the registration.

Revision ID: 0013
Revises: 0012
Create Date: 2026-12-06 09:00:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = '0013'
down_revision = '0012'
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table('axis_agencies', schema=None) as batch_op:
        batch_op.add_column(sa.Column(
            'old_code', sa.Text(), nullable=False, server_default='',
            comment="the organ's code before it was given this one (oldCode), or ''"))


def downgrade() -> None:
    with op.batch_alter_table('axis_agencies', schema=None) as batch_op:
        batch_op.drop_column('old_code')
