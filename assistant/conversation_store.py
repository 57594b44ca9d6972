"""Loads and saves conversations in the CRM store, one row lock per conversation and turn."""

from __future__ import annotations

from typing import Any

from sqlalchemy import insert, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from assistant.state import ConversationState
from crm_store.models import Conversation, ConversationEvent
from crm_store.models.base import utcnow


def load_for_update(session: Session, channel: str, sender_id: str) -> Conversation:
    """The conversation row, locked for this transaction (PostgreSQL: FOR UPDATE; SQLite: write lock)."""
    stmt = select(Conversation).where(Conversation.channel == channel, Conversation.sender_id == sender_id)
    if session.get_bind().dialect.name == "postgresql":
        stmt = stmt.with_for_update()
    conv = session.execute(stmt).scalar_one_or_none()
    if conv is not None:
        return conv
    try:
        with session.begin_nested():
            conv = Conversation(channel=channel, sender_id=sender_id, state={})
            session.add(conv)
    except IntegrityError:  # another process created it first
        conv = session.execute(stmt).scalar_one()
    return conv


def save(session: Session, conv: Conversation, state: ConversationState, speaker: str) -> None:
    conv.state = state.to_json()
    conv.paused = state.paused
    conv.speaker = speaker
    conv.turns = (conv.turns or 0) + 1
    if state.new_events:  # one executemany, not an INSERT ... RETURNING per event
        now = utcnow()
        session.execute(insert(ConversationEvent), [
            {"conversation_id": conv.id, "at": now, "event": _jsonable(event)} for event in state.new_events
        ])
    state.new_events.clear()


def _jsonable(event: dict[str, Any]) -> dict[str, Any]:
    import json

    return json.loads(json.dumps(event, default=str))
