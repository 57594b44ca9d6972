"""Teams at POST /api/messages: real RS256 tokens minted here, a fake Bot Connector and OpenID/JWKS."""

from __future__ import annotations

import asyncio
import base64
import contextlib
import json
import re
import time
from dataclasses import dataclass
from typing import Any

import jwt
import pytest
from aiohttp.test_utils import TestClient, TestServer
from hypothesis import given, settings
from hypothesis import strategies as st
from sqlalchemy import func, select

from assistant.app import build_assistant
from assistant.runtime import ASSISTANT_KEY, FACTORY_KEY
from assistant.server import SETTINGS_KEY, build_app
from assistant.settings import Settings
from connectors import teams
from connectors.teams import auth
from connectors.teams.activities import TeamsConnector
from connectors.teams.render import escape_markdown, markdown, render
from crm_store.db import Database
from crm_store.models import Activity, Contact, OutboxMessage, ProcessedEvent, User
from crm_store.services import Actor, CrmServices
from tests.support.fake_bot_connector import FakeBotConnector, Issuer, Posted, teams_settings
from tests.support.fake_nlu import ScriptedNLU

APP_ID = "5b1f0c4e-7d2a-4f3b-9e8c-0a1b2c3d4e5f"
PASSWORD = "teams-app-password"
BOT = {"id": f"28:{APP_ID}", "name": "CRM"}
RITA = {"id": "29:rita", "name": "Rita", "aadObjectId": "aad-rita"}
MEMBERS = {
    "29:rita": {
        "name": "Rita",
        "aadObjectId": "aad-rita",
        "email": "Rep@X.example",
        "userPrincipalName": "rep@x.example",
    },
    "29:stranger": {"name": "Sam", "aadObjectId": "aad-sam", "userPrincipalName": "sam@elsewhere.example"},
}
CARD = "application/vnd.microsoft.card.adaptive"
BOT_MENTION = {"type": "mention", "mentioned": BOT, "text": "<at>CRM</at>"}


@pytest.fixture(scope="module")
def issuer() -> Issuer:
    return Issuer("key-1", endorsements=["msteams"])


@dataclass
class Teams:
    client: TestClient
    fake: FakeBotConnector
    fake_server: TestServer
    issuer: Issuer
    db: Database

    @property
    def connector(self) -> TeamsConnector:
        return self.client.server.app[teams.CONNECTOR_KEY]

    @property
    def service_url(self) -> str:
        return self.fake.service_url(self.fake_server)

    def token(self, **overrides: Any) -> str:
        args: dict[str, Any] = {"audience": APP_ID, "service_url": self.service_url, **overrides}
        return self.issuer.token(**args)

    def activity(
        self,
        text: str | None = "/help",
        *,
        activity_id: str = "act-1",
        user: dict[str, Any] | None = None,
        conversation: str = "a:personal-rita",
        **extra: Any,
    ) -> dict[str, Any]:
        activity: dict[str, Any] = {
            "type": "message",
            "id": activity_id,
            "timestamp": "2026-11-05T09:00:00.000Z",
            "serviceUrl": self.service_url,
            "channelId": "msteams",
            "from": user or RITA,
            "conversation": {"conversationType": "personal", "tenantId": "tenant-1", "id": conversation},
            "recipient": BOT,
            "locale": "en-US",
            "channelData": {"tenant": {"id": "tenant-1"}},
        }
        if text is not None:
            activity["text"] = text
        activity.update(extra)
        return activity

    async def post(self, activity: dict[str, Any], token: str | None = None, **headers: str) -> int:
        auth_header = {"Authorization": f"Bearer {token or self.token()}"}
        res = await self.client.post("/api/messages", json=activity, headers={**auth_header, **headers})
        return res.status

    async def say(self, text: str, **kw: Any) -> int:
        return await self.post(self.activity(text, **kw))

    async def submit(self, payload: str, **kw: Any) -> int:
        """What Teams sends when an Action.Submit button is clicked: no text, the data as ``value``."""
        return await self.post(self.activity(None, value={"payload": payload}, replyToId="reply-1", **kw))

    async def click(self, payload: str, *, activity_id: str = "click-1", **kw: Any) -> tuple[int, Any]:
        """What Teams sends when an Action.Execute button is clicked: an invoke it waits for."""
        value = {"action": {"type": "Action.Execute", "verb": "crm", "data": {"payload": payload}}}
        activity = self.activity(
            None, type="invoke", name="adaptiveCard/action", value=value, activity_id=activity_id, **kw
        )
        res = await self.client.post(
            "/api/messages", json=activity, headers={"Authorization": f"Bearer {self.token()}"}
        )
        return res.status, await res.json()

    @property
    def replies(self) -> list[Posted]:
        return self.fake.replies


