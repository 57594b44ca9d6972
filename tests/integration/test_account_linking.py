"""Slack and Teams accounts link only by an admin's approval or a verified one-time code (issue 10, item 5),
and channel mentions never post CRM data where others read it (item 7).

Every test named ``test_attack_*`` performs the attack against the real app (signed Slack requests, real
RS256 Bot Framework tokens, the fakes of Slack's Web API and the Bot Connector) and fails if it succeeds.
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

import pytest
from aiohttp.test_utils import TestClient, TestServer
from sqlalchemy import select

from assistant.app import build_assistant
from assistant.runtime import FACTORY_KEY
from assistant.server import build_app
from assistant.settings import Settings, SettingsError
from connectors import slack, teams
from crm_store.db import Database
from crm_store.models import AccountLink, AuditEntry, User
from crm_store.services import Actor, CrmServices
from crm_store.services.errors import Conflict, NotFound, PermissionDenied
from crm_store.services.links import MAX_CODES_PER_HOUR, MAX_FAILED_CODES, ChatAccount, hash_code
from crm_store.services.users import actor_for
from tests.support.fake_bot_connector import FakeBotConnector, Issuer, teams_settings
from tests.support.fake_nlu import ScriptedNLU
from tests.support.fake_slack_api import SECRET, TEAM_ID, TOKEN, FakeSlackApi, SlackWorkspace, link_slack

PHONE = "+49305550172"  # stored and shown normalised
ASK_PHONE = "what is Jane Roe's phone number"
NLU = ScriptedNLU(
    {
        ASK_PHONE: ("find_contact", [{"entity": "person", "value": "Jane Roe"}]),
        "hello there": ("greet", []),
    }
)
SLACK_ACCOUNT = ChatAccount(channel="slack", external_id="U1", workspace=TEAM_ID)


def _seed(db: Database) -> dict[str, str]:
    """A rep and an admin (with API tokens), and a contact with a phone number."""
    with db.session() as s:
        crm = CrmServices(s, Actor.system("test"))
        rep = crm.users.create({"email": "rep@x.example", "name": "Rita", "role": "rep"})
        admin = crm.users.create({"email": "admin@x.example", "name": "Ada", "role": "admin"})
        crm.contacts.create({"first_name": "Jane", "last_name": "Roe", "phone": PHONE, "owner_id": rep.id})
        return {"rep": crm.users.issue_token(rep.id), "admin": crm.users.issue_token(admin.id)}


def _user(db: Database, email: str = "rep@x.example") -> User:
    with db.session() as s:
        user = s.execute(select(User).where(User.email == email)).scalar_one()
        s.expunge(user)
        return user


# --- the service (SQLite and PostgreSQL) ------------------------------------------------------------------
def test_an_admin_approves_a_request_and_every_step_is_audited_without_codes(db: Database) -> None:
    _seed(db)
    with db.session() as s:
        system = CrmServices(s, Actor.system("slack")).links
        request = system.request(SLACK_ACCOUNT, "Rep@X.example")
        assert system.request(SLACK_ACCOUNT, None).id == request.id  # one pending request per account
        assert request.user_id == _user(db).id  # the e-mail only suggests whom it might be
        assert system.resolve(SLACK_ACCOUNT) is None
        request_id = request.id
    with db.session() as s:
        admin = s.execute(select(User).where(User.email == "admin@x.example")).scalar_one()
        CrmServices(s, actor_for(admin)).links.approve(request_id)
    rita = _user(db)
    assert (rita.slack_user_id, rita.slack_team_id) == ("U1", TEAM_ID)
    with db.session() as s:
        assert CrmServices(s, Actor.system("slack")).links.resolve(SLACK_ACCOUNT) is not None
        code, _ = CrmServices(s, actor_for(rita)).links.issue_code("teams")
        CrmServices(s, actor_for(rita)).links.unlink(rita.id, "slack")
    with db.session() as s:
        entries = s.execute(select(AuditEntry).where(AuditEntry.action.like("link.%"))).scalars().all()
        assert [e.action for e in entries] == ["link.requested", "link.approved", "link.requested", "link.revoked"]
        dumped = json.dumps([e.payload for e in entries], default=str)
        assert code not in dumped and hash_code(code) not in dumped and "rep@x.example" not in dumped.lower()
    assert _user(db).slack_user_id is None


def test_only_admins_decide_and_decided_requests_stay_decided(db: Database) -> None:
    _seed(db)
    rita = _user(db)
    with db.session() as s:
        request_id = CrmServices(s, Actor.system("slack")).links.request(SLACK_ACCOUNT).id
    with db.session() as s:
        rep = CrmServices(s, actor_for(rita)).links
        for attempt in (lambda: rep.approve(request_id, rita.id), lambda: rep.reject(request_id), rep.list):
            with pytest.raises(PermissionDenied):
                attempt()
    with db.session() as s:
        CrmServices(s, Actor.system("cli")).links.reject(request_id)
    with db.session() as s, pytest.raises(Conflict):
        CrmServices(s, Actor.system("cli")).links.approve(request_id, rita.id)
    with db.session() as s, pytest.raises(NotFound):
        CrmServices(s, Actor.system("cli")).links.approve(9999, rita.id)


def test_codes_are_single_use_short_lived_hashed_and_rate_limited(db: Database) -> None:
    _seed(db)
    rita = _user(db)
    with db.session() as s:
        code, _ = CrmServices(s, actor_for(rita)).links.issue_code("slack")
    with db.session() as s:
        row = s.execute(select(AccountLink).where(AccountLink.status == "issued")).scalar_one()
        assert row.code_hash == hash_code(code) and code not in (row.code_hash or "")
        row.expires_at = row.expires_at - timedelta(minutes=11)  # type: ignore[operator]
    with db.session() as s:
        assert CrmServices(s, Actor.system("slack")).links.redeem(SLACK_ACCOUNT, code)[0] == "bad_code"
    with db.session() as s:
        code, _ = CrmServices(s, actor_for(rita)).links.issue_code("slack")
    with db.session() as s:
        assert CrmServices(s, Actor.system("slack")).links.redeem(SLACK_ACCOUNT, code.lower())[0] == "linked"
    other = ChatAccount(channel="slack", external_id="U2", workspace=TEAM_ID)
    with db.session() as s:
        assert CrmServices(s, Actor.system("slack")).links.redeem(other, code)[0] == "bad_code"  # used up
    with db.session() as s:
        links = CrmServices(s, actor_for(rita)).links
        for _ in range(MAX_CODES_PER_HOUR - 2):
            links.issue_code("teams")
    with db.session() as s, pytest.raises(PermissionDenied):
        CrmServices(s, actor_for(rita)).links.issue_code("teams")


# --- Slack ------------------------------------------------------------------------------------------------
@dataclass
class SlackApp(SlackWorkspace):
    db: Database | None = None
    tokens: dict[str, str] | None = None

    @property
    def connector(self) -> Any:
        return self.client.server.app[slack.CONNECTOR_KEY]

    async def settle(self) -> None:
        await self.connector.drain()

    def public_texts(self) -> list[str]:
        """Everything posted where more than the asker can read it (messages and uploads)."""
        texts = [json.dumps(c) for c in self.fake.calls_to("chat.postMessage")]
        return texts + [json.dumps(c) for c in self.fake.calls_to("files.completeUploadExternal")]

    def private_texts(self) -> list[str]:
        return [json.dumps(c) for c in self.fake.calls_to("chat.postEphemeral")]


async def _slack(
    aiohttp_client: Any, aiohttp_server: Any, db: Database, users: dict[str, str], **settings: Any
) -> SlackApp:
    fake = FakeSlackApi(users=users)
    server = await aiohttp_server(fake.app)
    conf = Settings.from_env(
        {},
        database_url=db.url,
        slack_bot_token=TOKEN,
        slack_signing_secret=SECRET,
        slack_api_url=fake.api_url(server),
        extra={"slack_retry_backoff": "0.01"},
        **settings,
    )
    tokens = _seed(db)
    app = build_app(conf, db=db, extra=[slack.install])
    app[FACTORY_KEY] = lambda store, _settings: build_assistant(store, NLU)
    return SlackApp(await aiohttp_client(app), fake, db=db, tokens=tokens)


@pytest.fixture
async def sl(aiohttp_client: Any, aiohttp_server: Any, sqlite_db: Database) -> SlackApp:
    return await _slack(aiohttp_client, aiohttp_server, sqlite_db, {"U1": "rep@x.example", "U7": "rep@x.example"})


def _dm(text: str, user: str, *, team: str = TEAM_ID, enterprise: str | None = None) -> dict[str, Any]:
    return {"type": "message", "channel_type": "im", "channel": "D" + user, "user": user, "text": text,
            "ts": "1700000000.000100", "team": team, "_enterprise": enterprise}


async def _send_dm(sl: SlackApp, text: str, user: str, event_id: str, *, team: str = TEAM_ID,
                   enterprise: str | None = None) -> None:
    body = {"token": "x", "team_id": team, "api_app_id": "A1", "type": "event_callback", "event_id": event_id,
            "event_time": 1700000000,
            "event": {k: v for k, v in _dm(text, user, team=team).items() if not k.startswith("_")}}
    if enterprise:
        body["enterprise_id"] = enterprise
    assert await sl.send(json.dumps(body).encode(), "application/json") == 200
    await sl.settle()


async def test_attack_slack_email_of_a_crm_user_links_nothing(sl: SlackApp) -> None:
    """Attack (before: linked by users.info e-mail): a Slack user whose profile e-mail is a CRM user's."""
    await _send_dm(sl, "/pipeline_status", "U1", "Ev1")
    [reply] = sl.fake.calls_to("chat.postMessage")
    assert "not linked to a CRM account yet" in reply["text"] and "#1" in reply["text"]
    assert "blocks" not in reply and _user(sl.db).slack_user_id is None  # type: ignore[arg-type]


