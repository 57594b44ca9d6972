"""Canary tests of export and erasure: a person with a unique marker uses every channel we have, and after
``crm-assistant gdpr erase`` the marker is in no byte of the SQLite files and no row of any PostgreSQL table.

The person (marker in the name, the e-mail local part, the Message-ID and every text they write):

* mails in: a support mail (a ticket) and a sales mail (a deal named after its subject), through
  ``TriageService.process`` on raw bytes (real classifier on the hashing embedder);
* talks in the web chat of the real app (aiohttp test client) with a signed customer token: opens a ticket,
  asks for their data (the export lands in the transcript as a bot message), unsubscribes (consent change);
* is worked on by staff over the REST API: an activity with an outcome, a deal named after them, an agent
  reply on their ticket; a colleague's relationship note names them; a rep mentions them in a staff chat;
* is mentioned in a Slack post waiting in the outbox.

Export before erasure must contain the marker in every section that holds their data.
"""

from __future__ import annotations

import json
import uuid
from email.message import EmailMessage
from email.utils import format_datetime
from pathlib import Path
from typing import Any

import pytest
from aiohttp.test_utils import TestClient
from click.testing import CliRunner
from sqlalchemy import select, text

from assistant.app import build_assistant
from assistant.cli.main import cli
from assistant.runtime import FACTORY_KEY
from assistant.server import build_app
from assistant.settings import Settings
from connectors import customer_auth, web_chat
from connectors.email.routing import Router
from connectors.email.triage import TriageService
from connectors.slack import outbox as slack_outbox
from crm_store.db import Database
from crm_store.models import Base, Contact, ContactEmail, utcnow
from crm_store.services import Actor, CrmServices
from nlu.email_classifier import EmailClassifier, load_training_emails
from nlu.embedder import HashingEmbedder
from tests.support.fake_nlu import ScriptedNLU

ROOT = Path(__file__).resolve().parents[2]
SECRET = "canary-secret"
SYSTEM = Actor.system("test")
WEBHOOK = "/webhooks/rest/webhook"


@pytest.fixture(scope="module")
def classifier() -> EmailClassifier:
    training = load_training_emails(ROOT / "training_data" / "emails")
    return EmailClassifier(HashingEmbedder()).fit(
        [t[0] for t in training], [t[1] for t in training], [t[2] for t in training]
    )


def _mail(*, sender: str, subject: str, body: str, message_id: str, to: str) -> bytes:
    msg = EmailMessage()
    msg["From"] = sender
    msg["To"] = to
    msg["Cc"] = "colleague@partner.example"
    msg["Subject"] = subject
    msg["Date"] = format_datetime(utcnow())
    msg["Message-ID"] = f"<{message_id}>"
    msg.set_content(body)
    return msg.as_bytes()


class Canary:
    def __init__(self) -> None:
        self.marker = "qzk" + uuid.uuid4().hex[:10]  # lower-case: searched case-insensitively anyway
        self.name = f"Kim {self.marker.capitalize()}"
        self.email = f"kim.{self.marker}@mail.example"

    def found_in(self, blob: bytes | str) -> bool:
        data = blob.lower() if isinstance(blob, bytes) else blob.lower().encode()
        return self.marker.encode() in data


def _staff_token(db: Database, email: str, role: str) -> tuple[int, str]:
    with db.session() as s:
        crm = CrmServices(s, SYSTEM)
        user = crm.users.create({"email": email, "name": email.split("@")[0].title(), "role": role})
        return user.id, crm.users.issue_token(user.id)


async def _chat(client: TestClient, sender: str, message: str, **extra: Any) -> str:
    headers = extra.pop("headers", {})
    res = await client.post(WEBHOOK, json={"sender": sender, "message": message, **extra}, headers=headers)
    assert res.status == 200, await res.text()
    return " ".join(r.get("text") or "" for r in await res.json())