@pytest.fixture
async def tm(
    aiohttp_client: Any, aiohttp_server: Any, sqlite_db: Database, issuer: Issuer, monkeypatch: Any
) -> Teams:
    fake = FakeBotConnector(app_id=APP_ID, app_password=PASSWORD, members=MEMBERS)
    fake.publish(issuer.jwk())
    server = await aiohttp_server(fake.app)
    conf = await teams_settings(fake, server, aiohttp_server, monkeypatch, database_url=sqlite_db.url)
    with sqlite_db.session() as s:
        rita = CrmServices(s, Actor.system("test")).users.create(
            {"email": "rep@x.example", "name": "Rita", "role": "rep"}
        )
        rita.teams_user_id, rita.teams_tenant_id = "aad-rita", "tenant-1"  # as an approved link leaves it
    app = build_app(conf, db=sqlite_db, extra=[teams.install])
    nlu = ScriptedNLU({"hello there": ("greet", [])})
    app[FACTORY_KEY] = lambda db, _settings: build_assistant(db, nlu)
    return Teams(await aiohttp_client(app), fake, server, issuer, sqlite_db)


# --- conversations ----------------------------------------------------------------------------------
async def test_help_is_answered_as_a_reply_through_the_bot_connector(tm: Teams) -> None:
    assert await tm.say("/help") == 200
    await tm.connector.drain()
    [reply] = tm.replies
    assert reply.conversation_id == "a:personal-rita" and reply.reply_to_id == "act-1"
    assert "log calls" in reply.text and reply.body["textFormat"] == "markdown"
    assert reply.body["type"] == "message" and reply.body["replyToId"] == "act-1"
    assert reply.body["from"] == BOT and reply.body["recipient"]["id"] == "29:rita"
    assert tm.fake.tokens_issued == ["outbound-1"]


async def test_a_linked_teams_user_is_served_without_a_member_lookup(tm: Teams) -> None:
    await tm.say("/help", activity_id="a1")
    await tm.connector.drain()
    await tm.say("hello there", activity_id="a2")
    await tm.connector.drain()
    assert tm.fake.member_lookups == []
    assert len(tm.replies) == 2 and "help" in tm.replies[1].text
    assert len(tm.fake.tokens_issued) == 1  # the outbound token is cached
    assert tm.fake.jwks_fetches == 1  # so are the signing keys


async def test_an_email_on_the_activity_links_nobody(tm: Teams) -> None:
    await tm.say("/help", user={"id": "29:other-id", "name": "Rita", "email": "rep@x.example"})
    await tm.connector.drain()
    assert tm.fake.member_lookups == []
    assert "not linked to a CRM account yet" in tm.replies[0].text


async def test_unknown_teams_users_get_only_a_polite_refusal(tm: Teams) -> None:
    stranger = {"id": "29:stranger", "name": "Sam", "aadObjectId": "aad-sam"}
    ghost = {"id": "29:ghost", "name": "Ghost"}
    await tm.say("/pipeline_status", user=stranger, activity_id="a1")
    await tm.say("/pipeline_status", user=ghost, activity_id="a2")
    await tm.connector.drain()
    assert len(tm.replies) == 2
    assert all("not linked to a CRM account yet" in r.text for r in tm.replies)
    assert all("attachments" not in r.body for r in tm.replies)
    with tm.db.session() as s:
        assert (
            s.execute(select(func.count()).select_from(User).where(User.teams_user_id.is_not(None))).scalar()
            == 1  # Rita, linked by the fixture; nobody new
        )


async def test_buttons_are_universal_actions_and_a_click_replaces_the_card(tm: Teams) -> None:
    await tm.say('/create_contact{"person": "Jane Roe", "organization": "Initech"}', activity_id="a1")
    await tm.connector.drain()
    assert tm.fake.typing == ["a:personal-rita"]  # shown while the turn ran
    card = tm.replies[0].card()
    assert card is not None and card["type"] == "AdaptiveCard" and card["version"] == "1.5"
    assert card["body"][0]["type"] == "TextBlock" and "Jane Roe" in card["body"][0]["text"]
    [actions] = [e for e in card["body"] if e["type"] == "ActionSet"]
    assert [(a["type"], a["verb"]) for a in actions["actions"]] == [("Action.Execute", "crm")] * 2
    assert [a["data"] for a in actions["actions"]] == [{"payload": "/affirm"}, {"payload": "/deny"}]
    assert "Jane Roe" in tm.replies[0].body["summary"]

    status, response = await tm.click("/deny", activity_id="c1")
    assert status == 200 and response["statusCode"] == 200
    assert response["type"] == CARD
    replaced = json.dumps(response["value"])
    assert "Nothing was saved" in replaced and "Action.Execute" not in replaced  # no second click
    await tm.connector.drain()
    assert len(tm.replies) == 1  # the answer is the card, not another message
    with tm.db.session() as s:
        assert s.execute(select(func.count()).select_from(Contact)).scalar() == 0


