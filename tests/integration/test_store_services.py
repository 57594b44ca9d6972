"""The service layer on a real store (SQLite and PostgreSQL): rules, permissions, audit, lookup."""

from __future__ import annotations

import pytest
from sqlalchemy import select, update

from crm_store.db import Database
from crm_store.models import AuditEntry, Deal
from crm_store.services import Actor, CrmServices
from crm_store.services.audit import verify
from crm_store.services.errors import Conflict, NotFound, PermissionDenied, ValidationFailed
from tests.conftest import make_user


def test_contact_is_normalised_and_duplicate_email_conflicts(db: Database, system: Actor) -> None:
    with db.session() as s:
        crm = CrmServices(s, system)
        org = crm.organizations.create({"name": "Müller GmbH", "domain": "Mueller.example"})
        c = crm.contacts.create({"first_name": "Anna", "last_name": "Schmidt", "email": "Anna.Schmidt@Mueller.example",
                                 "phone": "0170 5550199", "organization_id": org.id, "job_title": "CTO"})
        assert (c.email, c.phone, org.domain) == ("anna.schmidt@mueller.example", "+491705550199", "mueller.example")
        cid = c.id
    with db.session() as s, pytest.raises(Conflict) as exc:
        CrmServices(s, system).contacts.create({"last_name": "Other", "email": "anna.schmidt@mueller.example"})
    assert exc.value.existing_id == cid


@pytest.mark.parametrize(("payload", "field"), [
    ({"last_name": "X", "email": "not-an-email"}, "email"),
    ({"last_name": "X", "phone": "12"}, "phone"),
    ({"last_name": "X", "shoe_size": 42}, "shoe_size"),
    ({"last_name": "X", "organization_id": 999}, "organization_id"),
    ({}, "last_name"),
])
def test_invalid_contact_names_the_field(db: Database, system: Actor, payload: dict, field: str) -> None:
    with db.session() as s, pytest.raises(ValidationFailed) as exc:
        CrmServices(s, system).contacts.create(payload)
    assert exc.value.field == field


def test_invalid_deal_currency_and_stage(db: Database, system: Actor) -> None:
    with db.session() as s:
        crm = CrmServices(s, system)
        with pytest.raises(ValidationFailed) as exc:
            crm.deals.create({"name": "D", "currency": "XYZ"})
        assert exc.value.field == "currency"
        with pytest.raises(ValidationFailed) as exc:
            crm.deals.create({"name": "D", "stage": "maybe"})
        assert exc.value.field == "stage"


@pytest.mark.parametrize("query", ["anna schmidt", "Fr. Schmidt", "SCHMIDT", "Schmitt", "Anna"])
def test_forgiving_contact_lookup(db: Database, system: Actor, query: str) -> None:
    with db.session() as s:
        crm = CrmServices(s, system)
        crm.contacts.create({"first_name": "Anna", "last_name": "Schmidt"})
        crm.contacts.create({"first_name": "Jürgen", "last_name": "Müller"})
        crm.contacts.create({"first_name": "Bob", "last_name": "Stone"})
    with db.session() as s:
        matches = CrmServices(s, system).contacts.lookup(query)
    assert matches and matches[0].name == "Anna Schmidt"


@pytest.mark.parametrize("query", ["Mueller", "muller", "Jürgen Müller", "juergen mueller"])
def test_umlaut_transliteration_lookup(db: Database, system: Actor, query: str) -> None:
    with db.session() as s:
        crm = CrmServices(s, system)
        crm.contacts.create({"first_name": "Jürgen", "last_name": "Müller"})
        crm.contacts.create({"first_name": "Anna", "last_name": "Schmidt"})
        org = crm.organizations.create({"name": "ACME Corp."})
        crm.organizations.create({"name": "Globex Ltd."})
        org_id = org.id
    with db.session() as s:
        crm = CrmServices(s, system)
        assert crm.contacts.lookup(query)[0].name == "Jürgen Müller"
        assert crm.organizations.list(q="Acme").items[0].id == org_id


def test_deal_stage_probability_and_history(db: Database, system: Actor) -> None:
    with db.session() as s:
        crm = CrmServices(s, system)
        deal = crm.deals.create({"name": "Initech", "amount": "40000", "currency": "eur"})
        assert (deal.stage, deal.probability, deal.currency) == ("lead", 10, "EUR")
        crm.deals.update(deal.id, {"stage": "negotiation"})
        crm.deals.update(deal.id, {"stage": "won"})
        assert deal.probability == 100 and deal.closed_at is not None
        assert [h.to_stage for h in deal.history] == ["lead", "negotiation", "won"]


def test_rep_cannot_edit_another_teams_deal(db: Database, system: Actor) -> None:
    with db.session() as s:
        users = CrmServices(s, system).users
        north, south = users.create_team("North"), users.create_team("South")
        ids = (north.id, south.id)
    rep_n = make_user(db, email="n1@x.example", role="rep", team_id=ids[0])
    rep_n2 = make_user(db, email="n2@x.example", role="rep", team_id=ids[0])
    rep_s = make_user(db, email="s1@x.example", role="rep", team_id=ids[1])
    with db.session() as s:
        deal_id = CrmServices(s, rep_n).deals.create({"name": "Northern deal", "amount": 1000}).id
    with db.session() as s:
        CrmServices(s, rep_n2).deals.update(deal_id, {"stage": "qualified"})  # same team: fine
    with db.session() as s, pytest.raises(PermissionDenied):
        CrmServices(s, rep_s).deals.update(deal_id, {"stage": "lost"})
    with db.session() as s:
        assert s.get(Deal, deal_id).stage == "qualified"  # type: ignore[union-attr]


