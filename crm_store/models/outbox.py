"""Outgoing chat messages, stored before they are sent so that nothing is lost while a channel is down.

A row is pending while ``sent_at`` is NULL and ``next_attempt_at`` is set; a delivered row has
``sent_at``; a row that failed for good has neither and says why in ``last_error``.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import Index, LargeBinary, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from crm_store.models.base import Base, utcnow


class OutboxMessage(Base):
    __tablename__ = "outbox_messages"
    __table_args__ = (Index("ix_outbox_messages_pending", "channel", "sent_at", "id"),)
    id: Mapped[int] = mapped_column(primary_key=True)
    channel: Mapped[str] = mapped_column(String(20))  # "slack", "teams", ...
    target: Mapped[str] = mapped_column(String(200))  # where it goes within the channel (a Slack channel id)
    payload: Mapped[dict[str, Any]]  # the call to make, as the channel's connector defines it
    attempts: Mapped[int] = mapped_column(default=0)
    next_attempt_at: Mapped[datetime | None] = mapped_column(default=utcnow)
    sent_at: Mapped[datetime | None]
    last_error: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class QuarantinedMail(Base):
    """An inbound mail that failed triage ``attempts`` times (a poison input): kept whole so an admin can see
    why and replay it (``crm-assistant mail quarantine``), while the mailbox goes on behind it."""

    __tablename__ = "quarantined_mail"
    id: Mapped[int] = mapped_column(primary_key=True)
    source: Mapped[str] = mapped_column(String(20))  # imap / smtp
    mailbox: Mapped[str] = mapped_column(String(300))  # user@host:port/INBOX, or the SMTP listener
    uid: Mapped[int | None]  # IMAP UID within the mailbox's UIDVALIDITY
    message_id: Mapped[str | None] = mapped_column(String(300))
    from_addr: Mapped[str | None] = mapped_column(String(320))
    subject: Mapped[str | None] = mapped_column(String(300))
    raw: Mapped[bytes] = mapped_column(LargeBinary)
    error: Mapped[str] = mapped_column(Text)  # the exception's type and first line, no traceback
    attempts: Mapped[int] = mapped_column(default=1)
    quarantined_at: Mapped[datetime] = mapped_column(default=utcnow)
    replayed_at: Mapped[datetime | None]
    replay_result: Mapped[str | None] = mapped_column(String(200))


class TeamsConversationRef(Base):
    """Where the bot can write to on Teams without being spoken to first (a proactive message).

    One row per conversation the bot has seen (its 1:1 chat with a user, a channel, a group chat), from
    an authenticated activity: the Bot Connector's ``serviceUrl`` for it, the bot's id there and, for a
    1:1 chat, the user it is with. The Teams outbox resolves a row's ``target`` (``ref:<id>``) to this.
    """

    __tablename__ = "teams_conversation_refs"
    __table_args__ = (
        UniqueConstraint("tenant_id", "conversation_id", name="uq_teams_conversation_refs_conversation"),
        Index("ix_teams_conversation_refs_user", "tenant_id", "teams_user_id"),
    )
    id: Mapped[int] = mapped_column(primary_key=True)
    tenant_id: Mapped[str] = mapped_column(String(100))
    conversation_id: Mapped[str] = mapped_column(String(400))
    conversation_type: Mapped[str] = mapped_column(String(20))  # personal / channel / groupChat
    service_url: Mapped[str] = mapped_column(String(500))
    bot_id: Mapped[str] = mapped_column(String(200))
    teams_user_id: Mapped[str | None] = mapped_column(String(200))  # a personal chat's user (AAD object id)
    user_id: Mapped[str | None] = mapped_column(String(200))  # and their Bot Framework id (29:...)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow)
