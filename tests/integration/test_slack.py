"""Slack at POST /slack/events: signed requests built the way Slack builds them, a fake Web API."""

from __future__ import annotations

import asyncio
import base64
import json
import time
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlencode

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import func, select

from assistant.app import build_assistant
from assistant.runtime import ASSISTANT_KEY, FACTORY_KEY
from assistant.server import build_app
from assistant.settings import Settings
from connectors import slack
from connectors.slack import verify
from connectors.slack.events import SlackConnector
from connectors.slack.render import Image, render
from crm_store.db import Database
from crm_store.models import Contact, ProcessedEvent, User
from crm_store.services import Actor, CrmServices
from crm_store.services.users import actor_for
from tests.support.fake_nlu import ScriptedNLU
from tests.support.fake_slack_api import (
    BOT_ID,
    SECRET,
    TEAM_ID,
    TOKEN,
    FakeSlackApi,
    SlackWorkspace,
    link_slack,
)


@dataclass
class Slack(SlackWorkspace):
    db: Database | None = None

    @property
    def connector(self) -> SlackConnector:
        return self.client.server.app[slack.CONNECTOR_KEY]


@pytest.fixture
async def sl(aiohttp_client: Any, aiohttp_server: Any, sqlite_db: Database) -> Slack:
    fake = FakeSlackApi(users={"U1": "rep@x.example", "U9": "stranger@elsewhere.example"})
    server = await aiohttp_server(fake.app)
    conf = Settings.from_env(
        {},
        database_url=sqlite_db.url,
        slack_bot_token=TOKEN,
        slack_signing_secret=SECRET,
        slack_api_url=fake.api_url(server),
        extra={"slack_retry_backoff": "0.01"},
    )
    with sqlite_db.session() as s:
        CrmServices(s, Actor.system("test")).users.create(
            {"email": "rep@x.example", "name": "Rita", "role": "rep"}
        )
    link_slack(sqlite_db, "rep@x.example", "U1")
    app = build_app(conf, db=sqlite_db, extra=[slack.install])
    nlu = ScriptedNLU({"hello there": ("greet", [])})
    app[FACTORY_KEY] = lambda db, _settings: build_assistant(db, nlu)
    return Slack(await aiohttp_client(app), fake, db=sqlite_db)


async def test_a_dm_help_gets_a_block_kit_reply(sl: Slack) -> None:
    assert await sl.dm("/help") == 200
    await sl.connector.drain()
    [post] = sl.fake.calls_to("chat.postMessage")
    assert post["channel"] == "D1" and "log calls" in post["text"]
    assert post["blocks"][0]["type"] == "section"


async def test_a_linked_slack_user_is_served_without_asking_slack_who_it_is(sl: Slack) -> None:
    await sl.dm("/help", event_id="Ev1")
    await sl.connector.drain()
    await sl.dm("/help", event_id="Ev2")
    await sl.connector.drain()
    assert sl.fake.calls_to("users.info") == []
    assert len(sl.fake.calls_to("chat.postMessage")) == 2


async def test_unlinked_slack_users_get_only_a_link_request(sl: Slack) -> None:
    for user, event_id in (("U9", "Ev1"), ("U404", "Ev2"), ("U9", "Ev3")):
        await sl.dm("/pipeline_status", user=user, event_id=event_id)
        await sl.connector.drain()
    texts = sl.posted()
    assert len(texts) == 3 and all("not linked to a CRM account yet" in t for t in texts)
    assert "request #1" in texts[0] and "request #2" in texts[1] and "request #1" in texts[2]
    assert all("blocks" not in c for c in sl.fake.calls_to("chat.postMessage"))


async def test_the_same_event_four_times_is_processed_once(sl: Slack) -> None:
    statuses = [await sl.dm("/help", event_id="EvDup")]
    statuses += await asyncio.gather(
        *(
            sl.event(
                {
                    "type": "message",
                    "channel_type": "im",
                    "channel": "D1",
                    "user": "U1",
                    "text": "/help",
                    "ts": "1.1",
                },
                "EvDup",
                **{"X-Slack-Retry-Num": str(n), "X-Slack-Retry-Reason": "http_timeout"},
            )
            for n in (1, 2, 3)
        )
    )
    await sl.connector.drain()
    assert statuses == [200] * 4
    assert len(sl.fake.calls_to("chat.postMessage")) == 1
    with sl.db.session() as s:
        assert s.execute(select(func.count()).select_from(ProcessedEvent)).scalar() == 1


