"""Support tickets, their message thread and knowledge-base articles."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import ForeignKey, Index, String, Text
from sqlalchemy.orm import Mapped, mapped_column, relationship

from crm_store.models.base import Base, TimestampMixin, utcnow

TICKET_STATUSES: tuple[str, ...] = ("new", "open", "pending", "solved", "closed")
PRIORITIES: tuple[str, ...] = ("low", "normal", "high", "urgent")
QUEUES: tuple[str, ...] = (
    "billing", "technical", "account", "sales", "cancellation", "complaint", "privacy", "other",
)


class Ticket(Base, TimestampMixin):
    __tablename__ = "tickets"
    __table_args__ = (
        Index("ix_tickets_requester_status", "requester_contact_id", "status"),
        Index("ix_tickets_queue_status", "queue", "status"),
        Index("ix_tickets_assignee_status", "assignee_id", "status"),
    )
    id: Mapped[int] = mapped_column(primary_key=True)
    number: Mapped[int] = mapped_column(unique=True)
    subject: Mapped[str] = mapped_column(String(500))
    description: Mapped[str] = mapped_column(Text, default="")
    status: Mapped[str] = mapped_column(String(16), default="new")
    priority: Mapped[str] = mapped_column(String(16), default="normal")
    queue: Mapped[str] = mapped_column(String(20), default="other")
    language: Mapped[str | None] = mapped_column(String(8))
    team_id: Mapped[int | None] = mapped_column(ForeignKey("teams.id", ondelete="SET NULL"))
    assignee_id: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))
    requester_contact_id: Mapped[int | None] = mapped_column(ForeignKey("contacts.id", ondelete="SET NULL"))
    organization_id: Mapped[int | None] = mapped_column(ForeignKey("organizations.id", ondelete="SET NULL"))
    channel: Mapped[str] = mapped_column(String(20), default="web")
    needs_human: Mapped[bool] = mapped_column(default=False)
    # A ticket opened from a mail that could not join ``related_ticket_id`` (a stranger, failed SPF/DKIM/DMARC)
    # is linked to it and flagged for an agent with the reason.
    related_ticket_id: Mapped[int | None] = mapped_column(ForeignKey("tickets.id", ondelete="SET NULL"))
    review_reason: Mapped[str | None] = mapped_column(String(200))
    first_response_due_at: Mapped[datetime | None]
    resolution_due_at: Mapped[datetime | None]
    first_responded_at: Mapped[datetime | None]
    solved_at: Mapped[datetime | None]
    escalated_at: Mapped[datetime | None]
    # how triage decided (queue, priority, language, confidence, the routing rule that matched, flags):
    # shown to the agent beside the thread; None for tickets that did not come from mail triage
    triage: Mapped[dict[str, Any] | None]
    slack_message: Mapped[str | None] = mapped_column(String(64))  # "<channel>:<ts>" of its Slack console post

    messages: Mapped[list[TicketMessage]] = relationship(
        back_populates="ticket", cascade="all, delete-orphan", order_by="TicketMessage.id"
    )


class TicketMessage(Base):
    __tablename__ = "ticket_messages"
    id: Mapped[int] = mapped_column(primary_key=True)
    ticket_id: Mapped[int] = mapped_column(ForeignKey("tickets.id", ondelete="CASCADE"), index=True)
    message_id: Mapped[str | None] = mapped_column(String(998), unique=True)
    in_reply_to: Mapped[str | None] = mapped_column(String(998))
    direction: Mapped[str] = mapped_column(String(10), default="inbound")  # inbound / outbound / internal
    author_contact_id: Mapped[int | None] = mapped_column(ForeignKey("contacts.id", ondelete="SET NULL"))
    author_user_id: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))
    author_address: Mapped[str | None] = mapped_column(String(320))  # the real sender of a mail, lower-cased
    # To/Cc of a mail on the thread (lower-cased): addresses the agents or the requester brought in
    recipients: Mapped[list[str] | None]
    channel: Mapped[str] = mapped_column(String(20), default="web")
    body: Mapped[str] = mapped_column(Text, default="")
    attachments: Mapped[list[str] | None]  # the file names of a mail's attachments (not their content)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)

    ticket: Mapped[Ticket] = relationship(back_populates="messages")


class KnowledgeArticle(Base, TimestampMixin):
    __tablename__ = "knowledge_articles"
    id: Mapped[int] = mapped_column(primary_key=True)
    language: Mapped[str] = mapped_column(String(8), index=True)
    title: Mapped[str] = mapped_column(String(300))
    body: Mapped[str] = mapped_column(Text)
    tags: Mapped[list[str]] = mapped_column(default=list)
    published: Mapped[bool] = mapped_column(default=True)
