"""Agents' queue/priority corrections of mail tickets become labelled data (issue 17), audited."""

from __future__ import annotations

import pytest
from sqlalchemy import func, select

from crm_store.db import Database
from crm_store.models import AuditEntry, Ticket, TriageCorrection
from crm_store.models.data_classes import REDACTED
from crm_store.services import Actor, CrmServices
from crm_store.services.errors import PermissionDenied
from crm_store.services.mail_triage import MailTriageService, record_triage_correction
from tests.conftest import make_user


def mail_ticket(db: Database, *, channel: str = "email", subject: str = "AW: Ihre Rechnung 2026-1142") -> int:
    with db.session() as s:
        ticket = CrmServices(s, Actor.system("triage")).tickets.create(
            {
                "subject": subject,
                "description": "seit heute morgen können sich 40 Mitarbeiter nicht mehr einloggen",
                "queue": "billing",
                "priority": "low",
                "language": "de",
                "channel": channel,
            }
        )
        return ticket.id


def corrections(db: Database) -> list[tuple[str, str, str, str]]:
    with db.session() as s:
        rows = s.execute(select(TriageCorrection).order_by(TriageCorrection.id)).scalars()
        return [(r.old_queue, r.new_queue, r.old_priority, r.new_priority) for r in rows]


def audit_actions(db: Database, entity: str) -> list[str]:
    with db.session() as s:
        return list(s.execute(select(AuditEntry.action).where(AuditEntry.entity == entity)).scalars())


def test_an_agent_changing_queue_and_priority_records_one_audited_correction(db: Database) -> None:
    agent = make_user(db, email="agent@example-crm.com", role="agent")
    ticket_id = mail_ticket(db)
    with db.session() as s:
        CrmServices(s, agent).tickets.update(ticket_id, {"queue": "account", "priority": "high"})
    assert corrections(db) == [("billing", "account", "low", "high")]
    assert audit_actions(db, "triage_correction") == ["create"]
    with db.session() as s:
        row = s.execute(select(TriageCorrection)).scalar_one()
        assert row.corrected_by_id == agent.id and row.language == "de"


def test_the_same_change_recorded_twice_is_one_row_and_later_changes_add_rows(db: Database) -> None:
    agent = make_user(db, email="agent@example-crm.com", role="agent")
    ticket_id = mail_ticket(db)
    with db.session() as s:
        crm = CrmServices(s, agent)
        ticket = crm.tickets.update(ticket_id, {"queue": "account"})
        assert record_triage_correction(s, agent, ticket, old_queue="billing", old_priority="low") is None
        crm.tickets.update(ticket_id, {"priority": "urgent"})
    assert corrections(db) == [("billing", "account", "low", "low"), ("account", "account", "low", "urgent")]
    with db.session() as s:
        examples = MailTriageService(s, Actor.system("train")).training_examples()
    assert [(e.queue, e.priority, e.language) for e in examples] == [("account", "urgent", "de")]
    assert examples[0].subject == "AW: Ihre Rechnung 2026-1142" and "40 Mitarbeiter" in examples[0].body
    assert "training_read" in audit_actions(db, "triage_correction")


def test_no_correction_for_chat_tickets_system_changes_or_unchanged_values(db: Database) -> None:
    agent = make_user(db, email="agent@example-crm.com", role="agent")
    chat_ticket = mail_ticket(db, channel="web")
    ticket_id = mail_ticket(db)
    with db.session() as s:
        CrmServices(s, agent).tickets.update(chat_ticket, {"queue": "account"})
        CrmServices(s, Actor.system("sla")).tickets.update(ticket_id, {"priority": "high"})
        CrmServices(s, agent).tickets.update(ticket_id, {"status": "open", "priority": "high"})
    assert corrections(db) == []


def test_a_rep_cannot_record_corrections_directly(db: Database) -> None:
    """Attack: a sales rep may not write training labels (they would steer the model)."""
    rep = make_user(db, email="rep@example-crm.com", role="rep")
    ticket_id = mail_ticket(db)
    with db.session() as s:
        ticket = s.get(Ticket, ticket_id)
        assert ticket is not None
        ticket.queue = "spam"  # not even a ticket queue
        with pytest.raises(PermissionDenied):
            record_triage_correction(s, rep, ticket, old_queue="billing", old_priority="low")
        s.rollback()
    assert corrections(db) == []


def test_erased_tickets_leave_the_training_data(db: Database) -> None:
    agent = make_user(db, email="agent@example-crm.com", role="agent")
    ticket_id = mail_ticket(db)
    with db.session() as s:
        CrmServices(s, agent).tickets.update(ticket_id, {"queue": "account"})
    with db.session() as s:
        ticket = s.get(Ticket, ticket_id)
        assert ticket is not None
        ticket.subject, ticket.description = REDACTED, ""  # what erasure does to a person's ticket
    with db.session() as s:
        assert MailTriageService(s, Actor.system("train")).training_examples() == []
        assert s.execute(select(func.count()).select_from(TriageCorrection)).scalar_one() == 1


def test_a_manager_may_read_the_training_data_an_agent_may_not(db: Database) -> None:
    agent = make_user(db, email="agent@example-crm.com", role="agent")
    manager = make_user(db, email="boss@example-crm.com", role="manager")
    with db.session() as s:
        assert MailTriageService(s, manager).training_examples() == []
        with pytest.raises(PermissionDenied):
            MailTriageService(s, agent).training_examples()
