"""Tamper-evident audit log: every write appends one hash-chained entry in the same transaction."""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import event, select, text
from sqlalchemy.orm import Session

from crm_store.models import AuditEntry, utcnow
from crm_store.services.actor import Actor

GENESIS = "0" * 64
_PG_AUDIT_LOCK = 0x43524D41  # "CRMA"


def _canonical(payload: Any) -> str:
    return json.dumps(payload, sort_keys=True, separators=(",", ":"), default=str, ensure_ascii=False)


def payload_digest(payload: Any) -> str:
    return hashlib.sha256(_canonical(payload).encode()).hexdigest()


def entry_hash(
    *, prev_hash: str, at: datetime, actor: str, action: str, entity: str, entity_id: str | None, digest: str
) -> str:
    line = "|".join(
        [prev_hash, at.isoformat(timespec="microseconds"), actor, action, entity, entity_id or "", digest]
    )
    return hashlib.sha256(line.encode()).hexdigest()


_PENDING = "crm_audit_pending"


@dataclass(frozen=True)
class _Pending:
    at: datetime
    actor: str
    action: str
    entity: str
    entity_id: str | None
    payload: dict[str, Any] | None


def record(
    session: Session,
    actor: Actor,
    action: str,
    entity: str,
    entity_id: object | None,
    payload: dict[str, Any] | None = None,
) -> None:
    """Note an entry for this transaction; it is chained and written just before the commit, so the
    global chain lock is held only for that moment, and a rolled-back change leaves no entry."""
    session.info.setdefault(_PENDING, []).append(
        _Pending(
            at=utcnow(),
            actor=actor.label,
            action=action,
            entity=entity,
            entity_id=None if entity_id is None else str(entity_id),
            payload=payload,
        )
    )


def _write_pending(session: Session) -> None:
    pending: list[_Pending] = session.info.pop(_PENDING, [])
    if not pending:
        return
    session.flush()  # SQLite: from here this transaction holds the write lock, so the head read is current
    if session.get_bind().dialect.name == "postgresql":
        session.execute(text("SELECT pg_advisory_xact_lock(:k)"), {"k": _PG_AUDIT_LOCK})
    prev = (
        session.execute(select(AuditEntry.hash).order_by(AuditEntry.id.desc()).limit(1)).scalar() or GENESIS
    )
    for p in pending:
        digest = payload_digest(p.payload)
        entry_h = entry_hash(
            prev_hash=prev,
            at=p.at,
            actor=p.actor,
            action=p.action,
            entity=p.entity,
            entity_id=p.entity_id,
            digest=digest,
        )
        session.add(
            AuditEntry(
                at=p.at,
                actor=p.actor,
                action=p.action,
                entity=p.entity,
                entity_id=p.entity_id,
                payload=p.payload,
                payload_digest=digest,
                prev_hash=prev,
                hash=entry_h,
            )
        )
        prev = entry_h
    session.flush()


def _discard_pending(session: Session, *_args: Any) -> None:
    session.info.pop(_PENDING, None)


event.listen(Session, "before_commit", _write_pending)
event.listen(Session, "after_rollback", _discard_pending)
event.listen(Session, "after_soft_rollback", _discard_pending)


def flush_pending(session: Session) -> None:
    """Write the noted entries now (for code that must read its own transaction's entries)."""
    _write_pending(session)


@dataclass(frozen=True)
class VerifyResult:
    ok: bool
    checked: int
    bad_entry_id: int | None = None
    reason: str = ""


def verify(session: Session, *, batch: int = 5000) -> VerifyResult:
    """Walk the chain from the start; the first entry whose hash, link or payload digest is wrong fails."""
    prev = GENESIS
    checked = 0
    last_id = 0
    while True:
        rows = (
            session.execute(
                select(AuditEntry).where(AuditEntry.id > last_id).order_by(AuditEntry.id).limit(batch)
            )
            .scalars()
            .all()
        )
        if not rows:
            return VerifyResult(True, checked)
        for e in rows:
            if e.prev_hash != prev:
                return VerifyResult(False, checked, e.id, "link to the previous entry is broken")
            expected = entry_hash(
                prev_hash=e.prev_hash,
                at=e.at,
                actor=e.actor,
                action=e.action,
                entity=e.entity,
                entity_id=e.entity_id,
                digest=e.payload_digest,
            )
            if expected != e.hash:
                return VerifyResult(False, checked, e.id, "entry was altered (hash mismatch)")
            if not e.redacted and payload_digest(e.payload) != e.payload_digest:
                return VerifyResult(False, checked, e.id, "payload was altered (digest mismatch)")
            prev = e.hash
            checked += 1
            last_id = e.id
        session.expunge_all()


def redact_payloads(session: Session, entity: str, entity_id: object) -> int:
    """Drop the personal payloads of one record's entries (erasure); the chain stays verifiable."""
    _write_pending(session)  # this transaction's own entries too
    entries = (
        session.execute(
            select(AuditEntry).where(AuditEntry.entity == entity, AuditEntry.entity_id == str(entity_id))
        )
        .scalars()
        .all()
    )
    for e in entries:
        e.payload = None
        e.redacted = True
    return len(entries)