async def test_a_click_completes_log_a_call_and_the_same_click_twice_does_nothing(tm: Teams) -> None:
    with tm.db.session() as s:
        CrmServices(s, Actor.system("test")).contacts.create({"first_name": "Jane", "last_name": "Roe"})
    await tm.say('/log_activity{"activity_type": "call", "person": "Jane Roe"}', activity_id="a1")
    await tm.connector.drain()
    card = tm.replies[0].card()
    assert card is not None and "Jane Roe" in json.dumps(card)
    status, response = await tm.click("/affirm", activity_id="c1")
    assert status == 200 and response["type"] == CARD
    assert "logged" in json.dumps(response["value"]).lower()
    status, again = await tm.click("/affirm", activity_id="c1")  # Teams redelivers the same invoke
    assert status == 200 and again["type"] == "application/vnd.microsoft.activity.message"
    with tm.db.session() as s:
        assert s.execute(select(func.count()).select_from(Activity)).scalar() == 1


async def test_a_click_from_an_unlinked_user_or_a_foreign_tenant_does_nothing(tm: Teams) -> None:
    status, response = await tm.click("/affirm", activity_id="c1", user={"id": "29:ghost", "name": "Ghost"})
    assert status == 200 and "chat" in json.dumps(response["value"])
    await tm.connector.drain()
    assert "not linked to a CRM account yet" in tm.replies[0].text
    value = {"action": {"type": "Action.Execute", "verb": "crm", "data": {"payload": "/pipeline_status"}}}
    foreign = tm.activity(None, type="invoke", name="adaptiveCard/action", value=value, activity_id="c2")
    foreign["conversation"]["tenantId"] = "tenant-evil"
    foreign["channelData"] = {"tenant": {"id": "tenant-evil"}}
    res = await tm.client.post(
        "/api/messages", json=foreign, headers={"Authorization": f"Bearer {tm.token()}"}
    )
    assert res.status == 200 and (await res.json())["value"] == ""  # Rita's id, another tenant: nothing
    await tm.connector.drain()
    assert len(tm.replies) == 1


async def test_a_card_submit_of_help_is_the_same_as_typing_it(tm: Teams) -> None:
    """Cards posted before Universal Actions (Action.Submit) still work."""
    assert await tm.submit("/help") == 200
    await tm.connector.drain()
    assert "log calls" in tm.replies[0].text


async def test_a_mention_in_a_channel_is_stripped_and_answered_in_the_personal_chat(tm: Teams) -> None:
    thread = "19:abc123@thread.tacv2;messageid=1700000000000"
    activity = tm.activity("<at>CRM</at> hello there", conversation=thread, entities=[BOT_MENTION])
    activity["conversation"]["conversationType"] = "channel"
    assert await tm.post(activity) == 200
    await tm.connector.drain()
    [opened] = tm.fake.opened
    assert opened["members"] == [{"id": "29:rita"}] and opened["tenantId"] == "tenant-1"
    answer, note = tm.replies
    assert answer.conversation_id == "a:personal-29:rita" and answer.reply_to_id is None
    assert "help" in answer.text
    assert note.conversation_id == thread and note.reply_to_id == "act-1"  # ids are URL-encoded on the way
    assert "personal chat" in note.text


async def test_the_pipeline_renders_a_table_card_and_a_png_attachment(tm: Teams) -> None:
    await tm.say("/pipeline_status")
    await tm.connector.drain()
    [reply] = tm.replies
    card, image = reply.body["attachments"]
    assert card["contentType"] == CARD
    tables = [e for e in card["content"]["body"] if e["type"] == "Table"]
    assert tables and tables[0]["firstRowAsHeader"] is True
    assert tables[0]["fallback"]["type"] == "FactSet"
    assert image["contentType"] == "image/png"
    assert base64.b64decode(image["contentUrl"].split(",", 1)[1]).startswith(b"\x89PNG")


async def test_the_same_activity_four_times_is_processed_once(tm: Teams) -> None:
    activity = tm.activity("/help", activity_id="dup-1")
    statuses = [await tm.post(activity)]
    statuses += await asyncio.gather(*(tm.post(activity) for _ in range(3)))
    await tm.connector.drain()
    assert statuses == [200] * 4
    assert len(tm.replies) == 1
    with tm.db.session() as s:
        assert s.execute(select(func.count()).select_from(ProcessedEvent)).scalar() == 1


async def test_the_bot_being_added_gets_a_welcome_and_other_activities_are_ignored(tm: Teams) -> None:
    update = tm.activity(
        None, type="conversationUpdate", activity_id="u1", membersAdded=[BOT], locale="de-DE"
    )
    assert await tm.post(update) == 200
    someone_joined = tm.activity(None, type="conversationUpdate", activity_id="u2", membersAdded=[RITA])
    someone_joined["conversation"]["conversationType"] = "channel"
    for activity in (
        someone_joined,
        tm.activity(None, type="typing", activity_id="t1"),
        tm.activity(None, type="messageReaction", activity_id="r1", reactionsAdded=[{"type": "like"}]),
        tm.activity(None, type="invoke", activity_id="i1", name="adaptiveCard/action"),
        tm.activity("", activity_id="m-empty"),
    ):
        assert await tm.post(activity) == 200
    await tm.connector.drain()
    [welcome] = tm.replies
    assert welcome.reply_to_id is None and "CRM-Assistent" in welcome.text
    assert tm.fake.member_lookups == []


