"""The agent inbox in real headless Chromium (Debian's package, driven by Playwright) against the whole server:
inbound SMTP triage, the e-mail outbox to a loopback aiosmtpd playing the customer's mail server, the web chat
with the trained NLU, and the live hand-over between them.

* The mail story: a German customer mails; an agent signs in, finds the ticket, replies with the keyboard;
  the customer's server receives one correctly threaded German reply.
* The hand-over story: a customer in the web chat asks for a person; the agent is notified at once, answers,
  the customer sees it; the customer's next message reaches the agent and not the bot; the agent gives the
  chat back and the bot answers again.

Screenshots of the inbox and a ticket page (desktop and phone) go to ``tmp_path``, or to
``CRM_SCREENSHOT_DIR`` when set (``docs/screenshots/`` is made that way).
"""

from __future__ import annotations

import asyncio
import os
import re
import shutil
import smtplib
import socket
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from email import message_from_bytes
from email.message import EmailMessage, Message
from pathlib import Path
from typing import Any

import pytest
from aiohttp import web
from aiosmtpd.smtp import SMTP, Envelope, Session
from sqlalchemy import select

from assistant.app import build_assistant
from assistant.runtime import FACTORY_KEY, NOTIFIER_KEY
from assistant.server import build_app
from assistant.settings import Settings
from connectors import agent_inbox, web_chat
from connectors import email as email_connector
from crm_store.db import Database
from crm_store.models import Ticket
from crm_store.services import Actor, CrmServices
from nlu.email_classifier import EmailClassifier, load_training_emails
from nlu.embedder import HashingEmbedder

ROOT = Path(__file__).resolve().parents[2]
CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
pytestmark = [
    pytest.mark.browser,
    pytest.mark.skipif(
        CHROMIUM is None, reason="Debian's chromium is not installed (apt-get install chromium)"
    ),
]
ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]
ORIGINAL_ID = "rechnung-4711@kunde.example"


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@dataclass
class CustomerMx:
    """The customer's mail server: what it received, thread-safe."""

    messages: list[Message] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)

    async def handle_DATA(self, server: SMTP, session: Session, envelope: Envelope) -> str:
        with self.lock:
            self.messages.append(message_from_bytes(envelope.original_content or b""))
        return "250 OK"

    def wait_for(self, match: Any, timeout: float = 30.0) -> Message:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            with self.lock:
                found = [m for m in self.messages if match(m)]
            if found:
                return found[0]
            time.sleep(0.1)
        raise AssertionError(f"no such mail arrived; got {[m['Subject'] for m in self.messages]}")


@dataclass
class Server:
    url: str
    smtp_port: int
    mx: CustomerMx
    db: Database
    token: str


@pytest.fixture
def server(sqlite_db: Database, trained_nlu: Any) -> Iterator[Server]:
    with sqlite_db.session() as s:
        crm = CrmServices(s, Actor.system("seed"))
        billing = crm.users.create_team("Billing")
        agent = crm.users.create(
            {
                "email": "alex@example-crm.com",
                "name": "Alex Agent",
                "role": "agent",
                "team_id": billing.id,
                "languages_spoken": ["en", "de"],
            }
        )
        token = crm.users.issue_token(agent.id)
        acme = crm.organizations.create({"name": "Weber Maschinenbau GmbH", "domain": "kunde.example"})
        jonas = crm.contacts.create(
            {
                "first_name": "Jonas",
                "last_name": "Weber",
                "email": "jonas.weber@kunde.example",
                "organization_id": acme.id,
                "language": "de",
            }
        )
        from crm_store.services.users import actor_for

        CrmServices(s, actor_for(agent)).activities.create(  # agents read their own activities (policy.yml)
            {
                "type": "call",
                "contact_id": jonas.id,
                "summary": "Asked about the new price list",
                "occurred_at": "2026-12-01T10:00:00+00:00",
            }
        )
        crm.knowledge.create(
            language="de",
            title="Rechnungskorrektur",
            body="Wir korrigieren fehlerhafte Rechnungen innerhalb von zwei Werktagen und senden "
            "Ihnen eine Gutschrift.",
        )
    training = load_training_emails(ROOT / "training_data" / "emails")
    classifier = EmailClassifier(HashingEmbedder()).fit(
        [t[0] for t in training], [t[1] for t in training], [t[2] for t in training]
    )
    port, smtp_in, mx_port = _free_port(), _free_port(), _free_port()
    mx = CustomerMx()
    settings = Settings(
        database_url=sqlite_db.url,
        smtp_listen_port=smtp_in,
        smtp_host="127.0.0.1",
        smtp_port=mx_port,
        mail_from="support@example-crm.com",
        mail_domains=("example-crm.com",),
        secret_key="e2e-inbox-secret-0123456789",
        retention_schedule="off",
        handover_wait_seconds=3600,
    )
    app = build_app(
        settings, db=sqlite_db, extra=[web_chat.install, email_connector.install, agent_inbox.install]
    )
    app[email_connector.CLASSIFIER_KEY] = classifier
    app[FACTORY_KEY] = lambda db, _s: build_assistant(
        db, trained_nlu, embedder=getattr(trained_nlu, "embedder", None), notifier=app[NOTIFIER_KEY]
    )
    loop = asyncio.new_event_loop()
    runner = web.AppRunner(app)
    started = threading.Event()

    def run() -> None:
        asyncio.set_event_loop(loop)
        mx_server = loop.run_until_complete(
            loop.create_server(lambda: SMTP(mx), host="127.0.0.1", port=mx_port)
        )
        loop.run_until_complete(runner.setup())
        loop.run_until_complete(web.TCPSite(runner, "127.0.0.1", port).start())
        started.set()
        loop.run_forever()
        mx_server.close()

    thread = threading.Thread(target=run, daemon=True)
    thread.start()
    assert started.wait(120)
    yield Server(f"http://127.0.0.1:{port}", smtp_in, mx, sqlite_db, token)
    asyncio.run_coroutine_threadsafe(runner.cleanup(), loop).result(30)
    loop.call_soon_threadsafe(loop.stop)
    thread.join(10)


