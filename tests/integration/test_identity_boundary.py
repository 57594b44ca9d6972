"""Identity at the web chat's edge, attacked over HTTP against the real app (issue 10 items 4 and 7).

- anonymous conversations are keyed by the sender id alone, so a guessable id ("abc", "1", "test") would let
  a second client continue the first one's conversation: such ids are refused, random ones work;
- a non-ASCII customer token was a 500 with a traceback: it is a clean 401;
- the per-IP limit keyed on the reverse proxy's address: ``X-Forwarded-For`` counts only from a trusted proxy;
- a revoked staff token is refused within ``TOKEN_TTL`` (≤ 5 s) despite the token cache (a stepped clock).
"""

from __future__ import annotations

import uuid
from collections.abc import Awaitable, Callable
from typing import Any

import pytest
from aiohttp.test_utils import TestClient
from click.testing import CliRunner
from sqlalchemy import select, update

from assistant.app import build_assistant
from assistant.cli.main import cli
from assistant.runtime import FACTORY_KEY
from assistant.server import build_app
from assistant.settings import Settings, SettingsError
from connectors import customer_auth, web_chat
from connectors.rate_limit import ClientAddress
from crm_store.db import Database
from crm_store.models import ApiToken, Conversation, utcnow
from crm_store.services import Actor, CrmServices
from tests.support.fake_nlu import ScriptedNLU

SECRET = "identity-boundary-secret"
WEBHOOK = "/webhooks/rest/webhook"
GUESSABLE = ["abc", "1", "test", "user42", "0123456789012345678901", "aaaaaaaaaaaaaaaaaaaaaaaa", "abababababababab"]

MakeClient = Callable[..., Awaitable[TestClient]]


@pytest.fixture
def make_client(aiohttp_client: Any, sqlite_db: Database) -> MakeClient:
    async def make(db: Database = sqlite_db, **overrides: Any) -> TestClient:
        settings = Settings.from_env({}, **{"database_url": db.url, "secret_key": SECRET, **overrides})
        app = build_app(settings, db=db, extra=[web_chat.install])
        app[FACTORY_KEY] = lambda database, _settings: build_assistant(database, ScriptedNLU())
        return await aiohttp_client(app)

    return make


def random_sender() -> str:
    return uuid.uuid4().hex


# --- anonymous conversations ----------------------------------------------------------------------------------


@pytest.mark.parametrize("sender", GUESSABLE)
async def test_attack_a_guessable_anonymous_sender_id_starts_no_conversation_to_continue(
    make_client: MakeClient, sqlite_db: Database, sender: str
) -> None:
    """Attack: a victim chats as "test" and leaves their address; a second client says "test" too and would
    find the victim's form, address and ticket. The id is refused to both (in the client's language), so there
    is nothing to continue, over REST and over the WebSocket."""
    victim, attacker = await make_client(), await make_client()
    res = await victim.post(WEBHOOK, json={"sender": sender, "message": '/report_issue{"email": "v@x.example"}'})
    assert res.status == 400
    body = await res.json()
    assert body["code"] == "sender_not_random" and "guess" in body["error"]
    res = await attacker.post(WEBHOOK, json={"sender": sender, "message": "/affirm"},
                              headers={"Accept-Language": "de-DE"})
    assert res.status == 400 and "erraten" in (await res.json())["error"]
    ws = await attacker.ws_connect("/ws")
    await ws.send_json({"sender": sender, "message": "/affirm"})
    frame = await ws.receive_json()
    assert frame["status"] == 400 and frame["code"] == "sender_not_random"
    await ws.close()
    with sqlite_db.session() as s:
        assert s.scalars(select(Conversation).where(Conversation.sender_id.endswith("/" + sender))).all() == []


async def test_a_long_random_sender_id_keeps_its_conversation(make_client: MakeClient) -> None:
    client = await make_client()
    sender = random_sender()
    res = await client.post(WEBHOOK, json={"sender": sender, "message": '/report_issue{"email": "c@x.example"}'})
    assert res.status == 200 and "describe" in (await res.json())[0]["text"]
    res = await client.post(WEBHOOK, json={"sender": sender, "message": "/cancel"})
    assert res.status == 200 and (await res.json())[0]["recipient_id"] == sender
    ws = await client.ws_connect("/ws")
    await ws.send_json({"sender": str(uuid.uuid4()), "message": "/help"})  # a Rasa widget's UUID
    assert "replies" in await ws.receive_json()
    await ws.close()


