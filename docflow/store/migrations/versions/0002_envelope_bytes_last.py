"""envelope bytes as the last column (SQLite)

SQLite writes a large value by incremental blob I/O into a ``zeroblob`` inserted with the
row; a zeroblob is only left unmaterialised when it is the record's last column. With
``raw`` before ``created_at``, storing a 27 MB packet allocated twice its size first. The
table is rebuilt with ``raw`` last (every packet is copied once during the upgrade).
PostgreSQL keeps large values out of line anyway: nothing to do there.

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-25 11:40:00
"""

from __future__ import annotations

from alembic import op

revision = '0002'
down_revision = '0001'
branch_labels = None
depends_on = None

_ORDER = ("id", "document_ref", "kind", "direction", "message_id", "sha256", "size",
          "created_at", "raw")


def upgrade() -> None:
    if op.get_bind().dialect.name != "sqlite":
        return
    # Store.upgrade runs migrations with SQLite's foreign keys off and checks them all
    # before committing (deliveries and status events refer to envelopes).
    with op.batch_alter_table("envelopes", recreate="always",
                              partial_reordering=[_ORDER]) as batch_op:
        batch_op.alter_column("raw", existing_nullable=False)


def downgrade() -> None:
    if op.get_bind().dialect.name != "sqlite":
        return
    order = (*_ORDER[:-2], "raw", "created_at")
    with op.batch_alter_table("envelopes", recreate="always",
                              partial_reordering=[order]) as batch_op:
        batch_op.alter_column("raw", existing_nullable=False)
