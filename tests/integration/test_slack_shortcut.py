"""The "Log to CRM" message shortcut, as a chat: shortcut -> confirmation -> click -> activity."""

from __future__ import annotations

from typing import Any

import pytest
from aiohttp.test_utils import TestServer
from sqlalchemy import func, select

from assistant.app import build_assistant
from assistant.runtime import FACTORY_KEY
from assistant.server import build_app
from assistant.settings import Settings
from connectors import slack
from connectors.slack.shortcut import activity_kind, name_phrases, plain_text
from crm_store.db import Database
from crm_store.models import Activity, ProcessedEvent
from crm_store.services import Actor, CrmServices
from tests.support.fake_nlu import ScriptedNLU
from tests.support.fake_slack_api import SECRET, TEAM_ID, TOKEN, FakeSlackApi, SlackWorkspace, link_slack


class Workspace(SlackWorkspace):
    server: TestServer
    db: Database

    async def settle(self) -> None:
        await self.client.server.app[slack.CONNECTOR_KEY].drain()

    async def shortcut(self, text: str, *, user: str = "U1", ts: str = "1700000000.000300") -> dict[str, Any]:
        """Use "Log to CRM" on a message; returns what the user sees (the ephemeral reply)."""
        await self.interactive(
            {
                "type": "message_action",
                "callback_id": "log_to_crm",
                "token": "x",
                "api_app_id": "A1",
                "trigger_id": "t",
                "action_ts": "1.5",
                "response_url": self.fake.response_url(self.server, "shortcut"),
                "team": {"id": TEAM_ID},
                "channel": {"id": "C1", "name": "sales"},
                "user": {"id": user, "team_id": TEAM_ID},
                "message_ts": ts,
                "message": {"type": "message", "user": "U5", "ts": ts, "text": text},
            }
        )
        await self.settle()
        return self.fake.responses[-1]

    async def click(self, reply: dict[str, Any], title: str, *, user: str = "U1") -> dict[str, Any]:
        actions = next(b for b in reply["blocks"] if b["type"] == "actions")
        button = next(e for e in actions["elements"] if e["text"]["text"] == title)
        await self.interactive(
            {
                "type": "block_actions",
                "token": "x",
                "api_app_id": "A1",
                "trigger_id": "t",
                "team": {"id": TEAM_ID},
                "user": {"id": user, "team_id": TEAM_ID},
                "channel": {"id": "C1"},
                "container": {
                    "type": "message",
                    "channel_id": "C1",
                    "is_ephemeral": True,
                    "message_ts": "9.9",
                },
                "response_url": self.fake.response_url(self.server, "click"),
                "actions": [{**button, "block_id": actions["block_id"], "action_ts": "1.6"}],
            }
        )
        await self.settle()
        return self.fake.responses[-1]

    def activities(self) -> list[Activity]:
        with self.db.session() as s:
            return list(s.execute(select(Activity).order_by(Activity.id)).scalars())


@pytest.fixture
async def ws(aiohttp_client: Any, aiohttp_server: Any, sqlite_db: Database) -> Workspace:
    fake = FakeSlackApi(users={"U1": "rep@x.example", "U2": "viewer@x.example"})
    server = await aiohttp_server(fake.app)
    with sqlite_db.session() as s:
        crm = CrmServices(s, Actor.system("test"))
        crm.users.create({"email": "rep@x.example", "name": "Rita", "role": "rep"})
        initech = crm.organizations.create({"name": "Initech"})
        crm.contacts.create({"first_name": "Jane", "last_name": "Roe", "organization_id": initech.id})
        crm.contacts.create({"first_name": "Jane", "last_name": "Doe", "email": "jane.doe@acme.example"})
        crm.contacts.create({"first_name": "Max", "last_name": "Müller"})
        crm.contacts.create({"first_name": "Maria", "last_name": "Müller"})
    link_slack(sqlite_db, "rep@x.example", "U1")
    conf = Settings.from_env(
        {},
        database_url=sqlite_db.url,
        slack_bot_token=TOKEN,
        slack_signing_secret=SECRET,
        slack_api_url=fake.api_url(server),
        extra={"slack_retry_backoff": "0.01"},
    )
    app = build_app(conf, db=sqlite_db, extra=[slack.install])
    app[FACTORY_KEY] = lambda db, _settings: build_assistant(db, ScriptedNLU({}))
    workspace = Workspace(await aiohttp_client(app), fake)
    workspace.server, workspace.db = server, sqlite_db
    return workspace


