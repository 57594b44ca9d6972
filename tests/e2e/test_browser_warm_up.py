"""The chat page while the server warms up, in real headless Chromium: a message typed before the assistant
is ready shows "warming up, about N s" (not an error), is sent again by the page, and is answered once the
assistant is built. Skipped, saying why, where no Chromium is installed."""

from __future__ import annotations

import shutil
import threading
from collections.abc import Iterator
from typing import Any

import pytest

from assistant.app import build_assistant
from assistant.runtime import FACTORY_KEY, IN_BACKGROUND_KEY
from assistant.server import build_app
from assistant.settings import Settings
from connectors import web_chat
from crm_store.db import Database
from tests.support.fake_nlu import ScriptedNLU
from tests.support.threaded_app import served_in_thread

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
pytestmark = [
    pytest.mark.browser,
    pytest.mark.skipif(
        CHROMIUM is None, reason="Debian's chromium is not installed (apt-get install chromium)"
    ),
]



@pytest.fixture
def warming_server(sqlite_db: Database) -> Iterator[tuple[str, threading.Event]]:
    """A server whose assistant is built only when the test sets the event (as a long first training)."""
    release = threading.Event()

    def factory(db: Database, _settings: Settings) -> Any:
        assert release.wait(60)
        return build_assistant(db, ScriptedNLU({"hello there": ("greet", [])}))

    app = build_app(Settings.from_env({}, database_url=sqlite_db.url), db=sqlite_db, extra=[web_chat.install])
    app[FACTORY_KEY] = factory
    app[IN_BACKGROUND_KEY] = True
    with served_in_thread(app) as url:
        yield url, release
        release.set()  # before the app stops: the warm-up thread waits for it


def test_a_message_sent_while_warming_up_is_answered_when_ready(
    warming_server: tuple[str, threading.Event],
) -> None:
    from playwright.sync_api import expect, sync_playwright

    url, release = warming_server
    with sync_playwright() as p:
        browser = p.chromium.launch(
            executable_path=CHROMIUM, headless=True, args=["--no-sandbox", "--disable-gpu"]
        )
        page = browser.new_page(locale="en-GB")
        page.goto(url + "/")
        page.fill("#message", "hello there")
        page.press("#message", "Enter")
        warming = page.locator(".msg.warming")
        expect(warming).to_contain_text("warming up (about", timeout=30_000)
        expect(page.locator(".msg.error")).to_have_count(0)  # not shown as a failure
        assert page.locator(".msg.bot").count() == 0
        release.set()
        expect(page.locator(".msg.bot").first).to_contain_text("help", timeout=60_000)
        expect(warming).to_have_count(0)
        assert page.locator(".msg.user").count() == 1  # sent again by the page, shown once
        browser.close()
