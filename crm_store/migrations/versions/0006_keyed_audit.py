"""keyed audit chain: salt, key id and position per entry; existing entries are re-chained under the key

Revision ID: 0006
Revises: 0005
Create Date: 2026-12-08 10:00:00.000000

Entries written before this revision used an unkeyed SHA-256 chain and unsalted payload digests. The upgrade
first checks that old chain under the old rule; when it is intact, every entry is re-chained under the audit
key (:func:`crm_store.services.audit.resolve_key`, generated on first use like the write path does): a new salt
and HMAC digest for each payload, the old digest replaced by an unconfirmable random value for entries that
were already redacted (their unsalted SHA-256 could confirm a guessed payload), and one chained ``redact``
entry naming those. When the old chain is already broken nothing is re-chained (that would launder the
tampering): the entries keep ``key_id`` NULL and ``crm-assistant audit verify`` reports the first of them.
The downgrade drops the columns; the keyed chain it leaves does not verify under the old rule.
"""

from __future__ import annotations

import hashlib
import json
import logging
import secrets
from typing import Any

import sqlalchemy as sa
from alembic import op

from crm_store.models.base import UTCDateTime, utcnow

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None

log = logging.getLogger("crm_store.migrations.0006")
_BATCH = 2000


def _audit_table() -> sa.Table:
    return sa.table(
        "audit_log",
        sa.column("id", sa.Integer()),
        sa.column("at", UTCDateTime(timezone=True)),
        sa.column("actor", sa.String()),
        sa.column("action", sa.String()),
        sa.column("entity", sa.String()),
        sa.column("entity_id", sa.String()),
        sa.column("payload", sa.JSON()),
        sa.column("payload_digest", sa.String()),
        sa.column("redacted", sa.Boolean()),
        sa.column("salt", sa.String()),
        sa.column("key_id", sa.String()),
        sa.column("seq", sa.Integer()),
        sa.column("prev_hash", sa.String()),
        sa.column("hash", sa.String()),
    )


def upgrade() -> None:
    with op.batch_alter_table("audit_log", schema=None) as batch_op:
        batch_op.add_column(sa.Column("salt", sa.String(length=32), nullable=True))
        batch_op.add_column(sa.Column("key_id", sa.String(length=16), nullable=True))
        batch_op.add_column(sa.Column("seq", sa.Integer(), nullable=True))
    _rechain(op.get_bind())


def downgrade() -> None:
    with op.batch_alter_table("audit_log", schema=None) as batch_op:
        batch_op.drop_column("seq")
        batch_op.drop_column("key_id")
        batch_op.drop_column("salt")


# --- the pre-0006 rule, frozen here ----------------------------------------------------------------------
def _canonical(payload: Any) -> str:
    return json.dumps(payload, sort_keys=True, separators=(",", ":"), default=str, ensure_ascii=False)


def _legacy_hash(row: Any, prev: str) -> str:
    line = "|".join([prev, row.at.isoformat(timespec="microseconds"), row.actor, row.action, row.entity,
                     row.entity_id or "", row.payload_digest])
    return hashlib.sha256(line.encode()).hexdigest()


def _legacy_broken_at(conn: sa.Connection, t: sa.Table) -> int | None:
    prev, last = "0" * 64, 0
    while True:
        rows = conn.execute(sa.select(t).where(t.c.id > last).order_by(t.c.id).limit(_BATCH)).all()
        if not rows:
            return None
        for r in rows:
            digest_ok = r.redacted or hashlib.sha256(_canonical(r.payload).encode()).hexdigest() == r.payload_digest
            if r.prev_hash != prev or _legacy_hash(r, prev) != r.hash or not digest_ok:
                return int(r.id)
            prev, last = r.hash, r.id


def _rechain(conn: sa.Connection) -> None:
    from crm_store.services import audit  # the key and MAC of the running code: the chain must match it

    t = _audit_table()
    if conn.execute(sa.select(sa.func.count()).select_from(t)).scalar_one() == 0:
        return
    broken = _legacy_broken_at(conn, t)
    if broken is not None:
        log.warning("the audit log was already altered at entry %s before migration 0006: it is left unkeyed, "
                    "and `crm-assistant audit verify` reports it", broken)
        return
    key = audit.resolve_key(conn.engine.url, create=True)
    prev, seq, last, redacted_ids = audit.GENESIS, 0, 0, []
    while True:
        rows = conn.execute(sa.select(t).where(t.c.id > last).order_by(t.c.id).limit(_BATCH)).all()
        if not rows:
            break
        params = []
        for r in rows:
            seq += 1
            if r.redacted or r.payload is None:
                salt = None
                digest = secrets.token_hex(32) if r.redacted else audit.payload_digest(key, None, None)
                if r.redacted:
                    redacted_ids.append(int(r.id))
            else:
                salt = secrets.token_hex(16)
                digest = audit.payload_digest(key, salt, r.payload)
            mac = audit.entry_mac(key, entry_id=r.id, seq=seq, prev_hash=prev, at=r.at, actor=r.actor,
                                  action=r.action, entity=r.entity, entity_id=r.entity_id, digest=digest,
                                  salted=salt is not None or r.redacted)
            params.append({"b_id": r.id, "b_salt": salt, "b_digest": digest, "b_seq": seq, "b_prev": prev,
                           "b_hash": mac, "b_payload": None if r.redacted else r.payload})
            prev, last = mac, r.id
        conn.execute(
            sa.update(t).where(t.c.id == sa.bindparam("b_id")).values(
                salt=sa.bindparam("b_salt"), payload_digest=sa.bindparam("b_digest"), seq=sa.bindparam("b_seq"),
                prev_hash=sa.bindparam("b_prev"), hash=sa.bindparam("b_hash"), key_id=key.key_id,
                payload=sa.bindparam("b_payload", type_=sa.JSON()),
            ),
            params,
        )
    if redacted_ids:
        _append_redact_entry(conn, t, key, audit, last, seq, prev, redacted_ids)


def _append_redact_entry(conn: sa.Connection, t: sa.Table, key: Any, audit: Any, last: int, seq: int, prev: str,
                         ids: list[int]) -> None:
    """One chained redact entry naming the entries redacted before 0006, so they verify under the new rule."""
    payload = {"ids": audit._ranges(ids), "reason": "before-0006"}
    salt = secrets.token_hex(16)
    digest = audit.payload_digest(key, salt, payload)
    at = utcnow()
    mac = audit.entry_mac(key, entry_id=last + 1, seq=seq + 1, prev_hash=prev, at=at, actor="system:migration",
                          action=audit.REDACT_ACTION, entity=audit.REDACT_ENTITY, entity_id=None, digest=digest,
                          salted=True)
    conn.execute(sa.insert(t).values(
        id=last + 1, seq=seq + 1, at=at, actor="system:migration", action=audit.REDACT_ACTION,
        entity=audit.REDACT_ENTITY, entity_id=None, payload=payload, payload_digest=digest, redacted=False,
        salt=salt, key_id=key.key_id, prev_hash=prev, hash=mac,
    ))