def test_roles(db: Database, system: Actor) -> None:
    agent = make_user(db, email="agent@x.example", role="agent")
    rep = make_user(db, email="rep@x.example", role="rep")
    with db.session() as s, pytest.raises(PermissionDenied):
        CrmServices(s, rep).users.create({"email": "new@x.example", "name": "N", "role": "admin"})
    with db.session() as s, pytest.raises(PermissionDenied):
        CrmServices(s, agent).deals.create({"name": "Agents sell nothing"})
    with db.session() as s, pytest.raises(PermissionDenied):
        CrmServices(s, Actor.customer(None)).contacts.list()


def test_ticket_numbers_and_customer_isolation(db: Database, system: Actor) -> None:
    with db.session() as s:
        crm = CrmServices(s, system)
        a = crm.contacts.create({"first_name": "Ann", "last_name": "A", "email": "ann@a.example"})
        b = crm.contacts.create({"first_name": "Ben", "last_name": "B", "email": "ben@b.example"})
        ids = (a.id, b.id)
    with db.session() as s:
        t1 = CrmServices(s, Actor.customer(ids[0])).tickets.create({"subject": "Login fails", "priority": "high"})
        t2 = CrmServices(s, Actor.customer(ids[1])).tickets.create({"subject": "Invoice wrong"})
        assert t2.number == t1.number + 1
        assert t1.first_response_due_at is not None and t1.resolution_due_at > t1.first_response_due_at
        numbers = (t1.number, t2.number)
    with db.session() as s:
        ann = CrmServices(s, Actor.customer(ids[0])).tickets
        assert [t.number for t in ann.list().items] == [numbers[0]]
        with pytest.raises(NotFound):
            ann.by_number(numbers[1])
        with pytest.raises(NotFound):  # anonymous speakers reach tickets only through a grant (services/grants.py)
            CrmServices(s, Actor.customer(None)).tickets.by_number(numbers[1])


def test_solved_ticket_reopens_on_customer_message_and_message_id_once(db: Database, system: Actor) -> None:
    with db.session() as s:
        crm = CrmServices(s, system)
        c = crm.contacts.create({"last_name": "C", "email": "c@c.example"})
        t = crm.tickets.create({"subject": "S", "requester_contact_id": c.id}, message_id="<a@x>")
        crm.tickets.update(t.id, {"status": "solved"})
        cid, tid = c.id, t.id
    with db.session() as s:
        tickets = CrmServices(s, Actor.customer(cid)).tickets
        tickets.add_message(tid, "still broken", message_id="<b@x>")
        assert tickets.get(tid).status == "open"
        with pytest.raises(Conflict):
            tickets.add_message(tid, "again", message_id="<a@x>")


def test_a_priority_change_is_audited_and_moves_the_sla(db: Database, system: Actor) -> None:
    """Before, the priority was set before the audit's diff was taken, so the change left no trace."""
    with db.session() as s:
        crm = CrmServices(s, system)
        c = crm.contacts.create({"last_name": "P", "email": "p@p.example"})
        t = crm.tickets.create({"subject": "Slow", "requester_contact_id": c.id, "priority": "normal"})
        due_before = t.resolution_due_at
        crm.tickets.update(t.id, {"priority": "urgent"})
        assert t.priority == "urgent" and t.resolution_due_at != due_before
        tid = t.id
    with db.session() as s:
        entry = s.execute(
            select(AuditEntry).where(AuditEntry.entity == "ticket", AuditEntry.entity_id == str(tid),
                                     AuditEntry.action == "update")
        ).scalars().all()[-1]
        assert entry.payload == {"changes": {"priority": ["normal", "urgent"]}}


def test_every_write_is_audited_and_tampering_is_detected(db: Database, system: Actor) -> None:
    with db.session() as s:
        crm = CrmServices(s, system)
        c = crm.contacts.create({"first_name": "Eve", "last_name": "Audit", "email": "eve@a.example"})
        crm.contacts.update(c.id, {"job_title": "CFO"})
        crm.activities.create({"type": "call", "contact_id": c.id, "summary": "intro"})
        crm.tasks.create({"title": "Send proposal", "contact_id": c.id})
    with db.session() as s:
        entries = s.execute(select(AuditEntry).order_by(AuditEntry.id)).scalars().all()
        assert [(e.entity, e.action) for e in entries] == [
            ("contact", "create"), ("contact", "update"), ("activity", "create"), ("task", "create")]
        assert verify(s).ok
    with db.session() as s:
        s.execute(update(AuditEntry).where(AuditEntry.id == entries[1].id).values(actor="user:99"))
    with db.session() as s:
        result = verify(s)
        assert not result.ok and result.bad_entry_id == entries[1].id


def test_failed_write_leaves_nothing_behind(db: Database, system: Actor) -> None:
    with pytest.raises(ValidationFailed), db.session() as s:
        crm = CrmServices(s, system)
        crm.contacts.create({"first_name": "Half", "last_name": "Done"})
        crm.deals.create({"name": "bad", "stage": "nope"})
    with db.session() as s:
        assert CrmServices(s, system).contacts.list().total == 0
        assert s.execute(select(AuditEntry)).first() is None


def test_pipeline_report(db: Database, system: Actor) -> None:
    with db.session() as s:
        crm = CrmServices(s, system)
        crm.deals.create({"name": "A", "amount": 10000, "stage": "proposal"})
        crm.deals.create({"name": "B", "amount": 20000, "stage": "negotiation"})
        crm.deals.create({"name": "C", "amount": 5000, "stage": "won"})
        rep = crm.reports.pipeline().to_dict()
    assert rep["open_count"] == 2 and rep["open_total"] == 30000.0
    assert rep["weighted_total"] == 10000 * 0.5 + 20000 * 0.75
    assert rep["won_total"] == 5000.0
