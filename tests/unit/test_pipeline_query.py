"""nlu.pipeline_query: managers' pipeline questions (en/de) -> PipelineQuery, with the real rule and date
extractors for the entities (names, which the trained NER finds, are given as the parse would give them)."""

from __future__ import annotations

from datetime import date, datetime
from decimal import Decimal
from typing import Any
from zoneinfo import ZoneInfo

import pytest

from nlu.dates import extract_times
from nlu.pipeline_query import ALL_RISKS, PipelineQuery, fill, from_message
from nlu.rule_entities import extract_rule_entities, merge_entities

NOW = datetime(2026, 12, 8, 10, 0, tzinfo=ZoneInfo("Europe/Berlin"))  # a Tuesday
TODAY = NOW.date()
THIS_MONTH = (date(2026, 12, 1), date(2027, 1, 1))
THIS_QUARTER = (date(2026, 10, 1), date(2027, 1, 1))
NEXT_QUARTER = (date(2027, 1, 1), date(2027, 4, 1))
KW51 = (date(2026, 12, 14), date(2026, 12, 21))


def ask(text: str, lang: str = "en", names: dict[str, str] | None = None) -> PipelineQuery:
    entities: list[Any] = list(
        merge_entities(extract_rule_entities(text, lang), extract_times(text, lang, now=NOW))
    )
    for value, kind in (names or {}).items():  # what the NER would add
        start = text.index(value)
        entities.append({"entity": kind, "value": value, "start": start, "end": start + len(value)})
    return fill(text, entities, lang, TODAY)


# (text, language, names the NER finds, expected fields)
CASES: list[tuple[str, str, dict[str, str], dict[str, Any]]] = [
    # --- the three questions
    ("which deals are at risk?", "en", {}, {"measure": "list", "risks": ALL_RISKS}),
    ("top deals by value in negotiation", "en", {},
     {"measure": "list", "stages": ("negotiation",), "sort": "amount", "limit": 5}),
    ("wie viel haben wir diesen Monat gewonnen?", "de", {},
     {"measure": "total", "status": "won", "period": THIS_MONTH}),
    # --- at risk, stalled, overdue, stuck
    ("Which of our deals are in trouble right now?", "en", {}, {"risks": ALL_RISKS}),
    ("anything slipping this quarter?", "en", {}, {"risks": ALL_RISKS, "period": THIS_QUARTER}),
    ("how much is at risk this quarter", "en", {}, {"measure": "total", "risks": ALL_RISKS}),
    ("show me deals nobody has touched in 3 weeks", "en", {},
     {"risks": frozenset({"stalled"}), "idle_days": 21, "period": None}),
    ("which opportunities haven't moved in two weeks", "en", {},
     {"risks": frozenset({"stalled"}), "idle_days": 14, "period": None}),
    ("what's gone cold in the pipeline", "en", {}, {"risks": frozenset({"stalled"}), "idle_days": None}),
    ("which deals haven't had any activity for 45 days", "en", {}, {"risks": frozenset({"stalled"}), "idle_days": 45}),
    ("which deals are past their close date", "en", {}, {"risks": frozenset({"overdue"})}),
    ("list deals stuck in negotiation for too long", "en", {},
     {"risks": frozenset({"stage_age"}), "stages": ("negotiation",)}),
    ("Welche Deals sind gefährdet?", "de", {}, {"measure": "list", "risks": ALL_RISKS}),
    ("Was brennt gerade in der Pipeline?", "de", {}, {"risks": ALL_RISKS}),
    ("Welche Deals sind überfällig?", "de", {}, {"risks": frozenset({"overdue"})}),
    ("Welche Deals liegen seit einem Monat rum ohne Aktivität?", "de", {},
     {"risks": frozenset({"stalled"}), "idle_days": 30}),
    ("Welche Deals hängen zu lange im Angebot?", "de", {},
     {"risks": frozenset({"stage_age"}), "stages": ("proposal",)}),
    # --- top-N and sorting
    ("what are my five biggest deals", "en", {}, {"mine": True, "sort": "amount", "limit": 5}),
    ("top 3 opportunities closing next month", "en", {},
     {"sort": "amount", "limit": 3, "period": (date(2027, 1, 1), date(2027, 2, 1))}),
    ("biggest deal in proposal?", "en", {}, {"stages": ("proposal",), "limit": 1, "sort": "amount"}),
    ("what's the smallest deal we're negotiating", "en", {},
     {"stages": ("negotiation",), "limit": 1, "sort": "amount", "descending": False}),
    ("which deals are most likely to close this month", "en", {}, {"sort": "probability", "period": THIS_MONTH}),
    ("which deals close next week, soonest first", "en", {},
     {"sort": "close_date", "descending": False, "period": KW51}),
    ("Zeig mir die drei größten Deals", "de", {}, {"sort": "amount", "limit": 3}),
    ("Die 10 größten Chancen im nächsten Quartal", "de", {}, {"limit": 10, "period": NEXT_QUARTER}),
    ("Was ist unser größter Deal in der Verhandlung?", "de", {}, {"limit": 1, "stages": ("negotiation",)}),
    ("Welche Deals sind am wahrscheinlichsten diesen Monat?", "de", {}, {"sort": "probability"}),
    # --- won / lost with their period
    ("how many deals did we win last quarter", "en", {},
     {"measure": "count", "status": "won", "period": (date(2026, 7, 1), date(2026, 10, 1))}),
    ("how much did we lose in Q3", "en", {}, {"measure": "total", "status": "lost"}),
    ("how much revenue have we landed this year", "en", {},
     {"status": "won", "period": (date(2026, 1, 1), date(2027, 1, 1))}),
    ("Wie viele Deals haben wir letzten Monat verloren?", "de", {},
     {"measure": "count", "status": "lost", "period": (date(2026, 11, 1), date(2026, 12, 1))}),
    ("Wie viel haben wir im Oktober gewonnen?", "de", {},
     {"status": "won", "period": (date(2026, 10, 1), date(2026, 11, 1))}),
    ("Wie viele Deals haben wir im November verloren?", "de", {},  # last November, not next year's
     {"status": "lost", "period": (date(2026, 11, 1), date(2026, 12, 1))}),
    # --- amounts
    ("total value of open deals over 100k", "en", {},
     {"measure": "total", "status": "open", "amount_min": Decimal(100000), "amount_max": None}),
    ("deals between 20k and 50k in proposal", "en", {},
     {"amount_min": Decimal(20000), "amount_max": Decimal(50000), "stages": ("proposal",)}),
    ("anything under 5k still open?", "en", {}, {"amount_max": Decimal(5000), "status": "open"}),
    ("Meine offenen Deals über 50.000 €", "de", {},
     {"mine": True, "status": "open", "amount_min": Decimal(50000), "currency": "EUR"}),
    ("Deals zwischen 10.000 und 20.000 € mit Abschluss in KW 51", "de", {},
     {"amount_min": Decimal(10000), "amount_max": Decimal(20000), "period": KW51}),
    ("deals without activity for over 30 days", "en", {}, {"amount_min": None, "idle_days": 30}),
    # --- breakdowns and forecasts
    ("break down the pipeline by stage", "en", {}, {"group_by": "stage"}),
    ("forecast by rep for this quarter", "en", {},
     {"measure": "weighted", "group_by": "owner", "period": THIS_QUARTER}),
    ("Gewichtete Prognose nach Vertriebler für dieses Quartal", "de", {},
     {"measure": "weighted", "group_by": "owner", "period": THIS_QUARTER}),
    ("Pipeline pro Monat bis Ende des Jahres", "de", {},
     {"group_by": "month", "period": (TODAY, date(2027, 1, 1))}),
    ("Umsatz nach Phase für Team Nord", "de", {}, {"group_by": "stage", "team": "Nord"}),
    ("what's the weighted pipeline for team North", "en", {}, {"measure": "weighted", "team": "North"}),
    # --- counts, owners, organisations
    ("how many leads do we have", "en", {}, {"measure": "count", "stages": ("lead",)}),
    ("Wie viele Leads haben wir gerade?", "de", {}, {"measure": "count", "stages": ("lead",)}),
    ("Wie viel steckt in der Verhandlungsphase?", "de", {}, {"measure": "total", "stages": ("negotiation",)}),
    ("what's Sarah's weighted forecast for Q1", "en", {"Sarah": "person"},
     {"measure": "weighted", "owners": ("Sarah",), "period": NEXT_QUARTER}),
    ("what deals do we have with Globex", "en", {"Globex": "organization"},
     {"measure": "list", "organizations": ("Globex",)}),
    ("Was läuft bei Müller GmbH?", "de", {"Müller GmbH": "organization"}, {"organizations": ("Müller GmbH",)}),
    ("Was schließt nächste Woche ab?", "de", {}, {"measure": "list", "period": KW51}),
    ("deals closing in 30 days", "en", {}, {"risks": frozenset(), "idle_days": None}),
    # --- the overview: no filter, no measure
    ("how's the pipeline looking?", "en", {}, {"measure": "overview"}),
    ("Wie sieht die Pipeline aus?", "de", {}, {"measure": "overview"}),
    ("how does the pipeline look this quarter?", "en", {}, {"measure": "overview", "period": THIS_QUARTER}),
]  # fmt: skip


