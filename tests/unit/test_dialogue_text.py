"""The small readers behind the dialogue: ticket references, honest name matching, note text, reply language."""

from __future__ import annotations

import pytest

from nlu.name_match import name_match
from nlu.note_text import follow_up_title, note_content
from nlu.references import refers_to_last_deal, ticket_reference
from nlu.reply_language import clear_language


@pytest.mark.parametrize(
    ("text", "number"),
    [
        ("#1042", 1042),
        ("1042", 1042),
        ("ticket 1042, anna@example.com", 1042),
        ("Wie ist der Stand von Ticket Nr. 1002?", 1002),
        ("please add that the invoice number is 2026-1188", None),
        ("Rechnungsnummer 2026-1188, Betrag 49,90 €", None),
        ("order #2026-1188", None),
        ("I paid 1200 EUR on 03.11.2026", None),
    ],
)
def test_ticket_reference_tells_tickets_from_other_numbers(text: str, number: int | None) -> None:
    assert ticket_reference(text) == number


def test_refers_to_last_deal() -> None:
    assert refers_to_last_deal("move that deal to negotiation")
    assert refers_to_last_deal("setz den Deal auf gewonnen")
    assert not refers_to_last_deal("new deal with Globex, 25k")


@pytest.mark.parametrize(
    ("asked", "contact", "grade"),
    [
        ("Hannah Koch", "Hannah Koch", "exact"),
        ("Juergen Mueller", "Jürgen Müller", "exact"),
        ("Hanna Koch", "Hannah Koch", "near"),
        ("Emailed Hannah Koch", "Hannah Koch", "near"),
        ("Hannah Weber", "Hannah Becker", "other_surname"),
        ("Hannah", "Hannah Koch", "first_only"),
        ("Frau Koch", "Hannah Koch", "surname_only"),
        ("Peter Gibbons", "Hannah Koch", "other"),
    ],
)
def test_name_match_grades(asked: str, contact: str, grade: str) -> None:
    assert name_match(asked, contact) == grade


@pytest.mark.parametrize(
    ("text", "lang", "note"),
    [
        (
            "Log a call with Hannah Koch: discussed renewal, she wants a quote by next Friday",
            "en",
            "Discussed renewal, she wants a quote by next Friday",
        ),
        ("Just had a call with Hannah Weber, discussed the renewal", "en", "Discussed the renewal"),
        (
            "Hatte gerade ein Telefonat mit Jürgen Müller, er will ein Angebot bis Freitag",
            "de",
            "Er will ein Angebot bis Freitag",
        ),
        ("Notiz zu Jürgen Müller: ruft nächste Woche zurück", "de", "Ruft nächste Woche zurück"),
        ("log a call with Anna", "en", "log a call with Anna"),  # only the command: kept whole
    ],
)
def test_note_content_drops_the_command(text: str, lang: str, note: str) -> None:
    assert note_content(text, lang) == note


@pytest.mark.parametrize(
    ("note", "lang", "title"),
    [
        ("Discussed renewal, she wants a quote by next Friday", "en", "Send Hannah Koch the quote"),
        ("He asked us to call him back after the fair", "en", "Call Hannah Koch back"),
        ("Talked about the weather", "en", "Follow up with Hannah Koch"),
        ("Sie braucht einen Vertragsentwurf bis Freitag", "de", "Hannah Koch den Vertragsentwurf schicken"),
        ("Lief gut", "de", "Bei Hannah Koch nachfassen"),
    ],
)
def test_follow_up_title_reads_like_a_person_wrote_it(note: str, lang: str, title: str) -> None:
    assert follow_up_title(note, "Hannah Koch", lang) == title


@pytest.mark.parametrize(
    ("text", "lang"),
    [
        ("hi", "en"),
        ("Hallo", "de"),
        ("Bitte löschen Sie alle meine Daten", "de"),
        ("can I talk to a human?", "en"),
        ("Hannah Koch", None),
        ("ok", None),
        ("blorp zibble frobnicate", None),
        ("#1002", None),
    ],
)
def test_clear_language_only_when_the_message_says_so(text: str, lang: str | None) -> None:
    assert clear_language(text) == lang
