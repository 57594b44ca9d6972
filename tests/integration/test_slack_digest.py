"""The weekly pipeline digest: posted once per ISO week with its chart, also across restarts."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime
from typing import Any

from aiohttp.test_utils import TestClient, TestServer
from sqlalchemy import select

from assistant.app import build_assistant
from assistant.runtime import FACTORY_KEY
from assistant.server import build_app
from assistant.settings import Settings
from connectors import slack
from crm_store.db import Database
from crm_store.models import ProcessedEvent
from crm_store.services import Actor, CrmServices
from tests.support.fake_nlu import ScriptedNLU
from tests.support.fake_slack_api import SECRET, TOKEN, FakeSlackApi

MONDAY_0830_CEST = datetime(2026, 3, 30, 6, 30, tzinfo=UTC)


async def _run_app(
    aiohttp_client: Any, db: Database, fake: FakeSlackApi, server: TestServer, now: datetime
) -> TestClient:
    """Start the app with its clock at ``now``, let the scheduler look once, deliver, return it."""
    conf = Settings.from_env(
        {},
        database_url=db.url,
        slack_bot_token=TOKEN,
        slack_signing_secret=SECRET,
        slack_api_url=fake.api_url(server),
        default_timezone="Europe/Berlin",
        extra={"slack_retry_backoff": "0.01", "slack_digest_channel": "CDIGEST"},
    )
    app = build_app(conf, db=db, extra=[slack.install])
    app[FACTORY_KEY] = lambda store, _settings: build_assistant(store, ScriptedNLU({}))
    app[slack.CLOCK_KEY] = lambda: now
    client: TestClient = await aiohttp_client(app)
    await asyncio.wait_for(app[slack.DIGEST_KEY].waiting.wait(), timeout=20)
    await asyncio.wait_for(app[slack.CONNECTOR_KEY].drain(), timeout=20)
    return client


async def test_the_digest_is_posted_once_per_week_even_across_restarts(
    aiohttp_client: Any, aiohttp_server: Any, sqlite_db: Database
) -> None:
    fake = FakeSlackApi()
    server = await aiohttp_server(fake.app)
    with sqlite_db.session() as s:
        crm = CrmServices(s, Actor.system("test"))
        crm.deals.create({"name": "Initech <renewal>", "amount": "12000", "stage": "proposal"})
        crm.deals.create({"name": "Acme pilot", "amount": "3000", "stage": "won"})

    first = await _run_app(aiohttp_client, sqlite_db, fake, server, MONDAY_0830_CEST)
    [post] = fake.calls_to("chat.postMessage")
    assert post["channel"] == "CDIGEST"
    assert post["blocks"][0]["text"]["text"] == "Pipeline, week 14"
    assert "*1* open deals worth *EUR 12,000*" in post["blocks"][1]["text"]["text"]
    [upload] = fake.calls_to("files.completeUploadExternal")
    assert upload["channel_id"] == "CDIGEST" and fake.uploads[0].startswith(b"\x89PNG")
    await first.close()

    second = await _run_app(aiohttp_client, sqlite_db, fake, server, MONDAY_0830_CEST)
    assert len(fake.calls_to("chat.postMessage")) == 1
    await second.close()
    with sqlite_db.session() as s:
        keys = s.execute(select(ProcessedEvent.key).where(ProcessedEvent.source == "slack_digest")).scalars()
        assert list(keys) == ["2026-W14"]


async def test_a_run_missed_by_more_than_the_catch_up_window_is_skipped(
    aiohttp_client: Any, aiohttp_server: Any, sqlite_db: Database
) -> None:
    fake = FakeSlackApi()
    server = await aiohttp_server(fake.app)
    tuesday = datetime(2026, 3, 31, 10, 0, tzinfo=UTC)
    await _run_app(aiohttp_client, sqlite_db, fake, server, tuesday)
    assert fake.calls_to("chat.postMessage") == []
