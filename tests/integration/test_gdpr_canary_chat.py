"""Canaries for Slack and Teams (the idea of test_gdpr_canary.py): a person with a unique marker is looked up
and talked about by a linked staff user through signed requests to the real app (a fake Slack Web API, a fake
Bot Connector with real RS256 tokens), so the marker lands in transcripts, idempotency rows and the outbox.
After ``crm-assistant gdpr erase`` it is in no byte of the SQLite files and no row of any PostgreSQL table."""

from __future__ import annotations

import json
from typing import Any

from click.testing import CliRunner

from assistant.app import build_assistant
from assistant.cli.main import cli
from assistant.runtime import FACTORY_KEY
from assistant.server import build_app
from assistant.settings import Settings
from connectors import slack, teams
from crm_store.db import Database
from crm_store.services import Actor, CrmServices
from tests.integration.test_gdpr_canary import Canary, _marker_in_store
from tests.support.fake_bot_connector import FakeBotConnector, Issuer, teams_settings
from tests.support.fake_nlu import ScriptedNLU
from tests.support.fake_slack_api import SECRET, TOKEN, FakeSlackApi, SlackWorkspace, link_slack

SYSTEM = Actor.system("test")
APP_ID = "5b1f0c4e-7d2a-4f3b-9e8c-0a1b2c3d4e5f"
PASSWORD = "teams-app-password"
RITA = {"id": "29:rita", "name": "Rita", "aadObjectId": "aad-rita"}


def _person(db: Database, canary: Canary) -> int:
    first, last = canary.name.split(" ", 1)
    with db.session() as s:
        crm = CrmServices(s, SYSTEM)
        contact = crm.contacts.create({"first_name": first, "last_name": last, "email": canary.email})
        crm.users.create({"email": "rep@x.example", "name": "Rita", "role": "admin"})
        return contact.id


def _nlu(canary: Canary) -> ScriptedNLU:
    return ScriptedNLU({f"remind me to call {canary.name} about {canary.marker}": ("out_of_scope", [])})


def _erase_and_check(db: Database, canary: Canary) -> None:
    assert _marker_in_store(canary, db), "the canary must be in the store before erasure"
    erased = CliRunner().invoke(
        cli, ["gdpr", "erase", "--db", db.url, "--contact-email", canary.email, "--yes", "--json"]
    )
    assert erased.exit_code == 0, erased.output
    assert not canary.found_in(erased.output)
    assert _marker_in_store(canary, db) == []


async def test_slack_canary_leaves_no_byte_after_erasure(db: Database, aiohttp_client: Any,
                                                         aiohttp_server: Any) -> None:
    canary = Canary()
    _person(db, canary)
    fake = FakeSlackApi(users={"U1": "rep@x.example"})
    server = await aiohttp_server(fake.app)
    conf = Settings.from_env(
        {}, database_url=db.url, slack_bot_token=TOKEN, slack_signing_secret=SECRET,
        slack_api_url=fake.api_url(server), extra={"slack_retry_backoff": "0.01"}, retention_schedule="off",
    )  # fmt: skip
    link_slack(db, "rep@x.example", "U1")
    app = build_app(conf, db=db, extra=[slack.install])
    app[FACTORY_KEY] = lambda store, _settings: build_assistant(store, _nlu(canary))
    ws = SlackWorkspace(await aiohttp_client(app), fake)
    assert await ws.dm(f'/find_contact{{"person": "{canary.name}"}}', event_id="EvC1") == 200
    await app[slack.CONNECTOR_KEY].drain()
    assert await ws.dm(f"remind me to call {canary.name} about {canary.marker}", event_id="EvC2") == 200
    await app[slack.CONNECTOR_KEY].drain()
    posted = json.dumps(fake.calls_to("chat.postMessage"))
    assert canary.found_in(posted), "the lookup must have shown the person in Slack"
    _erase_and_check(db, canary)


async def test_teams_canary_leaves_no_byte_after_erasure(db: Database, aiohttp_client: Any,
                                                         aiohttp_server: Any, monkeypatch: Any) -> None:
    canary = Canary()
    _person(db, canary)
    issuer = Issuer("key-1", endorsements=["msteams"])
    fake = FakeBotConnector(app_id=APP_ID, app_password=PASSWORD, members={})
    fake.publish(issuer.jwk())
    server = await aiohttp_server(fake.app)
    conf = await teams_settings(fake, server, aiohttp_server, monkeypatch, database_url=db.url,
                                retention_schedule="off")  # fmt: skip
    with db.session() as s:
        rita = CrmServices(s, SYSTEM).users.by_email("rep@x.example")
        assert rita is not None
        rita.teams_user_id, rita.teams_tenant_id = "aad-rita", "tenant-1"  # as an approved link leaves it
    app = build_app(conf, db=db, extra=[teams.install])
    app[FACTORY_KEY] = lambda store, _settings: build_assistant(store, _nlu(canary))
    client = await aiohttp_client(app)
    service_url = fake.service_url(server)

    async def say(text: str, activity_id: str) -> None:
        activity = {
            "type": "message", "id": activity_id, "timestamp": "2026-11-05T09:00:00.000Z",
            "serviceUrl": service_url, "channelId": "msteams", "from": RITA, "text": text,
            "conversation": {"conversationType": "personal", "tenantId": "tenant-1", "id": "a:personal-rita"},
            "recipient": {"id": f"28:{APP_ID}", "name": "CRM"}, "locale": "en-US",
            "channelData": {"tenant": {"id": "tenant-1"}},
        }  # fmt: skip
        token = issuer.token(audience=APP_ID, service_url=service_url)
        res = await client.post("/api/messages", json=activity, headers={"Authorization": f"Bearer {token}"})
        assert res.status == 200, await res.text()
        await app[teams.CONNECTOR_KEY].drain()

    await say(f'/find_contact{{"person": "{canary.name}"}}', "act-c1")
    await say(f"remind me to call {canary.name} about {canary.marker}", "act-c2")
    assert any(canary.found_in(r.text) for r in fake.replies), "the lookup must have shown the person in Teams"
    _erase_and_check(db, canary)
