import itertools
from datetime import datetime
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from hypothesis import given
from hypothesis import strategies as st

from nlu.dates import extract_times
from nlu.numbers import parse_number_word, parse_numeral
from nlu.rule_entities import extract_rule_entities, lexicon, merge_entities
from nlu.types import Entity


def found(text: str, lang: str) -> list[tuple[str, Any]]:
    return [(e.entity, e.value) for e in extract_rule_entities(text, lang)]


def of(kind: str, text: str, lang: str) -> list[Any]:
    return [value for entity, value in found(text, lang) if entity == kind]


@pytest.mark.parametrize(
    ("lang", "text", "expected"),
    [
        ("en", "Add Jane Roe, CTO at Initech, jane@initech.com", ["jane@initech.com"]),
        ("de", "Ihre Adresse ist Anna.Schmidt@Acme-Corp.DE.", ["anna.schmidt@acme-corp.de"]),
        ("en", "write to a.b+crm@mail.example.co.uk or bob@x.io", ["a.b+crm@mail.example.co.uk", "bob@x.io"]),
        ("en", "no address here @ all", []),
    ],
)
def test_email(lang: str, text: str, expected: list[str]) -> None:
    assert of("email", text, lang) == expected


@pytest.mark.parametrize(
    ("lang", "text", "expected"),
    [
        ("en", "Bob's new number is +49 170 5550199", ["+491705550199"]),
        ("de", "Bobs neue Nummer ist 0170 5550199", ["+491705550199"]),
        ("en", "call him on 0170/5550199", ["+491705550199"]),
        ("de", "Tel. 0049 30 1234567", ["+49301234567"]),
        ("en", "office +44 20 7946 0958", ["+442079460958"]),
        ("de", "+49 (0)89 1234567", ["+49891234567"]),
        ("en", "his extension is 5550199", ["5550199"]),
        ("en", "Meeting on 2026-12-04", []),
        ("de", "Termin am 05.03.2027", []),
        ("en", "ticket #4711", []),
        ("de", "Deal über 1.200.000 €", []),
    ],
)
def test_phone(lang: str, text: str, expected: list[str]) -> None:
    assert of("phone", text, lang) == expected


@pytest.mark.parametrize(
    ("lang", "text", "amount", "currency"),
    [
        ("en", "New deal: Initech, 40k EUR, closing end of March", [40000], ["EUR"]),
        ("de", "neuer Deal über 40.000 €", [40000], ["EUR"]),
        ("en", "a €1.2m deal", [1200000], ["EUR"]),
        ("de", "über 1,2 Mio. Euro", [1200000], ["EUR"]),
        ("en", "2.5 million dollars", [2500000], ["USD"]),
        ("de", "fünfzigtausend Euro", [50000], ["EUR"]),
        ("de", "zwanzigtausend", [20000], []),
        ("de", "hunderttausend Franken", [100000], ["CHF"]),
        ("de", "15 Tsd. CHF", [15000], ["CHF"]),
        ("de", "ca. 80'000 CHF", [80000], ["CHF"]),
        ("de", "Betrag 22.000 Fr.", [22000], ["CHF"]),
        ("de", "Wert 95.000", [95000], []),
        ("de", "für 5.000,- € gekauft", [5000], ["EUR"]),
        ("en", "Revenue of $40,000.50 in Q3", [40000.5], ["USD"]),
        ("en", "£3,500", [3500], ["GBP"]),
        ("en", "fifty thousand euros", [50000], ["EUR"]),
        ("en", "USD 12,000", [12000], ["USD"]),
        ("de", "2 Mio", [2000000], []),
        ("en", "switch the currency to USD", [], ["USD"]),
        ("en", "we have 3 open tickets and 12 deals", [], []),
        ("de", "Bitte 5 Lizenzen", [], []),
    ],
)
def test_amount_and_currency(lang: str, text: str, amount: list[Any], currency: list[str]) -> None:
    assert of("amount", text, lang) == amount
    assert of("currency", text, lang) == currency


def test_amount_spans_leave_currency_separate() -> None:
    text = "Deal: 40k EUR"
    amount, currency = extract_rule_entities(text, "en")
    assert (text[amount.start : amount.end], text[currency.start : currency.end]) == ("40k", "EUR")


@pytest.mark.parametrize(
    ("lang", "text", "expected"),
    [
        ("en", "Any news on ticket #4711?", ["4711"]),
        ("de", "Ticket-Nr. 4711", ["4711"]),
        ("de", "Wie ist der Stand von Ticket 4711?", ["4711"]),
        ("en", "TCK-4711 and T-4712", ["4711", "4712"]),
        ("en", "case number: see #12", ["12"]),
        ("en", "ticket", []),
        ("en", "40k EUR", []),
    ],
)
def test_ticket_id(lang: str, text: str, expected: list[str]) -> None:
    assert of("ticket_id", text, lang) == expected