def shots(tmp_path: Path) -> Path:
    target = Path(os.environ.get("CRM_SCREENSHOT_DIR") or tmp_path)
    target.mkdir(parents=True, exist_ok=True)
    return target


def sign_in(page: Any, server: Server) -> None:
    from playwright.sync_api import expect

    page.goto(server.url + "/agent/")
    expect(page).to_have_url(server.url + "/agent/login")
    page.get_by_label("Your API token").fill(server.token)
    page.get_by_role("button", name="Sign in").click()
    expect(page).to_have_url(server.url + "/agent/")


def test_agent_answers_a_mail_and_the_customer_gets_a_threaded_german_reply(
    server: Server, tmp_path: Path
) -> None:
    from playwright.sync_api import expect, sync_playwright

    mail = EmailMessage()
    mail["From"] = "Jonas Weber <jonas.weber@kunde.example>"
    mail["To"] = "support@example-crm.com"
    mail["Subject"] = "Rechnung 2026-113 ist falsch"
    mail["Message-ID"] = f"<{ORIGINAL_ID}>"
    mail.set_content(
        "Guten Tag,\n\nunsere Rechnung 2026-113 weist einen falschen Betrag aus. Bitte korrigieren "
        "Sie die Rechnung und senden Sie uns eine neue.\n\nMit freundlichen Grüßen\nJonas Weber"
    )
    mail.add_attachment(
        b"%PDF-1.4 x", maintype="application", subtype="pdf", filename="Rechnung-2026-113.pdf"
    )
    with smtplib.SMTP("127.0.0.1", server.smtp_port, timeout=30) as smtp:
        smtp.send_message(mail)
    ack = server.mx.wait_for(lambda m: m["Auto-Submitted"] == "auto-replied")  # triaged and acknowledged
    with server.db.session() as s:
        ticket = s.execute(select(Ticket)).scalars().one()
        number, ticket_id = ticket.number, ticket.id
    assert f"[#{number}]" in ack["Subject"]
    out = shots(tmp_path)

    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, headless=True, args=ARGS)
        page = browser.new_page(viewport={"width": 1280, "height": 800})
        sign_in(page, server)
        row = page.locator("tr.ticket", has_text="Rechnung 2026-113 ist falsch")
        expect(row).to_be_visible()
        expect(row).to_contain_text("first response")  # the SLA clock
        page.screenshot(path=str(out / "inbox-desktop.png"), full_page=True)
        page.keyboard.press("j")  # keyboard: select the first ticket, open it
        page.keyboard.press("Enter")
        expect(page).to_have_url(f"{server.url}/agent/tickets/{ticket_id}")
        expect(page.locator(".thread .msg.inbound").first).to_contain_text("falschen Betrag")
        expect(page.locator(".attachments")).to_contain_text("Rechnung-2026-113.pdf")
        triage = page.locator(".triage")
        expect(triage).to_contain_text("billing")
        expect(triage).to_contain_text("German")
        expect(triage).to_contain_text("Routing rules that matched")
        expect(page.locator(".side-col")).to_contain_text("Weber Maschinenbau GmbH")
        expect(page.locator(".side-col")).to_contain_text("Asked about the new price list")
        page.locator("#suggest-box summary").click()
        expect(page.locator("#suggestions")).to_contain_text("Rechnungskorrektur", timeout=30_000)
        page.screenshot(path=str(out / "ticket-desktop.png"), full_page=True)
        page.locator("button.insert").first.click()  # one click inserts; the agent still edits and sends
        expect(page.locator("#body")).to_have_value(re.compile("Gutschrift"))
        page.locator("#body").fill("")
        page.keyboard.press("Escape")
        page.keyboard.press("r")
        page.keyboard.type(
            "Guten Tag Herr Weber,\n\nwir haben die Rechnung korrigiert; die Gutschrift folgt heute."
        )
        page.keyboard.press("Control+Enter")
        expect(page.locator(".flash")).to_have_text("Reply queued for e-mail delivery.")
        expect(page.locator(".thread .msg.outbound").last).to_contain_text("die Gutschrift folgt heute")

        phone = browser.new_context(viewport={"width": 390, "height": 844}, is_mobile=True, has_touch=True)
        mobile = phone.new_page()
        sign_in(mobile, server)
        mobile.goto(server.url + "/agent/?view=all&status=any")
        mobile.screenshot(path=str(out / "inbox-phone.png"), full_page=True)
        mobile.goto(f"{server.url}/agent/tickets/{ticket_id}")
        expect(mobile.locator(".composer")).to_be_visible()
        mobile.screenshot(path=str(out / "ticket-phone.png"), full_page=True)
        browser.close()

    reply = server.mx.wait_for(lambda m: m["Auto-Submitted"] is None)
    assert reply["To"] == "jonas.weber@kunde.example"
    assert reply["Subject"] == f"[#{number}] Re: Rechnung 2026-113 ist falsch"
    # threaded under the newest message of the thread (our acknowledgement), the customer's mail in References
    assert reply["In-Reply-To"] == ack["Message-ID"]
    assert reply["References"].split() == [f"<{ORIGINAL_ID}>", ack["Message-ID"]]
    assert reply["Content-Language"] == "de"
    body = reply.get_payload(decode=True).decode()
    assert "die Gutschrift folgt heute" in body and f"[#{number}] im Betreff" in body
    with server.mx.lock:
        assert sum(1 for m in server.mx.messages if m["Auto-Submitted"] is None) == 1  # sent once


