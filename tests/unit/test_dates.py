from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from hypothesis import given
from hypothesis import strategies as st

from nlu.dates import extract_times

BERLIN = ZoneInfo("Europe/Berlin")
SATURDAY = datetime(2026, 11, 28, 9, 0, tzinfo=BERLIN)
WEDNESDAY = datetime(2026, 12, 2, 16, 0, tzinfo=BERLIN)


def period(start: str, end: str) -> dict[str, str]:
    return {"from": start, "to": end}


def only_value(text: str, lang: str, now: datetime = SATURDAY, **kwargs: Any) -> Any:
    entities = extract_times(text, lang, now=now, **kwargs)
    assert len(entities) == 1, entities
    return entities[0].value


SATURDAY_CASES = [
    # the contract's examples
    ("en", "Just called Anna Schmidt from Acme, she wants a quote by Friday", "2026-12-04"),
    ("en", "Remind me to send Acme the proposal next Monday", "2026-11-30"),
    ("en", "New deal: Initech, 40k EUR, closing end of March", "2027-03-31"),
    ("en", "How does the pipeline look this quarter?", period("2026-10-01", "2027-01-01")),
    ("en", "How many calls did the team log last week?", period("2026-11-16", "2026-11-23")),
    ("en", "What's on my list today?", "2026-11-28"),
    ("en", "I can't log in since this morning", period("2026-11-28", "2026-11-29")),
    # dateparser's German failures
    ("de", "Ruf Anna nächsten Dienstag um 10 Uhr an", "2026-12-01T10:00:00+01:00"),
    ("de", "Abschluss bis Ende des Monats", "2026-11-30"),
    # relative days
    ("en", "tomorrow", "2026-11-29"),
    ("en", "the day after tomorrow", "2026-11-30"),
    ("en", "yesterday", "2026-11-27"),
    ("de", "heute", "2026-11-28"),
    ("de", "morgen", "2026-11-29"),
    ("de", "übermorgen", "2026-11-30"),
    ("de", "gestern", "2026-11-27"),
    ("de", "Morgen rufe ich an", "2026-11-29"),
    # weekdays
    ("en", "Friday", "2026-12-04"),
    ("en", "on Saturday", "2026-11-28"),
    ("en", "next Tuesday", "2026-12-01"),
    ("en", "next Saturday", "2026-12-05"),
    ("en", "this Friday", "2026-12-04"),
    ("en", "last Monday", "2026-11-23"),
    ("en", "Friday next week", "2026-12-04"),
    ("en", "next week on Wednesday", "2026-12-02"),
    ("de", "am Freitag", "2026-12-04"),
    ("de", "diesen Freitag", "2026-12-04"),
    ("de", "nächsten Dienstag", "2026-12-01"),
    ("de", "nächsten Samstag", "2026-12-05"),
    ("de", "letzten Montag", "2026-11-23"),
    ("de", "nächste Woche Mittwoch", "2026-12-02"),
    ("de", "Freitag nächster Woche", "2026-12-04"),
    # weeks, months, quarters, years
    ("en", "next week", period("2026-11-30", "2026-12-07")),
    ("de", "nächste Woche", period("2026-11-30", "2026-12-07")),
    ("de", "letzte Woche", period("2026-11-16", "2026-11-23")),
    ("en", "this month", period("2026-11-01", "2026-12-01")),
    ("en", "next month", period("2026-12-01", "2027-01-01")),
    ("de", "letzten Monat", period("2026-10-01", "2026-11-01")),
    ("en", "this year", period("2026-01-01", "2027-01-01")),
    ("de", "heuer", period("2026-01-01", "2027-01-01")),
    ("de", "dieses Jahr", period("2026-01-01", "2027-01-01")),
    ("de", "dieses Quartal", period("2026-10-01", "2027-01-01")),
    ("en", "last quarter", period("2026-07-01", "2026-10-01")),
    ("en", "Q3", period("2027-07-01", "2027-10-01")),
    ("en", "Q4", period("2026-10-01", "2027-01-01")),
    ("de", "Abschluss Q1 2027", period("2027-01-01", "2027-04-01")),
    ("de", "im 3. Quartal", period("2027-07-01", "2027-10-01")),
    ("de", "KW 12", period("2027-03-22", "2027-03-29")),
    ("de", "in KW12", period("2027-03-22", "2027-03-29")),
    ("en", "calendar week 50", period("2026-12-07", "2026-12-14")),
    ("de", "im März", period("2027-03-01", "2027-04-01")),
    ("de", "im Jänner", period("2027-01-01", "2027-02-01")),
    ("de", "Feber 2027", period("2027-02-01", "2027-03-01")),
    ("de", "im November", period("2026-11-01", "2026-12-01")),
    ("en", "in May", period("2027-05-01", "2027-06-01")),
    ("en", "last 30 days", period("2026-10-30", "2026-11-29")),
    ("de", "in den letzten 7 Tagen", period("2026-11-22", "2026-11-29")),
    ("en", "next 7 days", period("2026-11-28", "2026-12-05")),
    ("de", "seit Montag", period("2026-11-23", "2026-11-29")),
    ("en", "since last week", period("2026-11-16", "2026-11-29")),
    ("en", "this weekend", period("2026-11-28", "2026-11-30")),
    # offsets and month edges
    ("en", "in two weeks", "2026-12-12"),
    ("de", "in zwei Wochen", "2026-12-12"),
    ("de", "in 3 Tagen", "2026-12-01"),
    ("de", "vor 3 Tagen", "2026-11-25"),
    ("en", "3 days ago", "2026-11-25"),
    ("en", "end of the month", "2026-11-30"),
    ("de", "Monatsende", "2026-11-30"),
    ("de", "Ende März", "2027-03-31"),
    ("de", "Anfang nächsten Monats", "2026-12-01"),
    ("en", "end of the week", "2026-12-04"),
    ("en", "end of Q4", "2026-12-31"),
    # explicit dates
    ("de", "am 5.3.", "2027-03-05"),
    ("de", "05.03.2027", "2027-03-05"),
    ("de", "am 5. März", "2027-03-05"),
    ("de", "15. Dezember", "2026-12-15"),
    ("en", "March 5th", "2027-03-05"),
    ("en", "5 March", "2027-03-05"),
    ("en", "December 15, 2026", "2026-12-15"),
    ("en", "2026-12-04", "2026-12-04"),
    ("en", "3/5", "2027-03-05"),
    ("en", "12/24/2026", "2026-12-24"),
    # times of day
    ("de", "um 10 Uhr", "2026-11-28T10:00:00+01:00"),
    ("en", "at 10am", "2026-11-28T10:00:00+01:00"),
    ("en", "3pm", "2026-11-28T15:00:00+01:00"),
    ("de", "um 14:30", "2026-11-28T14:30:00+01:00"),
    ("de", "um 8 Uhr", "2026-11-29T08:00:00+01:00"),
    ("de", "morgen um halb drei", "2026-11-29T14:30:00+01:00"),
    ("en", "tomorrow at half past two", "2026-11-29T14:30:00+01:00"),
    ("de", "morgen früh", "2026-11-29T09:00:00+01:00"),
    ("de", "heute Morgen", "2026-11-28T09:00:00+01:00"),
    ("de", "morgen Nachmittag", "2026-11-29T15:00:00+01:00"),
    ("de", "Freitag um 3 nachmittags", "2026-12-04T15:00:00+01:00"),
    ("de", "morgen abends um 8", "2026-11-29T20:00:00+01:00"),
    ("de", "Montag vormittags", "2026-11-30T10:00:00+01:00"),
    ("en", "tomorrow morning", "2026-11-29T09:00:00+01:00"),
    ("en", "Friday at 14:30", "2026-12-04T14:30:00+01:00"),
    ("en", "next Tuesday at 9:15 am", "2026-12-01T09:15:00+01:00"),
    ("en", "tonight", "2026-11-28T18:00:00+01:00"),
    ("de", "heute Abend", "2026-11-28T18:00:00+01:00"),
    ("en", "in 2 hours", "2026-11-28T11:00:00+01:00"),
    ("de", "viertel nach zehn", "2026-11-28T10:15:00+01:00"),
]