async def test_the_server_hands_out_random_sender_ids(make_client: MakeClient) -> None:
    client = await make_client()
    ids = [(await (await client.post("/webhooks/rest/session")).json())["sender"] for _ in range(3)]
    assert len(set(ids)) == 3 and all(len(i) >= 32 and web_chat.looks_random(i) for i in ids)
    res = await client.post(WEBHOOK, json={"sender": ids[0], "message": "/help"})
    assert res.status == 200
    res = await client.post("/webhooks/rest/session", headers={"Origin": "https://evil.example"})
    assert res.status == 403


async def test_staff_and_signed_customers_may_keep_short_sender_ids(make_client: MakeClient, sqlite_db: Database) -> None:
    """Their conversations are keyed by their identity: nobody else reaches "user:3/abc"."""
    client = await make_client()
    with sqlite_db.session() as s:
        crm = CrmServices(s, Actor.system("test"))
        user = crm.users.create({"email": "ida@x.example", "name": "Ida", "role": "rep"})
        token = crm.users.issue_token(user.id)
        contact = crm.contacts.create({"first_name": "Cleo", "last_name": "K", "email": "cleo@x.example"})
    res = await client.post(WEBHOOK, json={"sender": "abc", "message": "/help"},
                            headers={"Authorization": f"Bearer {token}"})
    assert res.status == 200
    cus = customer_auth.issue(contact.id, SECRET)
    res = await client.post(WEBHOOK, json={"sender": "abc", "message": "/help", "customer_token": cus})
    assert res.status == 200


# --- customer tokens ---------------------------------------------------------------------------------------------


NON_ASCII_TOKENS = [
    "cus_1.9999999999.ü" + "0" * 31,  # the issue's case: a non-ASCII signature
    "cus_1.9999999999." + "é" * 32,
    "cus_١.9999999999." + "0" * 32,  # Arabic-Indic digit: int() reads it, the signature must not match
    "cus_1.٩٩٩٩٩٩٩٩٩٩." + "0" * 32,
    "cus_1.9999999999.\x00" + "0" * 31,
    "cus_ü.ü.ü",
]


@pytest.mark.parametrize("token", NON_ASCII_TOKENS)
async def test_attack_non_ascii_customer_tokens_are_a_clean_401(make_client: MakeClient, token: str) -> None:
    """Attack: a non-ASCII signature used to raise in ``hmac.compare_digest`` -> 500 with a traceback."""
    client = await make_client()
    res = await client.post(WEBHOOK, json={"sender": random_sender(), "message": "/help", "customer_token": token})
    assert res.status == 401 and (await res.json()) == {"error": "invalid or expired customer token"}
    ws = await client.ws_connect("/ws")
    await ws.send_json({"sender": random_sender(), "message": "/help", "token": token})
    assert (await ws.receive_json())["status"] == 401
    await ws.close()
    assert customer_auth.verify(token, SECRET) is None


async def test_a_non_ascii_bearer_customer_token_is_a_clean_401(make_client: MakeClient) -> None:
    client = await make_client()
    res = await client.post(WEBHOOK, json={"sender": random_sender(), "message": "/help"},
                            headers={"Authorization": "Bearer cus_1.9999999999.ü" + "0" * 31})
    assert res.status == 401


# --- the per-IP limit behind a reverse proxy -----------------------------------------------------------------


async def _flood(client: TestClient, n: int, forwarded: Callable[[int], str] | None = None) -> list[int]:
    """``n`` messages, each in a new conversation (so only the per-IP limit can refuse them)."""
    statuses = []
    for i in range(n):
        headers = {"X-Forwarded-For": forwarded(i)} if forwarded else {}
        res = await client.post(WEBHOOK, json={"sender": random_sender(), "message": "/help"}, headers=headers)
        statuses.append(res.status)
    return statuses


IP_BURST = web_chat.IP_FACTOR  # chat_burst=1 below: each address may send this many at once


async def test_attack_a_spoofed_forwarded_for_from_an_untrusted_peer_does_not_bypass_the_ip_limit(
    make_client: MakeClient,
) -> None:
    """Attack: a client invents a new X-Forwarded-For per request to get a fresh per-IP budget each time."""
    client = await make_client(chat_burst=1, chat_rate=0.0001)
    statuses = await _flood(client, IP_BURST + 2, forwarded=lambda i: f"198.51.100.{i}")
    assert statuses[:IP_BURST] == [200] * IP_BURST and statuses[IP_BURST:] == [429, 429]


