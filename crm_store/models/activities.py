"""Activities (calls, meetings, e-mails, visits, notes) and tasks."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import ForeignKey, Index, String, Text
from sqlalchemy.orm import Mapped, mapped_column, relationship

from crm_store.models.base import Base, TimestampMixin
from crm_store.models.people import Contact, Organization

ACTIVITY_TYPES: tuple[str, ...] = ("call", "meeting", "email", "visit", "note")
TASK_STATUSES: tuple[str, ...] = ("open", "done", "cancelled")


class Activity(Base, TimestampMixin):
    __tablename__ = "activities"
    __table_args__ = (
        Index("ix_activities_contact_time", "contact_id", "occurred_at"),
        Index("ix_activities_org_time", "organization_id", "occurred_at"),
        Index("ix_activities_user_time", "user_id", "occurred_at"),
    )
    id: Mapped[int] = mapped_column(primary_key=True)
    type: Mapped[str] = mapped_column(String(16))
    contact_id: Mapped[int | None] = mapped_column(ForeignKey("contacts.id", ondelete="SET NULL"))
    organization_id: Mapped[int | None] = mapped_column(ForeignKey("organizations.id", ondelete="SET NULL"))
    deal_id: Mapped[int | None] = mapped_column(ForeignKey("deals.id", ondelete="SET NULL"), index=True)
    user_id: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))
    occurred_at: Mapped[datetime]
    summary: Mapped[str] = mapped_column(Text, default="")
    outcome: Mapped[str | None] = mapped_column(String(200))
    channel: Mapped[str | None] = mapped_column(String(30))

    contact: Mapped[Contact | None] = relationship()
    organization: Mapped[Organization | None] = relationship()


class Task(Base, TimestampMixin):
    __tablename__ = "tasks"
    __table_args__ = (Index("ix_tasks_assignee_status_due", "assignee_id", "status", "due_at"),)
    id: Mapped[int] = mapped_column(primary_key=True)
    title: Mapped[str] = mapped_column(String(500))
    due_at: Mapped[datetime | None]
    status: Mapped[str] = mapped_column(String(16), default="open")
    contact_id: Mapped[int | None] = mapped_column(ForeignKey("contacts.id", ondelete="SET NULL"), index=True)
    organization_id: Mapped[int | None] = mapped_column(ForeignKey("organizations.id", ondelete="SET NULL"))
    deal_id: Mapped[int | None] = mapped_column(ForeignKey("deals.id", ondelete="SET NULL"))
    assignee_id: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))
    activity_id: Mapped[int | None] = mapped_column(ForeignKey("activities.id", ondelete="SET NULL"))
    completed_at: Mapped[datetime | None]