async def test_attack_slack_user_of_another_workspace_or_enterprise_is_not_the_linked_user(
    sl: SlackApp,
) -> None:
    """Attack (4 cases): U1 is linked in T1 (or in enterprise E1); the same id and e-mail from elsewhere."""
    link_slack(sl.db, "rep@x.example", "U1", TEAM_ID)  # type: ignore[arg-type]
    await _send_dm(sl, ASK_PHONE, "U1", "Ev1", team="T-OTHER")
    await _send_dm(sl, ASK_PHONE, "U1", "Ev2", team="T-OTHER", enterprise="E9")  # another grid
    with sl.db.session() as s:  # type: ignore[union-attr]
        s.execute(select(User).where(User.email == "rep@x.example")).scalar_one().slack_team_id = "E1"
    sl.connector._actors.clear()
    await _send_dm(sl, ASK_PHONE, "U1", "Ev3", team="T9", enterprise="E2")
    await _send_dm(sl, ASK_PHONE, "U1", "Ev4", team="T9", enterprise="E1")  # the grid itself: served
    texts = [c["text"] for c in sl.fake.calls_to("chat.postMessage")]
    assert all("not linked" in t for t in texts[:3]) and PHONE not in json.dumps(texts[:3])
    assert PHONE in texts[3]
    assert _user(sl.db).slack_team_id == "E1"  # type: ignore[arg-type]