def test_live_handover_agent_answers_in_the_chat_and_gives_it_back(server: Server, tmp_path: Path) -> None:
    from playwright.sync_api import expect, sync_playwright

    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, headless=True, args=ARGS)
        agent = browser.new_context(viewport={"width": 1280, "height": 800}).new_page()
        sign_in(agent, server)
        agent.goto(server.url + "/agent/?view=handover")
        customer = browser.new_context(viewport={"width": 390, "height": 800}).new_page()
        customer.goto(server.url + "/")
        box, bots = customer.locator("#message"), customer.locator(".bot")

        def say(text: str) -> None:
            before = bots.count()
            box.fill(text)
            box.press("Enter")
            expect(bots).not_to_have_count(before, timeout=30_000)

        say("can i speak to a human please")
        expect(bots.last).to_contain_text("passing you to a person")
        # the agent is told at once, without reloading
        expect(agent.locator("#toast")).to_contain_text("needs a person", timeout=15_000)
        row = agent.locator("tr.ticket.handover")
        expect(row).to_be_visible(timeout=15_000)
        row.locator("a").first.click()
        expect(agent.locator(".live")).to_contain_text("the bot is paused")
        agent.locator("#body").fill("Hello, this is Alex from support. How can I help?")
        agent.locator("#send").click()
        expect(customer.locator(".agent")).to_have_text(
            "Hello, this is Alex from support. How can I help?", timeout=15_000
        )
        bots_before = bots.count()
        box.fill("My invoice shows the wrong amount")
        box.press("Enter")
        expect(agent.locator(".thread .msg.inbound").last).to_contain_text("wrong amount", timeout=15_000)
        assert bots.count() == bots_before  # the bot stays quiet while a person has the chat
        agent.locator("#release").click()
        expect(customer.locator(".bot").last).to_have_text(
            "You are talking to the assistant again.", timeout=15_000
        )
        expect(agent.locator(".live")).to_contain_text("The bot answers this chat.")
        say("hello")
        assert "assistant again" not in bots.last.inner_text()  # a real bot answer
        customer.screenshot(path=str(shots(tmp_path) / "handover-chat-phone.png"))
        browser.close()
