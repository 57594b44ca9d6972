"""Deals (opportunities) with stage history."""

from __future__ import annotations

from datetime import date, datetime
from decimal import Decimal

from sqlalchemy import ForeignKey, Index, Numeric, String
from sqlalchemy.orm import Mapped, mapped_column, relationship

from crm_store.models.base import Base, TimestampMixin, utcnow
from crm_store.models.people import Organization

STAGES: tuple[str, ...] = ("lead", "qualified", "proposal", "negotiation", "won", "lost")
DEFAULT_PROBABILITY: dict[str, int] = {
    "lead": 10, "qualified": 25, "proposal": 50, "negotiation": 75, "won": 100, "lost": 0,
}
OPEN_STAGES: tuple[str, ...] = ("lead", "qualified", "proposal", "negotiation")


class Deal(Base, TimestampMixin):
    __tablename__ = "deals"
    __table_args__ = (
        Index("ix_deals_stage_owner", "stage", "owner_id"),
        # The pipeline report reads only these columns: one index serves the whole pipeline, and a
        # quarter's deals come straight from the close-date index (no table reads on SQLite).
        Index(
            "ix_deals_pipeline", "currency", "stage", "owner_id", "probability", "expected_close_date", "amount"
        ),
        Index(
            "ix_deals_close", "expected_close_date", "currency", "stage", "owner_id", "probability", "amount"
        ),
        Index("ix_deals_amount", "amount"),  # "the ten biggest closing/stalled deals" stop after a few rows
    )
    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(300))
    organization_id: Mapped[int | None] = mapped_column(
        ForeignKey("organizations.id", ondelete="SET NULL"), index=True
    )
    contact_id: Mapped[int | None] = mapped_column(ForeignKey("contacts.id", ondelete="SET NULL"))
    owner_id: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))
    amount: Mapped[Decimal] = mapped_column(Numeric(14, 2), default=Decimal(0))
    currency: Mapped[str] = mapped_column(String(3), default="EUR")
    stage: Mapped[str] = mapped_column(String(16), default="lead")
    probability: Mapped[int] = mapped_column(default=10)
    expected_close_date: Mapped[date | None]
    closed_at: Mapped[datetime | None]
    last_activity_at: Mapped[datetime | None]

    organization: Mapped[Organization | None] = relationship()
    history: Mapped[list[DealStageChange]] = relationship(
        back_populates="deal", cascade="all, delete-orphan", order_by="DealStageChange.id"
    )


class DealStageChange(Base):
    __tablename__ = "deal_stage_changes"
    id: Mapped[int] = mapped_column(primary_key=True)
    deal_id: Mapped[int] = mapped_column(ForeignKey("deals.id", ondelete="CASCADE"), index=True)
    from_stage: Mapped[str | None] = mapped_column(String(16))
    to_stage: Mapped[str] = mapped_column(String(16))
    changed_at: Mapped[datetime] = mapped_column(default=utcnow)
    changed_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))

    deal: Mapped[Deal] = relationship(back_populates="history")