async def test_attack_slack_other_workspaces_are_not_heard_with_slack_team_ids(
    aiohttp_client: Any, aiohttp_server: Any, sqlite_db: Database
) -> None:
    """Attack: with SLACK_TEAM_IDS set, another workspace gets nothing at all (not even a request)."""
    sl = await _slack(aiohttp_client, aiohttp_server, sqlite_db, {"U1": "rep@x.example"},
                      slack_team_ids=(TEAM_ID,))
    await _send_dm(sl, "/help", "U1", "Ev1", team="T-OTHER")
    assert [method for method, _ in sl.fake.calls if method != "auth.test"] == []  # bolt's own check only
    with sqlite_db.session() as s:
        assert s.execute(select(AccountLink)).first() is None
    # a link made before workspaces were recorded is adopted by an allowed workspace only
    with sqlite_db.session() as s:
        s.execute(select(User).where(User.email == "rep@x.example")).scalar_one().slack_user_id = "U1"
    await _send_dm(sl, "/help", "U1", "Ev2")
    assert "log calls" in sl.fake.calls_to("chat.postMessage")[-1]["text"]
    assert _user(sqlite_db).slack_team_id == TEAM_ID


async def test_attack_a_second_slack_id_never_reuses_a_linked_crm_user(sl: SlackApp) -> None:
    """Attack (before: the e-mail re-used the CRM user): U7 shows rep's e-mail while rep is linked to U1;
    neither an admin's approval nor rep's own code moves the link silently."""
    link_slack(sl.db, "rep@x.example", "U1", TEAM_ID)  # type: ignore[arg-type]
    await _send_dm(sl, ASK_PHONE, "U7", "Ev1")
    assert "not linked" in sl.fake.calls_to("chat.postMessage")[-1]["text"]
    admin = {"Authorization": f"Bearer {sl.tokens['admin']}"}  # type: ignore[index]
    pending = await (await sl.client.get("/api/v1/account-links", headers=admin)).json()
    [request] = pending["items"]
    assert request["external_id"] == "U7" and request["user_id"] == _user(sl.db).id  # type: ignore[arg-type]
    res = await sl.client.post(f"/api/v1/account-links/{request['id']}/approve", headers=admin)
    assert res.status == 409
    rep = {"Authorization": f"Bearer {sl.tokens['rep']}"}  # type: ignore[index]
    code = (await (await sl.client.post("/api/v1/me/link-code", json={"channel": "slack"}, headers=rep)).json())
    await _send_dm(sl, f"link {code['code']}", "U7", "Ev2")
    assert "already linked to another Slack account" in sl.fake.calls_to("chat.postMessage")[-1]["text"]
    await _send_dm(sl, ASK_PHONE, "U7", "Ev3")
    assert PHONE not in json.dumps(sl.fake.calls)
    assert _user(sl.db).slack_user_id == "U1"  # type: ignore[arg-type]


