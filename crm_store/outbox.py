"""The outbox table's two shared moves: what is pending on a channel, and claiming one row before sending.

Every channel's deliverer (``connectors/slack/outbox.py``, ``connectors/email/outbox.py``) reads the pending
rows, claims one (``attempts + 1`` and a lease, compared-and-set on ``attempts``, so a second process or a
crash mid-send cannot send it twice at once), sends it its own way and records the outcome.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import select, update

from crm_store.db import Database
from crm_store.models import OutboxMessage


@dataclass(frozen=True)
class Pending:
    """A row waiting to be sent, detached from its session."""

    id: int
    target: str
    attempts: int
    due: datetime
    payload: dict[str, Any]


def pending(db: Database, channel: str, *, limit: int) -> list[Pending]:
    """The oldest ``limit`` rows of ``channel`` neither sent nor given up, oldest first."""
    with db.session() as session:
        rows = session.execute(
            select(OutboxMessage)
            .where(
                OutboxMessage.channel == channel,
                OutboxMessage.sent_at.is_(None),
                OutboxMessage.next_attempt_at.is_not(None),
            )
            .order_by(OutboxMessage.id)
            .limit(limit)
        ).scalars()
        return [Pending(r.id, r.target, r.attempts, r.next_attempt_at, dict(r.payload or {}))
                for r in rows if r.next_attempt_at is not None]  # fmt: skip


def claim(db: Database, row: Pending, now: datetime, *, lease_seconds: float) -> bool:
    """Take ``row`` for one attempt; False when another process took it first (or it was sent meanwhile)."""
    with db.session() as session:
        result = session.execute(
            update(OutboxMessage)
            .where(
                OutboxMessage.id == row.id,
                OutboxMessage.attempts == row.attempts,
                OutboxMessage.sent_at.is_(None),
            )
            .values(attempts=row.attempts + 1, next_attempt_at=now + timedelta(seconds=lease_seconds))
            .execution_options(synchronize_session=False)
        )
        return bool(getattr(result, "rowcount", 0) == 1)