async def test_behind_a_trusted_proxy_two_clients_get_separate_budgets(make_client: MakeClient) -> None:
    client = await make_client(chat_burst=1, chat_rate=0.0001, trusted_proxies=("127.0.0.0/8", "::1"))
    # the proxy appends the real client; what the client put in front of it changes nothing (attack)
    first = await _flood(client, IP_BURST + 1, forwarded=lambda i: f"10.9.9.{i}, 203.0.113.5")
    assert first[:IP_BURST] == [200] * IP_BURST and first[IP_BURST] == 429
    assert await _flood(client, 3, forwarded=lambda _i: "198.51.100.7") == [200, 200, 200]


def test_the_client_address_is_the_right_most_untrusted_hop() -> None:
    none = ClientAddress()
    assert none.client("127.0.0.1", ["1.2.3.4"]) == "127.0.0.1"
    proxies = ClientAddress(["10.0.0.0/8", "2001:db8::/32"])
    assert proxies.client("192.0.2.1", ["1.2.3.4"]) == "192.0.2.1"  # the peer is no proxy of ours
    assert proxies.client("10.0.0.1", ["6.6.6.6, 1.2.3.4, 10.0.0.2"]) == "1.2.3.4"
    assert proxies.client("10.0.0.1", ["6.6.6.6", "1.2.3.4"]) == "1.2.3.4"  # two headers are one list
    assert proxies.client("10.0.0.1", ["[2001:db9::1]:443"]) == "2001:db9::1"
    assert proxies.client("10.0.0.1", ["1.2.3.4:5678"]) == "1.2.3.4"
    assert proxies.client("::ffff:10.0.0.1", ["::ffff:1.2.3.4"]) == "1.2.3.4"
    assert proxies.client("10.0.0.1", ["garbage, 10.0.0.3"]) == "10.0.0.3"
    assert proxies.client("10.0.0.1", []) == "10.0.0.1"
    with pytest.raises(SettingsError, match="CRM_TRUSTED_PROXIES"):
        Settings.from_env({"CRM_TRUSTED_PROXIES": "10.0.0.0/8, proxy.example"}).check()
    assert Settings.from_env({"CRM_TRUSTED_PROXIES": "10.0.0.0/8, ::1"}).trusted_proxies == ("10.0.0.0/8", "::1")


# --- staff token cache -------------------------------------------------------------------------------------------


async def test_attack_a_revoked_staff_token_is_refused_within_the_cache_ttl(
    make_client: MakeClient, db: Database
) -> None:
    """Attack: keep using a token after an admin revoked it, riding on the chat's token cache."""
    assert web_chat.TOKEN_TTL <= 5
    client = await make_client(db)
    now = [1000.0]
    client.app[web_chat.TOKENS_KEY].clock = lambda: now[0]
    with db.session() as s:
        crm = CrmServices(s, Actor.system("test"))
        user = crm.users.create({"email": "leaver@x.example", "name": "Lea", "role": "rep"})
        token = crm.users.issue_token(user.id)
    headers = {"Authorization": f"Bearer {token}"}

    async def say() -> int:
        return (await client.post(WEBHOOK, json={"sender": "s", "message": "/help"}, headers=headers)).status

    assert await say() == 200
    with db.session() as s:
        s.execute(update(ApiToken).where(ApiToken.user_id == user.id).values(revoked_at=utcnow()))
    now[0] += web_chat.TOKEN_TTL - 0.5
    assert await say() == 200  # still cached: allowed for at most TOKEN_TTL
    now[0] += 0.5
    assert await say() == 401


def test_crm_rasa_url_needs_a_secret_key_to_sign_the_speaker() -> None:
    with pytest.raises(SettingsError, match="CRM_SECRET_KEY"):
        Settings.from_env({"CRM_RASA_URL": "http://127.0.0.1:5005"}).check()
    with pytest.raises(SettingsError, match="CRM_SECRET_KEY"):
        Settings.from_env({"CRM_RASA_URL": "http://127.0.0.1:5005"}, demo=True).check()
    Settings.from_env({"CRM_RASA_URL": "http://127.0.0.1:5005", "CRM_SECRET_KEY": "k"}).check()
    result = CliRunner().invoke(cli, ["serve"], env={"CRM_RASA_URL": "http://127.0.0.1:5005", "CRM_SECRET_KEY": ""})
    assert result.exit_code != 0 and "CRM_SECRET_KEY" in result.output