async def test_self_service_code_links_the_slack_account_and_brute_force_is_locked(sl: SlackApp) -> None:
    """Attack (brute force): wrong codes from one Slack account lock self-service for it."""
    rep = {"Authorization": f"Bearer {sl.tokens['rep']}"}  # type: ignore[index]
    res = await sl.client.post("/api/v1/me/link-code", json={"channel": "slack"}, headers=rep)
    assert res.status == 201
    code = (await res.json())["code"]
    for n in range(MAX_FAILED_CODES):
        await _send_dm(sl, "link ZZZZ-ZZZZ", "U7", f"Ev-guess-{n}")
    await _send_dm(sl, f"link {code}", "U7", "Ev-right")  # even the right code: locked for U7
    assert "Too many wrong codes" in sl.fake.calls_to("chat.postMessage")[-1]["text"]
    assert _user(sl.db).slack_user_id is None  # type: ignore[arg-type]
    await _send_dm(sl, f"verknüpfen {code[:4]}-{code[4:]}", "U1", "Ev-u1")
    assert "now linked" in sl.fake.calls_to("chat.postMessage")[-1]["text"]
    assert (_user(sl.db).slack_user_id, _user(sl.db).slack_team_id) == ("U1", TEAM_ID)  # type: ignore[arg-type]
    await _send_dm(sl, ASK_PHONE, "U1", "Ev-ask")
    assert PHONE in sl.fake.calls_to("chat.postMessage")[-1]["text"]
    mine = await (await sl.client.get("/api/v1/me/links", headers=rep)).json()
    assert mine["slack_user_id"] == "U1"
    assert (await sl.client.get("/api/v1/account-links", headers=rep)).status == 403


async def test_attack_a_channel_mention_posts_no_crm_data_publicly(sl: SlackApp) -> None:
    """Attack (before: answered in the channel thread): ask for a contact's phone in a channel."""
    link_slack(sl.db, "rep@x.example", "U1", TEAM_ID)  # type: ignore[arg-type]
    await sl.event({"type": "app_mention", "channel": "C1", "user": "U1", "text": f"<@UBOT> {ASK_PHONE}",
                    "ts": "1700000000.000200"})
    await sl.settle()
    assert PHONE in "".join(sl.private_texts())  # the asker got the answer, privately
    assert [c["user"] for c in sl.fake.calls_to("chat.postEphemeral")] == ["U1"]
    public = sl.public_texts()
    assert public and all(PHONE not in t and "Jane" not in t for t in public)
    assert "answered you privately" in public[0]


