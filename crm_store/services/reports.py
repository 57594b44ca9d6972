"""Pipeline and activity reports: the aggregates managers ask for, computed in the database."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta
from decimal import Decimal
from typing import TYPE_CHECKING, Any
from zoneinfo import ZoneInfo

from sqlalchemy import and_, false, func, or_, select
from sqlalchemy.sql.elements import ColumnElement

from crm_store.models import (
    OPEN_STAGES,
    STAGES,
    Activity,
    Deal,
    DealStageChange,
    Organization,
    Team,
    User,
    utcnow,
)
from crm_store.models.base import UTCDateTime
from crm_store.services.base import Service
from crm_store.services.errors import PermissionDenied
from crm_store.services.policy import Scope

if TYPE_CHECKING:
    from nlu.pipeline_query import PipelineQuery

DEFAULT_STALLED_DAYS = 30  # no activity for this long: stalled (Settings.pipeline_stalled_days)
DEFAULT_STAGE_AGE_DAYS = 60  # in the same stage for this long: stuck (Settings.pipeline_stage_age_days)
MAX_ROWS = 50


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


@dataclass
class PipelineAnswer:
    """What a pipeline question found: totals over every matching deal, the deals themselves (sorted and
    limited as asked) and, for a breakdown, one row per stage/owner/month. ``unknown`` lists names in the
    question that match no colleague, team or organisation (then nothing is filtered by them)."""

    currency: str
    count: int = 0
    total: Decimal = Decimal(0)
    weighted: Decimal = Decimal(0)
    rows: list[dict[str, Any]] = field(default_factory=list)
    groups: list[dict[str, Any]] = field(default_factory=list)
    unknown: list[str] = field(default_factory=list)
    scope: Scope = "all"
    idle_days: int = DEFAULT_STALLED_DAYS
    stage_age_days: int = DEFAULT_STAGE_AGE_DAYS


class ReportService(Service):
    """Aggregates over deals and activities, limited to what the reader may see: the policy's
    ``reports.read`` scope (a rep: their own deals; a manager: everyone's), enforced here, so the chat,
    Slack, Teams and any future endpoint all get the same numbers. Every report is audited."""

    entity = "report"

    def _restrict(
        self, scope: Scope, owner_id: int | None, team_id: int | None
    ) -> tuple[int | None, int | None]:
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

    def pipeline_query(
        self,
        query: PipelineQuery,
        *,
        now: datetime,
        tz: str = "Europe/Berlin",
        currency: str = "EUR",
        stalled_days: int = DEFAULT_STALLED_DAYS,
        stage_age_days: int = DEFAULT_STAGE_AGE_DAYS,
        list_limit: int = 10,
    ) -> PipelineAnswer:
        """Answer one pipeline question (``nlu.pipeline_query.PipelineQuery``): totals in one aggregate,
        the breakdown in another, the listed deals in a third query, all within the reader's scope
        (policy ``reports.read``; asking for someone outside it is refused). ``now`` is the turn's
        reference time: "stalled", "close date passed" and "in the stage for N days" are measured from it.
        Audited as a bulk read."""
        zone = ZoneInfo(tz)
        today = now.astimezone(zone).date()
        idle = query.idle_days or stalled_days
        stage_age = query.stage_age_days or stage_age_days
        answer = PipelineAnswer(
            currency=(query.currency or currency).upper(), idle_days=idle, stage_age_days=stage_age
        )
        scope = self.read_scope()
        answer.scope = scope
        owner_ids, team_id = self._owner_filters(query, scope, answer.unknown)
        conds: list[Any] = [Deal.currency == answer.currency, Deal.stage.in_(query.effective_stages())]
        if owner_ids is not None:
            conds.append(Deal.owner_id.in_(owner_ids) if owner_ids else false())
        if team_id is not None:
            conds.append(Deal.owner_id.in_(select(User.id).where(User.team_id == team_id)))
        org_ids = self._organization_ids(query.organizations, answer.unknown)
        if org_ids is not None:
            conds.append(Deal.organization_id.in_(org_ids))
        if query.amount_min is not None:
            conds.append(Deal.amount >= query.amount_min)
        if query.amount_max is not None:
            conds.append(Deal.amount <= query.amount_max)
        closed = query.status in ("won", "lost")
        if query.period is not None:
            start, end = query.period
            if closed:  # when it was won/lost; a deal closed without a timestamp counts on its close date
                since = datetime.combine(start, time.min, tzinfo=zone)
                until = datetime.combine(end, time.min, tzinfo=zone)
                conds.append(
                    or_(
                        and_(Deal.closed_at >= since, Deal.closed_at < until),
                        and_(
                            Deal.closed_at.is_(None),
                            Deal.expected_close_date >= start,
                            Deal.expected_close_date < end,
                        ),
                    )
                )
            else:
                conds += [Deal.expected_close_date >= start, Deal.expected_close_date < end]
        entered = (
            select(func.max(DealStageChange.changed_at))
            .where(DealStageChange.deal_id == Deal.id, DealStageChange.to_stage == Deal.stage)
            .correlate(Deal)
            .scalar_subquery()
        )
        stage_since = func.coalesce(entered, Deal.created_at, type_=UTCDateTime())
        if query.risks:
            idle_cutoff = now - timedelta(days=idle)
            age_cutoff = now - timedelta(days=stage_age)
            risky: list[ColumnElement[bool]] = []
            if "stalled" in query.risks:
                risky.append(
                    or_(
                        Deal.last_activity_at < idle_cutoff,
                        and_(Deal.last_activity_at.is_(None), Deal.created_at < idle_cutoff),
                    )
                )
            if "overdue" in query.risks:
                risky.append(Deal.expected_close_date < today)
            if "stage_age" in query.risks:
                risky.append(stage_since < age_cutoff)
            conds += [Deal.stage.in_(OPEN_STAGES), or_(*risky)]

        weighted = func.coalesce(func.sum(Deal.amount * Deal.probability), 0)
        count, total, wsum = self.session.execute(
            select(func.count(), func.coalesce(func.sum(Deal.amount), 0), weighted).where(*conds)
        ).one()
        answer.count = int(count)
        answer.total = Decimal(str(total))
        answer.weighted = Decimal(str(wsum)) / 100
        if query.group_by is not None:
            answer.groups = self._groups(query, conds, closed, zone)
        if query.measure == "list" or answer.count <= list_limit or query.limit:
            limit = min(query.limit or list_limit, MAX_ROWS)
            answer.rows = self._deal_rows(query, conds, stage_since, limit, now, today, idle, stage_age)
        filters = {
            "stages": query.effective_stages(),
            "status": query.status,
            "owner_ids": owner_ids,
            "team_id": team_id,
            "organizations": "<given>" if query.organizations else None,
            "amount": (query.amount_min, query.amount_max),
            "period": query.period,
            "risks": sorted(query.risks),
            "currency": answer.currency,
        }
        self.audit_read("report", filters, answer.count, report="pipeline_query")
        return answer

    def _owner_filters(
        self, query: PipelineQuery, scope: Scope, unknown: list[str]
    ) -> tuple[list[int] | None, int | None]:
        """The owners and team asked for, as ids within the reader's scope (see :meth:`_restrict`)."""
        team_id = None
        if query.team:
            team_id = self.session.execute(
                select(Team.id).where(
                    func.lower(Team.name).in_([query.team.lower(), f"team {query.team.lower()}"])
                )
            ).scalar()
            if team_id is None:
                unknown.append(query.team)
        asked: list[int] = [self.actor.id] if query.mine and self.actor.id is not None else []
        for name in query.owners:
            found = self._user_ids(name)
            if not found:
                unknown.append(name)
            asked += found
        if (query.owners and not asked) or (query.team and team_id is None):
            return [], None  # someone we do not know: nothing, rather than everyone
        if not asked:
            _, team_id = self._restrict(scope, None, team_id)
            return ([self.actor.id] if scope == "own" and self.actor.id is not None else None), team_id
        owners = []
        for oid in dict.fromkeys(asked):
            owner, team_id = self._restrict(scope, oid, team_id)
            if owner is not None:
                owners.append(owner)
        return owners, team_id

    def _user_ids(self, name: str) -> list[int]:
        """Colleagues by name as people say it: full name, first name or surname, any case."""
        key = name.strip().lower()
        if key.endswith("'s") or key.endswith("’s"):
            key = key[:-2]
        if not key:
            return []
        low = func.lower(User.name)
        rows = self.session.execute(
            select(User.id)
            .where(or_(low == key, low.like(f"{key} %"), low.like(f"% {key}")))
            .order_by(User.id)
        ).scalars()
        return list(rows)

    def _organization_ids(self, names: tuple[str, ...], unknown: list[str]) -> list[int] | None:
        if not names:
            return None
        ids: list[int] = []
        for name in names:
            key = name.strip().lower()
            found = list(
                self.session.execute(
                    select(Organization.id).where(
                        or_(
                            func.lower(Organization.name) == key,
                            func.lower(Organization.name).like(f"{key} %"),
                        )
                    )
                ).scalars()
            )
            if not found:
                unknown.append(name)
            ids += found
        return ids

    def _groups(
        self, query: PipelineQuery, conds: list[Any], closed: bool, zone: ZoneInfo
    ) -> list[dict[str, Any]]:
        """The breakdown asked for, summed in the database (months from per-day sums: portable SQL)."""
        weighted = func.coalesce(func.sum(Deal.amount * Deal.probability), 0)
        key: Any = {"stage": Deal.stage, "owner": Deal.owner_id, "month": Deal.expected_close_date}[
            query.group_by or "stage"
        ]
        rows = self.session.execute(
            select(key, func.count(), func.coalesce(func.sum(Deal.amount), 0), weighted)
            .where(*conds)
            .group_by(key)
        ).all()
        acc: dict[Any, list[Any]] = {}
        for k, count, total, wsum in rows:
            if query.group_by == "month":
                k = k.replace(day=1) if k is not None else None
            entry = acc.setdefault(k, [0, Decimal(0), Decimal(0)])
            entry[0] += count
            entry[1] += Decimal(str(total))
            entry[2] += Decimal(str(wsum)) / 100
        names: dict[Any, str] = {}
        if query.group_by == "owner":
            ids = [k for k in acc if k is not None]
            if ids:
                names = dict(self.session.execute(select(User.id, User.name).where(User.id.in_(ids))).all())
        groups = [
            {
                "key": k.isoformat() if isinstance(k, date) else k,
                "label": names.get(k) or ("-" if k is None else k) if query.group_by == "owner" else k,
                "count": c,
                "total": float(round(t, 2)),
                "weighted": float(round(w, 2)),
            }
            for k, (c, t, w) in acc.items()
        ]
        if query.group_by == "stage":
            order = {s: i for i, s in enumerate(STAGES)}
            groups.sort(key=lambda g: order.get(g["key"], 99))
        elif query.group_by == "month":
            groups.sort(key=lambda g: (g["key"] is None, g["key"] or ""))
        else:
            groups.sort(key=lambda g: (-g["total"], str(g["label"])))
        return groups

    def _deal_rows(
        self,
        query: PipelineQuery,
        conds: list[Any],
        stage_since: Any,
        limit: int,
        now: datetime,
        today: date,
        idle: int,
        stage_age: int,
    ) -> list[dict[str, Any]]:
        order: list[Any]
        if query.sort == "close_date":
            close = Deal.expected_close_date
            order = [close.is_(None), close.asc() if not query.descending else close.desc()]
        elif query.sort == "probability":
            order = [Deal.probability.desc(), Deal.amount.desc()]
        elif query.sort == "amount" and not query.descending:
            order = [Deal.amount.asc()]
        else:
            order = [Deal.amount.desc()]
        rows = self.session.execute(
            select(Deal, Organization.name, User.name, stage_since)
            .outerjoin(Organization, Organization.id == Deal.organization_id)
            .outerjoin(User, User.id == Deal.owner_id)
            .where(*conds)
            .order_by(*order, Deal.id)
            .limit(limit)
        ).all()
        out = []
        for deal, org, owner, since in rows:
            row = _deal_row(deal) | {"organization": org, "owner": owner, "risks": []}
            if deal.stage in OPEN_STAGES:
                last = deal.last_activity_at or deal.created_at
                if last is not None and last < now - timedelta(days=idle):
                    row["risks"].append("stalled")
                    row["idle_days"] = (today - last.astimezone(now.tzinfo).date()).days
                if deal.expected_close_date is not None and deal.expected_close_date < today:
                    row["risks"].append("overdue")
                if since is not None:
                    since = since if since.tzinfo else since.replace(tzinfo=UTC_ZONE)
                    if since < now - timedelta(days=stage_age):
                        row["risks"].append("stage_age")
                        row["stage_days"] = (today - since.astimezone(now.tzinfo).date()).days
            out.append(row)
        return out

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
        self.audit_read(
            "report",
            {"since": since, "until": until, "user_id": user_id, "team_id": team_id, "type": type},
            len(rows),
            report="activity_counts",
        )
        return [{"user_id": uid, "user": name or "-", "type": t, "count": c} for uid, name, t, c in rows]


UTC_ZONE = ZoneInfo("UTC")


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
        "closed_at": d.closed_at.isoformat() if d.closed_at else None,
    }
