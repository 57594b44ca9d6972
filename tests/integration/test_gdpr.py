"""GDPR on a real store: access export, erasure (anonymise, keep aggregates, audit intact), consent."""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import date
from decimal import Decimal
from pathlib import Path

import pytest
from click.testing import CliRunner
from sqlalchemy import select

from assistant.cli.main import cli
from crm_store.db import Database
from crm_store.models import (
    Activity,
    AuditEntry,
    ContactRelationship,
    Deal,
    GdprRequest,
    NameToken,
    Ticket,
    TicketMessage,
)
from crm_store.services import Actor, CrmServices
from crm_store.services.audit import verify
from crm_store.services.errors import NotFound, PermissionDenied
from crm_store.services.search import find_contacts
from tests.conftest import make_user


@dataclass(frozen=True)
class People:
    anna: int
    bob: int
    deal: int
    ticket: int


def _people(db: Database, system: Actor) -> People:
    with db.session() as s:
        crm = CrmServices(s, system)
        org = crm.organizations.create({"name": "Acme GmbH", "domain": "acme.example"})
        anna = crm.contacts.create(
            {
                "first_name": "Anna",
                "last_name": "Schmidt",
                "email": "anna@acme.example",
                "emails": ["anna.private@mail.example"],
                "phone": "+49 170 5550199",
                "job_title": "CTO",
                "organization_id": org.id,
                "tags": ["vip"],
            }
        )
        bob = crm.contacts.create(
            {
                "first_name": "Bob",
                "last_name": "Stone",
                "email": "bob@acme.example",
                "organization_id": org.id,
            }
        )
        deal = crm.deals.create(
            {
                "name": "Acme rollout",
                "organization_id": org.id,
                "contact_id": anna.id,
                "amount": "40000",
                "stage": "proposal",
                "expected_close_date": date(2026, 3, 31),
            }
        )
        crm.activities.create(
            {"type": "call", "contact_id": anna.id, "summary": "Anna wants a quote by Friday"}
        )
        crm.activities.create({"type": "call", "contact_id": bob.id, "summary": "Bob asked about pricing"})
        crm.tasks.create({"title": "Send Anna the proposal", "contact_id": anna.id})
        ticket = CrmServices(s, Actor.customer(anna.id)).tickets.create(
            {
                "subject": "Anna cannot log in",
                "description": "My password reset mail never arrives",
                "queue": "account",
            }
        )
        crm.tickets.add_message(ticket.id, "Hello Anna, we are on it.")
        crm.gdpr.record_consent(anna.id, "marketing", True, "web_form")
        crm.gdpr.record_consent(bob.id, "marketing", True, "web_form")
        return People(anna.id, bob.id, deal.id, ticket.id)


def test_export_holds_the_person_and_nobody_else(db: Database, system: Actor) -> None:
    p = _people(db, system)
    with db.session() as s:
        doc = CrmServices(s, system).gdpr.export(p.anna)
    text = json.dumps(doc, ensure_ascii=False)
    assert doc["contact"]["full_name"] == "Anna Schmidt"
    assert {e["address"] for e in doc["emails"]} == {"anna@acme.example", "anna.private@mail.example"}
    assert doc["phones"][0]["number"] == "+491705550199"
    assert doc["organization"] == "Acme GmbH"
    assert [a["summary"] for a in doc["activities"]] == ["Anna wants a quote by Friday"]
    assert doc["deals"][0]["amount"] == 40000 and doc["tasks"][0]["title"] == "Send Anna the proposal"
    assert [m["body"] for m in doc["tickets"][0]["messages"]] == [
        "My password reset mail never arrives",
        "Hello Anna, we are on it.",
    ]
    assert doc["consent"]["marketing"]["granted"] is True and len(doc["consent_history"]) == 1
    assert any(e["action"] == "create" for e in doc["audit"])
    assert "Bob" not in text and "bob@acme.example" not in text and "pricing" not in text
    with db.session() as s:
        entry = s.execute(select(AuditEntry).where(AuditEntry.action == "export")).scalar_one()
    assert entry.entity_id == str(p.anna) and "anna" not in json.dumps(entry.payload).lower()


