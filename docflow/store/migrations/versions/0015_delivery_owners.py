"""each delivery carries the organ whose document it is, for the outbox's claim

Several organs share one database (a province hosting its communes' nodes, the
simulator): an organ's outbox pass asked, for every due delivery of every organ, whether
its document was this organ's. With a hub's backlog of tens of thousands of due copies,
each of hundreds of organs read them all on every pass (a 3,000-document province spent
most of its time settling). The organ on the row, indexed with the due columns, lets a
pass read its own deliveries only.

Revision ID: 0015
Revises: 0014
Create Date: 2026-12-06 09:50:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = '0015'
down_revision = '0014'
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table('deliveries', schema=None) as batch_op:
        batch_op.add_column(sa.Column(
            'organ', sa.String(13), nullable=True,
            comment="the organ whose document this is (documents.organ)"))
    op.execute("UPDATE deliveries SET organ = (SELECT documents.organ FROM documents "
               "WHERE documents.id = deliveries.document_ref)")
    op.create_index('ix_deliveries_organ_transport_state_next_attempt_at', 'deliveries',
                    ['organ', 'transport_state', 'next_attempt_at'])


def downgrade() -> None:
    op.drop_index('ix_deliveries_organ_transport_state_next_attempt_at',
                  table_name='deliveries')
    with op.batch_alter_table('deliveries', schema=None) as batch_op:
        batch_op.drop_column('organ')
