from __future__ import annotations

from pathlib import Path

import pytest

from nlu.email_autoreply import detect_automatic, is_no_reply_address
from nlu.email_text import parse_mail, parse_mail_dict

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "mail"
PERSON = "Anna Schmidt <anna.schmidt@acme.example>"


def mail(body: str, subject: str = "Frage", sender: str = PERSON, **headers: str):  # type: ignore[no-untyped-def]
    return parse_mail_dict({"From": sender, "Subject": subject, **headers}, body)


@pytest.mark.parametrize(
    ("name", "expected"),
    [
        ("dsn_bounce.eml", "bounce"),
        ("ooo_auto_submitted.eml", "auto_reply"),
        ("ooo_no_headers.eml", "auto_reply"),
        ("newsletter_bulk.eml", "bulk"),
        ("reply_de.eml", None),
        ("reply_en.eml", None),
        ("ticket_reply.eml", None),
        ("forwarded.eml", None),
        ("html_only.eml", None),
        ("windows1252.eml", None),
    ],
)
def test_fixtures(name: str, expected: str | None) -> None:
    assert detect_automatic(parse_mail((FIXTURES / name).read_bytes())) == expected


@pytest.mark.parametrize(
    "headers",
    [
        {"Auto-Submitted": "auto-replied"},
        {"Auto-Submitted": "auto-generated"},
        {"X-Autoreply": "yes"},
        {"X-Autorespond": "Out of office"},
        {"Precedence": "auto_reply"},
    ],
)
def test_auto_reply_headers(headers: dict[str, str]) -> None:
    assert detect_automatic(mail("Danke für Ihre Nachricht.", **headers)) == "auto_reply"


@pytest.mark.parametrize(
    "headers",
    [
        {"Precedence": "bulk"},
        {"Precedence": "list"},
        {"List-Id": "<news.example.com>"},
        {"List-Unsubscribe": "<mailto:u@x>"},
    ],
)
def test_bulk_headers(headers: dict[str, str]) -> None:
    assert detect_automatic(mail("Unser Angebot der Woche.", **headers)) == "bulk"


def test_explicit_human_headers_are_not_automatic() -> None:
    assert detect_automatic(mail("Ich kann mich nicht anmelden.", **{"Auto-Submitted": "no"})) is None
    assert detect_automatic(mail("I cannot log in.", **{"X-Autoreply": "no"})) is None


def test_auto_submitted_bounce_is_a_bounce() -> None:
    body = "Your message wasn't delivered to x@y.de because the address couldn't be found."
    assert (
        detect_automatic(
            mail(body, "Delivery Status Notification (Failure)", **{"Auto-Submitted": "auto-replied"})
        )
        == "bounce"
    )


@pytest.mark.parametrize(
    "sender", ["MAILER-DAEMON@mx.example.com", "postmaster@example.de", "Mail System <mailer_daemon@a.b>"]
)
def test_daemon_senders_are_bounces(sender: str) -> None:
    assert detect_automatic(mail("anything", "anything", sender=sender)) == "bounce"


@pytest.mark.parametrize(
    ("subject", "body", "expected"),
    [
        ("Unzustellbar: Rechnung", "Die Nachricht konnte nicht zugestellt werden.", "bounce"),
        ("Undeliverable: Your ticket", "Delivery has failed to these recipients or groups:", "bounce"),
        ("Re: Angebot", "Die Zustellung an folgende Empfänger ist fehlgeschlagen: a@b.de", "bounce"),
        ("Re: Ticket 5", "I am out of the office until Monday with limited access to email.", "auto_reply"),
        (
            "Re: Ticket 5",
            "Ich bin bis 27.03. nicht im Büro. Ihre Nachricht wird nicht weitergeleitet.",
            "auto_reply",
        ),
        ("Abwesenheitsnotiz", "Vielen Dank für Ihre Nachricht.", "auto_reply"),
        ("Automatic reply: Invoice", "Thanks for your email.", "auto_reply"),
        ("Re: Vertrag", "Ich befinde mich bis 3. April im Urlaub.", "auto_reply"),
        ("Re: contract", "Please note I no longer work at Martinez Law.", "auto_reply"),
    ],
)
def test_content_rules_when_headers_are_missing(subject: str, body: str, expected: str) -> None:
    assert detect_automatic(mail(body, subject)) == expected


@pytest.mark.parametrize(
    ("subject", "body"),
    [
        ("Rechnung doppelt", "Bitte erstatten Sie den doppelt abgebuchten Betrag."),
        ("Login", "I'm locked out of my account since this morning, please help."),
        ("Urlaubsvertretung", "Wer vertritt Herrn Weber, solange er im Urlaub ist? Ich brauche ein Angebot."),
        (
            "Delivery of our order",
            "The parcel was delivered to the wrong office, can you resend the documents?",
        ),
        ("Office move", "We are moving out of the office on Friday, please update our address."),
    ],
)
def test_people_writing_about_similar_things_are_not_automatic(subject: str, body: str) -> None:
    assert detect_automatic(mail(body, subject)) is None


def test_out_of_office_quoted_deep_in_a_human_reply_is_not_automatic() -> None:
    body = (
        "Können Sie mir bitte die Rechnung noch einmal senden?\n\n"
        + "Text.\n" * 300
        + "> Ich bin nicht im Büro."
    )
    assert detect_automatic(mail(body, "Re: Rechnung")) is None


@pytest.mark.parametrize(
    "addr",
    [
        "noreply@example.com",
        "no-reply@github.com",
        "No_Reply@x.de",
        "donotreply@bank.de",
        "do-not-reply@bank.de",
        "MAILER-DAEMON@mx.example.com",
        "postmaster@example.de",
        "bounce@mail.example.com",
        "bounces+12345=x@sendgrid.net",
        "service-noreply@sparkasse.de",
        "notifications-noreply@linkedin.com",
        "<noreply@example.com>",
    ],
)
def test_no_reply_addresses(addr: str) -> None:
    assert is_no_reply_address(addr)


@pytest.mark.parametrize(
    "addr",
    [
        "anna.schmidt@acme.example",
        "support@example-crm.com",
        "nora@example.com",
        "replyto@x.de",
        "",
        "reynolds@x.com",
    ],
)
def test_ordinary_addresses(addr: str) -> None:
    assert not is_no_reply_address(addr)