@pytest.mark.parametrize(("status", "times", "attempts"), [(429, 1, 2), (503, 2, 3)])
async def test_rate_limits_and_server_errors_are_retried(
    tm: Teams, status: int, times: int, attempts: int
) -> None:
    tm.fake.fail("reply", status=status, times=times, retry_after=0)
    await tm.say("/help")
    await tm.connector.drain()
    assert tm.fake.attempts.count("reply") == attempts
    assert len(tm.replies) == 1 and "log calls" in tm.replies[0].text


async def test_only_teams_and_the_allowed_tenants_are_heard(tm: Teams) -> None:
    tm.connector.tenants = ("tenant-1",)
    unendorsed = Issuer("key-any")  # a signing key that does not restrict channels
    tm.fake.publish(unendorsed.jwk())
    # Direct Line / Web Chat let the client choose `from`: such activities are acknowledged, not heard.
    webchat = tm.activity("/help", activity_id="w1", channelId="webchat")
    assert await tm.post(webchat, token=unendorsed.token(audience=APP_ID, service_url=tm.service_url)) == 200
    foreign = tm.activity("/help", activity_id="f1")
    foreign["conversation"]["tenantId"] = "tenant-evil"
    foreign["channelData"] = {"tenant": {"id": "tenant-evil"}}
    home = tm.activity("/help", activity_id="h1")
    for activity in (foreign, home):
        assert await tm.post(activity) == 200
    await tm.connector.drain()
    [reply] = tm.replies
    assert reply.reply_to_id == "h1"


async def test_an_account_linked_to_another_teams_user_is_not_taken_over(tm: Teams) -> None:
    with tm.db.session() as s:
        s.execute(
            select(User).where(User.email == "rep@x.example")
        ).scalar_one().teams_user_id = "aad-original"
    await tm.say("/pipeline_status")  # the member lookup says rep@x.example, but the account is taken
    await tm.connector.drain()
    assert "not linked to a CRM account yet" in tm.replies[0].text
    await tm.say("/help", activity_id="a2", user={"id": "29:rita-2", "aadObjectId": "aad-original"})
    await tm.connector.drain()
    assert "log calls" in tm.replies[1].text


async def test_a_revoked_outbound_token_is_renewed_once(tm: Teams) -> None:
    await tm.say("/help", activity_id="a1")
    await tm.connector.drain()
    tm.fake.tokens_issued.remove("outbound-1")  # the connector no longer accepts it
    await tm.say("/help", activity_id="a2")
    await tm.connector.drain()
    assert len(tm.replies) == 2 and len(tm.fake.tokens_issued) == 1
    assert tm.fake.attempts[2:] == ["typing", "typing", "reply"]  # the typing indicator hit the 401 first


async def test_wrong_app_credentials_mean_no_reply_but_no_crash(tm: Teams) -> None:
    tm.fake.app_password = "rotated"
    assert await tm.say("/help") == 200
    await tm.connector.drain()
    assert tm.replies == [] and tm.fake.attempts == []


class _GatedAssistant:
    """Holds every turn until the test opens the gate: shows that the 200 never waits for the work."""

    def __init__(self, inner: Any) -> None:
        self.inner = inner
        self.gate = asyncio.Event()

    async def handle(self, message: Any) -> list[dict[str, Any]]:
        await self.gate.wait()
        return list(await self.inner.handle(message))


async def test_teams_gets_its_200_before_the_turn_is_done(tm: Teams) -> None:
    app = tm.client.server.app
    gated = _GatedAssistant(app[ASSISTANT_KEY])
    app[ASSISTANT_KEY] = gated  # type: ignore[assignment]
    assert await asyncio.wait_for(tm.say("/help"), timeout=3) == 200
    assert tm.replies == []
    gated.gate.set()
    await tm.connector.drain()
    assert len(tm.replies) == 1


async def test_nothing_is_mounted_without_teams_settings(aiohttp_client: Any, sqlite_db: Database) -> None:
    app = build_app(Settings.from_env({}, database_url=sqlite_db.url), db=sqlite_db, extra=[teams.install])
    client = await aiohttp_client(app)
    assert (await client.post("/api/messages", data=b"{}")).status in (404, 405)


