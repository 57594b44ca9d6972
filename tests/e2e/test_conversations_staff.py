"""Conversations of reps and managers, English and German, written from how people talk (tests/e2e/conversations.py).

Seed: Rita Rep (en), Rolf Vertrieb (rep, de), Mia Manager (en); contacts Anna Schmidt (Acme GmbH and Globex Ltd),
Jürgen Müller, Hannah Becker (Helvetia Treuhand AG), Hannah Koch (Acme GmbH).
"""

from __future__ import annotations

from typing import Any

import pytest

from crm_store.db import Database
from tests.e2e.conversations import Conversation, click, conv, run, say

CONVERSATIONS: list[Conversation] = [
    # --- notes are what was said; follow-up titles read like a person wrote them ---------------------------
    conv(
        "rep-en-note-without-command",
        "rep",
        say(
            "Log a call with Hannah Koch: discussed renewal, she wants a quote by next Friday",
            bot=["Hannah Koch", "Discussed renewal"],
            bot_not="“Log a call",
        ),
        say("yep", bot="logged"),
        activity={
            "contact": "Hannah Koch",
            "type": "call",
            "summary": ["renewal", "quote"],
            "summary_not": ["Log a call"],
        },
        task={"contact": "Hannah Koch", "title": ["Send Hannah Koch the quote"], "title_not": ["Follow up:"]},
    ),
    conv(
        "rep-en-email-price-list",
        "rep",
        say("Emailed Hannah Becker, she needs the updated price list by Thursday", bot="Hannah Becker"),
        say("yes", bot="logged"),
        activity={
            "contact": "Hannah Becker",
            "type": "email",
            "summary": ["price list"],
            "summary_not": ["Emailed"],
        },
        task={"title": ["Send Hannah Becker the updated price list"]},
    ),
    conv(
        "rep-en-meeting-exact-name",
        "rep",
        say("had a meeting with Hannah Becker about the audit schedule", bot="Hannah Becker"),
        say("yes please", bot="logged"),
        activity={"contact": "Hannah Becker", "type": "meeting", "summary": ["audit schedule"]},
    ),
    conv(
        "rep-en-deny-writes-nothing",
        "rep",
        say("Log a call with Hannah Koch: she asked about a discount for three years", bot="Hannah Koch"),
        say("no", bot="cancelled"),
        no_write=True,
    ),
    # --- names are resolved honestly -----------------------------------------------------------------------
    conv(
        "rep-en-other-surname-offers-choices",
        "rep",
        say(
            "Just had a call with Hannah Weber, we went over the onboarding plan",
            bot=["Hannah Weber", "Hannah Becker", "Hannah Koch", "New contact"],
            bot_not="Log a call with Hannah Becker",
            buttons=3,
        ),
        click("New contact", bot="Hannah Weber"),
        say("yes", bot="logged"),
        contacts=1,
        activity={"contact": "Hannah Weber", "summary": ["onboarding plan"]},
    ),
    conv(
        "rep-en-other-surname-pick-existing",
        "rep",
        say("Just had a call with Hannah Weber, we went over the onboarding plan", buttons=3),
        click("Hannah Koch", bot="Hannah Koch"),
        say("yes", bot="logged"),
        contacts=0,
        activity={"contact": "Hannah Koch", "summary": ["onboarding plan"]},
    ),
    conv(
        "rep-en-first-name-only-is-a-choice",
        "rep",
        say("spoke to Hannah earlier, she is happy with the pilot so far", bot_not="with Hannah Becker"),
        click("Call", bot=["Hannah Becker", "Hannah Koch"], bot_not="Log a call with Hannah"),
        click("Becker"),
        say("yes", bot="logged"),
        activity={"contact": "Hannah Becker", "summary": ["happy with the pilot"]},
    ),
    conv(
        "rep-en-near-exact-name",
        "rep",
        say(
            "call with Hanna Koch, she confirmed the order for March",
            bot="Hannah Koch",
            bot_not="New contact",
        ),
        say("yes", bot="logged"),
        activity={"contact": "Hannah Koch", "summary": ["confirmed the order"]},
    ),
    conv(
        "rep-en-find-first-name",
        "rep",
        say("find Hannah for me", bot=["Hannah Becker", "Hannah Koch"]),
        no_write=True,
    ),
    conv(
        "rep-en-two-annas-company-decides",
        "rep",
        say("met Anna Schmidt from Globex, talked about the Q3 rollout", bot="Globex"),
        say("yes", bot="logged"),
        activity={"contact": "Anna Schmidt", "type": "meeting", "summary": ["Q3 rollout"]},
    ),
    # --- context carries ---------------------------------------------------------------------------------
    conv(
        "rep-en-her-email-after-logging",
        "rep",
        say("Log a call with Hannah Koch: she liked the demo a lot"),
        say("yes", bot="logged"),
        say("what's her email?", bot="hannah.koch@acme.example"),
        activity={"contact": "Hannah Koch", "summary": ["liked the demo"]},
    ),
    conv(
        "rep-en-her-phone-after-logging",
        "rep",
        say("Log a meeting with Hannah Becker: walked through the tax report"),
        say("yes", bot="logged"),
        say("and her phone number?", bot="Hannah Becker"),
        activity={"contact": "Hannah Becker", "type": "meeting"},
    ),
    conv(
        "rep-en-history-after-logging",
        "rep",
        say("Log a call with Hannah Koch: she liked the new dashboard"),
        say("yes", bot="logged"),
        say("what did I log for Hannah Koch?", bot="liked the new dashboard"),
        activity={"contact": "Hannah Koch"},
    ),
    conv(
        "rep-en-history-empty",
        "rep",
        say("what have we logged on Hannah Becker so far?", bot="Hannah Becker"),
        no_write=True,
    ),
    conv(
        "rep-en-task-for-her",
        "rep",
        say("Log a call with Hannah Koch: talked about the framework contract"),
        say("yes", bot="logged"),
        say("remind me to send her the contract draft on Monday", bot="contract draft"),
        say("yes"),
        task={"contact": "Hannah Koch", "title": ["contract draft"]},
    ),
    conv(
        "rep-en-that-deal",
        "rep",
        say("New deal with Globex, 25k EUR", bot="Globex"),
        say("yes", bot="pipeline"),
        say("move that deal to negotiation", bot="negotiation", bot_not="Which company"),
        say("yes", bot="updated"),
        deal={"name": ["Globex"], "stage": "negotiation"},
    ),
    # --- forms can be left -------------------------------------------------------------------------------
    conv(
        "rep-en-cancel-a-form",
        "rep",
        say("log a meeting for me", bot="Who"),
        say("actually forget it", bot="cancelled"),
        no_write=True,
    ),
    conv(
        "rep-en-other-request-interrupts",
        "rep",
        say("I want to log a visit", bot="Who"),
        say("wait, show me my open tasks first", bot_not=["don't know", "Log a visit"]),
        no_write=True,
    ),
    conv(
        "rep-en-task-then-cancel",
        "rep",
        say("create a task please", bot="When"),
        say("cancel", bot="cancelled"),
        no_write=True,
    ),
    # --- language follows the message ------------------------------------------------------------------
    conv("rep-de-english-hi", "rep_de", say("hi", bot="Hi Rolf", bot_not="Hallo"), no_write=True),
    conv("rep-en-german-hallo", "rep", say("Hallo", bot="Hallo Rita", bot_not="Hi Rita"), no_write=True),
    conv(
        "rep-de-english-request",
        "rep_de",
        say("hey, can you show me my open tasks?", bot_not=["Deine", "Auf deiner Liste"]),
        no_write=True,
    ),
    # --- German reps -------------------------------------------------------------------------------------
    conv(
        "rep-de-note-and-title",
        "rep_de",
        say(
            "Hatte gerade ein Telefonat mit Hannah Koch, sie möchte ein Angebot bis nächsten Freitag",
            bot="Hannah Koch",
        ),
        say("ja", bot="geloggt"),
        activity={
            "contact": "Hannah Koch",
            "type": "call",
            "summary": ["Angebot"],
            "summary_not": ["Telefonat mit"],
        },
        task={"title": ["Hannah Koch das Angebot schicken"]},
    ),
    conv(
        "rep-de-note-colon",
        "rep_de",
        say(
            "Notiz zu Hannah Becker: sie lässt die Prüfung intern noch einmal durchrechnen",
            bot="Hannah Becker",
        ),
        say("ja, passt", bot="geloggt"),
        activity={"contact": "Hannah Becker", "summary": ["Prüfung"], "summary_not": ["Notiz zu"]},
    ),
    conv(
        "rep-de-other-surname",
        "rep_de",
        say(
            "Termin mit Hannah Schulz gehabt, es ging um die Vertragsverlängerung",
            bot=["Hannah Becker", "Hannah Koch", "neu anlegen"],
            bot_not="mit Hannah Becker loggen",
        ),
        click("neu anlegen"),
        say("ja"),
        contacts=1,
        activity={"contact": "Hannah Schulz", "summary": ["Vertragsverlängerung"]},
    ),
    conv(
        "rep-de-contract-title",
        "rep_de",
        say("Mit Hannah Koch telefoniert, sie braucht einen Vertragsentwurf bis Freitag"),
        say("ja"),
        task={"title": ["Hannah Koch den Vertragsentwurf schicken"]},
    ),
    conv(
        "rep-de-cancel-form",
        "rep_de",
        say("ich will einen Termin loggen", bot="Mit wem"),
        say("abbrechen", bot="abgebrochen"),
        no_write=True,
    ),
    conv("rep-de-hallo", "rep_de", say("hallo", bot="Hallo Rolf"), no_write=True),
    conv(
        "rep-de-history",
        "rep_de",
        say("Notiz zu Hannah Koch: interessiert sich für die Schulung im Mai"),
        say("ja"),
        say("was haben wir zu Hannah Koch bisher erfasst?", bot="Schulung"),
        activity={"contact": "Hannah Koch"},
    ),
    # --- managers ----------------------------------------------------------------------------------------
    conv("manager-en-hi", "manager", say("hi there", bot="Mia"), no_write=True),
    conv(
        "manager-en-note-first-name",
        "manager",
        say("log a note for Hannah: prefers calls in the morning", bot=["Hannah Becker", "Hannah Koch"]),
        click("Koch"),
        say("yes", bot="logged"),
        activity={
            "contact": "Hannah Koch",
            "type": "note",
            "summary": ["prefers calls in the morning"],
            "summary_not": ["log a note"],
        },
    ),
    conv(
        "manager-en-interrupt-visit",
        "manager",
        say("log a visit", bot="Who"),
        say("what's on my list this week?", bot_not="don't know"),
        no_write=True,
    ),
    conv(
        "manager-en-call-back-title",
        "manager",
        say(
            "Had a call with Jürgen Müller, he asked us to call him back after the trade fair next Wednesday",
            bot="Jürgen Müller",
        ),
        say("yes"),
        activity={"contact": "Jürgen Müller", "summary": ["trade fair"], "summary_not": ["Had a call"]},
        task={"contact": "Jürgen Müller", "title": ["Call Jürgen Müller back"]},
    ),
]


@pytest.mark.parametrize("conversation", [pytest.param(c, id=c.id) for c in CONVERSATIONS])
def test_conversation(conversation: Conversation, trained_nlu: Any, sqlite_db: Database) -> None:
    run(conversation, trained_nlu, sqlite_db)
