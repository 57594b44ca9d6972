"""ReportService.pipeline_query on SQLite and PostgreSQL: a seeded pipeline, the numbers each question
must give, the reader's scope, the audit entry."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, date, datetime
from decimal import Decimal

import pytest
from sqlalchemy import select, update

from crm_store.db import Database
from crm_store.models import AuditEntry, Deal, DealStageChange
from crm_store.services import Actor, CrmServices
from crm_store.services.errors import PermissionDenied
from crm_store.services.users import actor_for
from nlu.pipeline_query import ALL_RISKS, PipelineQuery

NOW = datetime(2026, 6, 15, 10, 0, tzinfo=UTC)
JUNE = (date(2026, 6, 1), date(2026, 7, 1))


@dataclass
class Pipeline:
    db: Database
    manager: Actor
    rita: Actor
    sam: Actor


def _at(day: str) -> datetime:
    return datetime.fromisoformat(day).replace(hour=12, tzinfo=UTC)


@pytest.fixture
def pipeline(db: Database) -> Pipeline:
    """Nine deals: four open (one overdue, one stalled, one long in its stage), three won (two in June),
    one lost, one in USD."""
    with db.session() as s:
        crm = CrmServices(s, Actor.system("seed"))
        nord, sued = crm.users.create_team("Nord"), crm.users.create_team("Süd")
        rita = crm.users.create(
            {"email": "rita@x.example", "name": "Rita Rep", "role": "rep", "team_id": nord.id}
        )
        sam = crm.users.create(
            {"email": "sam@x.example", "name": "Sam South", "role": "rep", "team_id": sued.id}
        )
        mia = crm.users.create({"email": "mia@x.example", "name": "Mia Manager", "role": "manager"})
        acme = crm.organizations.create({"name": "Acme GmbH"})
        globex = crm.organizations.create({"name": "Globex Ltd"})
        seed = [
            # name, owner, org, amount, stage, close date, last activity, stage entered, closed at
            ("Acme machines", rita, acme, 40000, "proposal", "2026-06-20", "2026-06-10", "2026-06-01", None),
            (
                "Acme service",
                rita,
                acme,
                10000,
                "negotiation",
                "2026-06-05",
                "2026-06-12",
                "2026-05-20",
                None,
            ),
            (
                "Globex rollout",
                sam,
                globex,
                80000,
                "negotiation",
                "2026-07-10",
                "2026-04-01",
                "2026-05-01",
                None,
            ),
            ("Globex pilot", sam, globex, 15000, "lead", "2026-09-30", "2026-06-14", "2026-02-01", None),
            ("Won June A", rita, acme, 30000, "won", "2026-06-30", "2026-06-03", "2026-06-03", "2026-06-03"),
            ("Won June B", sam, globex, 54500, "won", "2026-06-30", "2026-06-11", "2026-06-11", "2026-06-11"),
            ("Won May", rita, acme, 12000, "won", "2026-05-31", "2026-05-20", "2026-05-20", "2026-05-20"),
            ("Lost June", sam, globex, 20000, "lost", "2026-06-30", "2026-06-02", "2026-06-02", "2026-06-02"),
        ]
        for name, owner, org, amount, stage, close, last, entered, closed in seed:
            deal = crm.deals.create(
                {
                    "name": name,
                    "owner_id": owner.id,
                    "organization_id": org.id,
                    "amount": amount,
                    "stage": stage,
                    "expected_close_date": close,
                }
            )
            s.execute(
                update(Deal)
                .where(Deal.id == deal.id)
                .values(
                    last_activity_at=_at(last), created_at=_at("2026-01-02"), closed_at=closed and _at(closed)
                )
            )
            s.execute(
                update(DealStageChange)
                .where(DealStageChange.deal_id == deal.id)
                .values(changed_at=_at(entered))
            )
        crm.deals.create(
            {
                "name": "Dollar deal",
                "owner_id": rita.id,
                "amount": 99999,
                "currency": "USD",
                "stage": "proposal",
            }
        )
        return Pipeline(db, actor_for(mia), actor_for(rita), actor_for(sam))


def ask(p: Pipeline, actor: Actor, **query: object) -> object:
    with p.db.session() as s:
        return CrmServices(s, actor).reports.pipeline_query(PipelineQuery(**query), now=NOW)  # type: ignore[arg-type]


def test_won_this_month_counts_and_sums_the_deals_closed_in_june(pipeline: Pipeline) -> None:
    answer = ask(
        pipeline, pipeline.manager, measure="total", status="won", close_from=JUNE[0], close_to=JUNE[1]
    )
    assert (answer.count, answer.total) == (2, Decimal("84500"))
    assert [r["name"] for r in answer.rows] == ["Won June B", "Won June A"]


def test_at_risk_finds_overdue_stalled_and_stuck_deals_with_their_reasons(pipeline: Pipeline) -> None:
    answer = ask(pipeline, pipeline.manager, measure="list", risks=ALL_RISKS)
    assert (answer.count, answer.total) == (3, Decimal("105000"))
    reasons = {r["name"]: r["risks"] for r in answer.rows}
    assert reasons == {
        "Globex rollout": ["stalled"],
        "Globex pilot": ["stage_age"],
        "Acme service": ["overdue"],
    }
    assert answer.rows[0]["name"] == "Globex rollout"  # biggest first
    assert answer.rows[0]["idle_days"] == 75


def test_thresholds_come_from_the_caller_or_the_question(pipeline: Pipeline) -> None:
    with pipeline.db.session() as s:
        reports = CrmServices(s, pipeline.manager).reports
        strict = reports.pipeline_query(
            PipelineQuery(measure="list", risks=frozenset({"stalled"})), now=NOW, stalled_days=2
        )
        asked = reports.pipeline_query(
            PipelineQuery(measure="list", risks=frozenset({"stalled"}), idle_days=4), now=NOW, stalled_days=90
        )
    assert {r["name"] for r in strict.rows} == {"Globex rollout", "Acme machines", "Acme service"}
    assert {r["name"] for r in asked.rows} == {"Globex rollout", "Acme machines"}


def test_top_two_in_negotiation_by_value(pipeline: Pipeline) -> None:
    answer = ask(pipeline, pipeline.manager, measure="list", stages=("negotiation",), sort="amount", limit=1)
    assert (answer.count, answer.total, answer.weighted) == (2, Decimal("90000"), Decimal("67500"))
    assert [r["name"] for r in answer.rows] == ["Globex rollout"]
    assert answer.rows[0]["organization"] == "Globex Ltd" and answer.rows[0]["owner"] == "Sam South"


def test_amount_range_is_inclusive_and_other_currencies_stay_out(pipeline: Pipeline) -> None:
    answer = ask(
        pipeline, pipeline.manager, measure="list", amount_min=Decimal(10000), amount_max=Decimal(20000)
    )
    assert sorted(r["name"] for r in answer.rows) == ["Acme service", "Globex pilot"]
    usd = ask(pipeline, pipeline.manager, measure="total", currency="USD")
    assert (usd.count, usd.total) == (1, Decimal("99999"))


def test_weighted_forecast_by_owner_and_by_month(pipeline: Pipeline) -> None:
    by_owner = ask(pipeline, pipeline.manager, measure="weighted", group_by="owner")
    assert by_owner.weighted == Decimal("89000")
    assert [(g["label"], g["count"], g["weighted"]) for g in by_owner.groups] == [
        ("Sam South", 2, 61500.0),
        ("Rita Rep", 2, 27500.0),
    ]
    by_month = ask(pipeline, pipeline.manager, measure="total", group_by="month")
    assert [(g["key"], g["total"]) for g in by_month.groups] == [
        ("2026-06-01", 50000.0),
        ("2026-07-01", 80000.0),
        ("2026-09-01", 15000.0),
    ]


def test_owner_team_organisation_and_close_period_filters(pipeline: Pipeline) -> None:
    assert ask(pipeline, pipeline.manager, measure="count", owners=("Sam",)).count == 2
    assert ask(pipeline, pipeline.manager, measure="count", team="Nord").count == 2
    assert ask(pipeline, pipeline.manager, measure="count", organizations=("Globex",)).count == 2
    closing = ask(pipeline, pipeline.manager, measure="list", close_from=JUNE[0], close_to=JUNE[1])
    assert sorted(r["name"] for r in closing.rows) == ["Acme machines", "Acme service"]
    unknown = ask(pipeline, pipeline.manager, measure="count", owners=("Nobody Known",))
    assert unknown.unknown == ["Nobody Known"] and unknown.count == 0


def test_a_rep_sees_only_their_own_and_is_refused_someone_elses(pipeline: Pipeline) -> None:
    mine = ask(pipeline, pipeline.rita, measure="list", risks=ALL_RISKS)
    assert [r["name"] for r in mine.rows] == ["Acme service"] and mine.scope == "own"
    assert ask(pipeline, pipeline.rita, measure="total", status="won").total == Decimal("42000")
    with pytest.raises(PermissionDenied):
        ask(pipeline, pipeline.rita, measure="list", owners=("Sam South",))
    with pytest.raises(PermissionDenied):
        ask(pipeline, pipeline.rita, measure="list", team="Süd")


def test_every_question_is_an_audited_bulk_read(pipeline: Pipeline) -> None:
    ask(pipeline, pipeline.rita, measure="list", organizations=("Acme",), risks=ALL_RISKS)
    with pipeline.db.session() as s:
        entry = s.execute(select(AuditEntry).order_by(AuditEntry.id.desc())).scalars().first()
    assert entry is not None and entry.action == "report" and entry.actor == f"user:{pipeline.rita.id}"
    assert (
        entry.payload is not None
        and entry.payload["report"] == "pipeline_query"
        and entry.payload["rows"] == 1
    )
    assert "Acme" not in str(entry.payload)  # the organisation asked for is personal: only "<given>"


def test_attack_a_customer_gets_no_pipeline_figures(pipeline: Pipeline) -> None:
    with pipeline.db.session() as s:
        contact = CrmServices(s, Actor.system("seed")).contacts.create(
            {"first_name": "Eve", "last_name": "Kunde"}
        )
    for customer in (Actor.customer(contact.id), Actor.customer(None)):
        with pytest.raises(PermissionDenied):
            ask(pipeline, customer, measure="total", status="won")
