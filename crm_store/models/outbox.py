"""Outgoing chat messages, stored before they are sent so that nothing is lost while a channel is down.

A row is pending while ``sent_at`` is NULL and ``next_attempt_at`` is set; a delivered row has
``sent_at``; a row that failed for good has neither and says why in ``last_error``.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import Index, String, Text
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
