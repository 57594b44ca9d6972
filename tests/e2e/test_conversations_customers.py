"""Conversations of customers in the web chat, English and German, written from how people talk
(tests/e2e/conversations.py). Anonymous visitors (``anonymous``, ``anonymous_de``) and Clara Kunde logged in
(``customer``, ``customer_de``; her ticket #1000 "Invoice is wrong"; Otto's ticket is #1001). The first ticket
a conversation opens is #1002.
"""

from __future__ import annotations

from typing import Any

import pytest

from crm_store.db import Database
from tests.e2e.conversations import Conversation, click, conv, run, say

NOT_AN_ADDRESS = "doesn't look like an e-mail"
KEINE_ADRESSE = "sieht nicht nach einer E-Mail"
PRINTER = "My printer driver crashes whenever I print a PDF since the last update"
DRUCKER = "Mein Drucker druckt seit dem letzten Update keine PDFs mehr"

CONVERSATIONS: list[Conversation] = [
    # --- the e-mail question can always be left ----------------------------------------------------------
    conv(
        "anon-en-email-question-human",
        "anonymous",
        say(PRINTER, bot="email address"),
        say("can I talk to a human?", bot="passing you to a person", bot_not=NOT_AN_ADDRESS),
        handover=True,
    ),
    conv(
        "anon-en-email-question-ticket-status",
        "anonymous",
        say(PRINTER, bot="email address"),
        say("status of ticket #1001", bot_not=[NOT_AN_ADDRESS, "Cannot export reports"]),
    ),
    conv(
        "anon-en-email-question-erasure-german",
        "anonymous",
        say(PRINTER, bot="email address"),
        say(
            "Löschen Sie bitte sämtliche Daten, die Sie über mich haben",
            bot_not=[NOT_AN_ADDRESS, KEINE_ADRESSE, "dich"],
        ),
        ticket={"new": 0},
    ),
    conv(
        "anon-en-email-question-faq-then-resume",
        "anonymous",
        say(PRINTER, bot="email address"),
        say(
            "what do I do if I forgot my password?", bot=["Forgot password", "go on"], bot_not=NOT_AN_ADDRESS
        ),
        click("Yes", bot="email address"),
        say("lena.berg@example.org", bot="Shall I open a ticket"),
        say("yes", bot="#1002"),
        ticket={"new": 1, "text": ["printer"]},
    ),
    conv(
        "anon-en-email-question-faq-no-resume",
        "anonymous",
        say(PRINTER),
        say("what do I do if I forgot my password?", bot="Forgot password"),
        click("No"),
        no_write=True,
    ),
    conv(
        "anon-en-reasked-gets-a-way-out",
        "anonymous",
        say(PRINTER, bot="email address"),
        say("hmm", bot="e-mail address"),
        say("dunno", bot=["Talk to a person", "Cancel"]),
        click("Cancel", bot="cancelled"),
        no_write=True,
    ),
    conv(
        "anon-en-way-out-to-a-person",
        "anonymous",
        say(PRINTER),
        say("uh"),
        say("no clue", bot="Talk to a person"),
        click("Talk to a person", bot="passing you to a person"),
        handover=True,
    ),
    conv(
        "anon-en-help-inside-form",
        "anonymous",
        say(PRINTER),
        say("what are you able to help me with?", bot=["support ticket", "go on"], bot_not=NOT_AN_ADDRESS),
        no_write=True,
    ),
    conv(
        "anon-en-unsubscribe-inside-form",
        "anonymous",
        say(PRINTER),
        say("please take me off your newsletter", bot_not=NOT_AN_ADDRESS),
    ),
    conv(
        "anon-en-cancel-then-status",
        "anonymous",
        say(PRINTER),
        say("cancel", bot="cancelled"),
        say("status of ticket #1000", bot="address", bot_not=[NOT_AN_ADDRESS, "Invoice is wrong"]),
    ),
    # --- the ticket-number question can be left --------------------------------------------------------------
    conv(
        "anon-en-ticket-number-then-person",
        "anonymous",
        say("where is my ticket at?", bot="ticket number"),
        say("I'd rather talk to a person", bot="passing you to a person", bot_not="just digits"),
        handover=True,
    ),
    conv(
        "anon-en-ticket-number-then-faq",
        "anonymous",
        say("where is my ticket at?", bot="ticket number"),
        say("what do I do if I forgot my password?", bot="Forgot password", bot_not="just digits"),
        no_write=True,
    ),
    # --- context carries; invoice numbers are not tickets ---------------------------------------------------
    conv(
        "anon-en-my-ticket-and-invoice-number",
        "anonymous",
        say("The invoice PDF download fails with an error since Monday", bot="email"),
        say("mara.lind@example.net", bot="Shall I open a ticket"),
        say("yes", bot="#1002"),
        say("where is my ticket at?", bot="#1002", bot_not="ticket number"),
        say("please add that the invoice number is 2026-1188", bot="#1002", bot_not="#2026"),
        say("yes", bot="#1002"),
        ticket={"new": 1, "text": ["2026-1188"]},
    ),
    conv(
        "anon-en-any-news-on-it",
        "anonymous",
        say("Our dashboard shows no data for any of the last seven days"),
        say("ops@teamfjord.example"),
        say("yes", bot="#1002"),
        say("any news on it?", bot="#1002", bot_not="ticket number"),
        ticket={"new": 1},
    ),
    conv(
        "anon-en-greet-then-report",
        "anonymous",
        say("Hello", bot="support ticket"),
        say("my account is locked since this morning and I can't sign in", bot="email"),
        say("anna.k@example.net", bot="anna.k@example.net"),
        say("yes", bot="#1002"),
        ticket={"new": 1, "text": ["locked"]},
    ),
    conv(
        "anon-en-other-ticket-needs-proof",
        "anonymous",
        say("status of ticket #1000 please", bot="address", bot_not="Invoice is wrong"),
        say("clara@kunde.example", bot="code", bot_not="Invoice is wrong"),
        say("000000", bot="isn't right", bot_not="Invoice is wrong"),
    ),
    conv(
        "customer-en-add-to-new-ticket",
        "customer",
        say("The export to Excel hangs at 99 percent since yesterday", bot="Shall I open a ticket"),
        say("yes", bot="#1002"),
        say("please add that it happens with every file larger than 10 MB", bot="#1002"),
        say("yes", bot="#1002"),
        ticket={"new": 1, "text": ["10 MB"]},
    ),
    conv(
        "customer-en-invoice-number-in-report",
        "customer",
        say("my invoice 2026-1188 shows the wrong VAT rate", bot_not="#2026"),
        say("yes", bot="#"),
        ticket={"text": ["2026-1188"]},
    ),
    conv(
        "customer-en-own-status",
        "customer",
        say("how is my ticket coming along?", bot="Invoice is wrong", bot_not="Cannot export reports"),
        no_write=True,
    ),
    conv(
        "customer-en-not-someone-elses",
        "customer",
        say("status of ticket #1001", bot_not="Cannot export reports"),
        no_write=True,
    ),
    conv(
        "customer-en-human",
        "customer",
        say("I need to speak to someone from your team", bot="passing you to a person"),
        handover=True,
    ),
    # --- German customers: "Sie" everywhere, a way out of every question ----------------------------------
    conv(
        "anon-de-register-and-erasure",
        "anonymous_de",
        say(DRUCKER, bot="Ihre E-Mail-Adresse", bot_not=["deine", "dich"]),
        say(
            "Löschen Sie bitte sämtliche Daten, die Sie über mich haben",
            bot_not=[KEINE_ADRESSE, "dich", "deine"],
        ),
        ticket={"new": 0},
    ),
    conv(
        "anon-de-human-inside-form",
        "anonymous_de",
        say(DRUCKER),
        say("Kann ich bitte mit einem Menschen sprechen?", bot="Person", bot_not=[KEINE_ADRESSE, "du "]),
        handover=True,
    ),
    conv(
        "anon-de-hallo-sie",
        "anonymous_de",
        say("Hallo", bot="Ihnen", bot_not=["dir ", "dich", "deiner"]),
        no_write=True,
    ),
    conv(
        "anon-de-status-after-opening",
        "anonymous_de",
        say("Seit heute früh lädt die Rechnungsübersicht nicht mehr", bot="Ihre E-Mail-Adresse"),
        say("jonas.weil@example.de", bot="Ticket"),
        say("ja", bot=["#1002", "Sie"], bot_not=["dir", "dich"]),
        say("Wie ist der Stand?", bot="#1002", bot_not="Ticketnummer"),
        ticket={"new": 1},
    ),
    conv(
        "anon-de-faq-inside-form",
        "anonymous_de",
        say(DRUCKER),
        say(
            "Ich habe mein Passwort vergessen, was muss ich tun?",
            bot=["Passwort", "weitermachen"],
            bot_not=KEINE_ADRESSE,
        ),
        click("Ja", bot="E-Mail-Adresse"),
        say("pia.roth@example.de"),
        say("ja", bot="#1002"),
        ticket={"new": 1, "text": ["Drucker"]},
    ),
    conv(
        "anon-de-ticket-number-then-person",
        "anonymous_de",
        say("Wie ist der Stand meines Tickets?", bot="Ticketnummer"),
        say("Ich möchte lieber mit einem Mitarbeiter sprechen", bot="Person", bot_not="nur aus Ziffern"),
        handover=True,
    ),
    conv(
        "anon-de-way-out",
        "anonymous_de",
        say(DRUCKER),
        say("äh"),
        say("keine Ahnung", bot=["Mit einer Person sprechen", "Abbrechen", "Sie"]),
        click("Abbrechen", bot="abgebrochen"),
        no_write=True,
    ),
    conv(
        "anon-de-invoice-number",
        "anonymous_de",
        say("Die Rechnung vom März wird doppelt abgebucht"),
        say("ole.brandt@example.de"),
        say("ja", bot="#1002"),
        say("Ergänzen Sie bitte: die Rechnungsnummer ist 2026-1188", bot="#1002", bot_not="#2026"),
        say("ja", bot="#1002"),
        ticket={"new": 1, "text": ["2026-1188"]},
    ),
    conv("anon-de-english-hi", "anonymous_de", say("hi", bot="Hello", bot_not="Hallo"), no_write=True),
    conv(
        "customer-de-report",
        "customer_de",
        say(
            "Seit heute Morgen kann ich keine Rechnungen mehr herunterladen",
            bot=["für Sie"],
            bot_not="für dich",
        ),
        say("ja", bot=["#1002", "Ihnen"]),
        ticket={"new": 1},
    ),
    conv(
        "customer-de-status",
        "customer_de",
        say("Gibt es schon etwas Neues zu meinem Ticket?", bot="Invoice is wrong"),
        no_write=True,
    ),
    conv(
        "customer-de-erasure",
        "customer_de",
        say("Ich möchte, dass Sie meine Daten löschen", bot=["Ihre", "Daten"], bot_not=["deine", "dich"]),
    ),
]


@pytest.mark.parametrize("conversation", [pytest.param(c, id=c.id) for c in CONVERSATIONS])
def test_conversation(conversation: Conversation, trained_nlu: Any, sqlite_db: Database) -> None:
    run(conversation, trained_nlu, sqlite_db)
