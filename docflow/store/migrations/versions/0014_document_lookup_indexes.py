"""indexes for the lookups every send and every receipt makes

Sending asks whether the organ sent this DocumentId already and whether it used this
number and notation this year; receiving asks whether the sender issued another document
under the same number and notation. With only the (organ, direction, state) index each
question read all of the organ's documents of that direction: a province's sends and
receipts slowed as its store grew (113 documents/s at 500 to 55/s at 3,000 between two
nodes, measured).

Revision ID: 0014
Revises: 0013
Create Date: 2026-12-06 09:30:00
"""

from __future__ import annotations

from alembic import op

revision = '0014'
down_revision = '0013'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_index('ix_documents_organ_direction_document_id', 'documents',
                    ['organ', 'direction', 'document_id'])
    op.create_index('ix_documents_organ_direction_number_notation', 'documents',
                    ['organ', 'direction', 'number', 'notation'])


def downgrade() -> None:
    op.drop_index('ix_documents_organ_direction_number_notation', table_name='documents')
    op.drop_index('ix_documents_organ_direction_document_id', table_name='documents')
