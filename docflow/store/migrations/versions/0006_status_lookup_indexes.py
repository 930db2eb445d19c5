"""indexes for finding a status packet a hub or axis already holds

A hub relaying a status packet asks whether it already holds the same one for that
recipient: among the document's deliveries of kind status to the recipient, one whose
status event (by its envelope) has the same signed content. A document sent to many
organs has thousands of status deliveries and events at its hub; without these indexes
each question scanned them all (the simulated province's faulty run went from 10.5 to
1.0 documents/s as the hub's tables grew).

Revision ID: 0006
Revises: 0005
Create Date: 2026-12-02 15:00:00
"""

from __future__ import annotations

from alembic import op

revision = '0006'
down_revision = '0005'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_index('ix_status_events_envelope_ref', 'status_events', ['envelope_ref'])
    op.create_index('ix_deliveries_document_ref_kind_recipient', 'deliveries',
                    ['document_ref', 'kind', 'recipient'])


def downgrade() -> None:
    op.drop_index('ix_deliveries_document_ref_kind_recipient', table_name='deliveries')
    op.drop_index('ix_status_events_envelope_ref', table_name='status_events')