async def test_attack_a_staff_user_cannot_link_their_own_slack_id_over_patch(sl: SlackApp) -> None:
    """Attack (before: 200): PATCH /api/v1/users/{own id} with a slack_user_id (and teams ids)."""
    rep = {"Authorization": f"Bearer {sl.tokens['rep']}"}  # type: ignore[index]
    rita = _user(sl.db)  # type: ignore[arg-type]
    for body in ({"slack_user_id": "U666"}, {"teams_user_id": "aad-666"},
                 {"slack_user_id": "U666", "slack_team_id": TEAM_ID}, {"teams_tenant_id": "tenant-1"}):
        res = await sl.client.patch(f"/api/v1/users/{rita.id}", json=body, headers=rep)
        assert 400 <= res.status < 500, body
    after = _user(sl.db)  # type: ignore[arg-type]
    assert (after.slack_user_id, after.teams_user_id, after.slack_team_id, after.teams_tenant_id) == (None,) * 4


# --- Teams ------------------------------------------------------------------------------------------------
APP_ID = "5b1f0c4e-7d2a-4f3b-9e8c-0a1b2c3d4e5f"
PASSWORD = "teams-app-password"
BOT = {"id": f"28:{APP_ID}", "name": "CRM"}
EVIL = {"id": "29:evil", "name": "Mallory", "aadObjectId": "aad-evil"}
RITA = {"id": "29:rita", "name": "Rita", "aadObjectId": "aad-rita"}


@pytest.fixture(scope="module")
def issuer() -> Issuer:
    return Issuer("key-1", endorsements=["msteams"])


@dataclass
class TeamsApp:
    client: TestClient
    fake: FakeBotConnector
    server: TestServer
    issuer: Issuer
    db: Database

    async def say(self, text: str, *, user: dict[str, Any], tenant: str = "tenant-1", activity_id: str = "a1",
                  conversation: str = "a:personal", kind: str = "personal") -> None:
        service_url = self.fake.service_url(self.server)
        activity = {
            "type": "message", "id": activity_id, "serviceUrl": service_url, "channelId": "msteams",
            "from": user, "recipient": BOT, "locale": "en-US", "text": text,
            "conversation": {"conversationType": kind, "tenantId": tenant, "id": conversation},
            "channelData": {"tenant": {"id": tenant}},
        }
        token = self.issuer.token(audience=APP_ID, service_url=service_url)
        res = await self.client.post("/api/messages", json=activity, headers={"Authorization": f"Bearer {token}"})
        assert res.status == 200
        await self.client.server.app[teams.CONNECTOR_KEY].drain()


@pytest.fixture
async def tm(
    aiohttp_client: Any, aiohttp_server: Any, sqlite_db: Database, issuer: Issuer, monkeypatch: Any
) -> AsyncIterator[TeamsApp]:
    # The foreign tenant's admin made Mallory appear with the CRM rep's address.
    members = {"29:evil": {"name": "Mallory", "aadObjectId": "aad-evil", "email": "rep@x.example"}}
    fake = FakeBotConnector(app_id=APP_ID, app_password=PASSWORD, members=members)
    fake.publish(issuer.jwk())
    server = await aiohttp_server(fake.app)
    conf = await teams_settings(fake, server, aiohttp_server, monkeypatch, database_url=sqlite_db.url)
    _seed(sqlite_db)
    app = build_app(conf, db=sqlite_db, extra=[teams.install])
    app[FACTORY_KEY] = lambda store, _settings: build_assistant(store, NLU)
    yield TeamsApp(await aiohttp_client(app), fake, server, issuer, sqlite_db)


async def test_attack_foreign_tenant_with_a_crm_users_email_gets_nothing(tm: TeamsApp) -> None:
    """Attack (before: linked and answered): a user of another tenant whose member look-up says rep@..."""
    await tm.say(ASK_PHONE, user=EVIL, tenant="tenant-evil")
    await tm.say(ASK_PHONE, user={**EVIL, "email": "rep@x.example"}, tenant="tenant-evil", activity_id="a2")
    assert tm.fake.replies == [] and tm.fake.member_lookups == []
    # inside an allowed tenant the same e-mail is only a hint on a pending request
    await tm.say(ASK_PHONE, user=EVIL, activity_id="a3")
    [reply] = tm.fake.replies
    assert "not linked to a CRM account yet" in reply.text and PHONE not in json.dumps(reply.body)
    rita = _user(tm.db)
    assert rita.teams_user_id is None
    with tm.db.session() as s:
        [request] = s.execute(select(AccountLink)).scalars().all()
        assert (request.external_id, request.workspace_id, request.user_id) == ("aad-evil", "tenant-1", rita.id)


