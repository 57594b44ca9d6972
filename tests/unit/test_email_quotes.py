"""Quote, forward and signature stripping (nlu.email_quotes) on the client formats of issue 17."""

from __future__ import annotations

import pytest

from nlu.email_quotes import clean_subject, split_reply, strip_signature, subject_kind
from nlu.email_text import extract_new_text

NEW_DE = "seit heute morgen können sich 40 Mitarbeiter nicht mehr einloggen. Bitte dringend um Rückruf."
NEW_EN = "Our warehouse is locked out since 7am, nobody can scan. Please call me."

HISTORIES = {
    "outlook_de": (
        "-----Ursprüngliche Nachricht-----\nVon: Buchhaltung <rechnung@example-crm.com>\n"
        "Gesendet: Montag, 7. Dezember 2026 10:12\nAn: Thomas Berger <t.berger@berger.de>\n"
        "Betreff: Ihre Rechnung 2026-1142\n\nAnbei Ihre Rechnung 2026-1142."
    ),
    "outlook_en_no_separator": (
        "From: Billing <billing@example-crm.com>\nSent: Monday, December 7, 2026 9:00 AM\n"
        "To: Mike <mike@dunn.com>\nSubject: Your invoice INV-2231\n\nPlease find attached your invoice."
    ),
    "outlook_underscores": (
        "________________________________\nFrom: Billing <billing@example-crm.com>\n"
        "Sent: Monday, December 7, 2026 9:00 AM\nSubject: Your invoice\n\nPlease find attached your invoice."
    ),
    "outlook_bold_html": (
        "*Von:* Buchhaltung <rechnung@example-crm.com>\n*Gesendet:* Montag, 7. Dezember 2026\n"
        "*Betreff:* Ihre Rechnung\n\nAnbei Ihre Rechnung."
    ),
    "gmail_en": (
        "On Mon, Dec 7, 2026 at 9:00 AM Billing <billing@example-crm.com> wrote:\n"
        "> Please find attached your invoice INV-2231.\n> Thanks"
    ),
    "gmail_en_folded": (
        "On Mon, Dec 7, 2026 at 9:00 AM Billing Department <\nbilling@example-crm.com> wrote:\n"
        "> Please find attached your invoice INV-2231."
    ),
    "thunderbird_de": (
        "Am 07.12.2026 um 10:12 schrieb Buchhaltung:\n> Anbei Ihre Rechnung 2026-1142.\n> Gruß"
    ),
    "apple_de": (
        "Am 07.12.2026 um 10:12 schrieb Buchhaltung <rechnung@example-crm.com>:\n\n"
        "> Anbei Ihre Rechnung 2026-1142."
    ),
    "gmail_forward_de": (
        "---------- Weitergeleitete Nachricht ---------\nVon: Buchhaltung <rechnung@example-crm.com>\n"
        "Date: Mo., 7. Dez. 2026 um 10:12 Uhr\nSubject: Ihre Rechnung\nTo: <t.berger@berger.de>\n\n"
        "Anbei Ihre Rechnung."
    ),
    "apple_forward_en": (
        "Begin forwarded message:\n\nFrom: Billing <billing@example-crm.com>\nSubject: Your invoice\n"
        "Date: 7 December 2026 at 09:00:00 CET\nTo: mike@dunn.com\n\nPlease find attached your invoice."
    ),
    "quoted_lines_only": "> Please find attached your invoice INV-2231.\n> Billing",
}


@pytest.mark.parametrize("name", sorted(HISTORIES))
@pytest.mark.parametrize("new", [NEW_DE, NEW_EN])
def test_history_is_cut_off_for_every_client(name: str, new: str) -> None:
    text = f"Hallo,\n\n{new}\n\n{HISTORIES[name]}"
    parts = split_reply(text)
    assert new in parts.new
    assert "invoice" not in parts.new.lower() and "rechnung" not in parts.new.lower()
    assert extract_new_text(text).endswith(new)


def test_forwarded_body_is_kept_apart_without_its_headers() -> None:
    parts = split_reply(f"FYI\n\n{HISTORIES['gmail_forward_de']}")
    assert parts.new == "FYI"
    assert parts.forwarded == "Anbei Ihre Rechnung."
    assert parts.marker == "separator"


def test_inline_answers_between_quotes_are_kept() -> None:
    text = "> Which version do you run?\n7.2 on Windows\n> Since when?\nsince the update yesterday"
    parts = split_reply(text)
    assert "7.2 on Windows" in parts.new and "since the update yesterday" in parts.new
    assert "Which version" not in parts.new


def test_a_from_line_in_the_text_is_not_a_header_block() -> None:
    text = "From: our side nothing changed.\nThe export still fails with error 500."
    assert split_reply(text).new == text


@pytest.mark.parametrize(
    "signature",
    [
        "-- \nThomas Berger\nBerger Logistik GmbH\nTel. 0711 123456",
        "Mit freundlichen Grüßen\nThomas Berger\nGeschäftsführer\nAmtsgericht Stuttgart HRB 1234",
        "Best regards,\nMike Dunn\nDunn Supply Inc.",
        "Von meinem iPhone gesendet",
        "Sent from my iPhone",
        "Gesendet von Outlook für Android",
        "LG Thomas",
    ],
)
def test_signatures_are_stripped(signature: str) -> None:
    assert strip_signature(f"Hallo,\n\n{NEW_DE}\n\n{signature}") == f"Hallo,\n\n{NEW_DE}"


def test_thanks_at_the_start_of_a_sentence_keeps_what_follows() -> None:
    body = "Hi,\nThanks for the quick fix\nbut now the export fails with error 500 whenever we start it.\nRegards"
    assert strip_signature(body) == body.removesuffix("\nRegards")


def test_a_closing_word_early_in_a_long_mail_is_not_a_signature() -> None:
    body = "Thanks\n" + "\n".join(f"line {n} of the problem report" for n in range(20))
    assert strip_signature(body) == body


@pytest.mark.parametrize(
    ("subject", "kind", "clean"),
    [
        ("AW: Ihre Rechnung 2026-1142", "reply", "Ihre Rechnung 2026-1142"),
        ("RE: RE: your invoice", "reply", "your invoice"),
        ("WG: AW: Störung", "forward", "Störung"),
        ("Fwd: Outage", "forward", "Outage"),
        ("Antw: Frage", "reply", "Frage"),
        ("Re[2]: Frage", "reply", "Frage"),
        ("Reklamation", "new", "Reklamation"),
        ("", "new", ""),
    ],
)
def test_subject_prefixes(subject: str, kind: str, clean: str) -> None:
    assert subject_kind(subject) == kind
    assert clean_subject(subject) == clean