async def _live(canary: Canary, db: Database, client: TestClient, classifier: EmailClassifier) -> int:
    """The canary's life in the CRM; returns their contact id."""
    triage = TriageService(db, classifier, routing=Router.from_yaml())
    m, name = canary.marker, canary.name
    support = triage.process(
        _mail(
            sender=f"{name} <{canary.email}>",
            to="support@example-crm.com",
            subject=f"Invoice question {m}",
            body="Hello, the invoice 2026-113 shows a wrong amount, please send a corrected invoice. "
            f"Regards, {name}",
            message_id=f"{m}-1@mail.example",
        )
    )
    assert support.ticket_number is not None, support
    sales = triage.process(
        _mail(
            sender=f"{name} <{canary.email}>",
            to="sales@example-crm.com",
            subject=f"Angebot für 50 Lizenzen – {m}",
            body=f"Hallo, bitte senden Sie uns ein Angebot für 50 Lizenzen. Danke, {name}",
            message_id=f"{m}-2@mail.example",
        )
    )
    assert (sales.queue, sales.action) == ("sales", "lead"), sales
    cid = support.contact_id
    assert cid is not None

    # web chat as the logged-in customer: a ticket, their data export, an unsubscribe
    with db.session() as s:
        CrmServices(s, SYSTEM).gdpr.record_consent(cid, "newsletter", True, "web_form")
    token = customer_auth.issue(cid, SECRET)
    sender = f"canary-{uuid.uuid4().hex}"
    assert "Shall I open a ticket" in await _chat(
        client, sender, f"My login fails since {m} was renamed", customer_token=token
    )
    assert "#" in await _chat(client, sender, "/affirm", customer_token=token)
    await _chat(client, sender, "/gdpr_access", customer_token=token)
    await _chat(client, sender, "/unsubscribe", customer_token=token)

    # staff over REST: an activity with an outcome, a deal named after them
    _, rep = _staff_token(db, "rep@crm.example", "admin")
    auth = {"Authorization": f"Bearer {rep}"}
    res = await client.post(
        "/api/v1/activities",
        headers=auth,
        json={
            "type": "call",
            "contact_id": cid,
            "summary": f"Called {name} about the invoice",
            "outcome": f"{m} wants a credit note",
        },
    )
    assert res.status == 201, await res.text()
    res = await client.post(
        "/api/v1/deals", headers=auth, json={"name": f"Rollout for {name}", "contact_id": cid}
    )
    assert res.status == 201, await res.text()
    with db.session() as s:  # an agent's reply on their ticket (the REST route for it is GET only today)
        crm = CrmServices(s, SYSTEM)
        ticket = crm.tickets.by_number(support.ticket_number)
        crm.tickets.add_message(
            ticket.id, f"Hello {name}, a corrected invoice is on its way.", direction="outbound"
        )
    # a rep talks about them in a staff chat (the transcript is someone else's, the name in it is theirs)
    await _chat(client, "rep-chat", f"remind me to call {name} tomorrow", headers=auth)

    with db.session() as s:
        crm = CrmServices(s, SYSTEM)
        bob = crm.contacts.create({"first_name": "Bob", "last_name": "Stone", "email": "bob@partner.example"})
        crm.contacts.relate(bob.id, "reports_to", related_contact_id=cid, note=f"reports to {name}")
        s.add_all(slack_outbox.posts(channel="C0SALES", text=f"New lead: {name} <{canary.email}>"))
    return cid


def _sqlite_path(db: Database) -> Path | None:
    return Path(db.engine.url.database or "") if db.is_sqlite else None


def _marker_in_store(canary: Canary, db: Database) -> list[str]:
    """Where the marker still is: file names (SQLite) or tables (PostgreSQL)."""
    path = _sqlite_path(db)
    if path is not None:
        return [f.name for f in (path, Path(f"{path}-wal")) if f.exists() and canary.found_in(f.read_bytes())]
    found = []
    with db.engine.connect() as conn:
        for table in Base.metadata.sorted_tables:
            rows = conn.execute(text(f'SELECT t::text FROM "{table.name}" AS t')).scalars()
            found += [f"{table.name}: {row[:200]}" for row in rows if canary.found_in(row)]
    return found