async def test_attack_a_link_is_bound_to_its_tenant(tm: TeamsApp) -> None:
    """Attack: Rita is linked in tenant-1; the same AAD id from another allowed tenant is not Rita."""
    with tm.db.session() as s:
        rita = s.execute(select(User).where(User.email == "rep@x.example")).scalar_one()
        rita.teams_user_id, rita.teams_tenant_id = "aad-rita", "tenant-2"
    tm.client.server.app[teams.CONNECTOR_KEY].tenants = ("tenant-1", "tenant-2")
    await tm.say(ASK_PHONE, user=RITA)
    assert "not linked" in tm.fake.replies[-1].text
    await tm.say(ASK_PHONE, user=RITA, tenant="tenant-2", activity_id="a2")
    assert PHONE in tm.fake.replies[-1].text


async def test_attack_a_teams_channel_mention_posts_no_crm_data_in_the_channel(tm: TeamsApp) -> None:
    """Attack (before: replied in the channel): ask for a contact's phone with an @-mention."""
    with tm.db.session() as s:
        rita = s.execute(select(User).where(User.email == "rep@x.example")).scalar_one()
        rita.teams_user_id, rita.teams_tenant_id = "aad-rita", "tenant-1"
    channel = "19:sales@thread.tacv2;messageid=1"
    for kind, conversation in (("channel", channel), ("groupChat", "19:group@thread.v2")):
        await tm.say(f"<at>CRM</at> {ASK_PHONE}", user=RITA, conversation=conversation, kind=kind,
                     activity_id=f"m-{kind}")
    personal = tm.fake.posted_to("a:personal-29:rita")
    assert len(personal) == 2 and all(PHONE in p.text for p in personal)
    public = [p for p in tm.fake.replies if p.conversation_id != "a:personal-29:rita"]
    assert len(public) == 2 and all(PHONE not in json.dumps(p.body) and "Jane" not in p.text for p in public)
    # when the personal chat cannot be opened, the channel still hears no data
    tm.fake.fail("open", status=403)
    await tm.say(f"<at>CRM</at> {ASK_PHONE}", user=RITA, conversation=channel, kind="channel", activity_id="m3")
    assert "personal chat" in tm.fake.replies[-1].text and PHONE not in tm.fake.replies[-1].text


async def test_teams_self_service_code_links_the_account(tm: TeamsApp) -> None:
    with tm.db.session() as s:
        rita = s.execute(select(User).where(User.email == "rep@x.example")).scalar_one()
        code, _ = CrmServices(s, actor_for(rita)).links.issue_code("teams")
    await tm.say(f"link {code}", user=RITA)
    assert "now linked" in tm.fake.replies[-1].text
    after = _user(tm.db)
    assert (after.teams_user_id, after.teams_tenant_id) == ("aad-rita", "tenant-1")
    await tm.say(ASK_PHONE, user=RITA, activity_id="a2")
    assert PHONE in tm.fake.replies[-1].text


def test_attack_teams_without_a_tenant_list_refuses_to_start(sqlite_db: Database) -> None:
    """Attack (before: any tenant accepted): TEAMS_TENANT_IDS empty -> check() and the endpoint refuse."""
    env = {"TEAMS_APP_ID": APP_ID, "TEAMS_APP_PASSWORD": PASSWORD, "CRM_DATABASE_URL": sqlite_db.url}
    with pytest.raises(SettingsError, match="TEAMS_TENANT_IDS"):
        Settings.from_env(env).check()
    with pytest.raises(SettingsError, match="TEAMS_TENANT_IDS"):
        build_app(Settings.from_env(env), db=sqlite_db, extra=[teams.install])
    Settings.from_env({**env, "TEAMS_TENANT_IDS": "tenant-1"}).check()
