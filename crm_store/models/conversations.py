"""Dialogue trackers, stored so that a restart loses nothing."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import ForeignKey, Index, String
from sqlalchemy.orm import Mapped, mapped_column

from crm_store.models.base import Base, utcnow


class Conversation(Base):
    """One conversation = one channel + one sender id; ``state`` holds slots, active loop, pending work."""

    __tablename__ = "conversations"
    __table_args__ = (Index("uq_conversation_channel_sender", "channel", "sender_id", unique=True),)
    id: Mapped[int] = mapped_column(primary_key=True)
    channel: Mapped[str] = mapped_column(String(20))
    sender_id: Mapped[str] = mapped_column(String(200))
    speaker: Mapped[str] = mapped_column(String(60), default="anonymous")  # "user:3" / "customer:17"
    state: Mapped[dict[str, Any]] = mapped_column(default=dict)
    paused: Mapped[bool] = mapped_column(default=False)
    ticket_id: Mapped[int | None] = mapped_column(ForeignKey("tickets.id", ondelete="SET NULL"))
    turns: Mapped[int] = mapped_column(default=0)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow, onupdate=utcnow)


class ConversationEvent(Base):
    """Append-only event log of a conversation, in Rasa's event format (user, bot, action, slot, ...)."""

    __tablename__ = "conversation_events"
    __table_args__ = (Index("ix_conversation_events_conv", "conversation_id", "id"),)
    id: Mapped[int] = mapped_column(primary_key=True)
    conversation_id: Mapped[int] = mapped_column(ForeignKey("conversations.id", ondelete="CASCADE"))
    at: Mapped[datetime] = mapped_column(default=utcnow)
    event: Mapped[dict[str, Any]]