# --- inbound authentication ---------------------------------------------------------------------------
async def test_forged_expired_and_misaddressed_tokens_are_refused(tm: Teams) -> None:
    forger = Issuer("key-1")  # same kid, another private key
    now = time.time()
    tokens = {
        "forged": forger.token(audience=APP_ID, service_url=tm.service_url),
        "expired": tm.token(issued_at=now - 7200, lifetime=3600),
        "not yet valid": tm.token(nbf=int(now) + 3600),
        "wrong audience": tm.token(audience="another-bot"),
        "wrong issuer": tm.token(issuer="https://sts.windows.net/evil/"),
        "other serviceUrl": tm.token(service_url="https://smba.evil.example/"),
        "no serviceUrl": tm.token(service_url=None),
        "unknown kid": tm.token(kid="key-404"),
        "no exp": tm.token(exp=None),
        "hs256": jwt.encode(
            {"iss": auth.ISSUER, "aud": APP_ID, "serviceurl": tm.service_url, "exp": int(now) + 600},
            "a-shared-secret-of-at-least-32-bytes!",
            algorithm="HS256",
            headers={"kid": "key-1"},
        ),
        "alg none": jwt.encode(
            {"iss": auth.ISSUER, "aud": APP_ID, "serviceurl": tm.service_url, "exp": int(now) + 600},
            None,
            algorithm="none",
            headers={"kid": "key-1"},
        ),
    }
    for name, token in tokens.items():
        assert await tm.post(tm.activity("/help"), token=token) == 401, name
    for header in ("", "Bearer", "Bearer ", "Basic cmVwOnB3", "Bearer a.b.c", f"bearer{tm.token()}"):
        res = await tm.client.post("/api/messages", json=tm.activity(), headers={"Authorization": header})
        assert res.status == 401, header
    res = await tm.client.post("/api/messages", json=tm.activity())
    assert res.status == 401
    await tm.connector.drain()
    assert tm.replies == [] and tm.fake.member_lookups == []


async def test_the_token_must_vouch_for_the_activity(tm: Teams) -> None:
    elsewhere = tm.activity("/help", serviceUrl="http://127.0.0.1:9/smba/")
    assert await tm.post(elsewhere) == 401
    other_channel = tm.activity("/help", channelId="slack")  # the key is endorsed for msteams only
    assert await tm.post(other_channel) == 401
    res = await tm.client.post(
        "/api/messages", data=b"{not json", headers={"Authorization": f"Bearer {tm.token()}"}
    )
    assert res.status == 400
    await tm.connector.drain()
    assert tm.replies == []


async def test_a_leeway_tolerates_small_clock_skew(tm: Teams) -> None:
    assert (
        await tm.post(tm.activity("/help"), token=tm.token(issued_at=time.time() - 3630, lifetime=3600))
        == 200
    )
    await tm.connector.drain()
    assert len(tm.replies) == 1


async def test_five_minutes_of_clock_skew_are_tolerated_and_no_more(tm: Teams) -> None:
    now = time.time()
    late = tm.token(issued_at=now - 3600 - 290, lifetime=3600)  # expired 290 s ago
    early = tm.token(nbf=int(now) + 290)
    too_late = tm.token(issued_at=now - 3600 - 330, lifetime=3600)
    assert await tm.post(tm.activity("/help", activity_id="s1"), token=late) == 200
    assert await tm.post(tm.activity("/help", activity_id="s2"), token=early) == 200
    assert await tm.post(tm.activity("/help", activity_id="s3"), token=too_late) == 401
    await tm.connector.drain()
    assert len(tm.replies) == 2


ENTRA_V2 = "https://login.microsoftonline.com/{}/v2.0"


async def test_a_single_tenant_entra_token_for_our_tenant_is_accepted(tm: Teams) -> None:
    token = tm.token(issuer=ENTRA_V2.format("tenant-1"), tid="tenant-1")
    assert await tm.post(tm.activity("/help", activity_id="e1"), token=token) == 200
    v1 = tm.token(issuer="https://sts.windows.net/tenant-1/", tid="tenant-1")
    assert await tm.post(tm.activity("/help", activity_id="e2"), token=v1) == 200
    await tm.connector.drain()
    assert len(tm.replies) == 2
    assert set(tm.fake.token_tenants) == {"tenant-1"}  # the app token, too, comes from our own tenant


async def test_a_foreign_tenants_token_is_refused(tm: Teams) -> None:
    tokens = {
        "foreign issuer": tm.token(issuer=ENTRA_V2.format("tenant-evil"), tid="tenant-evil"),
        "foreign tid under our issuer": tm.token(issuer=ENTRA_V2.format("tenant-1"), tid="tenant-evil"),
        "no tid": tm.token(issuer=ENTRA_V2.format("tenant-1")),
        "multi-tenant common": tm.token(issuer=ENTRA_V2.format("common"), tid="tenant-1"),
    }
    for name, token in tokens.items():
        assert await tm.post(tm.activity("/help"), token=token) == 401, name
    await tm.connector.drain()
    assert tm.replies == []


async def test_a_rotated_key_is_fetched_when_an_unknown_kid_arrives(tm: Teams) -> None:
    assert await tm.say("/help", activity_id="a1") == 200
    rotated = Issuer("key-2", endorsements=["msteams"])
    tm.fake.publish(rotated.jwk())
    token = rotated.token(audience=APP_ID, service_url=tm.service_url)
    assert await tm.post(tm.activity("/help", activity_id="a2"), token=token) == 200
    await tm.connector.drain()
    assert tm.fake.jwks_fetches == 2 and len(tm.replies) == 2


