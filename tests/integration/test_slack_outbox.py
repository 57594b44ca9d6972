"""The Slack outbox: posts survive Slack outages and restarts, arrive once, and failures are told."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

from aiohttp.test_utils import TestClient, TestServer
from sqlalchemy import select

from assistant.app import build_assistant
from assistant.runtime import FACTORY_KEY
from assistant.server import build_app
from assistant.settings import Settings
from connectors import slack
from connectors.slack.events import SlackConnector
from connectors.slack.outbox import pending_count, posts
from crm_store.db import Database
from crm_store.models import OutboxMessage
from crm_store.services import Actor, CrmServices
from tests.support.fake_nlu import ScriptedNLU
from tests.support.fake_slack_api import SECRET, TOKEN, FakeSlackApi, SlackWorkspace, link_slack

Start = Callable[..., Awaitable[SlackWorkspace]]


def _connector(ws: SlackWorkspace) -> SlackConnector:
    return ws.client.server.app[slack.CONNECTOR_KEY]


async def _start_app(
    aiohttp_client: Any, db: Database, fake: FakeSlackApi, server: TestServer, **extra: str
) -> SlackWorkspace:
    conf = Settings.from_env(
        {},
        database_url=db.url,
        slack_bot_token=TOKEN,
        slack_signing_secret=SECRET,
        slack_api_url=fake.api_url(server),
        extra={"slack_retry_backoff": "0.01", **extra},
    )
    app = build_app(conf, db=db, extra=[slack.install])
    nlu = ScriptedNLU({"hello there": ("greet", [])})
    app[FACTORY_KEY] = lambda store, _settings: build_assistant(store, nlu)
    client: TestClient = await aiohttp_client(app)
    return SlackWorkspace(client, fake)


async def _fake(aiohttp_server: Any, db: Database) -> tuple[FakeSlackApi, TestServer]:
    fake = FakeSlackApi(users={"U1": "rep@x.example"})
    with db.session() as s:
        CrmServices(s, Actor.system("test")).users.create(
            {"email": "rep@x.example", "name": "Rita", "role": "rep"}
        )
    link_slack(db, "rep@x.example", "U1")
    return fake, await aiohttp_server(fake.app)


def _rows(db: Database) -> list[OutboxMessage]:
    with db.session() as s:
        return list(s.execute(select(OutboxMessage).order_by(OutboxMessage.id)).scalars())


async def test_slack_down_for_a_while_then_the_message_arrives_once(
    aiohttp_client: Any, aiohttp_server: Any, sqlite_db: Database
) -> None:
    fake, server = await _fake(aiohttp_server, sqlite_db)
    ws = await _start_app(aiohttp_client, sqlite_db, fake, server)
    fake.fail("chat.postMessage", status=500, times=5)
    await ws.dm("/help")
    await _connector(ws).drain()
    assert fake.attempts.count("chat.postMessage") == 6
    [post] = fake.calls_to("chat.postMessage")
    assert post["channel"] == "D1" and "log calls" in post["text"]
    [row] = _rows(sqlite_db)
    assert row.sent_at is not None and row.attempts == 6 and row.last_error is None


async def test_a_rate_limit_waits_for_retry_after(
    aiohttp_client: Any, aiohttp_server: Any, sqlite_db: Database
) -> None:
    fake, server = await _fake(aiohttp_server, sqlite_db)
    ws = await _start_app(aiohttp_client, sqlite_db, fake, server)
    fake.fail("chat.postMessage", status=429, times=1, retry_after=1)
    await ws.dm("/help")
    await _connector(ws).drain()
    [row] = _rows(sqlite_db)
    assert row.sent_at is not None and row.attempts == 2
    assert (row.sent_at - row.created_at).total_seconds() >= 1.0  # not before Retry-After
    assert len(fake.calls_to("chat.postMessage")) == 1


async def test_a_restarted_app_sends_what_was_pending(
    aiohttp_client: Any, aiohttp_server: Any, sqlite_db: Database
) -> None:
    fake, server = await _fake(aiohttp_server, sqlite_db)
    first = await _start_app(aiohttp_client, sqlite_db, fake, server, slack_outbox_max_backoff="0.05")
    fake.fail("chat.postMessage", status=503, times=10_000)
    await first.dm("/help")
    connector = _connector(first)
    await connector.finish_turns()
    while fake.attempts.count("chat.postMessage") < 2:  # Slack is down: at least one retry happened
        await connector.outbox.deliver_due()
    await first.client.close()  # the server stops with the message undelivered
    with sqlite_db.session() as s:
        assert pending_count(s) == 1
    assert fake.calls_to("chat.postMessage") == []

    fake.recover()
    second = await _start_app(aiohttp_client, sqlite_db, fake, server)
    await _connector(second).drain()
    [post] = fake.calls_to("chat.postMessage")
    assert "log calls" in post["text"]
    with sqlite_db.session() as s:
        assert pending_count(s) == 0


async def test_channel_not_found_is_marked_and_the_user_is_told_by_dm(
    aiohttp_client: Any, aiohttp_server: Any, sqlite_db: Database
) -> None:
    fake, server = await _fake(aiohttp_server, sqlite_db)
    ws = await _start_app(aiohttp_client, sqlite_db, fake, server)
    fake.missing_channels.add("C404")
    await ws.event(
        {"type": "app_mention", "channel": "C404", "user": "U1", "text": "<@UBOT> hello there", "ts": "1.2"}
    )
    await _connector(ws).drain()
    failed, note, notice = _rows(sqlite_db)  # the private answer, the public "answered privately", the DM
    assert failed.sent_at is None and failed.next_attempt_at is None
    assert failed.last_error == "channel_not_found" and failed.attempts == 1
    assert failed.payload["method"] == "chat.postEphemeral" and note.last_error == "channel_not_found"
    assert notice.sent_at is not None and notice.target == "U1"
    [dm] = fake.calls_to("chat.postMessage")[-1:]
    assert dm["channel"] == "U1" and "could not deliver" in dm["text"]


async def test_a_broken_message_is_reported_where_the_user_talked(
    aiohttp_client: Any, aiohttp_server: Any, sqlite_db: Database
) -> None:
    fake, server = await _fake(aiohttp_server, sqlite_db)
    ws = await _start_app(aiohttp_client, sqlite_db, fake, server)
    fake.fail("chat.postMessage", error="invalid_blocks")
    await ws.dm("/help")
    await _connector(ws).drain()
    failed, notice = _rows(sqlite_db)
    assert failed.last_error == "invalid_blocks" and failed.sent_at is None
    assert notice.target == "D1" and notice.sent_at is not None
    assert "could not deliver" in fake.calls_to("chat.postMessage")[-1]["text"]


async def test_a_channels_messages_keep_their_order(
    aiohttp_client: Any, aiohttp_server: Any, sqlite_db: Database
) -> None:
    fake, server = await _fake(aiohttp_server, sqlite_db)
    ws = await _start_app(aiohttp_client, sqlite_db, fake, server)
    outbox = _connector(ws).outbox
    fake.fail("chat.postMessage", status=500, times=2)
    await outbox.add(posts(channel="C1", text="one") + posts(channel="C2", text="elsewhere"))
    await outbox.add(posts(channel="C1", text="two") + posts(channel="C1", text="three"))
    await outbox.settled()
    c1 = [c["text"] for c in fake.calls_to("chat.postMessage") if c["channel"] == "C1"]
    assert c1 == ["one", "two", "three"]
