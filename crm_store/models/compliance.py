"""Consent records, GDPR requests and the tamper-evident audit log."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import ForeignKey, Index, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from crm_store.models.base import Base, utcnow


class ConsentRecord(Base):
    """One consent event; the latest record per (contact, purpose, channel) is the current state."""

    __tablename__ = "consent_records"
    __table_args__ = (Index("ix_consent_contact_purpose", "contact_id", "purpose", "recorded_at"),)
    id: Mapped[int] = mapped_column(primary_key=True)
    contact_id: Mapped[int] = mapped_column(ForeignKey("contacts.id", ondelete="CASCADE"))
    purpose: Mapped[str] = mapped_column(String(40))  # marketing, newsletter, profiling, ...
    channel: Mapped[str] = mapped_column(String(20), default="email")
    granted: Mapped[bool]
    recorded_at: Mapped[datetime] = mapped_column(default=utcnow)
    source: Mapped[str] = mapped_column(String(60))  # web_form, chat, email, import, ...
    legal_basis: Mapped[str] = mapped_column(String(40), default="consent")  # Art. 6(1)(a)...
    text_version: Mapped[str | None] = mapped_column(String(40))  # which consent wording the person saw
    expires_at: Mapped[datetime | None]


class GdprRequest(Base):
    __tablename__ = "gdpr_requests"
    id: Mapped[int] = mapped_column(primary_key=True)
    kind: Mapped[str] = mapped_column(String(20))  # access / erasure / objection
    contact_id: Mapped[int | None] = mapped_column(ForeignKey("contacts.id", ondelete="SET NULL"))
    status: Mapped[str] = mapped_column(String(20), default="pending")  # pending/confirmed/done/rejected
    requested_at: Mapped[datetime] = mapped_column(default=utcnow)
    requested_via: Mapped[str] = mapped_column(String(20), default="chat")
    decided_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))
    completed_at: Mapped[datetime | None]
    note: Mapped[str | None] = mapped_column(Text)
    due_at: Mapped[datetime | None]  # receipt + 1 month (Art. 12(3))
    reminded_at: Mapped[datetime | None]
    identity_verified_at: Mapped[datetime | None]
    identity_method: Mapped[str | None] = mapped_column(String(20))  # customer_token / code / staff / mail
    # an erasure's free-page step (SQLite VACUUM, PostgreSQL VACUUM) done; None while it is still owed
    pages_freed_at: Mapped[datetime | None]


class AuditEntry(Base):
    """Keyed, chained audit entries (:mod:`crm_store.services.audit`). ``hash`` is an HMAC under a key kept
    outside the database over every field, its position (``id``, ``seq``) and ``prev_hash``. ``payload`` (the
    diff, may hold personal data) is outside the MAC: the MAC covers ``payload_digest`` = HMAC(key, ``salt`` ‖
    payload). An erasure removes payload and salt and a later chained ``redact`` entry names the entry, so
    ``redacted`` is only a convenience that verification cross-checks."""

    __tablename__ = "audit_log"
    __table_args__ = (Index("ix_audit_entity", "entity", "entity_id"),)
    id: Mapped[int] = mapped_column(primary_key=True)
    at: Mapped[datetime] = mapped_column(default=utcnow)
    actor: Mapped[str] = mapped_column(String(120))  # "user:3", "customer:17", "system:triage"
    action: Mapped[str] = mapped_column(String(40))  # create / update / delete / erase / export / ...
    entity: Mapped[str] = mapped_column(String(40))
    entity_id: Mapped[str | None] = mapped_column(String(40))
    payload: Mapped[dict[str, Any] | None] = mapped_column(default=None)
    payload_digest: Mapped[str] = mapped_column(String(64))
    redacted: Mapped[bool] = mapped_column(default=False)
    salt: Mapped[str | None] = mapped_column(String(32), default=None)  # hex; None: no payload, or erased
    key_id: Mapped[str | None] = mapped_column(String(16), default=None)  # fingerprint of the audit key
    seq: Mapped[int | None] = mapped_column(default=None)  # position in the chain, 1-based
    prev_hash: Mapped[str] = mapped_column(String(64), unique=True)  # a fork of the chain cannot commit
    hash: Mapped[str] = mapped_column(String(64), unique=True)


class ProcessedEvent(Base):
    """Idempotency keys: e-mail Message-IDs, Slack event ids, ... processed once, never twice."""

    __tablename__ = "processed_events"
    id: Mapped[int] = mapped_column(primary_key=True)
    source: Mapped[str] = mapped_column(String(30))
    key: Mapped[str] = mapped_column(String(998))
    processed_at: Mapped[datetime] = mapped_column(default=utcnow)
    result: Mapped[str | None] = mapped_column(Text)
    __table_args__ = (Index("uq_processed_source_key", "source", "key", unique=True),)


class Counter(Base):
    """Named gap-free counters (ticket numbers); incremented under a row lock."""

    __tablename__ = "counters"
    name: Mapped[str] = mapped_column(String(40), primary_key=True)
    value: Mapped[int] = mapped_column(default=0)





class ConsentConfirmation(Base):
    """A double opt-in in flight: the signed, single-use link mailed to the person; the consent record is
    written only when it is followed before ``expires_at``."""

    __tablename__ = "consent_confirmations"
    id: Mapped[int] = mapped_column(primary_key=True)
    contact_id: Mapped[int] = mapped_column(ForeignKey("contacts.id", ondelete="CASCADE"), index=True)
    purpose: Mapped[str] = mapped_column(String(40))
    channel: Mapped[str] = mapped_column(String(20), default="email")
    text_version: Mapped[str | None] = mapped_column(String(40))
    source: Mapped[str] = mapped_column(String(60), default="web_form")
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    expires_at: Mapped[datetime]
    used_at: Mapped[datetime | None]


class LegalHold(Base):
    """Retention and erasure skip what a legal hold covers (a contact or an organisation) until released."""

    __tablename__ = "legal_holds"
    id: Mapped[int] = mapped_column(primary_key=True)
    contact_id: Mapped[int | None] = mapped_column(ForeignKey("contacts.id", ondelete="CASCADE"), index=True)
    organization_id: Mapped[int | None] = mapped_column(ForeignKey("organizations.id", ondelete="CASCADE"))
    reason: Mapped[str] = mapped_column(String(300))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    created_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))
    released_at: Mapped[datetime | None]
