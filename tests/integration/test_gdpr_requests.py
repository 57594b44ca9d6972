"""Tracked data-subject requests (due date, reminder, proof of identity) and the restriction (Art. 18) and
objection (Art. 21) states, on a real store (SQLite and PostgreSQL), through the mail triage, the chat
assistant, the REST API and the CLI."""

from __future__ import annotations

import csv
import json
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from aiohttp import web
from aiohttp.test_utils import TestClient
from click.testing import CliRunner
from sqlalchemy import select

from assistant.app import build_assistant
from assistant.cli.main import cli
from assistant.messages import IncomingMessage
from assistant.server import build_app
from assistant.settings import Settings
from connectors.email.ack import AckSettings, build_ack
from connectors.email.routing import Router
from connectors.email.triage import TriageService, _gdpr_kind
from crm_store.db import Database
from crm_store.models import AuditEntry, Contact, GdprRequest, OutboxMessage
from crm_store.services import Actor, CrmServices
from crm_store.services.errors import NotFound, PermissionDenied, ValidationFailed
from crm_store.services.gdpr import due_date
from nlu.email_classifier import EmailClassifier
from nlu.email_text import parse_mail
from tests.conftest import make_user
from tests.integration.test_customer_actions import SCRIPT, ScriptNLU, mailed_code
from tests.integration.test_rest_api import issue_token
from tests.integration.test_triage import classifier, make_mail  # noqa: F401  (fixture)

SYSTEM = Actor.system("test")
AClient = Callable[[web.Application], Awaitable[TestClient]]


def _anna(db: Database) -> int:
    with db.session() as s:
        crm = CrmServices(s, SYSTEM)
        anna = crm.contacts.create(
            {"first_name": "Anna", "last_name": "Schmidt", "email": "anna@braun-design.de"}
        )
        crm.contacts.create({"first_name": "Bob", "last_name": "Stone", "email": "bob@braun-design.de"})
        crm.activities.create({"type": "call", "contact_id": anna.id, "summary": "Anna wants a quote"})
        crm.gdpr.record_consent(anna.id, "newsletter", True, "signup form")
        crm.gdpr.record_consent(anna.id, "marketing", True, "signup form")
        return anna.id


def _admin(db: Database) -> Actor:
    return make_user(db, email="dpo@crm.example", role="admin")


# --- due date --------------------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("received", "due"),
    [
        (datetime(2026, 1, 31, 10, 30, tzinfo=UTC), datetime(2026, 2, 28, 10, 30, tzinfo=UTC)),
        (datetime(2028, 1, 31, 10, 30, tzinfo=UTC), datetime(2028, 2, 29, 10, 30, tzinfo=UTC)),
        (datetime(2026, 3, 31, tzinfo=UTC), datetime(2026, 4, 30, tzinfo=UTC)),
        (datetime(2026, 12, 15, tzinfo=UTC), datetime(2027, 1, 15, tzinfo=UTC)),
        (datetime(2026, 5, 1, tzinfo=UTC), datetime(2026, 6, 1, tzinfo=UTC)),
    ],
)
def test_due_date_is_one_calendar_month_after_receipt(received: datetime, due: datetime) -> None:
    assert due_date(received) == due


def test_every_request_is_recorded_with_its_due_date(db: Database) -> None:
    anna = _anna(db)
    with db.session() as s:
        req = CrmServices(s, Actor.customer(anna)).gdpr.request(anna, "access", via="chat")
        assert req.due_at == due_date(req.requested_at)
        assert req.identity_method == "customer_token" and req.identity_verified_at is not None


# --- mail: tracked, never verified -----------------------------------------------------------------
def _mail(triage: TriageService, subject: str, body: str, mid: str) -> int:
    result = triage.process(
        make_mail(sender="Anna Schmidt <anna@braun-design.de>", subject=subject, body=body, message_id=mid)
    )
    assert (result.queue, result.action) == ("privacy", "gdpr_request"), result
    assert result.gdpr_request_id is not None
    return result.gdpr_request_id


