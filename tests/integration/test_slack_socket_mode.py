"""Slack over Socket Mode: the fake hands out a WebSocket URL, greets with ``hello``, pushes envelopes
and checks every one is acknowledged by its envelope id; answers arrive at the fake Web API."""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any

import pytest
from aiohttp.test_utils import TestClient
from sqlalchemy import func, select

from assistant.app import build_assistant
from assistant.runtime import FACTORY_KEY
from assistant.server import build_app
from assistant.settings import Settings, SettingsError
from connectors import slack
from connectors.slack.events import SlackConnector
from connectors.slack.render import ACTION_PREFIX
from crm_store.db import Database
from crm_store.models import OutboxMessage, ProcessedEvent
from crm_store.services import Actor, CrmServices
from tests.support.fake_nlu import ScriptedNLU
from tests.support.fake_slack_api import (
    APP_TOKEN,
    SECRET,
    TEAM_ID,
    TOKEN,
    FakeSlackApi,
    SlackWorkspace,
    link_slack,
)


@dataclass
class Socket:
    fake: FakeSlackApi
    client: TestClient
    db: Database

    @property
    def connector(self) -> SlackConnector:
        return self.client.server.app[slack.CONNECTOR_KEY]

    def posted(self) -> list[str]:
        return [str(c.get("text")) for c in self.fake.calls_to("chat.postMessage")]


async def _start(
    aiohttp_client: Any, aiohttp_server: Any, db: Database, *, signing_secret: str
) -> AsyncIterator[Socket]:
    fake = FakeSlackApi(users={"U1": "rep@x.example"})
    server = await aiohttp_server(fake.app)
    conf = Settings.from_env(
        {"SLACK_APP_TOKEN": APP_TOKEN},
        database_url=db.url,
        slack_bot_token=TOKEN,
        slack_signing_secret=signing_secret,
        slack_api_url=fake.api_url(server),
        extra={"slack_retry_backoff": "0.01"},
    )
    with db.session() as s:
        CrmServices(s, Actor.system("test")).users.create(
            {"email": "rep@x.example", "name": "Rita", "role": "rep"}
        )
    link_slack(db, "rep@x.example", "U1")
    app = build_app(conf, db=db, extra=[slack.install])
    app[FACTORY_KEY] = lambda db, _settings: build_assistant(db, ScriptedNLU({}))
    client = await aiohttp_client(app)
    await fake.socket_connected()
    yield Socket(fake, client, db)
    await client.close()  # our side hangs up first, while the fake is still there


@pytest.fixture
async def sock(aiohttp_client: Any, aiohttp_server: Any, sqlite_db: Database) -> AsyncIterator[Socket]:
    """Socket Mode next to the HTTP endpoint (a signing secret is set as well)."""
    async for started in _start(aiohttp_client, aiohttp_server, sqlite_db, signing_secret=SECRET):
        yield started


async def test_a_dm_over_the_socket_is_acked_and_answered(sock: Socket) -> None:
    [opened] = sock.fake.calls_to("apps.connections.open")  # with the xapp token: the fake checks
    assert opened == {}
    ack = await sock.fake.socket_dm("/help")
    assert ack == {"envelope_id": "env-1"}
    await sock.connector.drain()
    [post] = sock.fake.calls_to("chat.postMessage")
    assert post["channel"] == "D1" and "log calls" in post["text"]
    assert post["blocks"][0]["type"] == "section"


async def test_a_slash_command_over_the_socket(sock: Socket) -> None:
    ack = await sock.fake.socket_command("")
    assert ack["envelope_id"] == "env-1"
    await sock.connector.drain()
    assert len(sock.posted()) == 1 and "log calls" in sock.posted()[0]


async def test_a_button_click_over_the_socket(sock: Socket) -> None:
    payload = {
        "type": "block_actions",
        "team": {"id": TEAM_ID},
        "user": {"id": "U1", "team_id": TEAM_ID},
        "api_app_id": "A1",
        "token": "x",
        "trigger_id": "t",
        "channel": {"id": "D1"},
        "container": {"type": "message", "channel_id": "D1", "message_ts": "1700000000.000001"},
        "actions": [
            {"type": "button", "action_id": f"{ACTION_PREFIX}1_0", "block_id": "b1", "value": "/help"},
        ],
    }
    ack = await sock.fake.socket_interactive(payload)
    assert ack["envelope_id"] == "env-1"
    await sock.connector.drain()
    assert "log calls" in sock.posted()[0]


