"""message ids scoped by their sender; signed-content digests

A message id is chosen by its sender, so one organ could pick another's and shadow it:
received message ids and documents are now unique per (organ, sender, message id).
Replays are recognised by the digest of the signed content (the sender's canonical
SignedInfo), which the same packet keeps whatever its encoding, its unsigned white space
or its trace hops: ``received_messages.content_digest`` and
``status_events.content_digest`` (NULL for rows written before; those are compared by
the bytes' SHA-256 as before). Existing rows get their sender from their document.

Revision ID: 0004
Revises: 0003
Create Date: 2026-12-02 09:00:00
"""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa
from alembic import op

revision = '0004'
down_revision = '0003'
branch_labels = None
depends_on = None

_FILL_SENDER = sa.text(
    "UPDATE received_messages SET sender = "
    "(SELECT documents.sender FROM documents WHERE documents.id = "
    "received_messages.document_ref)")


def _received_messages(key: list[str], *, sender: bool) -> sa.Table:
    """received_messages as it is with ``key`` as its primary key (SQLite rebuilds the
    table from this definition: it cannot alter a primary key in place)."""
    key_type = sa.BigInteger().with_variant(sa.Integer(), 'sqlite')
    columns: list[sa.Column[Any]] = [
        sa.Column('organ', sa.String(length=13), nullable=False),
        sa.Column('message_id', sa.String(length=128), nullable=False),
        sa.Column('document_ref', key_type, sa.ForeignKey(
            'documents.id', name='fk_received_messages_document_ref_documents'),
            nullable=False),
        sa.Column('sha256', sa.String(length=64), nullable=False,
                  comment='of the bytes first received'),
        sa.Column('receipt', sa.LargeBinary(), nullable=False,
                  comment='the answer given, given again'),
        sa.Column('received_at', sa.DateTime(), nullable=False),
        sa.Column('expires_at', sa.DateTime(), nullable=False),
    ]
    if sender:
        columns += [
            sa.Column('sender', sa.String(length=13), nullable=False,
                      comment='whose message id it is'),
            sa.Column('content_digest', sa.String(length=64), nullable=True,
                      comment='of the signed content (canonical SignedInfo); NULL before 0004'),
        ]
    return sa.Table('received_messages', sa.MetaData(), *columns,
                    sa.PrimaryKeyConstraint(*key, name='pk_received_messages'),
                    sa.Index('ix_received_messages_expires_at', 'expires_at'))


def _primary_key(key: list[str], *, sender: bool) -> None:
    """Replace the primary key of received_messages (and drop the default the sender
    column was added with)."""
    if op.get_bind().dialect.name == "sqlite":
        with op.batch_alter_table('received_messages', recreate="always",
                                  copy_from=_received_messages(key, sender=sender)):
            pass
        return
    op.alter_column('received_messages', 'sender', server_default=None,
                    existing_nullable=False, existing_type=sa.String(length=13))
    op.drop_constraint('pk_received_messages', 'received_messages', type_='primary')
    op.create_primary_key('pk_received_messages', 'received_messages', key)


def upgrade() -> None:
    with op.batch_alter_table('received_messages', schema=None) as batch_op:
        batch_op.add_column(sa.Column('sender', sa.String(length=13), nullable=False,
                                      server_default='', comment='whose message id it is'))
        batch_op.add_column(sa.Column(
            'content_digest', sa.String(length=64), nullable=True,
            comment='of the signed content (canonical SignedInfo); NULL before 0004'))
    op.execute(_FILL_SENDER)
    _primary_key(['organ', 'sender', 'message_id'], sender=True)
    with op.batch_alter_table('documents', schema=None) as batch_op:
        batch_op.drop_constraint('uq_documents_organ_direction_message_id', type_='unique')
        batch_op.create_unique_constraint('uq_documents_organ_direction_sender_message_id',
                                          ['organ', 'direction', 'sender', 'message_id'])
    with op.batch_alter_table('status_events', schema=None) as batch_op:
        batch_op.add_column(sa.Column(
            'content_digest', sa.String(length=64), nullable=True,
            comment="of the status's signed content (canonical SignedInfo); a replay matches"))


def downgrade() -> None:
    with op.batch_alter_table('status_events', schema=None) as batch_op:
        batch_op.drop_column('content_digest')
    with op.batch_alter_table('documents', schema=None) as batch_op:
        batch_op.drop_constraint('uq_documents_organ_direction_sender_message_id',
                                 type_='unique')
        batch_op.create_unique_constraint('uq_documents_organ_direction_message_id',
                                          ['organ', 'direction', 'message_id'])
    _primary_key(['organ', 'message_id'], sender=True)
    with op.batch_alter_table('received_messages', schema=None) as batch_op:
        batch_op.drop_column('content_digest')
        batch_op.drop_column('sender')