def test_attack_spoofed_from_asks_to_erase_and_export_someone_nothing_happens(
    db: Database,
    classifier: EmailClassifier,  # noqa: F811
) -> None:
    """Attack: a mail with Anna's address in From: (no SPF/DKIM verdict to stop it) asks to erase her, and
    another asks for her data. Both are tracked, neither is verified; an admin who tries to execute them
    gets a 422 and nothing is erased or disclosed until Anna's identity is proven another way."""
    anna = _anna(db)
    admin = _admin(db)
    triage = TriageService(db, classifier, routing=Router.from_yaml())
    erase_id = _mail(
        triage,
        "Löschung meiner Daten",
        "Bitte löschen Sie alle meine personenbezogenen Daten gemäß DSGVO.",
        "spoof-1@evil.example",
    )
    access_id = _mail(
        triage,
        "Auskunft nach Art. 15 DSGVO",
        "Bitte senden Sie mir eine Kopie aller Daten, die Sie über mich gespeichert haben (Auskunft).",
        "spoof-2@evil.example",
    )
    with db.session() as s:
        for rid in (erase_id, access_id):
            req = s.get(GdprRequest, rid)
            assert req is not None and req.contact_id == anna and req.requested_via == "email"
            assert req.identity_verified_at is None and req.identity_method is None
            assert req.due_at == due_date(req.requested_at)
    with db.session() as s:
        gdpr = CrmServices(s, admin).gdpr
        with pytest.raises(ValidationFailed) as erased:
            gdpr.confirm_erasure(erase_id)
        assert erased.value.status == 422 and "not verified" in erased.value.detail
        with pytest.raises(ValidationFailed) as exported:
            gdpr.export_request(access_id)
        assert exported.value.status == 422
    with db.session() as s:
        contact = s.get(Contact, anna)
        assert contact is not None and contact.erased_at is None and contact.first_name == "Anna"
        assert not s.execute(select(AuditEntry).where(AuditEntry.action.in_(("export", "erase")))).first()
        assert s.get(GdprRequest, erase_id).status == "pending"  # type: ignore[union-attr]
    # a staff member rings Anna back on the number we already had: now it may go ahead
    with db.session() as s:
        gdpr = CrmServices(s, admin).gdpr
        gdpr.verify_request(access_id, "callback", "called back on the number on file")
        assert gdpr.export_request(access_id)["contact"]["id"] == anna
        gdpr.verify_request(erase_id, "callback")
        assert gdpr.confirm_erasure(erase_id).status == "done"
    with db.session() as s:
        assert s.get(Contact, anna).erased_at is not None  # type: ignore[union-attr]
        verify_entries = s.execute(select(AuditEntry).where(AuditEntry.action == "verify")).scalars().all()
        # ids and the method only, never the note (and redacted with the rest about Anna on erasure)
        assert len(verify_entries) == 2
        assert all(e.payload in (None, {"method": "callback"}) for e in verify_entries)


def test_a_verification_needs_an_admin_and_a_known_method(db: Database, classifier: EmailClassifier) -> None:  # noqa: F811
    _anna(db)
    rep = make_user(db, email="rep@crm.example", role="rep")
    triage = TriageService(db, classifier, routing=Router.from_yaml())
    rid = _mail(
        triage, "Löschung meiner Daten", "Bitte löschen Sie alle meine Daten gemäß DSGVO.", "v-1@x.de"
    )
    with db.session() as s, pytest.raises(PermissionDenied):
        CrmServices(s, rep).gdpr.verify_request(rid, "callback")
    with db.session() as s, pytest.raises(ValidationFailed):
        CrmServices(s, SYSTEM).gdpr.verify_request(rid, "from_header")


def test_the_acknowledgement_of_a_mailed_request_says_identity_comes_first(
    db: Database,
    classifier: EmailClassifier,  # noqa: F811
) -> None:
    _anna(db)
    triage = TriageService(db, classifier, routing=Router.from_yaml())
    result = triage.process(
        make_mail(
            sender="Anna Schmidt <anna@braun-design.de>",
            subject="Löschung meiner Daten",
            body="Bitte löschen Sie alle meine personenbezogenen Daten gemäß DSGVO.",
            message_id="ack-1@x.de",
        )
    )
    body = build_ack(result, AckSettings()).get_content()
    assert "bestätigen, dass die Anfrage von Ihnen stammt" in body and "Einmal-Code" in body
    result.language = "en"
    assert "confirm that the request comes from you" in build_ack(result, AckSettings()).get_content()