async def test_a_message_naming_one_contact_is_logged_after_confirmation(ws: Workspace) -> None:
    reply = await ws.shortcut("Call with Jane Roe: she wants the renewal quote by Friday &amp; a demo")
    assert reply["response_type"] == "ephemeral" and reply["replace_original"] is False
    assert "as a *call* with *Jane Roe (Initech)*" in reply["text"]
    assert ws.activities() == []  # nothing before the click

    done = await ws.click(reply, "Log to Jane Roe (Initech)")
    assert done["replace_original"] is True and "Logged as a call with Jane Roe (Initech)" in done["text"]
    [activity] = ws.activities()
    assert activity.type == "call" and activity.channel == "slack"
    assert activity.summary == "Call with Jane Roe: she wants the renewal quote by Friday & a demo"
    assert activity.occurred_at.timestamp() == pytest.approx(1700000000.0003)
    assert activity.user_id is not None

    again = await ws.click(reply, "Log to Jane Roe (Initech)")  # a double click logs once
    assert "already logged" in again["text"] and len(ws.activities()) == 1
    with ws.db.session() as s:  # the draft no longer holds the message text
        draft = s.execute(select(ProcessedEvent.result).where(ProcessedEvent.source == "slack_log")).scalar()
    assert "renewal" not in str(draft)


async def test_several_matching_contacts_get_one_button_each(ws: Workspace) -> None:
    reply = await ws.shortcut("Notiz: Frau Müller möchte ein Angebot")
    assert "Which contact" in reply["text"]
    actions = next(b for b in reply["blocks"] if b["type"] == "actions")
    titles = [e["text"]["text"] for e in actions["elements"]]
    assert titles == ["Log to Maria Müller", "Log to Max Müller", "Cancel"]
    await ws.click(reply, "Log to Max Müller")
    [activity] = ws.activities()
    assert activity.type == "note"


async def test_an_email_address_names_the_contact_and_the_kind_is_email(ws: Workspace) -> None:
    reply = await ws.shortcut(
        "Forwarded e-mail from <mailto:jane.doe@acme.example|jane.doe@acme.example>: ok"
    )
    assert "as a *email* with *Jane Doe*" in reply["text"]


async def test_no_contact_named_gets_an_explanation_and_cancel_logs_nothing(ws: Workspace) -> None:
    reply = await ws.shortcut("let's sync tomorrow about the roadmap")
    assert "couldn't tell which contact" in reply["text"] and "blocks" not in reply
    reply = await ws.shortcut("Met Jane Roe at the fair")
    cancelled = await ws.click(reply, "Cancel")
    assert cancelled["text"] == "Not logged." and ws.activities() == []


async def test_someone_without_a_crm_account_cannot_log(ws: Workspace) -> None:
    reply = await ws.shortcut("Call with Jane Roe", user="U2")
    assert "not linked to a CRM account yet" in reply["text"]
    with ws.db.session() as s:
        assert (
            s.execute(
                select(func.count()).select_from(ProcessedEvent).where(ProcessedEvent.source == "slack_log")
            ).scalar()
            == 0
        )


def test_text_helpers() -> None:
    assert (
        plain_text("see <https://x.example/a|the doc> &lt;b&gt;") == "see the doc (https://x.example/a) <b>"
    )
    assert name_phrases("Spoke to Dr. Jane Roe and jane.doe@acme.example today") == [
        "jane.doe@acme.example",
        "Spoke",
        "Dr. Jane Roe",
    ]
    assert activity_kind("Angerufen, kein Interesse") == "call"
    assert activity_kind("Subject: Angebot\nFrom: a@b.example") == "email"
    assert activity_kind("Met at the fair") == "note"
