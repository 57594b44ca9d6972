"""Pipeline and activity reports: the aggregates managers ask for, computed in the database."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from decimal import Decimal
from typing import Any

from sqlalchemy import and_, func, or_, select

from crm_store.models import OPEN_STAGES, STAGES, Activity, Deal, User, utcnow
from crm_store.services.base import Service
from crm_store.services.errors import PermissionDenied
from crm_store.services.policy import Scope


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
    scope: Scope = "all"  # what the report covers for its reader (policy reports.read): own/team/all

    def to_dict(self) -> dict[str, Any]:
        def num(v: Decimal) -> float:
            return float(round(v, 2))

        return {
            "currency": self.currency,
            "open_count": self.open_count,
            "open_total": num(self.open_total),
            "weighted_total": num(self.weighted_total),
            "won_total": num(self.won_total),
            "by_stage": self.by_stage,
            "by_owner": self.by_owner,
            "closing": self.closing,
            "stalled": self.stalled,
            "period": {"from": self.period[0].isoformat(), "to": self.period[1].isoformat()}
            if self.period
            else None,
            "scope": self.scope,
        }


class ReportService(Service):
    """Aggregates over deals and activities, limited to what the reader may see: the policy's
    ``reports.read`` scope (a rep: their own deals; a manager: everyone's), enforced here, so the chat,
    Slack, Teams and any future endpoint all get the same numbers. Every report is audited."""

    entity = "report"

    def _restrict(self, scope: Scope, owner_id: int | None, team_id: int | None) -> tuple[int | None, int | None]:
        """The owner/team filters to use: a narrower scope narrows them; asking for someone outside it
        is refused (rather than silently answering about oneself)."""
        if scope == "all":
            return owner_id, team_id
        me, my_team = self.actor.id, self.actor.team_id
        if scope == "team" and my_team is not None:
            if team_id not in (None, my_team):
                raise PermissionDenied("you may only see your own team's figures")
            if owner_id is not None and owner_id != me:
                owner = self.session.get(User, owner_id)
                if owner is None or owner.team_id != my_team:
                    raise PermissionDenied("you may only see your own team's figures")
            return owner_id, my_team
        if (owner_id not in (None, me)) or team_id is not None:
            raise PermissionDenied("you may only see your own figures")
        return me, None

    def pipeline(
        self,
        *,
        period: tuple[date, date] | None = None,
        owner_id: int | None = None,
        team_id: int | None = None,
        currency: str = "EUR",
        stalled_days: int = 30,
        now: datetime | None = None,
        list_limit: int = 10,
    ) -> PipelineReport:
        """Open pipeline by stage and owner; ``period`` filters on expected close date ([from, to)).
        Limited to the reader's scope (``report.scope`` says which)."""
        scope = self.read_scope()
        owner_id, team_id = self._restrict(scope, owner_id, team_id)
        now = now or utcnow()
        conds: list[Any] = [Deal.currency == currency]
        if owner_id is not None:
            conds.append(Deal.owner_id == owner_id)
        if team_id is not None:
            conds.append(Deal.owner_id.in_(select(User.id).where(User.team_id == team_id)))
        if period is not None:
            conds += [Deal.expected_close_date >= period[0], Deal.expected_close_date < period[1]]
        # One pass over the deals: totals per (stage, owner, probability) give both the stage and the owner
        # table, and the weighting is one multiplication per group instead of per deal.
        rows = self.session.execute(
            select(
                Deal.stage,
                Deal.owner_id,
                Deal.probability,
                func.count(),
                func.coalesce(func.sum(Deal.amount), 0),
            )
            .where(*conds)
            .group_by(Deal.stage, Deal.owner_id, Deal.probability)
        ).all()
        rep = PipelineReport(currency=currency, period=period)
        by_stage = {s: [0, Decimal(0), Decimal(0)] for s in STAGES}
        by_owner: dict[int | None, list[Any]] = {}
        for stage, oid, probability, count, amount in rows:
            total = Decimal(str(amount))
            weighted = total * probability / 100
            acc = by_stage.setdefault(stage, [0, Decimal(0), Decimal(0)])
            acc[0], acc[1], acc[2] = acc[0] + count, acc[1] + total, acc[2] + weighted
            if stage in OPEN_STAGES:
                own = by_owner.setdefault(oid, [0, Decimal(0), Decimal(0)])
                own[0], own[1], own[2] = own[0] + count, own[1] + total, own[2] + weighted
        for stage in STAGES:
            count, total, wsum = by_stage[stage]
            rep.by_stage.append(
                {
                    "stage": stage,
                    "count": count,
                    "total": float(round(total, 2)),
                    "weighted": float(round(wsum, 2)),
                }
            )
            if stage in OPEN_STAGES:
                rep.open_count += count
                rep.open_total += total
                rep.weighted_total += wsum
        rep.won_total = by_stage["won"][1]
        ids = [oid for oid in by_owner if oid is not None]
        names = (
            dict(self.session.execute(select(User.id, User.name).where(User.id.in_(ids))).all())
            if ids
            else {}
        )
        rep.by_owner = [
            {
                "owner_id": oid,
                "owner": names.get(oid) or "-",
                "count": c,
                "total": float(round(t, 2)),
                "weighted": float(round(w, 2)),
            }
            for oid, (c, t, w) in sorted(by_owner.items(), key=lambda kv: (-kv[1][1], kv[0] or 0))
        ]
        today = now.date()
        month_end = (today.replace(day=1) + timedelta(days=32)).replace(day=1)
        close_from, close_to = period or (today, month_end)
        closing = self.session.execute(
            select(Deal)
            .where(
                *conds,
                Deal.stage.in_(OPEN_STAGES),
                Deal.expected_close_date >= close_from,
                Deal.expected_close_date < close_to,
            )
            .order_by(Deal.amount.desc())
            .limit(list_limit)
        ).scalars()
        rep.closing = [_deal_row(d) for d in closing]
        cutoff = now - timedelta(days=stalled_days)
        stalled = self.session.execute(
            select(Deal)
            .where(
                *conds,
                Deal.stage.in_(OPEN_STAGES),
                or_(
                    Deal.last_activity_at < cutoff,
                    and_(Deal.last_activity_at.is_(None), Deal.created_at < cutoff),
                ),
            )
            .order_by(Deal.amount.desc())
            .limit(list_limit)
        ).scalars()
        rep.stalled = [_deal_row(d) for d in stalled]
        rep.scope = scope
        filters = {"period": period, "owner_id": owner_id, "team_id": team_id, "currency": currency}
        self.audit_read("report", filters, rep.open_count, report="pipeline")
        return rep

    def activity_counts(
        self,
        *,
        since: datetime,
        until: datetime,
        user_id: int | None = None,
        team_id: int | None = None,
        type: str | None = None,
    ) -> list[dict[str, Any]]:
        """Logged activities per person and type in [since, until), within the reader's scope."""
        user_id, team_id = self._restrict(self.read_scope(), user_id, team_id)
        conds: list[Any] = [Activity.occurred_at >= since, Activity.occurred_at < until]
        if user_id is not None:
            conds.append(Activity.user_id == user_id)
        if team_id is not None:
            conds.append(User.team_id == team_id)
        if type is not None:
            conds.append(Activity.type == type)
        rows = self.session.execute(
            select(User.id, User.name, Activity.type, func.count())
            .select_from(Activity)
            .outerjoin(User, User.id == Activity.user_id)
            .where(*conds)
            .group_by(User.id, User.name, Activity.type)
            .order_by(User.name, Activity.type)
        ).all()
        self.audit_read("report", {"since": since, "until": until, "user_id": user_id, "team_id": team_id,
                                   "type": type}, len(rows), report="activity_counts")
        return [{"user_id": uid, "user": name or "-", "type": t, "count": c} for uid, name, t, c in rows]


def _deal_row(d: Deal) -> dict[str, Any]:
    return {
        "id": d.id,
        "name": d.name,
        "stage": d.stage,
        "amount": float(d.amount),
        "currency": d.currency,
        "probability": d.probability,
        "owner_id": d.owner_id,
        "expected_close_date": d.expected_close_date.isoformat() if d.expected_close_date else None,
    }