@pytest.mark.parametrize(
    ("subject", "body", "kind"),
    [
        (
            "Restriction",
            "Please restrict the processing of my data until you have checked it.",
            "restriction",
        ),
        ("Einschränkung", "Bitte schränken Sie die Verarbeitung meiner Daten ein.", "restriction"),
        ("Art. 18 DSGVO", "Ich verlange die Einschränkung der Verarbeitung.", "restriction"),
        ("Widerspruch", "Ich widerspreche der Verarbeitung meiner Daten.", "objection"),
        ("Objection", "I object to marketing and profiling, opt out please.", "objection"),
        ("Löschung", "Bitte löschen Sie meine Daten.", "erasure"),
        ("Berichtigung", "Bitte berichtigen Sie meine Adresse.", "rectification"),
        ("Auskunft", "Welche Daten haben Sie über mich?", "access"),
    ],
)
def test_the_mail_names_the_right_it_invokes(subject: str, body: str, kind: str) -> None:
    assert _gdpr_kind(parse_mail(make_mail(subject=subject, body=body))) == kind


# --- chat: proven, so verified -----------------------------------------------------------------------
async def test_chat_requests_with_proof_are_verified_by_how_it_was_proven(db: Database) -> None:
    anna = _anna(db)
    assistant = build_assistant(db, ScriptNLU(SCRIPT))

    async def send(actor: Actor, sender: str, text: str) -> list[dict[str, Any]]:
        return await assistant.handle(IncomingMessage("web", sender, text, actor))

    logged_in = Actor.customer(anna, language="de")
    await send(logged_in, "s1", "/gdpr_erasure")
    await send(logged_in, "s1", "/affirm")
    replies = await send(logged_in, "s1", "/gdpr_access")
    assert any(r.get("custom", {}).get("type") == "gdpr_export" for r in replies)
    anonymous = Actor.customer(None, language="en")
    await send(anonymous, "s2", '/gdpr_access{"email": "anna@braun-design.de"}')
    replies = await send(anonymous, "s2", mailed_code(db, "anna@braun-design.de"))
    assert any(r.get("custom", {}).get("type") == "gdpr_export" for r in replies)
    with db.session() as s:
        rows = [
            (r.kind, r.status, r.identity_method, r.identity_verified_at is not None, r.due_at is not None)
            for r in s.execute(select(GdprRequest).order_by(GdprRequest.id)).scalars()
        ]
    assert rows == [
        ("erasure", "pending", "customer_token", True, True),  # an admin confirms it, without another proof
        ("access", "done", "customer_token", True, True),
        ("access", "done", "code", True, True),
    ]


# --- chat: restriction (Art. 18) and objection (Art. 21) named in a privacy message -------------------
RIGHTS_SCRIPT = {
    **SCRIPT,
    "Bitte schränken Sie die Verarbeitung meiner Daten ein": ("gdpr_access", []),
    "I object to you using my data for marketing and profiling": ("unsubscribe", []),
    "Please restrict the processing of my data, my e-mail is anna@braun-design.de": (
        "gdpr_erasure", [{"entity": "email", "value": "anna@braun-design.de"}]),
}


async def test_chat_restriction_and_objection_become_their_own_requests(db: Database) -> None:
    """The intent classifier files "restrict" under access and "object" under unsubscribe; the privacy
    actions see the right named and record that request: the objection takes effect at once, the
    restriction waits for an admin. German customers are addressed with "Sie"."""
    anna = _anna(db)
    assistant = build_assistant(db, ScriptNLU(RIGHTS_SCRIPT))

    async def say(actor: Actor, sender: str, text: str) -> str:
        replies = await assistant.handle(IncomingMessage("web", sender, text, actor))
        return " ".join(str(r.get("text") or "") for r in replies)

    de = Actor.customer(anna, language="de")
    asked = await say(de, "r1", "Bitte schränken Sie die Verarbeitung meiner Daten ein")
    assert "einschränken" in asked and " du " not in f" {asked} "
    assert "Einschränkung" in await say(de, "r1", "/affirm")
    en = Actor.customer(anna, language="en")
    assert "object" in await say(en, "o1", "I object to you using my data for marketing and profiling")
    assert "in effect" in await say(en, "o1", "/affirm")
    with db.session() as s:
        rows = [(r.kind, r.status, r.identity_method)
                for r in s.execute(select(GdprRequest).order_by(GdprRequest.id)).scalars()]
        contact = s.get(Contact, anna)
        assert contact is not None and contact.objected_at is not None and contact.restricted_at is None
        gdpr = CrmServices(s, SYSTEM).gdpr
        assert not gdpr.has_consent(anna, "newsletter") and not gdpr.has_consent(anna, "marketing")
    assert rows == [("restriction", "pending", "customer_token"), ("objection", "done", "customer_token")]


