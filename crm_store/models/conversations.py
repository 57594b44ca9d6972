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


class ConversationGrant(Base):
    """What a customer has proven inside one conversation, never more than that conversation.

    ``method`` ``created``: the conversation opened ``ticket_id`` (for a contact whose address it typed, which
    proves nothing else). ``method`` ``code``: a one-time code was sent to ``contact_id``'s address; once
    ``granted_at`` is set the conversation acts as that contact until it has been idle too long
    (``last_used_at``). The code is stored only as a hash, tries are counted and it expires.
    """

    __tablename__ = "conversation_grants"
    __table_args__ = (Index("ix_conversation_grants_conversation", "conversation", "id"),)
    id: Mapped[int] = mapped_column(primary_key=True)
    conversation: Mapped[str] = mapped_column(String(300))
    contact_id: Mapped[int | None] = mapped_column(ForeignKey("contacts.id", ondelete="CASCADE"), index=True)
    ticket_id: Mapped[int | None] = mapped_column(ForeignKey("tickets.id", ondelete="CASCADE"))
    method: Mapped[str] = mapped_column(String(16))  # created / code
    code_hash: Mapped[str | None] = mapped_column(String(64))
    attempts: Mapped[int] = mapped_column(default=0)
    code_expires_at: Mapped[datetime | None]
    granted_at: Mapped[datetime | None]
    last_used_at: Mapped[datetime | None]
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