async def test_unknown_kids_do_not_hammer_the_key_endpoint(tm: Teams) -> None:
    tm.client.server.app[teams.KEYS_KEY].keys[auth.ISSUER].min_refresh_seconds = 60
    assert await tm.say("/help") == 200
    for n in range(5):
        assert await tm.post(tm.activity(), token=tm.token(kid=f"random-{n}")) == 401
    assert tm.fake.jwks_fetches == 1


header_text = st.text(st.characters(min_codepoint=32, max_codepoint=126), max_size=120)
segment = st.text("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_", max_size=60)


async def test_random_authorization_headers_get_401_never_500(tm: Teams) -> None:
    """Hypothesis draws the headers (garbage, JWT-shaped garbage, valid tokens with a byte changed)."""
    valid = tm.token()
    head_and_payload = valid.rindex(".")
    drawn: list[str | None] = []

    def mutate(index: int, char: str) -> str:
        i = index % head_and_payload
        replacement = char if char != valid[i] else ("A" if valid[i] != "A" else "B")
        return valid[:i] + replacement + valid[i + 1 :]

    @settings(max_examples=60, database=None)
    @given(
        header=st.one_of(
            st.none(),
            header_text,
            header_text.map(lambda t: "Bearer " + t),
            st.tuples(segment, segment, segment).map(lambda s: "Bearer " + ".".join(s)),
            st.builds(mutate, st.integers(0, 10_000), st.sampled_from("Aa0-_Zz.")).map(
                lambda t: "Bearer " + t
            ),
            st.just("Bearer " + valid.rsplit(".", 1)[0] + "."),
        )
    )
    def draw(header: str | None) -> None:
        drawn.append(header)

    draw()
    for header in drawn:
        headers = {"Authorization": header} if header is not None else {}
        res = await tm.client.post("/api/messages", json=tm.activity(), headers=headers)
        assert res.status == 401, header
    await tm.connector.drain()
    assert tm.replies == []


def test_bearer_parsing_never_raises_anything_but_auth_errors() -> None:
    @settings(max_examples=200, database=None)
    @given(st.one_of(st.none(), st.text(max_size=200), st.text(max_size=50).map(lambda t: "Bearer " + t)))
    def check(header: str | None) -> None:
        with contextlib.suppress(auth.AuthError):  # anything else would fail the test
            assert auth.bearer_token(header).count(".") == 2

    check()


# --- rendering ----------------------------------------------------------------------------------------
PNG = b"\x89PNG\r\n\x1a\n" + b"\x00" * 16


def test_user_text_is_escaped_for_teams_markdown_and_html() -> None:
    activity = render([{"text": "Note from <at>all</at> & [bank](https://evil.example) *now*\n# big"}])
    text = activity["text"]
    assert "<" not in text and "&lt;at&gt;all&lt;/at&gt; &amp;" in text
    assert "\\[bank\\](https://evil.example)" in text and "\\*now\\*" in text and "\n\\# big" in text
    assert markdown("Saved **Acme_1**") == "Saved **Acme\\_1**"
    assert escape_markdown("<b>", html=False) == "<b>"


def test_tables_become_adaptive_card_tables_with_a_factset_fallback() -> None:
    b64 = base64.b64encode(PNG).decode()
    activity = render(
        [
            {
                "text": "Pipeline",
                "image": f"data:image/png;base64,{b64}",
                "custom": {
                    "type": "table",
                    "title": "By stage",
                    "columns": ["stage", "total"],
                    "rows": [["won", "1 000 €"], ["*lost*", "5 €"]],
                    "chart_png_b64": b64,
                },
            }
        ]
    )
    card, image = activity["attachments"]
    body = card["content"]["body"]
    assert [e["type"] for e in body] == ["TextBlock", "TextBlock", "Table"]
    table = body[2]
    header = [c["items"][0]["text"] for c in table["rows"][0]["cells"]]
    assert header == ["stage", "total"] and table["rows"][2]["cells"][0]["items"][0]["text"] == "\\*lost\\*"
    assert table["fallback"]["facts"][0] == {"title": "won", "value": "total: 1 000 €"}
    assert image == {
        "contentType": "image/png",
        "contentUrl": f"data:image/png;base64,{b64}",
        "name": "By stage.png",
    }
    assert "attachments" not in render([{"text": "x", "image": "data:image/png;base64,!!!"}])


def test_many_buttons_are_split_into_action_sets_and_bad_ones_dropped() -> None:
    buttons = [{"title": f"Contact {n}", "payload": f'/choose{{"contact_id": {n}}}'} for n in range(7)]
    buttons += [{"title": "no payload"}, "junk", {"title": "huge", "payload": "/x" * 2000}]
    card = render([{"text": "Which one?", "buttons": buttons}])["attachments"][0]["content"]
    sets = [e for e in card["body"] if e["type"] == "ActionSet"]
    assert [len(s["actions"]) for s in sets] == [5, 2]
    assert sets[1]["actions"][1]["data"] == {"payload": '/choose{"contact_id": 6}'}
    assert json.dumps(card).count("Action.Submit") == 7