async def test_anonymous_restriction_needs_the_mailed_code_and_remembers_the_right(db: Database) -> None:
    """Attack: restricting someone else's processing by naming their address; after the code the
    assistant still knows it was a restriction (not an erasure) and waits for the yes."""
    anna = _anna(db)
    assistant = build_assistant(db, ScriptNLU(RIGHTS_SCRIPT))
    anonymous = Actor.customer(None, language="en")

    async def say(text: str) -> str:
        replies = await assistant.handle(IncomingMessage("web", "anon-r", text, anonymous))
        return " ".join(str(r.get("text") or "") for r in replies)

    assert "code" in await say("Please restrict the processing of my data, my e-mail is anna@braun-design.de")
    with db.session() as s:
        assert s.execute(select(GdprRequest)).first() is None
    assert "restrict" in await say(mailed_code(db, "anna@braun-design.de"))
    assert "recorded" in await say("/affirm")
    with db.session() as s:
        req = s.execute(select(GdprRequest)).scalar_one()
        assert (req.kind, req.status, req.identity_method, req.contact_id) == ("restriction", "pending", "code", anna)


# --- reminders -------------------------------------------------------------------------------------
def test_reminder_picks_requests_due_within_a_week_once_and_reports_overdue_ones(db: Database) -> None:
    anna = _anna(db)
    now = datetime(2026, 6, 20, 8, 0, tzinfo=UTC)
    with db.session() as s:
        gdpr = CrmServices(s, SYSTEM).gdpr
        ids = {}
        for name, received in {
            "overdue": now - timedelta(days=40),
            "soon": now - timedelta(days=26),
            "later": now - timedelta(days=10),
        }.items():
            req = gdpr.request(anna, "access", via="email")
            req.requested_at, req.due_at = received, due_date(received)
            ids[name] = req.id
        done = gdpr.request(anna, "erasure", via="email")
        done.requested_at, done.due_at, done.status = (
            now - timedelta(days=28),
            now + timedelta(days=2),
            "done",
        )
    with db.session() as s:
        first = CrmServices(s, SYSTEM).gdpr.remind(now, slack_channel="CDPO")
    assert [r["id"] for r in first["due"]] == [ids["soon"]]
    assert [r["id"] for r in first["overdue"]] == [ids["overdue"]]
    with db.session() as s:
        second = CrmServices(s, SYSTEM).gdpr.remind(now + timedelta(hours=1))
        assert second["due"] == [] and [r["id"] for r in second["overdue"]] == [ids["overdue"]]
        assert s.get(GdprRequest, ids["soon"]).reminded_at is not None  # type: ignore[union-attr]
        assert s.get(GdprRequest, ids["later"]).reminded_at is None  # type: ignore[union-attr]
        [post] = s.execute(select(OutboxMessage).where(OutboxMessage.channel == "slack")).scalars().all()
        assert post.target == "CDPO" and f"#{ids['soon']}" in post.payload["args"]["text"]
        assert "Anna" not in json.dumps(post.payload) and "braun-design" not in json.dumps(post.payload)
        reminded = s.execute(select(AuditEntry).where(AuditEntry.action == "remind")).scalars().all()
        assert reminded[0].payload == {"due": [ids["soon"]], "overdue": [ids["overdue"]]}


