"""The web chat's REST webhook and WebSocket on a real SQLite store, with a scripted NLU."""

from __future__ import annotations

import uuid
from typing import Any

import pytest
from aiohttp.test_utils import TestClient

from assistant.app import build_assistant
from assistant.runtime import FACTORY_KEY
from assistant.server import build_app
from assistant.settings import Settings
from connectors import customer_auth, web_chat
from crm_store.db import Database
from crm_store.services import Actor, CrmServices
from tests.support.fake_nlu import ScriptedNLU

SECRET = "test-secret"


def sid(name: str) -> str:
    """An anonymous sender id as a client must send it: random (the page uses 128 bits), named for reading."""
    return f"{name}-{uuid.uuid4().hex}"


@pytest.fixture
async def client(aiohttp_client: Any, sqlite_db: Database) -> TestClient:
    settings = Settings.from_env({}, database_url=sqlite_db.url, secret_key=SECRET, chat_burst=5, chat_rate=0.01)
    app = build_app(settings, db=sqlite_db, extra=[web_chat.install])
    nlu = ScriptedNLU({"hello there": ("greet", [])})
    app[FACTORY_KEY] = lambda db, _settings: build_assistant(db, nlu)
    return await aiohttp_client(app)


async def test_rest_webhook_answers_in_rasa_format(client: TestClient) -> None:
    sender = sid("abc")
    res = await client.post("/webhooks/rest/webhook", json={"sender": sender, "message": "hello there"})
    assert res.status == 200
    body = await res.json()
    assert body and body[0]["recipient_id"] == sender and "help" in body[0]["text"]


async def test_button_payload_round_trip(client: TestClient) -> None:
    res = await client.post("/webhooks/rest/webhook", json={"sender": sid("p1"), "message": "/help"})
    assert "ticket" in (await res.json())[0]["text"]


@pytest.mark.parametrize(("body", "status"), [
    ("{not json", 400), ('["a list"]', 400), ('{"sender": "", "message": "x"}', 400),
    ('{"sender": "a", "message": 5}', 400), ('{"sender": "a", "message": "   "}', 400),
])
async def test_bad_input_gets_a_clear_error(client: TestClient, body: str, status: int) -> None:
    res = await client.post("/webhooks/rest/webhook", data=body, headers={"Content-Type": "application/json"})
    assert res.status == status
    assert "error" in await res.json()


async def test_oversized_message_is_refused(client: TestClient) -> None:
    res = await client.post("/webhooks/rest/webhook", json={"sender": sid("big"), "message": "x" * 5000})
    assert res.status == 413


async def test_foreign_origin_is_refused(client: TestClient) -> None:
    res = await client.post("/webhooks/rest/webhook", json={"sender": sid("o"), "message": "/help"},
                            headers={"Origin": "https://evil.example"})
    assert res.status == 403


async def test_rate_limit_per_conversation(client: TestClient) -> None:
    flood = sid("flood")
    statuses = [(await client.post("/webhooks/rest/webhook", json={"sender": flood, "message": "/help"})).status
                for _ in range(7)]
    assert statuses[:5] == [200] * 5 and 429 in statuses[5:]


async def test_staff_only_intents_are_refused_to_anonymous_customers(client: TestClient) -> None:
    res = await client.post("/webhooks/rest/webhook", json={"sender": sid("anon"), "message": "/pipeline_status"})
    assert "isn't available" in (await res.json())[0]["text"]


async def test_invalid_tokens_are_rejected(client: TestClient) -> None:
    res = await client.post("/webhooks/rest/webhook", json={"sender": sid("t"), "message": "/help"},
                            headers={"Authorization": "Bearer crm_forged"})
    assert res.status == 401
    forged = customer_auth.issue(1, "other-secret")
    res = await client.post("/webhooks/rest/webhook", json={"sender": sid("t"), "message": "/help", "customer_token": forged})
    assert res.status == 401


async def test_staff_token_makes_a_staff_speaker(client: TestClient, sqlite_db: Database) -> None:
    with sqlite_db.session() as s:
        crm = CrmServices(s, Actor.system("test"))
        user = crm.users.create({"email": "rep@x.example", "name": "Rita", "role": "rep"})
        token = crm.users.issue_token(user.id)
    res = await client.post("/webhooks/rest/webhook", json={"sender": "s", "message": "/help"},
                            headers={"Authorization": f"Bearer {token}"})
    assert "log calls" in (await res.json())[0]["text"]


async def test_websocket_chat(client: TestClient) -> None:
    ws = await client.ws_connect("/ws")
    sender = sid("w1")
    await ws.send_json({"sender": sender, "message": "hello there"})
    reply = await ws.receive_json()
    assert reply["replies"][0]["recipient_id"] == sender
    await ws.send_str("{broken")
    assert (await ws.receive_json())["status"] == 400
    await ws.close()


async def test_chat_page_is_served_with_a_strict_csp(client: TestClient) -> None:
    res = await client.get("/")
    assert res.status == 200
    assert "default-src 'self'" in res.headers["Content-Security-Policy"]
    assert 'name="viewport"' in await res.text()


async def test_a_page_hears_only_its_own_conversation_pushes(client: TestClient) -> None:
    """An agent's reply is pushed to the page listening with the conversation's own sender id (and identity);
    another visitor naming a different id hears nothing, and a guessable id cannot listen at all (attack)."""
    mine, other = sid("mine"), sid("other")
    async with client.ws_connect("/ws") as ws_mine, client.ws_connect("/ws") as ws_other:
        await ws_mine.send_json({"listen": mine})
        assert (await ws_mine.receive_json())["listening"] is True
        await ws_other.send_json({"listen": other})
        assert (await ws_other.receive_json())["listening"] is True
        sent = await web_chat.push(client.app, f"customer:anonymous/{mine}", {"text": "Hi, Alex here"})
        assert sent == 1
        got = await ws_mine.receive_json()
        assert got["push"] == [{"recipient_id": mine, "text": "Hi, Alex here"}]
        # the other page got nothing: the next thing it hears is the answer to its own ping
        await ws_other.send_json({"listen": other})
        assert await ws_other.receive_json() == {"listening": True}
        # a customer token's conversation is keyed by the identity: the bare sender id does not reach it
        assert await web_chat.push(client.app, f"customer:7/{mine}", {"text": "not for you"}) == 0
    async with client.ws_connect("/ws") as ws:
        await ws.send_json({"listen": "1234"})
        refused = await ws.receive_json()
        assert refused["status"] == 400 and refused["code"] == "sender_not_random"