# --- proactive messages (outbox) ----------------------------------------------------------------------
CHANNEL_THREAD = "19:abc123@thread.tacv2;messageid=1700000000000"


async def test_the_weekly_digest_reaches_the_channel_the_bot_was_added_to(tm: Teams) -> None:
    from dataclasses import replace
    from datetime import UTC, datetime

    from connectors.teams.digest import TeamsDigestScheduler, digest_config

    with tm.db.session() as s:
        crm = CrmServices(s, Actor.system("test"))
        org = crm.organizations.create({"name": "Initech"})
        crm.deals.create({"name": "Rollout", "organization_id": org.id, "amount": 12000, "stage": "proposal"})
    app = tm.client.server.app
    settings = app[SETTINGS_KEY]
    config = digest_config(
        replace(settings, extra={"teams_digest_conversation": "19:abc123@thread.tacv2"}), {}
    )
    assert config is not None
    await app[teams.OUTBOX_KEY].stop()  # this test delivers itself, one pass at a time
    scheduler = TeamsDigestScheduler(db=tm.db, outbox=app[teams.OUTBOX_KEY], config=config)  # type: ignore[arg-type]
    run = datetime(2026, 12, 7, 7, 0, tzinfo=UTC)
    assert await scheduler.post(run) is False  # the bot has not been in that channel yet: nothing claimed

    channel = tm.activity("<at>CRM</at> hello there", conversation=CHANNEL_THREAD, entities=[BOT_MENTION])
    channel["conversation"]["conversationType"] = "channel"
    assert await tm.post(channel) == 200
    await tm.connector.drain()
    assert await scheduler.post(run) is True
    assert await scheduler.post(run) is False  # once a week, however often it is asked
    await app[teams.OUTBOX_KEY].deliver_due()
    [digest] = tm.fake.posted_to("19:abc123@thread.tacv2")
    card, chart = digest.body["attachments"]
    assert card["contentType"] == CARD and re.search(r"Pipeline, week \d+", json.dumps(card["content"]))
    assert any(e["type"] == "Table" for e in card["content"]["body"])
    assert chart["contentType"] == "image/png" and digest.reply_to_id is None
    with tm.db.session() as s:
        row = s.execute(select(OutboxMessage).where(OutboxMessage.channel == "teams")).scalar_one()
        assert row.sent_at is not None and row.attempts == 1


async def test_a_notification_reaches_a_linked_users_personal_chat_and_survives_an_outage(tm: Teams) -> None:
    from connectors.teams import outbox
    from connectors.teams.render import text_activity

    await tm.say("/help")  # Rita's 1:1 chat is now known
    await tm.connector.drain()
    ref = outbox.personal_ref(tm.db, tenant="tenant-1", teams_user_id="aad-rita")
    assert ref is not None
    with tm.db.session() as s:
        s.add(outbox.message(ref, text_activity("Ticket #7 breached its SLA")))
    tm.fake.fail("reply", status=503, times=10)  # beyond the client's own retries
    worker = tm.client.server.app[teams.OUTBOX_KEY]
    await worker.stop()  # this test delivers itself, one pass at a time
    await worker.deliver_due()
    with tm.db.session() as s:
        row = s.execute(select(OutboxMessage).where(OutboxMessage.channel == "teams")).scalar_one()
        assert row.sent_at is None and row.next_attempt_at is not None and row.attempts == 1
        row.next_attempt_at = row.created_at  # due again now
    tm.fake.fail("reply", status=503, times=0)
    await worker.deliver_due()
    [notice] = [r for r in tm.fake.posted_to("a:personal-rita") if "SLA" in r.text]
    assert notice.reply_to_id is None


# --- the message extension -------------------------------------------------------------------------------
async def _invoke(tm: Teams, name: str, value: dict[str, Any], **kw: Any) -> Any:
    activity = tm.activity(None, type="invoke", name=name, value=value, **kw)
    res = await tm.client.post(
        "/api/messages", json=activity, headers={"Authorization": f"Bearer {tm.token()}"}
    )
    assert res.status == 200
    return await res.json()


MESSAGE = {"body": {"contentType": "html", "content": "<p>Called <b>Jane Roe</b>, she wants a quote</p>"}}


