"""The web chat in real headless Chromium (Debian's package, driven by Playwright): a customer opens a
ticket and then asks for its status. Skipped, saying why, where no Chromium is installed.

The page is opened as ``http://chat.test:<port>/`` (mapped to loopback by Chromium's host resolver rules):
plain http on a non-local name is not a secure context, so ``crypto.randomUUID`` is missing there, as on
a real intranet deployment without TLS, and the page must still make unguessable sender ids.
"""

from __future__ import annotations

import re
import shutil
from collections.abc import Iterator
from typing import Any

import pytest

from assistant.app import build_assistant
from assistant.runtime import FACTORY_KEY
from assistant.server import build_app
from assistant.settings import Settings
from connectors import web_chat
from crm_store.db import Database
from tests.support.threaded_app import served_in_thread

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
pytestmark = [
    pytest.mark.browser,
    pytest.mark.skipif(CHROMIUM is None, reason="Debian's chromium is not installed (apt-get install chromium)"),
]



@pytest.fixture
def server(sqlite_db: Database, trained_nlu: Any) -> Iterator[str]:
    settings = Settings.from_env({}, database_url=sqlite_db.url)
    app = build_app(settings, db=sqlite_db, extra=[web_chat.install])
    app[FACTORY_KEY] = lambda db, _s: build_assistant(db, trained_nlu, embedder=getattr(trained_nlu, "embedder", None))
    with served_in_thread(app) as url:
        yield url


HOST = "chat.test"
ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update",
        "--disable-sync", "--no-first-run", f"--host-resolver-rules=MAP {HOST} 127.0.0.1"]


def _insecure(server: str) -> str:
    """The server's URL under a name that makes the page an insecure context (plain http, not localhost)."""
    return server.replace("127.0.0.1", HOST)


def test_customer_opens_a_ticket_and_asks_its_status(server: str, tmp_path: Any) -> None:
    from playwright.sync_api import expect, sync_playwright

    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, headless=True, args=ARGS)
        page = browser.new_page(viewport={"width": 390, "height": 800})  # a phone screen
        page.goto(_insecure(server) + "/")
        assert page.evaluate("window.isSecureContext") is False
        assert page.evaluate("typeof crypto.randomUUID") == "undefined"
        box = page.locator("#message")
        bots = page.locator(".bot")

        def say(text: str) -> str:
            before = bots.count()
            box.fill(text)
            box.press("Enter")
            expect(bots).not_to_have_count(before, timeout=30_000)
            return bots.last.inner_text()

        answer = say("The export to Excel crashes every time since yesterday")
        if "address" in answer.lower():
            answer = say("clara@kunde.example")
        assert "Shall I open a ticket" in answer, answer  # confirmation first, with buttons
        before = bots.count()
        page.get_by_role("button", name="Yes, open it").last.click()
        expect(bots).not_to_have_count(before, timeout=30_000)
        answer = bots.last.inner_text()
        assert "#" in answer, answer
        number = answer.split("#", 1)[1].split()[0].strip(".,")
        answer = say(f"what's the status of ticket #{number}?")
        if "mail" in answer.lower() and number not in answer:
            answer = say("clara@kunde.example")
        assert number in answer, answer
        # user text is shown as text, never as HTML
        box.fill("<img src=x onerror=alert(1)>")
        box.press("Enter")
        expect(page.locator(".user").last).to_have_text("<img src=x onerror=alert(1)>")
        page.screenshot(path=str(tmp_path / "chat.png"))
        sender = page.evaluate("sessionStorage.getItem('crm-sender')")
        assert re.fullmatch(r"[0-9a-f]{32}", sender), sender  # 128 bits from crypto.getRandomValues
        browser.close()


@pytest.mark.parametrize("stale", ["12345678901234567890", "aaaaaaaaaaaaaaaaaaaaaaaa"])
def test_a_guessable_sender_id_from_an_older_page_is_replaced(server: str, stale: str) -> None:
    """An id an older page made with Math.random (digits) is dropped on load; one the server refuses
    (``sender_not_random``) is replaced and the message sent again, so the visitor sees an answer."""
    from playwright.sync_api import expect, sync_playwright

    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, headless=True, args=ARGS)
        page = browser.new_page()
        page.add_init_script(f"sessionStorage.setItem('crm-sender', {stale!r})")
        page.goto(_insecure(server) + "/")
        page.locator("#message").fill("/help")
        page.locator("#message").press("Enter")
        expect(page.locator(".bot")).to_have_count(1, timeout=30_000)
        assert page.locator(".error").count() == 0
        sender = page.evaluate("sessionStorage.getItem('crm-sender')")
        assert sender != stale and re.fullmatch(r"[0-9a-f]{32}", sender), sender
        browser.close()