async def test_bot_and_own_messages_are_ignored(sl: Slack) -> None:
    await sl.event(
        {
            "type": "message",
            "channel_type": "im",
            "channel": "D1",
            "bot_id": BOT_ID,
            "user": "UBOT",
            "text": "Done!",
            "ts": "1.2",
        },
        "Ev1",
    )
    await sl.event(
        {"type": "message", "subtype": "message_changed", "channel_type": "im", "channel": "D1", "ts": "1.3"},
        "Ev2",
    )
    await sl.connector.drain()
    assert sl.fake.calls_to("chat.postMessage") == []


async def test_a_mention_is_answered_privately_and_the_thread_hears_only_that(sl: Slack) -> None:
    await sl.event(
        {
            "type": "app_mention",
            "channel": "C1",
            "user": "U1",
            "text": "<@UBOT> hello there",
            "ts": "1700000000.000200",
        }
    )
    await sl.connector.drain()
    [answer] = sl.fake.calls_to("chat.postEphemeral")
    assert answer["channel"] == "C1" and answer["user"] == "U1" and "help" in answer["text"]
    [note] = sl.fake.calls_to("chat.postMessage")
    assert note["channel"] == "C1" and note["thread_ts"] == "1700000000.000200"
    assert "answered you privately" in note["text"] and "blocks" not in note


async def test_a_button_click_continues_the_flow_and_updates_the_message(sl: Slack) -> None:
    await sl.dm('/create_contact{"person": "Jane Roe", "organization": "Initech"}')
    await sl.connector.drain()
    [question] = sl.fake.calls_to("chat.postMessage")
    actions = next(b for b in question["blocks"] if b["type"] == "actions")
    assert [e["value"] for e in actions["elements"]] == ["/affirm", "/deny"]
    yes = actions["elements"][0]
    payload = {
        "type": "block_actions",
        "team": {"id": TEAM_ID},
        "user": {"id": "U1", "team_id": TEAM_ID},
        "api_app_id": "A1",
        "token": "x",
        "trigger_id": "t",
        "channel": {"id": "D1"},
        "container": {"type": "message", "channel_id": "D1", "message_ts": "1700000000.000001"},
        "message": {"ts": "1700000000.000001", "text": question["text"], "blocks": question["blocks"]},
        "actions": [{**yes, "block_id": actions["block_id"], "action_ts": "1.5"}],
    }
    assert await sl.interactive(payload) == 200
    await sl.connector.drain()
    assert "Done: Jane Roe (Initech) is saved as a contact." in sl.posted()[-1]
    [update] = sl.fake.calls_to("chat.update")
    assert update["ts"] == "1700000000.000001"
    assert not any(b["type"] == "actions" for b in update["blocks"])
    with sl.db.session() as s:
        assert s.execute(select(func.count()).select_from(Contact)).scalar() == 1


async def test_slash_command_is_the_same_as_typing_it(sl: Slack) -> None:
    body = urlencode(
        {
            "command": "/crm",
            "text": "hello there",
            "team_id": TEAM_ID,
            "channel_id": "D1",
            "user_id": "U1",
            "response_url": "http://127.0.0.1:9/x",
            "trigger_id": "t",
        }
    ).encode()
    assert await sl.send(body, "application/x-www-form-urlencoded") == 200
    await sl.connector.drain()
    assert "help" in sl.posted()[0]
    await sl.send(body.replace(b"channel_id=D1", b"channel_id=C7"), "application/x-www-form-urlencoded")
    await sl.connector.drain()
    [ephemeral] = sl.fake.calls_to("chat.postEphemeral")
    assert ephemeral["channel"] == "C7" and ephemeral["user"] == "U1"


@pytest.mark.parametrize("status", [429, 500])
async def test_rate_limits_and_server_errors_are_retried(sl: Slack, status: int) -> None:
    sl.fake.fail("chat.postMessage", status=status, times=2 if status == 500 else 1, retry_after=0)
    await sl.dm("/help")
    await sl.connector.drain()
    assert sl.fake.attempts.count("chat.postMessage") == (3 if status == 500 else 2)
    assert len(sl.fake.calls_to("chat.postMessage")) == 1