async def test_log_to_crm_on_a_message_proposes_the_contact_and_logs_once(tm: Teams) -> None:
    with tm.db.session() as s:
        jane = CrmServices(s, Actor.system("test")).contacts.create(
            {"first_name": "Jane", "last_name": "Roe"}
        )
        jane_id = jane.id
    dialog = await _invoke(
        tm, "composeExtension/fetchTask", {"commandId": "logToCrm", "messagePayload": MESSAGE}
    )
    form = dialog["task"]["value"]["card"]["content"]["body"]
    [choice] = [e for e in form if e["type"] == "Input.ChoiceSet"]
    assert choice["choices"] == [{"title": "Jane Roe", "value": str(jane_id)}]
    [summary] = [e for e in form if e["type"] == "Input.Text"]
    assert summary["value"] == "Called  Jane Roe , she wants a quote"
    submit = {
        "commandId": "logToCrm",
        "messagePayload": MESSAGE,
        "data": {"contact_id": str(jane_id), "summary": "Called Jane"},
    }
    done = await _invoke(tm, "composeExtension/submitAction", submit, activity_id="sub-1")
    assert done["task"]["value"] == "Logged: call with Jane Roe."
    again = await _invoke(tm, "composeExtension/submitAction", submit, activity_id="sub-1")
    assert again["task"]["value"] == "This was already done."
    with tm.db.session() as s:
        [logged] = s.execute(select(Activity)).scalars().all()
        assert (logged.contact_id, logged.type, logged.channel) == (jane_id, "call", "teams")


async def test_an_unlinked_user_cannot_log_or_unfurl(tm: Teams) -> None:
    ghost = {"id": "29:ghost", "name": "Ghost"}
    with tm.db.session() as s:
        jane = CrmServices(s, Actor.system("test")).contacts.create(
            {"first_name": "Jane", "last_name": "Roe"}
        )
        jane_id = jane.id
    submit = {"commandId": "logToCrm", "data": {"contact_id": str(jane_id), "summary": "Called Jane"}}
    refused = await _invoke(tm, "composeExtension/submitAction", submit, user=ghost)
    assert "chat" in refused["task"]["value"]
    url = f"https://crm.example.com/api/v1/contacts/{jane_id}"
    assert await _invoke(tm, "composeExtension/queryLink", {"url": url}, user=ghost, activity_id="q1") == {}
    with tm.db.session() as s:
        assert s.execute(select(func.count()).select_from(Activity)).scalar() == 0


async def test_a_crm_link_unfurls_into_a_card_and_other_links_do_not(tm: Teams) -> None:
    tm.connector.public_url = "https://crm.example.com"
    with tm.db.session() as s:
        crm = CrmServices(s, Actor.system("test"))
        org = crm.organizations.create({"name": "Initech"})
        jane = crm.contacts.create({"first_name": "Jane", "last_name": "Roe", "organization_id": org.id})
        jane_id = jane.id
    found = await _invoke(
        tm, "composeExtension/queryLink", {"url": f"https://crm.example.com/api/v1/contacts/{jane_id}"}
    )
    [attachment] = found["composeExtension"]["attachments"]
    assert attachment["contentType"] == CARD and attachment["preview"]["content"]["title"] == "Jane Roe"
    assert "Initech" in json.dumps(attachment["content"])
    for url in (
        "https://evil.example/api/v1/contacts/1",
        "https://crm.example.com/api/v1/contacts/999999",
        "http://crm.example.com/api/v1/contacts/1",
    ):
        assert await _invoke(tm, "composeExtension/queryLink", {"url": url}, activity_id="q2") == {}, url


def test_only_the_bots_own_mention_is_removed_and_others_stay_as_names() -> None:
    from connectors.teams.activities import message_text, others_mentioned

    jane = {"id": "29:jane", "name": "Jane Roe"}
    activity = {
        "text": "<at>CRM</at> log a call with <at>Jane Roe</at>",
        "recipient": BOT,
        "entities": [BOT_MENTION, {"type": "mention", "mentioned": jane, "text": "<at>Jane Roe</at>"}],
    }
    assert message_text(activity) == "log a call with Jane Roe"
    assert others_mentioned(activity) == [jane]
    typed = {**activity, "text": "CRM: log a call with <at>Jane Roe</at>"}  # the name typed is no mention
    assert message_text(typed) == "CRM: log a call with Jane Roe"
    no_entities = {**activity, "entities": []}  # a client without mention entities: the bot's markup goes
    assert message_text(no_entities) == "log a call with Jane Roe"


async def test_a_team_pipeline_asked_in_a_channel_is_answered_there_and_a_contact_question_privately(
    tm: Teams,
) -> None:
    thread = "19:sales@thread.tacv2;messageid=1700000000001"
    team = tm.activity("<at>CRM</at> /pipeline_status", conversation=thread, entities=[BOT_MENTION])
    team["conversation"]["conversationType"] = "channel"
    assert await tm.post(team) == 200
    await tm.connector.drain()
    [answer] = tm.replies
    assert answer.conversation_id == thread and answer.reply_to_id == "act-1" and answer.card() is not None
    assert tm.fake.opened == []
    person = tm.activity(
        '<at>CRM</at> /find_contact{"person": "Jane Roe"}', conversation=thread, entities=[BOT_MENTION],
        activity_id="act-2",
    )  # fmt: skip
    person["conversation"]["conversationType"] = "channel"
    assert await tm.post(person) == 200
    await tm.connector.drain()
    assert [r.conversation_id for r in tm.replies[1:]] == ["a:personal-29:rita", thread]  # answer, then note
    assert "personal chat" in tm.replies[2].text