@pytest.mark.parametrize(
    ("text", "surface"),
    [
        ("Any news on ticket #4711?", "#4711"),
        ("status of ticket no 5561", "5561"),
        ("Wie ist der Stand von Ticket 4711?", "4711"),
        ("TCK-2211 still open", "TCK-2211"),
        ("den Verlauf von Ticket 2024-117", "2024-117"),
    ],
)
def test_ticket_span_follows_the_annotation_convention(text: str, surface: str) -> None:
    """As in the training data: '#' and prefixes inside the span, a leading keyword outside."""
    found = [e for e in extract_rule_entities(text, "en") if e.entity == "ticket_id"]
    assert [text[e.start : e.end] for e in found] == [surface]


@pytest.mark.parametrize(
    ("lang", "text", "expected"),
    [
        ("en", "Move the Acme deal to negotiation", ["negotiation"]),
        ("en", "set the Globex opportunity to proposal", ["proposal"]),
        ("en", "stage proposal for the Acme deal", ["proposal"]),
        ("en", "We won the Acme deal", ["won"]),
        ("en", "mark the deal as closed won", ["won"]),
        ("en", "Initech deal is closed-lost", ["lost"]),
        ("en", "the lead is qualified now", ["qualified"]),
        ("de", "Setz den Acme Deal auf Angebot", ["proposal"]),
        ("de", "Deal in die Angebotsphase schieben", ["proposal"]),
        ("de", "Acme ist in Verhandlung", ["negotiation"]),
        ("de", "Deal gewonnen!", ["won"]),
        ("de", "Der Auftrag von Globex ist verloren", ["lost"]),
        ("de", "Stage qualifiziert", ["qualified"]),
        # precision: the document, not the stage; "lost" outside a deal
        ("de", "sie will ein Angebot bis Freitag", []),
        ("en", "Remind me to send Acme the proposal next Monday", []),
        ("en", "I lost my password", []),
        ("de", "Ich habe mein Passwort verloren", []),
        ("en", "she works as lead developer", []),
    ],
)
def test_stage(lang: str, text: str, expected: list[str]) -> None:
    assert of("stage", text, lang) == expected


@pytest.mark.parametrize(
    ("lang", "text", "expected"),
    [
        ("en", "Just called Anna Schmidt from Acme", ["call"]),
        ("en", "rang Bob about the renewal", ["call"]),
        ("en", "phoned Globex", ["call"]),
        ("en", "met Jane at Initech", ["meeting"]),
        ("en", "emailed Bob the quote", ["email"]),
        ("en", "log an email to Anna", ["email"]),
        ("en", "visited Acme in Berlin", ["visit"]),
        ("en", "add a note: wants discount", ["note"]),
        ("de", "Hab mit Anna telefoniert", ["call"]),
        ("de", "Anna hat angerufen", ["call"]),
        ("de", "den Call mit Bob loggen", ["call"]),
        ("de", "Ruf Anna morgen an", ["call"]),
        ("de", "Termin mit Acme gehabt", ["meeting"]),
        ("de", "Mail geschickt an Bob", ["email"]),
        ("de", "Ich habe eine Mail an Bob geschickt", ["email"]),
        ("de", "Kunde Acme besucht", ["visit"]),
        ("de", "war heute vor Ort bei Globex", ["visit"]),
        ("de", "Notiz: Kunde will Rabatt", ["note"]),
        ("de", "Treffen mit Anna", ["meeting"]),
        ("en", "What's Anna's email?", []),
        ("de", "Was ist die E-Mail von Anna?", []),
        ("de", "Wir müssen eine Entscheidung treffen", []),
    ],
)
def test_activity_type(lang: str, text: str, expected: list[str]) -> None:
    assert of("activity_type", text, lang) == expected


@pytest.mark.parametrize(
    ("lang", "text", "expected"),
    [
        ("en", "this is urgent", ["urgent"]),
        ("en", "please fix asap", ["urgent"]),
        ("en", "critical outage", ["urgent"]),
        ("en", "high prio task", ["high"]),
        ("en", "not urgent", ["low"]),
        ("en", "low priority please", ["low"]),
        ("de", "dringend!", ["urgent"]),
        ("de", "bitte sofort", ["urgent"]),
        ("de", "kritisch", ["urgent"]),
        ("de", "das ist wichtig", ["high"]),
        ("de", "nicht dringend, aber wichtig", ["low", "high"]),
        ("de", "hohe Priorität", ["high"]),
        ("en", "the price is high", []),
    ],
)
def test_priority(lang: str, text: str, expected: list[str]) -> None:
    assert of("priority", text, lang) == expected


