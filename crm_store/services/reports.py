"""Pipeline and activity reports: the aggregates managers ask for, computed in the database."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from decimal import Decimal
from typing import Any

from sqlalchemy import and_, func, or_, select

from crm_store.models import OPEN_STAGES, STAGES, Activity, Deal, User, utcnow
from crm_store.services.base import Service


@dataclass
class PipelineReport:
    currency: str
    open_count: int = 0
    open_total: Decimal = Decimal(0)
    weighted_total: Decimal = Decimal(0)
    by_stage: list[dict[str, Any]] = field(default_factory=list)
    by_owner: list[dict[str, Any]] = field(default_factory=list)
    closing: list[dict[str, Any]] = field(default_factory=list)
    stalled: list[dict[str, Any]] = field(default_factory=list)
    won_total: Decimal = Decimal(0)
    period: tuple[date, date] | None = None

    def to_dict(self) -> dict[str, Any]:
        def num(v: Decimal) -> float:
            return float(round(v, 2))

        return {
            "currency": self.currency, "open_count": self.open_count, "open_total": num(self.open_total),
            "weighted_total": num(self.weighted_total), "won_total": num(self.won_total),
            "by_stage": self.by_stage, "by_owner": self.by_owner, "closing": self.closing,
            "stalled": self.stalled,
            "period": {"from": self.period[0].isoformat(), "to": self.period[1].isoformat()} if self.period else None,
        }


class ReportService(Service):
    entity = "report"

    def pipeline(self, *, period: tuple[date, date] | None = None, owner_id: int | None = None,
                 team_id: int | None = None, currency: str = "EUR", stalled_days: int = 30,
                 now: datetime | None = None, list_limit: int = 10) -> PipelineReport:
        """Open pipeline by stage and owner; ``period`` filters on expected close date ([from, to))."""
        self.require_role("admin", "manager", "rep")
        now = now or utcnow()
        conds: list[Any] = [Deal.currency == currency]
        if owner_id is not None:
            conds.append(Deal.owner_id == owner_id)
        if team_id is not None:
            conds.append(Deal.owner_id.in_(select(User.id).where(User.team_id == team_id)))
        if period is not None:
            conds += [Deal.expected_close_date >= period[0], Deal.expected_close_date < period[1]]
        weighted = func.sum(Deal.amount * Deal.probability / 100)
        rows = self.session.execute(
            select(Deal.stage, func.count(), func.coalesce(func.sum(Deal.amount), 0), func.coalesce(weighted, 0))
            .where(*conds).group_by(Deal.stage)
        ).all()
        rep = PipelineReport(currency=currency, period=period)
        by_stage = {s: (0, Decimal(0), Decimal(0)) for s in STAGES}
        for stage, count, total, wsum in rows:
            by_stage[stage] = (count, Decimal(str(total)), Decimal(str(wsum)))
        for stage in STAGES:
            count, total, wsum = by_stage[stage]
            rep.by_stage.append({"stage": stage, "count": count, "total": float(round(total, 2)),
                                 "weighted": float(round(wsum, 2))})
            if stage in OPEN_STAGES:
                rep.open_count += count
                rep.open_total += total
                rep.weighted_total += wsum
        rep.won_total = by_stage["won"][1]
        owner_rows = self.session.execute(
            select(Deal.owner_id, User.name, func.count(), func.coalesce(func.sum(Deal.amount), 0),
                   func.coalesce(weighted, 0))
            .outerjoin(User, User.id == Deal.owner_id)
            .where(*conds, Deal.stage.in_(OPEN_STAGES)).group_by(Deal.owner_id, User.name)
            .order_by(func.sum(Deal.amount).desc())
        ).all()
        rep.by_owner = [{"owner_id": oid, "owner": name or "-", "count": c, "total": float(round(Decimal(str(t)), 2)),
                         "weighted": float(round(Decimal(str(w)), 2))} for oid, name, c, t, w in owner_rows]
        today = now.date()
        month_end = (today.replace(day=1) + timedelta(days=32)).replace(day=1)
        close_from, close_to = period or (today, month_end)
        closing = self.session.execute(
            select(Deal).where(*conds, Deal.stage.in_(OPEN_STAGES),
                               Deal.expected_close_date >= close_from, Deal.expected_close_date < close_to)
            .order_by(Deal.amount.desc()).limit(list_limit)
        ).scalars()
        rep.closing = [_deal_row(d) for d in closing]
        cutoff = now - timedelta(days=stalled_days)
        stalled = self.session.execute(
            select(Deal).where(*conds, Deal.stage.in_(OPEN_STAGES),
                               or_(Deal.last_activity_at < cutoff,
                                   and_(Deal.last_activity_at.is_(None), Deal.created_at < cutoff)))
            .order_by(Deal.amount.desc()).limit(list_limit)
        ).scalars()
        rep.stalled = [_deal_row(d) for d in stalled]
        return rep

    def activity_counts(self, *, since: datetime, until: datetime, user_id: int | None = None,
                        team_id: int | None = None, type: str | None = None) -> list[dict[str, Any]]:
        """Logged activities per person and type in [since, until)."""
        self.require_role("admin", "manager", "rep")
        conds: list[Any] = [Activity.occurred_at >= since, Activity.occurred_at < until]
        if user_id is not None:
            conds.append(Activity.user_id == user_id)
        if team_id is not None:
            conds.append(User.team_id == team_id)
        if type is not None:
            conds.append(Activity.type == type)
        rows = self.session.execute(
            select(User.id, User.name, Activity.type, func.count())
            .select_from(Activity).outerjoin(User, User.id == Activity.user_id)
            .where(*conds).group_by(User.id, User.name, Activity.type).order_by(User.name, Activity.type)
        ).all()
        return [{"user_id": uid, "user": name or "-", "type": t, "count": c} for uid, name, t, c in rows]


def _deal_row(d: Deal) -> dict[str, Any]:
    return {"id": d.id, "name": d.name, "stage": d.stage, "amount": float(d.amount), "currency": d.currency,
            "probability": d.probability, "owner_id": d.owner_id,
            "expected_close_date": d.expected_close_date.isoformat() if d.expected_close_date else None}
