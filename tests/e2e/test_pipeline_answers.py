"""Pipeline questions end to end (trained NLU, engine, actions, SQLite): each gets its answer, not the
four-message status dump."""

from __future__ import annotations

import asyncio
import uuid
from dataclasses import replace
from datetime import datetime, time, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import update

from assistant.app import build_assistant
from assistant.messages import IncomingMessage
from crm_store.db import Database
from crm_store.models import Deal, DealStageChange
from crm_store.services import Actor, CrmServices
from tests.e2e.conftest import seed

BERLIN = ZoneInfo("Europe/Berlin")
DUMP_MARKERS = ("Team pipeline", "Team-Pipeline", "Open deals by owner", "Stalled (no activity")


@pytest.fixture
def chat(trained_nlu: Any, sqlite_db: Database) -> Any:
    """A manager's chat over the e2e seed plus: two deals won today, one won months ago, one lost today, a
    stalled deal and an overdue one in negotiation (Acme machines, in proposal, is fine)."""
    personas = seed(sqlite_db)
    rita = personas["rep"].id
    today = datetime.now(BERLIN).date()
    noon = datetime.combine(today, time(12), tzinfo=BERLIN)
    with sqlite_db.session() as s:
        crm = CrmServices(s, Actor.system("seed"))
        rows = [
            ("Müller Wartung", 30000, "won", noon, None, None),
            ("Globex Lizenz", 54500, "won", noon, None, None),
            ("Old win", 12000, "won", noon - timedelta(days=100), None, None),
            ("Lost today", 20000, "lost", noon, None, None),
            (
                "Globex rollout",
                80000,
                "negotiation",
                None,
                noon - timedelta(days=60),
                today + timedelta(days=40),
            ),
            ("Acme service", 10000, "negotiation", None, noon - timedelta(days=1), today - timedelta(days=2)),
        ]
        for name, amount, stage, closed, last, close_date in rows:
            deal = crm.deals.create(
                {
                    "name": name,
                    "amount": amount,
                    "stage": stage,
                    "owner_id": rita,
                    "expected_close_date": close_date,
                }
            )
            s.execute(update(Deal).where(Deal.id == deal.id).values(closed_at=closed, last_activity_at=last))
            s.execute(
                update(DealStageChange)
                .where(DealStageChange.deal_id == deal.id)
                .values(changed_at=noon - timedelta(days=5))
            )
    assistant = build_assistant(sqlite_db, trained_nlu, embedder=getattr(trained_nlu, "embedder", None))

    def say(text: str, actor: Actor = personas["manager"]) -> list[dict[str, Any]]:
        return asyncio.run(
            assistant.handle(IncomingMessage("web", f"pq-{uuid.uuid4().hex[:8]}", text, actor))
        )

    say.personas = personas  # type: ignore[attr-defined]
    return say


def _no_dump(replies: list[dict[str, Any]]) -> None:
    said = "\n".join(r.get("text") or "" for r in replies)
    assert not any(marker in said for marker in DUMP_MARKERS), said
    assert len(replies) == 1, replies


def test_which_deals_are_at_risk(chat: Any) -> None:
    replies = chat("which deals are at risk?")
    _no_dump(replies)
    text = replies[0]["text"]
    assert text.startswith("2 deals worth EUR 90,000 are at risk"), text
    table = replies[0]["custom"]
    assert [r[0] for r in table["rows"]] == ["Globex rollout", "Acme service"]
    assert table["rows"][0][-1] == "no activity for 60 days" and table["rows"][1][-1] == "close date passed"


def test_top_deals_by_value_in_negotiation(chat: Any) -> None:
    replies = chat("top deals by value in negotiation")
    _no_dump(replies)
    assert replies[0]["text"] == "2 deals in negotiation, biggest first (EUR 90,000 in total):"
    assert [r[:4] for r in replies[0]["custom"]["rows"]] == [
        ["Globex rollout", "-", "negotiation", "EUR 80,000"],
        ["Acme service", "-", "negotiation", "EUR 10,000"],
    ]


def test_wie_viel_haben_wir_diesen_monat_gewonnen(chat: Any) -> None:
    manager_de = replace(chat.personas["manager"], language="de")
    replies = chat("wie viel haben wir diesen Monat gewonnen?", manager_de)
    _no_dump(replies)
    assert replies[0]["text"] == "Diesen Monat haben wir 2 Deals über 84.500 EUR gewonnen."
    assert sorted(r[0] for r in replies[0]["custom"]["rows"]) == ["Globex Lizenz", "Müller Wartung"]


def test_a_rep_asking_about_a_colleague_is_refused_and_the_overview_still_answers_how_it_looks(
    chat: Any,
) -> None:
    assert (
        "isn't available"
        in chat("what's Mia Manager's pipeline for this quarter?", chat.personas["rep_de"])[0]["text"]
    )
    overview = chat("how does the pipeline look this quarter?")
    assert overview[0]["text"].startswith("Team pipeline")


def test_the_same_answer_renders_as_an_adaptive_card_for_teams(chat: Any) -> None:
    from connectors.teams.render import render

    activity = render(chat("which deals are at risk?"))
    [card] = activity["attachments"]
    body = card["content"]["body"]
    assert body[0]["type"] == "TextBlock" and body[0]["text"].startswith(
        "2 deals worth EUR 90,000 are at risk"
    )
    table = next(b for b in body if b["type"] == "Table")
    assert len(table["rows"]) == 3  # header + two deals


def test_a_rep_hears_about_their_own_wins(chat: Any) -> None:
    replies = chat("how much did we win this month?", chat.personas["rep"])
    assert replies[0]["text"] == "You won 2 deals worth EUR 84,500 this month."