def test_a_customer_may_export_only_themselves(db: Database, system: Actor) -> None:
    p = _people(db, system)
    with db.session() as s:
        assert CrmServices(s, Actor.customer(p.anna)).gdpr.export(p.anna)["contact"]["id"] == p.anna
        with pytest.raises(NotFound):
            CrmServices(s, Actor.customer(p.anna)).gdpr.export(p.bob)


def test_erasure_anonymises_and_keeps_business_aggregates(db: Database, system: Actor) -> None:
    p = _people(db, system)
    rep = make_user(db, email="rep@x.example", role="rep")
    admin = make_user(db, email="admin@x.example", role="admin")
    with db.session() as s:
        request = CrmServices(s, Actor.customer(p.anna)).gdpr.request_erasure(p.anna, via="chat")
        assert request.status == "pending"
        request_id = request.id
    with db.session() as s, pytest.raises(PermissionDenied):
        CrmServices(s, rep).gdpr.confirm_erasure(request_id)
    with db.session() as s:
        CrmServices(s, admin).gdpr.confirm_erasure(request_id)
    with db.session() as s:
        crm = CrmServices(s, system)
        anna = crm.contacts.by_email("anna@acme.example")
        assert anna is None
        req = s.get(GdprRequest, request_id)
        assert req is not None and req.status == "done" and req.decided_by_id == admin.id
        deal = s.get(Deal, p.deal)
        assert deal is not None and (deal.amount, deal.stage) == (Decimal("40000.00"), "proposal")
        ticket = s.get(Ticket, p.ticket)
        assert ticket is not None and (ticket.queue, ticket.status) == ("account", "new")
        assert all("Anna" not in m.body for m in ticket.messages) and "Anna" not in ticket.subject
        summaries = s.execute(select(Activity.summary).order_by(Activity.id)).scalars().all()
        assert "Anna" not in summaries[0] and summaries[1] == "Bob asked about pricing"
        assert not s.execute(
            select(NameToken).where(NameToken.kind == "c", NameToken.ref_id == p.anna)
        ).first()
        assert [m.name for m in find_contacts(s, "Anna Schmidt")] == []
        assert crm.contacts.by_email("bob@acme.example") is not None
        doc = crm.gdpr.export(p.anna)
        assert doc["contact"]["first_name"] == "Erased" and doc["emails"] == [] and doc["phones"] == []
        assert doc["contact"]["job_title"] is None and doc["contact"]["tags"] == []
        assert "Schmidt" not in json.dumps(doc, ensure_ascii=False)


def test_audit_chain_survives_erasure_and_the_entry_holds_no_personal_data(
    db: Database, system: Actor
) -> None:
    p = _people(db, system)
    with db.session() as s:
        gdpr = CrmServices(s, system).gdpr
        gdpr.confirm_erasure(gdpr.request_erasure(p.anna, via="email", identity="callback").id)
    with db.session() as s:
        assert verify(s).ok
        erase = s.execute(select(AuditEntry).where(AuditEntry.action == "erase")).scalar_one()
        assert erase.entity_id == str(p.anna)
        dumped = json.dumps(erase.payload).lower()
        assert "anna" not in dumped and "schmidt" not in dumped and "@" not in dumped
        about_anna = (
            s.execute(
                select(AuditEntry).where(
                    AuditEntry.entity == "contact",
                    AuditEntry.entity_id == str(p.anna),
                    AuditEntry.action != "erase",
                )
            )
            .scalars()
            .all()
        )
        assert about_anna and all(e.redacted and e.payload is None for e in about_anna)
        rest = json.dumps([e.payload for e in s.execute(select(AuditEntry)).scalars()], ensure_ascii=False)
        assert (
            "anna@acme.example" not in rest and "quote by Friday" not in rest and "bob@acme.example" in rest
        )