async def test_url_verification_challenge(sl: Slack) -> None:
    body = json.dumps({"type": "url_verification", "challenge": "abc123", "token": "x"}).encode()
    ts = str(int(time.time()))
    res = await sl.client.post(
        "/slack/events",
        data=body,
        headers={
            "X-Slack-Request-Timestamp": ts,
            "X-Slack-Signature": verify.sign(SECRET, ts, body),
            "Content-Type": "application/json",
        },
    )
    assert res.status == 200 and "abc123" in await res.text()


# --- signatures -------------------------------------------------------------------------------------
def _event_body() -> bytes:
    return json.dumps(
        {
            "type": "event_callback",
            "team_id": TEAM_ID,
            "event_id": "EvX",
            "event": {
                "type": "message",
                "channel_type": "im",
                "channel": "D1",
                "user": "U1",
                "text": "/help",
                "ts": "1.1",
            },
        }
    ).encode()


async def test_forged_tampered_and_expired_requests_are_refused(sl: Slack) -> None:
    body = _event_body()
    now = str(int(time.time()))
    old = str(int(time.time()) - 301)
    cases = [
        {},
        {"X-Slack-Request-Timestamp": now, "X-Slack-Signature": verify.sign("wrong-secret", now, body)},
        {"X-Slack-Request-Timestamp": now, "X-Slack-Signature": verify.sign(SECRET, now, body + b" ")},
        {"X-Slack-Request-Timestamp": old, "X-Slack-Signature": verify.sign(SECRET, old, body)},
        {
            "X-Slack-Request-Timestamp": now,
            "X-Slack-Signature": verify.sign(SECRET, now, body).replace("v0", "v1"),
        },
        {"X-Slack-Request-Timestamp": now + ".0", "X-Slack-Signature": verify.sign(SECRET, now + ".0", body)},
    ]
    for headers in cases:
        res = await sl.client.post("/slack/events", data=body, headers=headers)
        assert res.status == 401, headers
    await sl.connector.drain()
    assert sl.fake.calls == []


header_text = st.text(
    st.characters(min_codepoint=32, max_codepoint=0x2FF, exclude_characters="\x7f"), max_size=80
)


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    timestamp=st.one_of(st.none(), header_text, st.integers(-(10**12), 10**13).map(str)),
    signature=st.one_of(
        st.none(),
        header_text,
        st.text("0123456789abcdef", min_size=64, max_size=64).map(lambda h: "v0=" + h),
        st.builds(lambda h: "v1=" + h, st.text("0123456789abcdef", max_size=64)),
    ),
)
def test_random_headers_never_pass_and_never_crash(timestamp: str | None, signature: str | None) -> None:
    headers = {
        k: v
        for k, v in (("X-Slack-Request-Timestamp", timestamp), ("X-Slack-Signature", signature))
        if v is not None
    }
    assert verify.is_valid(SECRET, headers, _event_body()) is False


async def test_random_headers_get_401_over_http(sl: Slack) -> None:
    """The same property through the server: Hypothesis draws the headers, every one is a 401, never a 500."""
    drawn: list[dict[str, str]] = []
    fresh = st.integers(-400, 400).map(lambda d: str(int(time.time()) + d))

    @settings(max_examples=40, database=None)
    @given(
        timestamp=st.one_of(st.none(), header_text, fresh),
        signature=st.one_of(
            st.none(),
            header_text,
            st.text("0123456789abcdef", max_size=70).map(lambda h: "v0=" + h),
            st.just("v1=" + "a" * 64),
        ),
    )
    def draw(timestamp: str | None, signature: str | None) -> None:
        drawn.append(
            {
                k: v
                for k, v in (("X-Slack-Request-Timestamp", timestamp), ("X-Slack-Signature", signature))
                if v is not None
            }
        )

    draw()
    body = _event_body()
    for headers in [*drawn, {"X-Slack-Request-Timestamp": "１２３", "X-Slack-Signature": "v0=" + "a" * 64}]:
        res = await sl.client.post("/slack/events", data=body, headers=headers)
        assert res.status == 401, headers
    await sl.connector.drain()
    assert sl.fake.calls == []