@pytest.mark.parametrize(("lang", "text", "expected"), SATURDAY_CASES)
def test_resolves_on_a_saturday(lang: str, text: str, expected: Any) -> None:
    assert only_value(text, lang) == expected


WEDNESDAY_CASES = [
    ("en", "Friday", "2026-12-04"),
    ("en", "Wednesday", "2026-12-02"),
    ("de", "Mittwoch", "2026-12-02"),
    ("en", "next Wednesday", "2026-12-09"),
    ("de", "nächsten Mittwoch", "2026-12-09"),
    ("en", "Friday next week", "2026-12-11"),
    ("de", "Freitag nächste Woche", "2026-12-11"),
    ("en", "last Monday", "2026-11-30"),
    ("en", "at 3pm", "2026-12-03T15:00:00+01:00"),
    ("de", "um 17 Uhr", "2026-12-02T17:00:00+01:00"),
    ("en", "end of the week", "2026-12-04"),
    ("en", "this week", period("2026-11-30", "2026-12-07")),
    ("de", "seit Montag", period("2026-11-30", "2026-12-03")),
    ("de", "bis Ende des Monats", "2026-12-31"),
    ("de", "nächsten Monat", period("2027-01-01", "2027-02-01")),
    ("de", "im Dezember", period("2026-12-01", "2027-01-01")),
    ("de", "im November", period("2027-11-01", "2027-12-01")),
]