def test_synonym_file_extends_built_in_words(tmp_path: Path) -> None:
    (tmp_path / "en").mkdir()
    (tmp_path / "en" / "synonyms.yml").write_text(
        'version: "3.1"\nnlu:\n- synonym: call\n  examples: |\n    - buzzed\n    - phone\n'
        "- synonym: urgent\n  examples: |\n    - showstopper\n"
        "- synonym: won\n  examples: |\n    - signed off\n",
        encoding="utf-8",
    )
    lex = lexicon("en", tmp_path)
    assert lex.activity["buzzed"] == "call"
    assert lex.activity["called"] == "call"  # built-in defaults stay
    assert "phone" not in lex.activity  # context-only words are skipped
    assert lex.priority["showstopper"] == "urgent"
    assert lex.stage_strong["signed off"] == "won"
    assert lex.pattern.search("buzzed Anna")


def test_missing_synonym_file_keeps_defaults(tmp_path: Path) -> None:
    assert lexicon("de", tmp_path).activity["telefoniert"] == "call"


def test_merge_prefers_longer_then_more_specific() -> None:
    def e(kind: str, start: int, end: int) -> Entity:
        return Entity(kind, "x", start, end, "test")

    merged = merge_entities([e("phone", 0, 10), e("amount", 2, 5)], [e("time", 0, 10), e("person", 12, 16)])
    assert [(m.entity, m.start) for m in merged] == [("time", 0), ("person", 12)]


def test_dates_and_rules_together_do_not_overlap() -> None:
    now = datetime(2026, 11, 28, 9, 0, tzinfo=ZoneInfo("Europe/Berlin"))
    text = "Deal 40.000 € mit Acme, Abschluss 05.03.2027, Anruf unter +49 170 5550199, Ticket #4711"
    merged = merge_entities(extract_rule_entities(text, "de"), extract_times(text, "de", now=now))
    assert [(m.entity, m.value) for m in merged] == [
        ("amount", 40000),
        ("currency", "EUR"),
        ("time", "2027-03-05"),
        ("activity_type", "call"),
        ("phone", "+491705550199"),
        ("ticket_id", "4711"),
    ]


@pytest.mark.parametrize(
    ("text", "lang", "expected"),
    [("40.000", "de", 40000), ("40.000", "en", 40000), ("1,2", "de", 1.2), ("40,000", "en", 40000),
     ("40,000", "de", 40.0), ("40.000,50", "de", 40000.5), ("1.5", "en", 1.5), ("abc", "en", None)],
)  # fmt: skip
def test_parse_numeral(text: str, lang: str, expected: float | None) -> None:
    assert parse_numeral(text, lang) == expected


@pytest.mark.parametrize(
    ("text", "lang", "expected"),
    [("fünfzigtausend", "de", 50000), ("hunderttausend", "de", 100000), ("einundzwanzig", "de", 21),
     ("dreihundertvierzigtausendfünfhundert", "de", 340500), ("twenty-five", "en", 25),
     ("two hundred thousand", "en", 200000), ("Hausnummer", "de", None), ("banana", "en", None)],
)  # fmt: skip
def test_parse_number_word(text: str, lang: str, expected: int | None) -> None:
    assert parse_number_word(text, lang) == expected


@given(st.text(max_size=100), st.sampled_from(["en", "de"]))
def test_random_text_never_raises_and_offsets_fit(text: str, lang: str) -> None:
    entities = extract_rule_entities(text, lang)
    for entity in entities:
        assert 0 <= entity.start < entity.end <= len(text)
        assert (entity.text or str(entity.value)) == text[entity.start : entity.end]
    for a, b in itertools.pairwise(entities):
        assert a.end <= b.start


@given(
    st.lists(
        st.sampled_from(
            [
                "40k",
                "€",
                "EUR",
                "+49",
                "170",
                "5550199",
                "#4711",
                "Ticket",
                "dringend",
                "Angebot",
                "auf",
                "Deal",
                "called",
                "1,2",
                "Mio.",
                "a@b.de",
                "0170",
                "fünfzigtausend",
                "Tsd.",
                "5.3.",
                "to",
            ]
        ),
        max_size=8,
    ),
    st.sampled_from(["en", "de"]),
)
def test_word_salad_never_raises(words: list[str], lang: str) -> None:
    text = " ".join(words)
    for entity in extract_rule_entities(text, lang):
        assert (entity.text or str(entity.value)) == text[entity.start : entity.end]
