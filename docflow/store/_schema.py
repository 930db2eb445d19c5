"""The database schema (SQLAlchemy Core): one definition for SQLite and PostgreSQL.

Alembic migrations in ``migrations/versions`` create and evolve it; a test checks that
the migrations' result equals this metadata. Timestamps are stored as UTC.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from sqlalchemy import (
    BigInteger,
    Boolean,
    Column,
    Date,
    DateTime,
    ForeignKey,
    Index,
    Integer,
    LargeBinary,
    MetaData,
    PrimaryKeyConstraint,
    SmallInteger,
    String,
    Table,
    Text,
    UniqueConstraint,
)
from sqlalchemy.engine import Dialect
from sqlalchemy.types import TypeDecorator

__all__ = ["SCHEMA_REVISION", "metadata"]

#: The Alembic revision this code expects (the store refuses an older database).
SCHEMA_REVISION = "0016"

metadata = MetaData(
    naming_convention={
        "ix": "ix_%(table_name)s_%(column_0_N_name)s",
        "uq": "uq_%(table_name)s_%(column_0_N_name)s",
        "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
        "pk": "pk_%(table_name)s",
    }
)


class UTCDateTime(TypeDecorator[dt.datetime]):
    """Aware datetimes in, aware UTC datetimes out, on every backend (SQLite keeps no
    offset: values are stored as naive UTC)."""

    impl = DateTime
    cache_ok = True

    def process_bind_param(self, value: Any, dialect: Dialect) -> dt.datetime | None:
        if value is None:
            return None
        if not isinstance(value, dt.datetime) or value.tzinfo is None:
            raise ValueError("docflow stores time-zone aware datetimes only")
        return value.astimezone(dt.UTC).replace(tzinfo=None)

    def process_result_value(self, value: Any, dialect: Dialect) -> dt.datetime | None:
        if not isinstance(value, dt.datetime):
            return None
        return value.replace(tzinfo=dt.UTC) if value.tzinfo is None else value.astimezone(dt.UTC)


# BIGINT primary keys on PostgreSQL; SQLite autoincrements only an INTEGER PRIMARY KEY.
Id = BigInteger().with_variant(Integer(), "sqlite")
Organ = String(13)
MessageId = String(128)

documents = Table(
    "documents", metadata,
    Column("id", Id, primary_key=True, autoincrement=True),
    Column("organ", Organ, nullable=False, comment="the node that holds this copy"),
    Column("direction", String(3), nullable=False, comment="out | in"),
    Column("message_id", MessageId, nullable=False),
    Column("document_id", String(300), nullable=False),
    Column("sender", Organ, nullable=False),
    Column("number", String(50), nullable=False),
    Column("notation", String(100), nullable=False),
    Column("type_name", String(200), nullable=False),
    Column("subject", Text, nullable=False),
    Column("promulgation_date", Date, nullable=False),
    Column("due_date", Date),
    Column("business_type", SmallInteger, nullable=False),
    Column("state", String(20), nullable=False),
    Column("version", Integer, nullable=False),
    Column("created_at", UTCDateTime, nullable=False),
    Column("updated_at", UTCDateTime, nullable=False),
    Column("signature", String(12),
           comment="a received document's signature verdict: verified | unverifiable | absent"),
    Column("findings", Text, comment="a received document's findings (JSON), if any"),
    Column("duplicate_of", Id,
           comment="a received document repeating the number and notation of one the same "
                   "sender issued that year: that one's id (Phụ lục VI III.1.h)"),
    Column("pdf", String(10),
           comment="a received document's signed-PDF verdict, the worst of its PDF "
                   "attachments': valid | incomplete | invalid | unchecked; NULL: no PDF"),
    # Message ids are the sender's to choose: one organ's id never shadows another's.
    UniqueConstraint("organ", "direction", "sender", "message_id"),
    Index(None, "organ", "direction", "state"),
    Index(None, "due_date"),
    Index(None, "document_id"),
    # 0014: a send's and a receipt's lookups (a DocumentId sent before, a number and
    # notation used that year) without reading all of the organ's documents
    Index(None, "organ", "direction", "document_id"),
    Index(None, "organ", "direction", "number", "notation"),
)

envelopes = Table(
    "envelopes", metadata,
    Column("id", Id, primary_key=True, autoincrement=True),
    Column("document_ref", ForeignKey("documents.id"), nullable=False),
    Column("kind", String(8), nullable=False, comment="document | status | receipt"),
    Column("direction", String(3), nullable=False),
    Column("message_id", MessageId),
    Column("sha256", String(64), nullable=False),
    Column("size", Integer, nullable=False),
    Column("created_at", UTCDateTime, nullable=False),
    # Last: SQLite leaves a zeroblob unmaterialised only in a record's last column (the
    # store writes large packets into one by incremental I/O; migration 0002).
    Column("raw", LargeBinary, nullable=False, comment="the signed bytes, as sent/received"),
    Index(None, "document_ref"),
)

envelope_chunks = Table(  # 0016
    "envelope_chunks", metadata,
    Column("envelope_ref", ForeignKey("envelopes.id"), primary_key=True),
    Column("seq", Integer, primary_key=True, autoincrement=False),
    Column("data", LargeBinary, nullable=False),
    comment="a large packet's bytes in pieces on PostgreSQL (whose driver binds a value "
            "whole), its envelopes.raw then empty; SQLite writes large blobs by "
            "incremental I/O instead",
)

deliveries = Table(
    "deliveries", metadata,
    Column("id", Id, primary_key=True, autoincrement=True),
    Column("document_ref", ForeignKey("documents.id"), nullable=False),
    Column("kind", String(8), nullable=False, comment="document | status"),
    Column("envelope_ref", ForeignKey("envelopes.id"), nullable=False),
    Column("recipient", Organ, nullable=False),
    Column("transport_state", String(20), nullable=False),
    Column("business_state", String(20)),
    Column("change_state", String(12)),
    Column("change_kind", String(8)),
    Column("attempts", Integer, nullable=False),
    Column("next_attempt_at", UTCDateTime, nullable=False),
    Column("last_error", Text),
    Column("claimed_by", String(64)),
    Column("claimed_until", UTCDateTime),
    Column("receipt_ref", ForeignKey("envelopes.id")),
    Column("version", Integer, nullable=False),
    Column("updated_at", UTCDateTime, nullable=False),
    Column("organ", Organ, comment="the organ whose document this is (documents.organ)"),
    Index(None, "transport_state", "next_attempt_at"),
    # 0015: an organ's outbox pass reads its own due deliveries only (organs sharing a
    # database no longer read every other organ's backlog)
    Index(None, "organ", "transport_state", "next_attempt_at"),
    Index(None, "document_ref"),
    Index(None, "recipient", "business_state"),
    Index(None, "document_ref", "kind", "recipient"),  # 0006: a hub's status lookups
)

history = Table(
    "history", metadata,
    Column("id", Id, primary_key=True, autoincrement=True),
    Column("document_ref", ForeignKey("documents.id"), nullable=False),
    Column("delivery_ref", ForeignKey("deliveries.id")),
    Column("machine", String(12), nullable=False),
    Column("event", String(32), nullable=False),
    Column("from_state", String(20), nullable=False),
    Column("to_state", String(20), nullable=False),
    Column("final", Boolean, nullable=False),
    Column("reason", Text),
    Column("at", UTCDateTime, nullable=False),
    Index(None, "document_ref"),
    Index(None, "delivery_ref"),
)

status_events = Table(
    "status_events", metadata,
    Column("id", Id, primary_key=True, autoincrement=True),
    Column("document_ref", ForeignKey("documents.id"), nullable=False),
    Column("delivery_ref", ForeignKey("deliveries.id")),
    Column("direction", String(3), nullable=False),
    Column("code", String(2), nullable=False),
    Column("from_organ", Organ, nullable=False),
    Column("description", Text, nullable=False),
    Column("timestamp", UTCDateTime, nullable=False),
    Column("envelope_ref", ForeignKey("envelopes.id"), nullable=False),
    Column("at", UTCDateTime, nullable=False),
    Column("content_digest", String(64),
           comment="of the status's signed content (canonical SignedInfo); a replay matches"),
    Index(None, "document_ref"),
    Index(None, "envelope_ref"),  # 0006
)

attachments = Table(
    "attachments", metadata,
    Column("sha256", String(64), primary_key=True),
    Column("size", BigInteger, nullable=False),
    Column("content", LargeBinary, nullable=False),
)

document_attachments = Table(
    "document_attachments", metadata,
    Column("document_ref", ForeignKey("documents.id"), nullable=False),
    Column("position", SmallInteger, nullable=False),
    Column("sha256", ForeignKey("attachments.sha256"), nullable=False),
    Column("name", Text, nullable=False),
    Column("content_type", Text, nullable=False),
    Column("content_id", Text, nullable=False),
    Column("description", Text),
    Column("pdf_verdict", String(10),
           comment="a received PDF's verdict: valid | incomplete | invalid | unchecked"),
    Column("pdf_report", Text, comment="the PDF's check, signature by signature (JSON)"),
    PrimaryKeyConstraint("document_ref", "position"),
)

received_messages = Table(
    "received_messages", metadata,
    Column("organ", Organ, nullable=False),
    Column("sender", Organ, nullable=False, comment="whose message id it is"),
    Column("message_id", MessageId, nullable=False),
    Column("document_ref", ForeignKey("documents.id"), nullable=False),
    Column("sha256", String(64), nullable=False, comment="of the bytes first received"),
    Column("receipt", LargeBinary, nullable=False, comment="the answer given, given again"),
    Column("received_at", UTCDateTime, nullable=False),
    Column("expires_at", UTCDateTime, nullable=False),
    Column("content_digest", String(64),
           comment="of the signed content (canonical SignedInfo); NULL before 0004"),
    PrimaryKeyConstraint("organ", "sender", "message_id"),
    Index(None, "expires_at"),
)

dead_letters = Table(
    "dead_letters", metadata,
    Column("id", Id, primary_key=True, autoincrement=True),
    Column("delivery_ref", ForeignKey("deliveries.id"), nullable=False),
    Column("reason", Text, nullable=False),
    Column("at", UTCDateTime, nullable=False),
    Column("resolved_at", UTCDateTime),
    Index(None, "delivery_ref"),
)

# The văn thư deadlines of each document (0009): computed by docflow.domain.deadlines
# when it is received or sent, met by the act that fulfils each, breached when met late
# or still open after it ended (recorded by the worker's sweep and in the audit chain).
deadlines = Table(
    "deadlines", metadata,
    Column("document_ref", ForeignKey("documents.id"), nullable=False),
    Column("kind", String(12), nullable=False,
           comment="acknowledge | register | return | due"),
    Column("deadline", UTCDateTime, nullable=False),
    Column("met_at", UTCDateTime),
    Column("breached_at", UTCDateTime,
           comment="when the breach was recorded: met late, or found open after it"),
    PrimaryKeyConstraint("document_ref", "kind"),
    Index(None, "met_at", "deadline"),
)

# What a receiver destroyed when it agreed to a recall (0011): the packet and the
# attachments are gone; the digests of what they were stay, with the reason.
tombstones = Table(
    "tombstones", metadata,
    Column("document_ref", ForeignKey("documents.id"), primary_key=True),
    Column("destroyed_at", UTCDateTime, nullable=False),
    Column("reason", Text),
    Column("packet_sha256", String(64), nullable=False),
    Column("packet_size", Integer, nullable=False),
    Column("attachments", Text, nullable=False,
           comment="JSON: [{name, sha256, size}] of the attachments destroyed"),
)

# The văn thư registers (0012): every received document's arrival number (số đến) in
# its organ's register of the year, in order of receipt, and every sent one's number in
# the outgoing register; numbers given in the document's own transaction, so unique and
# without gaps whatever crashes.
register_entries = Table(
    "register_entries", metadata,
    Column("organ", Organ, nullable=False),
    Column("register", String(3), nullable=False, comment="in | out"),
    Column("year", SmallInteger, nullable=False),
    Column("number", Integer, nullable=False),
    Column("document_ref", ForeignKey("documents.id"), nullable=False, unique=True),
    Column("registered_at", UTCDateTime, nullable=False),
    PrimaryKeyConstraint("organ", "register", "year", "number"),
)

# The organs registered with an axis (VDXP/LGSP registerAgency), kept per axis code.
axis_agencies = Table(
    "axis_agencies", metadata,
    Column("axis", Organ, nullable=False),
    Column("code", Organ, nullable=False),
    Column("parent", Text, nullable=False, comment="pcode: the system serving it, or ''"),
    Column("name", Text, nullable=False),
    Column("mail", Text, nullable=False),
    Column("registered_at", UTCDateTime, nullable=False),
    Column("owner", Text, nullable=False, server_default="",
           comment="the system id that registered it; '' for the platform operator"),
    Column("old_code", Text, nullable=False, server_default="",
           comment="the organ's code before it was given this one (oldCode), or ''"),
    PrimaryKeyConstraint("axis", "code"),
    Index(None, "axis", "parent"),
    Index(None, "axis", "owner"),  # 0007: a system's registrations, counted
)

axis_seen_requests = Table(  # 0007: the replay cache of an axis's mutating calls
    "axis_seen_requests", metadata,
    Column("axis", Organ, nullable=False),
    Column("key", String(64), nullable=False,
           comment="SHA-256 of the system, and what identifies its signed request"),
    Column("seen_at", UTCDateTime, nullable=False),
    PrimaryKeyConstraint("axis", "key"),
    Index(None, "seen_at"),
)

audit_log = Table(
    "audit_log", metadata,
    Column("seq", Id, primary_key=True, autoincrement=False),
    Column("at", UTCDateTime, nullable=False),
    Column("organ", Organ, nullable=False),
    Column("action", String(32), nullable=False),
    Column("subject", String(64), nullable=False),
    Column("detail", Text, nullable=False),
    Column("prev_hash", String(64), nullable=False),
    Column("hash", String(64), nullable=False),
)

# One row: the chain's head, locked by every append so that concurrent writers extend
# the chain one after the other instead of forking it.
audit_head = Table(
    "audit_head", metadata,
    Column("id", SmallInteger, primary_key=True, autoincrement=False),
    Column("seq", BigInteger, nullable=False),
    Column("hash", String(64), nullable=False),
)
