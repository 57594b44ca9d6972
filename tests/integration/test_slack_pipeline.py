"""A manager asks pipeline questions in a Slack DM: the answer sentence first, the deals as a table, a
breakdown's chart uploaded as a PNG (signed events, the fake Web API over HTTP)."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import update

from assistant.app import build_assistant
from assistant.runtime import FACTORY_KEY
from assistant.server import build_app
from assistant.settings import Settings
from connectors import slack
from connectors.slack.events import SlackConnector
from connectors.slack.render import render
from crm_store.db import Database
from crm_store.models import Deal
from crm_store.services import Actor, CrmServices
from tests.support.fake_nlu import ScriptedNLU
from tests.support.fake_slack_api import SECRET, TOKEN, FakeSlackApi, SlackWorkspace, link_slack

BERLIN = ZoneInfo("Europe/Berlin")
AT_RISK = "which deals are at risk?"
BY_OWNER = "weighted forecast by owner"
BIGGEST = "what's our biggest deal in negotiation?"


class Slack(SlackWorkspace):
    @property
    def connector(self) -> SlackConnector:
        return self.client.server.app[slack.CONNECTOR_KEY]


@pytest.fixture
async def sl(aiohttp_client: Any, aiohttp_server: Any, sqlite_db: Database) -> Slack:
    fake = FakeSlackApi(users={"U1": "mia@x.example"})
    server = await aiohttp_server(fake.app)
    conf = Settings.from_env(
        {},
        database_url=sqlite_db.url,
        slack_bot_token=TOKEN,
        slack_signing_secret=SECRET,
        slack_api_url=fake.api_url(server),
        extra={"slack_retry_backoff": "0.01"},
    )
    now = datetime.now(BERLIN)
    with sqlite_db.session() as s:
        crm = CrmServices(s, Actor.system("test"))
        crm.users.create({"email": "mia@x.example", "name": "Mia Manager", "role": "manager"})
        rita = crm.users.create({"email": "rita@x.example", "name": "Rita <Rep>", "role": "rep"})
        sam = crm.users.create({"email": "sam@x.example", "name": "Sam South", "role": "rep"})
        for name, owner, amount, stage, quiet_days in (
            ("Acme machines", rita, 40000, "negotiation", 45),
            ("Globex rollout", sam, 80000, "negotiation", 40),
            ("Initech pilot", sam, 5000, "lead", 1),
        ):
            deal = crm.deals.create({"name": name, "owner_id": owner.id, "amount": amount, "stage": stage})
            s.execute(
                update(Deal)
                .where(Deal.id == deal.id)
                .values(last_activity_at=now - timedelta(days=quiet_days))
            )
    link_slack(sqlite_db, "mia@x.example", "U1")
    app = build_app(conf, db=sqlite_db, extra=[slack.install])
    nlu = ScriptedNLU({
        AT_RISK: ("pipeline_status", []),
        BY_OWNER: ("pipeline_status", []),
        BIGGEST: ("pipeline_status", [{"entity": "stage", "value": "negotiation"}]),
    })  # fmt: skip
    app[FACTORY_KEY] = lambda db, _settings: build_assistant(db, nlu)
    return Slack(await aiohttp_client(app), fake)


async def _ask(sl: Slack, text: str, event_id: str) -> dict[str, Any]:
    assert await sl.dm(text, event_id=event_id) == 200
    await sl.connector.drain()
    return sl.fake.calls_to("chat.postMessage")[-1]


async def test_at_risk_in_slack_is_a_sentence_then_a_monospace_table(sl: Slack) -> None:
    post = await _ask(sl, AT_RISK, "Ev1")
    first, table = post["blocks"][0], post["blocks"][1]
    assert first["text"]["text"].startswith("2 deals worth EUR 120,000 are at risk")
    body = table["text"]["text"]
    assert body.startswith("*Deals*\n```") and body.index("Globex rollout") < body.index("Acme machines")
    assert "no activity for 45 days" in body and "Rita &lt;Rep&gt;" in body  # names are escaped
    assert "Initech" not in body and len(post["blocks"]) == 2
    assert sl.fake.calls_to("files.completeUploadExternal") == []  # a list needs no chart


async def test_a_breakdown_by_owner_gets_a_table_and_a_chart(sl: Slack) -> None:
    post = await _ask(sl, BY_OWNER, "Ev2")
    assert (
        post["blocks"][0]["text"]["text"] == "Weighted forecast: EUR 90,500 from 3 deals worth EUR 125,000."
    )
    table = post["blocks"][1]["text"]["text"]
    assert "*By owner*" in table and "Sam South" in table and "EUR 60,500" in table
    assert sl.fake.uploads and sl.fake.uploads[-1].startswith(b"\x89PNG")


async def test_one_deal_is_named_in_the_sentence_without_a_table(sl: Slack) -> None:
    post = await _ask(sl, BIGGEST, "Ev3")
    assert len(post["blocks"]) == 1
    text = post["blocks"][0]["text"]["text"]
    assert text == (
        "The biggest deal in negotiation is Globex rollout (EUR 80,000, negotiation, Sam South, "
        "no activity for 40 days)."
    )


def test_render_keeps_the_answer_first_and_the_table_after_it() -> None:
    replies = [
        {
            "text": "3 deals are at risk.",
            "custom": {
                "type": "table",
                "title": "Deals",
                "columns": ["Deal", "Amount"],
                "rows": [["A", "1"]],
            },
        }
    ]
    out = render(replies)
    assert [b["type"] for b in out.blocks] == ["section", "section"]
    assert out.blocks[0]["text"]["text"] == "3 deals are at risk." and "```" in out.blocks[1]["text"]["text"]
