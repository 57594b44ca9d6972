"""One delivery of a platform event is processed once: ``processed_events`` (source, key) is unique."""

from __future__ import annotations

import asyncio

from sqlalchemy.exc import IntegrityError

from crm_store.db import Database
from crm_store.models import ProcessedEvent

MAX_KEY_CHARS = 998


async def claim_event(db: Database, source: str, key: str) -> bool:
    """Record ``key`` for ``source``; False when it was already recorded (a retry or a duplicate)."""

    def insert() -> bool:
        try:
            with db.session() as session:
                session.add(ProcessedEvent(source=source, key=key[:MAX_KEY_CHARS]))
        except IntegrityError:
            return False
        return True

    return await asyncio.to_thread(insert)