def test_unsubscribe_withdraws_marketing_and_keeps_the_history(db: Database, system: Actor) -> None:
    p = _people(db, system)
    with db.session() as s:
        gdpr = CrmServices(s, Actor.customer(p.anna)).gdpr
        gdpr.record_consent(p.anna, "newsletter", True, "web_form")
        withdrawn = gdpr.withdraw_marketing(p.anna, "chat")
        assert {r.purpose for r in withdrawn} == {"marketing", "newsletter"}
    with db.session() as s:
        gdpr = CrmServices(s, system).gdpr
        state = gdpr.consent_state(p.anna)
        assert state["marketing"]["granted"] is False and state["marketing"]["source"] == "chat"
        assert not gdpr.has_consent(p.anna, "newsletter") and gdpr.has_consent(p.bob, "marketing")
        history = gdpr.consent_history(p.anna)
        assert [(h["purpose"], h["granted"]) for h in history] == [
            ("marketing", True),
            ("newsletter", True),
            ("marketing", False),
            ("newsletter", False),
        ]
        actions = s.execute(select(AuditEntry.action).where(AuditEntry.entity == "consent")).scalars().all()
        assert actions.count("withdraw_consent") == 2


def test_erasure_reaches_mentions_related_notes_outcomes_and_is_idempotent(
    db: Database, system: Actor
) -> None:
    """Where the old erasure left the person behind: a relationship note where they are the *related*
    contact, ``activities.outcome``, a deal named after them, someone else's ticket that copied them in."""
    p = _people(db, system)
    with db.session() as s:
        crm = CrmServices(s, system)
        crm.contacts.relate(p.bob, "reports_to", related_contact_id=p.anna, note="reports to Anna Schmidt")
        crm.activities.create(
            {"type": "call", "contact_id": p.anna, "summary": "x", "outcome": "Anna agreed"}
        )
        named = crm.deals.create({"name": "Upsell for Anna Schmidt", "contact_id": p.bob}).id
        bobs = CrmServices(s, Actor.customer(p.bob)).tickets.create(
            {"subject": "Bob's printer", "description": "-"}
        )
        crm.tickets.add_message(
            bobs.id, "I put anna@acme.example in copy", recipients=["anna@acme.example", "bob@acme.example"]
        )
    with db.session() as s:
        report = CrmServices(s, system).gdpr.erase(p.anna)
    assert report["kept"]["deals"]["amount"].startswith("HGB")
    assert {"contact_relationships", "activities", "deals", "ticket_messages"} <= set(report["tables"])
    with db.session() as s:
        notes = s.execute(select(ContactRelationship.note)).scalars().all()
        assert all(n is None or "Anna" not in n for n in notes)
        assert all(
            o is None
            for o in s.execute(select(Activity.outcome).where(Activity.contact_id == p.anna)).scalars()
        )
        deal = s.get(Deal, named)
        assert deal is not None and "Anna" not in deal.name and "Upsell for" in deal.name
        assert s.get(Deal, p.deal).name == "Acme rollout"  # a business name without the person stays
        msg = (
            s.execute(
                select(TicketMessage).where(TicketMessage.ticket_id == bobs.id).order_by(TicketMessage.id)
            )
            .scalars()
            .all()[-1]
        )
        assert msg.recipients == ["bob@acme.example"] and "anna@" not in msg.body
    with db.session() as s:
        assert CrmServices(s, system).gdpr.erase(p.anna)["already_erased"] is True


def test_record_of_processing_lists_every_personal_column(tmp_path: Path) -> None:
    from crm_store.models.data_classes import COLUMNS

    runner = CliRunner()
    md = runner.invoke(cli, ["gdpr", "ropa"])
    assert md.exit_code == 0 and md.output.startswith("# Record of processing activities (Art. 30 GDPR)")
    for key, col in COLUMNS.items():
        if col.is_personal:
            assert f"`{key}`" in md.output, key
    assert "Lawful basis" in md.output and "Technical and organisational measures" in md.output
    page = runner.invoke(cli, ["gdpr", "ropa", "--format", "html"])
    assert page.exit_code == 0 and "<h1>Record of processing activities" in page.output
    assert "<code>ticket_messages.author_address</code>" in page.output
