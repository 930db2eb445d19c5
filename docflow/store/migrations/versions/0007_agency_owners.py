"""who holds each axis registration, and the signed requests an axis has seen

A registration belongs to the system that made it (``owner``): another system may not
register the same organ under itself (it would list, fetch and acknowledge that organ's
packets) nor delete it. Rows before this revision were made by the systems file or by a
caller nobody recorded: they belong to the platform operator (``''``).

``axis_seen_requests`` is the replay cache of the axis's mutating calls: the key of a
signed request (its HMAC, and for the SDK's fixed timestamps its operation and body) is
refused a second time while its timestamp is fresh.

Revision ID: 0007
Revises: 0006
Create Date: 2026-12-06 01:00:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = '0007'
down_revision = '0006'
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table('axis_agencies', schema=None) as batch_op:
        batch_op.add_column(sa.Column(
            'owner', sa.Text(), nullable=False, server_default='',
            comment="the system id that registered it; '' for the platform operator"))
        batch_op.create_index(batch_op.f('ix_axis_agencies_axis_owner'), ['axis', 'owner'],
                              unique=False)
    op.create_table(
        'axis_seen_requests',
        sa.Column('axis', sa.String(length=13), nullable=False),
        sa.Column('key', sa.String(length=64), nullable=False,
                  comment="SHA-256 of the system, and what identifies its signed request"),
        sa.Column('seen_at', sa.DateTime(), nullable=False),
        sa.PrimaryKeyConstraint('axis', 'key', name=op.f('pk_axis_seen_requests')),
    )
    with op.batch_alter_table('axis_seen_requests', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_axis_seen_requests_seen_at'), ['seen_at'],
                              unique=False)


def downgrade() -> None:
    with op.batch_alter_table('axis_seen_requests', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_axis_seen_requests_seen_at'))
    op.drop_table('axis_seen_requests')
    with op.batch_alter_table('axis_agencies', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_axis_agencies_axis_owner'))
        batch_op.drop_column('owner')
