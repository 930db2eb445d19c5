"""organs registered with an axis

The axis emulator (``docflow axis serve``) kept its registrations (registerAgency,
deleteAgency) in memory: a restart lost them. They are rows now, one per axis and organ.

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-29 21:20:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = '0003'
down_revision = '0002'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        'axis_agencies',
        sa.Column('axis', sa.String(length=13), nullable=False),
        sa.Column('code', sa.String(length=13), nullable=False),
        sa.Column('parent', sa.Text(), nullable=False,
                  comment="pcode: the system serving it, or ''"),
        sa.Column('name', sa.Text(), nullable=False),
        sa.Column('mail', sa.Text(), nullable=False),
        sa.Column('registered_at', sa.DateTime(), nullable=False),
        sa.PrimaryKeyConstraint('axis', 'code', name=op.f('pk_axis_agencies')),
    )
    with op.batch_alter_table('axis_agencies', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_axis_agencies_axis_parent'), ['axis', 'parent'],
                              unique=False)


def downgrade() -> None:
    with op.batch_alter_table('axis_agencies', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_axis_agencies_axis_parent'))
    op.drop_table('axis_agencies')