@pytest.mark.parametrize(("text", "lang", "names", "expected"), CASES, ids=[c[0] for c in CASES])
def test_questions_fill_the_query(
    text: str, lang: str, names: dict[str, str], expected: dict[str, Any]
) -> None:
    query = ask(text, lang, names)
    got = {key: getattr(query, key) for key in expected}
    assert got == expected, query


def test_at_least_forty_phrasings_in_both_languages() -> None:
    assert len(CASES) >= 40
    assert sum(1 for c in CASES if c[1] == "de") >= 15


def test_a_button_payload_gives_its_entities_and_no_word_rules() -> None:
    message = {
        "text": '/pipeline_status{"stage": "won", "time": {"from": "2026-12-01", "to": "2027-01-01"}}',
        "entities": [
            {"entity": "stage", "value": "won", "start": 0, "end": 0},
            {"entity": "time", "value": {"from": "2026-12-01", "to": "2027-01-01"}, "start": 0, "end": 0},
        ],
    }
    query = from_message(message, "en", TODAY)
    assert (query.status, query.stages, query.period) == ("won", (), THIS_MONTH)


def test_effective_stages_follow_stages_then_status() -> None:
    assert PipelineQuery().effective_stages() == ("lead", "qualified", "proposal", "negotiation")
    assert PipelineQuery(status="won").effective_stages() == ("won",)
    assert PipelineQuery(stages=("proposal",), status="open").effective_stages() == ("proposal",)
    assert len(PipelineQuery(status="any").effective_stages()) == 6


def test_at_risk_thresholds_are_settings() -> None:
    from assistant.settings import Settings, SettingsError

    conf = Settings.from_env({"CRM_PIPELINE_STALLED_DAYS": "14", "CRM_PIPELINE_STAGE_AGE_DAYS": "45"})
    assert (conf.pipeline_stalled_days, conf.pipeline_stage_age_days) == (14, 45)
    assert Settings.from_env({}).pipeline_stalled_days == 30
    with pytest.raises(SettingsError):
        Settings.from_env({"CRM_PIPELINE_STALLED_DAYS": "0"}).check()