def test_cli_lists_verifies_and_reminds(db: Database, classifier: EmailClassifier) -> None:  # noqa: F811
    _anna(db)
    triage = TriageService(db, classifier, routing=Router.from_yaml())
    rid = _mail(
        triage, "Löschung meiner Daten", "Bitte löschen Sie alle meine Daten gemäß DSGVO.", "c-1@x.de"
    )
    runner = CliRunner()
    listed = runner.invoke(cli, ["gdpr", "requests", "--db", db.url, "--due-within", "40"])
    assert listed.exit_code == 0, listed.output
    assert f"#{rid}" in listed.output and "identity NOT verified" in listed.output
    assert (
        f"#{rid}" not in runner.invoke(cli, ["gdpr", "requests", "--db", db.url, "--due-within", "3"]).output
    )
    bad = runner.invoke(cli, ["gdpr", "verify-request", str(rid), "--db", db.url, "--method", "from_header"])
    assert bad.exit_code == 1 and "unknown identity method" in bad.output
    ok = runner.invoke(cli, ["gdpr", "verify-request", str(rid), "--db", db.url, "--method", "id_document"])
    assert ok.exit_code == 0, ok.output
    assert "verified (id_document)" in runner.invoke(cli, ["gdpr", "requests", "--db", db.url]).output
    soon = (datetime.now(UTC) + timedelta(days=27)).isoformat()
    reminded = runner.invoke(
        cli, ["gdpr", "remind", "--db", db.url, "--now", soon], env={"SLACK_DIGEST_CHANNEL": ""}
    )
    assert reminded.exit_code == 0 and f"request #{rid}" in reminded.output
    again = runner.invoke(
        cli, ["gdpr", "remind", "--db", db.url, "--now", soon], env={"SLACK_DIGEST_CHANNEL": ""}
    )
    assert "no GDPR request needs a reminder" in again.output


# --- restriction (Art. 18) -----------------------------------------------------------------------------
@pytest.fixture
async def rest(db: Database, aiohttp_client: AClient) -> TestClient:
    return await aiohttp_client(build_app(Settings(database_url=db.url), db=db))


async def _contacts(client: TestClient, token: str, path: str = "/api/v1/contacts") -> tuple[int, Any]:
    async with client.get(path, headers={"Authorization": f"Bearer {token}"}) as resp:
        return resp.status, await resp.json(content_type=None)


async def test_restricted_contact_is_hidden_from_a_rep_over_rest_and_shown_to_an_admin(
    db: Database, rest: TestClient
) -> None:
    """Attack: a rep lists, searches and fetches a restricted contact by id over the REST API."""
    anna = _anna(db)
    rep, admin = (
        issue_token(db, email="rep@x.example", role="rep"),
        issue_token(db, email="a@x.example", role="admin"),
    )
    with db.session() as s:
        CrmServices(s, SYSTEM).gdpr.restrict(anna)
    status, page = await _contacts(rest, rep)
    assert status == 200 and anna not in [c["id"] for c in page["items"]] and page["items"]
    for path in (
        f"/api/v1/contacts/{anna}",
        "/api/v1/contacts?q=Schmidt",
        "/api/v1/contacts?email=anna@braun-design.de",
    ):
        status, body = await _contacts(rest, rep, path)
        assert "braun-design" not in json.dumps(body).replace("bob@braun-design.de", ""), path
        assert status in (200, 404), path
    assert (await _contacts(rest, rep, f"/api/v1/contacts/{anna}"))[0] == 404
    status, page = await _contacts(rest, admin)
    assert anna in [c["id"] for c in page["items"]]
    assert (await _contacts(rest, admin, f"/api/v1/contacts/{anna}"))[0] == 200
    with db.session() as s:
        CrmServices(s, SYSTEM).gdpr.lift_restriction(anna)
    assert (await _contacts(rest, rep, f"/api/v1/contacts/{anna}"))[0] == 200


async def test_restricted_contact_is_absent_from_a_reps_chat_lookup(db: Database) -> None:
    """Attack: a rep asks the assistant for a restricted contact by name and then by the last id."""
    anna = _anna(db)
    rep = make_user(db, email="rep@crm.example", role="rep")
    admin = _admin(db)
    with db.session() as s:
        CrmServices(s, SYSTEM).gdpr.restrict(anna)
        assert CrmServices(s, rep).contacts.lookup("Anna Schmidt") == []
        assert [m.id for m in CrmServices(s, admin).contacts.lookup("Anna Schmidt")] == [anna]
        with pytest.raises(NotFound):
            CrmServices(s, rep).contacts.get(anna)
        with pytest.raises(NotFound):
            CrmServices(s, rep).contacts.update(anna, {"job_title": "CEO"})
    assistant = build_assistant(db, ScriptNLU(SCRIPT))
    ask = '/find_contact{"person": "Anna Schmidt"}'
    rep_sees = await assistant.handle(IncomingMessage("web", "r1", ask, rep))
    admin_sees = await assistant.handle(IncomingMessage("web", "a1", ask, admin))
    assert "anna@braun-design.de" not in json.dumps(rep_sees)
    assert "anna@braun-design.de" in json.dumps(admin_sees)