def test_a_correct_signature_is_accepted() -> None:
    body = _event_body()
    ts = str(int(time.time()))
    assert verify.is_valid(
        SECRET, {"X-Slack-Request-Timestamp": ts, "X-Slack-Signature": verify.sign(SECRET, ts, body)}, body
    )
    assert not verify.is_valid(
        "", {"X-Slack-Request-Timestamp": ts, "X-Slack-Signature": verify.sign("", ts, body)}, body
    )


# --- rendering --------------------------------------------------------------------------------------
PNG = b"\x89PNG\r\n\x1a\n" + b"\x00" * 16


def test_render_escapes_user_text_and_keeps_payloads() -> None:
    out = render(
        [
            {
                "text": "Note from <!channel> & <https://evil.example|bank>",
                "buttons": [{"title": "Acme <GmbH>", "payload": '/choose{"contact_id": 3}'}],
            }
        ]
    )
    section, actions = out.blocks
    assert (
        "<" not in section["text"]["text"] and "&lt;!channel&gt; &amp; &lt;https" in section["text"]["text"]
    )
    assert "<" not in out.text
    assert actions["elements"][0]["value"] == '/choose{"contact_id": 3}'
    assert actions["elements"][0]["text"]["type"] == "plain_text"


def test_render_tables_as_monospace_and_images_as_png_uploads() -> None:
    b64 = base64.b64encode(PNG).decode()
    out = render(
        [
            {
                "text": "Pipeline",
                "image": f"data:image/png;base64,{b64}",
                "custom": {
                    "type": "table",
                    "title": "By stage",
                    "columns": ["stage", "total"],
                    "rows": [["won", "1 000 €"], ["<lost>", "5 €"]],
                    "chart_png_b64": b64,
                },
            }
        ]
    )
    table = out.blocks[1]["text"]["text"]
    assert table.startswith("*By stage*\n```stage") and "&lt;lost&gt;" in table
    assert out.images == [Image(png=PNG, title="By stage.png")]
    assert render([{"image": "data:image/png;base64,!!!"}]).images == []


async def test_a_chart_is_uploaded_with_files_upload_v2(sl: Slack) -> None:
    await sl.dm("/pipeline_status")
    await sl.connector.drain()
    assert sl.fake.calls_to("chat.postMessage")
    [complete] = sl.fake.calls_to("files.completeUploadExternal")
    assert complete["channel_id"] == "D1"
    assert sl.fake.uploads and sl.fake.uploads[0].startswith(b"\x89PNG")


async def test_app_home_shows_the_users_open_tasks(sl: Slack) -> None:
    with sl.db.session() as s:
        rita = s.execute(select(User).where(User.email == "rep@x.example")).scalar_one()
        CrmServices(s, actor_for(rita)).tasks.create(
            {"title": "Send <Acme> the proposal", "assignee_id": rita.id}
        )
    await sl.event({"type": "app_home_opened", "user": "U1", "channel": "D1", "tab": "home"})
    await sl.connector.drain()
    [publish] = sl.fake.calls_to("views.publish")
    assert publish["user_id"] == "U1" and publish["view"]["type"] == "home"
    assert "Send &lt;Acme&gt; the proposal" in json.dumps(publish["view"])


class _GatedAssistant:
    """Holds every turn until the test opens the gate: shows that Slack's 200 never waits for the work."""

    def __init__(self, inner: Any) -> None:
        self.inner = inner
        self.gate = asyncio.Event()

    async def handle(self, message: Any) -> list[dict[str, Any]]:
        await self.gate.wait()
        return list(await self.inner.handle(message))


async def test_slack_gets_its_200_before_the_turn_is_done(sl: Slack) -> None:
    app = sl.client.server.app
    gated = _GatedAssistant(app[ASSISTANT_KEY])
    app[ASSISTANT_KEY] = gated  # type: ignore[assignment]
    assert await asyncio.wait_for(sl.dm("/help"), timeout=3) == 200
    assert sl.fake.calls_to("chat.postMessage") == []
    gated.gate.set()
    await sl.connector.drain()
    assert len(sl.fake.calls_to("chat.postMessage")) == 1


async def test_nothing_is_mounted_without_slack_settings(aiohttp_client: Any, sqlite_db: Database) -> None:
    app = build_app(Settings.from_env({}, database_url=sqlite_db.url), db=sqlite_db, extra=[slack.install])
    client = await aiohttp_client(app)
    assert (await client.post("/slack/events", data=b"{}")).status in (404, 405)