async def test_a_retried_envelope_and_the_same_event_over_http_are_processed_once(sock: Socket) -> None:
    acks = [
        await sock.fake.socket_dm("/help", event_id="EvDup"),
        await sock.fake.socket_dm("/help", event_id="EvDup", retry_attempt=1, retry_reason="timeout"),
    ]
    assert [a["envelope_id"] for a in acks] == ["env-1", "env-2"]
    assert await SlackWorkspace(sock.client, sock.fake).dm("/help", event_id="EvDup") == 200
    await sock.connector.drain()
    assert len(sock.posted()) == 1
    with sock.db.session() as s:
        assert s.execute(select(func.count()).select_from(ProcessedEvent)).scalar() == 1


async def test_a_disconnect_request_makes_the_client_reconnect(sock: Socket) -> None:
    first = sock.fake.links[0]
    await sock.fake.socket_disconnect()
    assert len(sock.fake.calls_to("apps.connections.open")) == 2
    await sock.fake.socket_dm("/help")
    await sock.connector.drain()
    assert first.closed and len(sock.posted()) == 1


async def test_shutdown_closes_the_socket(sock: Socket) -> None:
    await sock.fake.socket_dm("/help")
    await sock.client.close()
    assert all(link.closed for link in sock.fake.links)
    with sock.db.session() as s:  # the turn under way was finished: its answer is sent or kept for later
        [target] = s.execute(select(OutboxMessage.target)).scalars()
    assert target == "D1"


@pytest.fixture
async def socket_only(aiohttp_client: Any, aiohttp_server: Any, sqlite_db: Database) -> AsyncIterator[Socket]:
    async for started in _start(aiohttp_client, aiohttp_server, sqlite_db, signing_secret=""):
        yield started


async def test_without_a_signing_secret_only_the_socket_is_served(socket_only: Socket) -> None:
    res = await socket_only.client.post("/slack/events", data=b"{}")
    assert res.status == 404
    await socket_only.fake.socket_dm("/help")
    await socket_only.connector.drain()
    assert len(socket_only.posted()) == 1


def test_settings_read_and_check_the_app_token() -> None:
    env = {"SLACK_BOT_TOKEN": TOKEN, "SLACK_SIGNING_SECRET": SECRET, "SLACK_APP_TOKEN": APP_TOKEN}
    settings = Settings.from_env(env, database_url="sqlite://")
    assert settings.slack_app_token == APP_TOKEN
    settings.check()
    with pytest.raises(SettingsError, match="xapp"):
        Settings.from_env({**env, "SLACK_APP_TOKEN": TOKEN}, database_url="sqlite://").check()
    with pytest.raises(SettingsError, match="SLACK_BOT_TOKEN is empty"):
        Settings.from_env({"SLACK_APP_TOKEN": APP_TOKEN}, database_url="sqlite://").check()


async def test_a_refused_connection_holds_up_neither_start_up_nor_http(
    aiohttp_client: Any, aiohttp_server: Any, sqlite_db: Database
) -> None:
    fake = FakeSlackApi(users={"U1": "rep@x.example"}, app_token="xapp-1-A1-another-token")  # ours is refused
    server = await aiohttp_server(fake.app)
    conf = Settings.from_env(
        {"SLACK_APP_TOKEN": APP_TOKEN},
        database_url=sqlite_db.url,
        slack_bot_token=TOKEN,
        slack_signing_secret=SECRET,
        slack_api_url=fake.api_url(server),
    )
    with sqlite_db.session() as s:
        CrmServices(s, Actor.system("test")).users.create(
            {"email": "rep@x.example", "name": "Rita", "role": "rep"}
        )
    link_slack(sqlite_db, "rep@x.example", "U1")
    app = build_app(conf, db=sqlite_db, extra=[slack.install])
    app[FACTORY_KEY] = lambda db, _settings: build_assistant(db, ScriptedNLU({}))
    client = await aiohttp_client(app)  # started although the socket cannot connect
    assert await SlackWorkspace(client, fake).dm("/help") == 200
    await app[slack.CONNECTOR_KEY].drain()
    await client.close()  # and stops while the socket is still retrying
    assert fake.links == [] and len(fake.calls_to("chat.postMessage")) == 1