def test_restricted_contact_is_left_out_of_the_bulk_export(db: Database, tmp_path: Path) -> None:
    anna = _anna(db)
    with db.session() as s:
        CrmServices(s, SYSTEM).gdpr.restrict(anna)
    out = tmp_path / "contacts.csv"
    result = CliRunner().invoke(cli, ["export", "contacts", "--db", db.url, "--out", str(out)])
    assert result.exit_code == 0, result.output
    rows = list(csv.reader(out.open(encoding="utf-8")))
    text = out.read_text(encoding="utf-8")
    assert "anna@braun-design.de" not in text and "bob@braun-design.de" in text and len(rows) == 2


def test_restriction_stops_marketing_and_is_audited(db: Database) -> None:
    anna = _anna(db)
    with db.session() as s:
        gdpr = CrmServices(s, SYSTEM).gdpr
        assert gdpr.has_consent(anna, "newsletter")
        gdpr.restrict(anna)
        gdpr.restrict(anna)  # idempotent
        assert not gdpr.has_consent(anna, "newsletter") and not gdpr.has_consent(anna, "marketing")
        assert gdpr.export(anna)["contact"]["id"] == anna  # the person's own access is not restricted
    with db.session() as s:
        entries = s.execute(select(AuditEntry).where(AuditEntry.action == "restrict")).scalars().all()
        assert [(e.entity_id, e.payload) for e in entries] == [(str(anna), {"restricted": True})]


# --- objection (Art. 21) -------------------------------------------------------------------------------
def test_objection_blocks_marketing_and_profiling_even_against_a_later_consent(db: Database) -> None:
    anna = _anna(db)
    rep = make_user(db, email="rep@crm.example", role="rep")
    with db.session() as s, pytest.raises(PermissionDenied):
        CrmServices(s, rep).gdpr.object(anna)
    with db.session() as s:
        gdpr = CrmServices(s, Actor.customer(anna)).gdpr
        gdpr.object(anna, source="chat")
        assert s.get(Contact, anna).objected_at is not None  # type: ignore[union-attr]
    with db.session() as s:
        gdpr = CrmServices(s, SYSTEM).gdpr
        state = gdpr.consent_state(anna)
        assert {p: state[p]["granted"] for p in ("newsletter", "marketing", "profiling")} == dict.fromkeys(
            ("newsletter", "marketing", "profiling"), False
        )
        gdpr.record_consent(anna, "newsletter", True, "import")  # e.g. a stale import
        assert not gdpr.has_consent(anna, "newsletter") and not gdpr.has_consent(anna, "profiling")
        assert [h["granted"] for h in gdpr.consent_history(anna) if h["purpose"] == "newsletter"] == [
            True,
            False,
            True,
        ]  # the history is kept


def test_a_verified_mailed_objection_or_restriction_is_carried_out(
    db: Database,
    classifier: EmailClassifier,  # noqa: F811
) -> None:
    anna = _anna(db)
    triage = TriageService(db, classifier, routing=Router.from_yaml())
    rid = _mail(
        triage,
        "Widerspruch Datenschutz",
        "Ich widerspreche der Verarbeitung meiner Daten für Werbung.",
        "o-1@x.de",
    )
    with db.session() as s:
        gdpr = CrmServices(s, SYSTEM).gdpr
        assert s.get(GdprRequest, rid).kind == "objection"  # type: ignore[union-attr]
        with pytest.raises(ValidationFailed):
            gdpr.complete_request(rid)
        gdpr.verify_request(rid, "callback")
        assert gdpr.complete_request(rid).status == "done"
        assert not gdpr.has_consent(anna, "newsletter")
        assert s.get(Contact, anna).objected_at is not None  # type: ignore[union-attr]