SECTIONS_WITH_THE_MARKER = (
    "contact",
    "emails",
    "activities",
    "deals",
    "tickets",
    "emails_received",
    "conversations",
    "relationships",
    "audit",
)


async def test_canary_export_has_everything_and_erasure_leaves_no_byte(
    db: Database, aiohttp_client: Any, classifier: EmailClassifier, tmp_path: Path
) -> None:
    canary = Canary()
    settings = Settings.from_env({}, database_url=db.url, secret_key=SECRET, chat_burst=50, chat_rate=10)
    app = build_app(settings, db=db, extra=[web_chat.install])
    m = canary.marker
    nlu = ScriptedNLU({f"My login fails since {m} was renamed": ("report_issue", [])})
    app[FACTORY_KEY] = lambda store, _settings: build_assistant(store, nlu)
    client = await aiohttp_client(app)
    cid = await _live(canary, db, client, classifier)
    assert _marker_in_store(canary, db), "the canary must be in the store before erasure"

    runner = CliRunner()
    html_file = tmp_path / "export.html"
    exported = runner.invoke(
        cli, ["gdpr", "export", "--db", db.url, "--contact-email", canary.email, "--html", str(html_file)]
    )
    assert exported.exit_code == 0, exported.output
    doc = json.loads(exported.output)
    missing = [
        s for s in SECTIONS_WITH_THE_MARKER if not canary.found_in(json.dumps(doc[s], ensure_ascii=False))
    ]
    assert missing == []
    assert len(doc["tickets"]) == 2 and all(t["messages"] for t in doc["tickets"])
    assert [(h["purpose"], h["granted"]) for h in doc["consent_history"]][:2] == [
        ("newsletter", True),
        ("marketing", False),
    ]
    assert any(msg["from"] == "you" for c in doc["conversations"] for msg in c["messages"])
    assert {e.get("subject") for e in doc["emails_received"]} >= {f"Angebot für 50 Lizenzen – {m}"}
    assert all(e["actor"] for e in doc["audit"]) and "bob@partner.example" not in json.dumps(doc)
    page = html_file.read_text(encoding="utf-8")
    assert canary.found_in(page) and "<h2>Chat transcripts</h2>" in page

    erased = runner.invoke(
        cli, ["gdpr", "erase", "--db", db.url, "--contact-email", canary.email, "--yes", "--json"]
    )
    assert erased.exit_code == 0, erased.output
    report = json.loads(erased.output)
    assert not canary.found_in(erased.output)
    for table in (
        "conversations",
        "conversation_events",
        "outbox_messages",
        "processed_events",
        "ticket_messages",
        "contact_relationships",
        "deals",
        "activities",
        "audit_log",
    ):
        assert table in report["tables"], table
    assert report["kept"]["deals"]["amount"].startswith("HGB")
    assert report["free_pages"] and "not done" not in report["free_pages"][0]

    assert _marker_in_store(canary, db) == []

    # the business aggregates stay, the person is a tombstone, and a second run does nothing
    with db.session() as s:
        contact = s.get(Contact, cid)
        assert contact is not None and contact.erased_at is not None and contact.first_name == "Erased"
        assert s.execute(select(ContactEmail).where(ContactEmail.contact_id == cid)).first() is None
        assert CrmServices(s, SYSTEM).contacts.by_email("bob@partner.example") is not None
    again = runner.invoke(cli, ["gdpr", "erase", "--db", db.url, "--contact-id", str(cid), "--yes"])
    assert again.exit_code == 0 and "already erased" in again.output
    by_mail = runner.invoke(cli, ["gdpr", "erase", "--db", db.url, "--contact-email", canary.email, "--yes"])
    assert by_mail.exit_code == 1 and "already erased" in by_mail.output