@pytest.mark.parametrize(("lang", "text", "expected"), WEDNESDAY_CASES)
def test_resolves_on_a_wednesday(lang: str, text: str, expected: Any) -> None:
    assert only_value(text, lang, now=WEDNESDAY) == expected


@pytest.mark.parametrize(
    ("lang", "text", "expected"),
    [
        ("de", "im November", period("2026-11-01", "2026-12-01")),
        ("en", "in October", period("2026-10-01", "2026-11-01")),
        ("en", "Q3", period("2026-07-01", "2026-10-01")),
        ("de", "Freitag", "2026-11-27"),
    ],
)
def test_prefer_past_for_reports(lang: str, text: str, expected: Any) -> None:
    assert only_value(text, lang, now=WEDNESDAY, prefer="past") == expected


@pytest.mark.parametrize(
    ("lang", "text"),
    [
        ("en", "New deal 40k EUR for Initech"),
        ("en", "Bob's new number is +49 170 5550199"),
        ("en", "Any news on ticket #4711?"),
        ("de", "Ticket 4711 ist noch offen"),
        ("en", "You may call me back"),
        ("en", "This may take a while"),
        ("de", "Guten Morgen Anna"),
        ("de", "Guten Morgen, wie geht's?"),
        ("en", "Good morning!"),
        ("de", "Der Deal liegt bei 40.000 €"),
        ("en", "Call April Jones about the renewal"),
        ("de", "August Müller hat angerufen"),
        ("en", "version 1.2.3 is broken"),
        ("en", "Meet at 10 people per session"),
        ("de", "Ich bin abends erreichbar"),
        ("de", "Das ist mir zu früh"),
    ],
)
def test_no_false_dates(lang: str, text: str) -> None:
    assert extract_times(text, lang, now=SATURDAY) == []


def test_offsets_and_surface() -> None:
    text = "Ruf Anna nächsten Dienstag um 10 Uhr an"
    (entity,) = extract_times(text, "de", now=SATURDAY)
    assert text[entity.start : entity.end] == "nächsten Dienstag um 10 Uhr"
    assert entity.entity == "time"


def test_several_expressions_in_one_message() -> None:
    values = [e.value for e in extract_times("Call Bob tomorrow and Anna on Friday", "en", now=SATURDAY)]
    assert values == ["2026-11-29", "2026-12-04"]


def test_time_zone_and_dst() -> None:
    summer = datetime(2027, 6, 30, 22, 30, tzinfo=ZoneInfo("UTC"))  # already July 1st in Berlin
    assert only_value("tomorrow at 10am", "en", now=summer) == "2027-07-02T10:00:00+02:00"
    assert only_value("today", "en", now=summer, tz="America/New_York") == "2027-06-30"


def test_other_languages_use_dateparser() -> None:
    entities = extract_times("Rendez-vous le 5 mars 2027", "fr", now=SATURDAY)
    assert [e.value for e in entities] == ["2027-03-05"]


@given(st.text(max_size=80), st.sampled_from(["en", "de"]))
def test_random_text_never_raises_and_offsets_fit(text: str, lang: str) -> None:
    for entity in extract_times(text, lang, now=SATURDAY):
        assert 0 <= entity.start < entity.end <= len(text)
        assert entity.text == text[entity.start : entity.end]


@given(
    st.lists(
        st.sampled_from(
            [
                "morgen",
                "um",
                "10",
                "Uhr",
                "halb",
                "drei",
                "Freitag",
                "next",
                "week",
                "5.3.",
                "Q3",
                "KW",
                "12",
                "seit",
                "Ende",
                "März",
                "at",
                "3pm",
                "in",
                "2",
                "Tagen",
                "the",
                "last",
                "days",
                "Jänner",
                ",",
            ]
        ),
        max_size=8,
    ),
    st.sampled_from(["en", "de"]),
)
def test_word_salad_never_raises(words: list[str], lang: str) -> None:
    text = " ".join(words)
    for entity in extract_times(text, lang, now=WEDNESDAY):
        assert entity.text == text[entity.start : entity.end]
