"""SLA escalation against a real store (SQLite and PostgreSQL); the lead's mail via aiosmtpd on loopback."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from email import message_from_bytes, policy
from email.message import EmailMessage

import pytest
from aiosmtpd.smtp import SMTP, Envelope, Session
from sqlalchemy import select

from connectors.email.ack import SmtpSettings
from connectors.email.sla import MemoryNotifier, SlaEscalator, SmtpNotifier
from crm_store.db import Database
from crm_store.models import AuditEntry, Team, Ticket, User
from crm_store.services import Actor, CrmServices
from crm_store.services import audit as audit_log

NOW = datetime(2026, 11, 28, 9, 0, tzinfo=UTC)


@dataclass
class Desk:
    team_id: int
    lead_email: str
    agent_id: int


def _desk(db: Database, *, lead_language: str = "en", with_lead: bool = True) -> Desk:
    with db.session() as s:
        team = Team(name="Support")
        s.add(team)
        s.flush()
        lead = User(email="lead@example-crm.com", name="Lena Lead", role="manager", team_id=team.id,
                    language=lead_language)  # fmt: skip
        agent = User(email="agent@example-crm.com", name="Alex Agent", role="agent", team_id=team.id)
        s.add_all([lead, agent])
        s.flush()
        if with_lead:
            team.lead_user_id = lead.id
        return Desk(team.id, lead.email, agent.id)


def _ticket(
    db: Database,
    desk: Desk | None,
    *,
    first_due: timedelta,
    resolution_due: timedelta = timedelta(hours=48),
    responded: bool = False,
    status: str = "open",
    subject: str = "Export fails",
) -> int:
    """A ticket whose targets lie ``first_due`` / ``resolution_due`` after NOW (negative: passed)."""
    with db.session() as s:
        ticket = CrmServices(s, Actor.system("test")).tickets.create(
            {
                "subject": subject, "description": "It fails.", "priority": "high", "queue": "technical",
                "team_id": desk.team_id if desk else None, "assignee_id": desk.agent_id if desk else None,
                "channel": "email",
            }
        )  # fmt: skip
        ticket.first_response_due_at = NOW + first_due
        ticket.resolution_due_at = NOW + resolution_due
        ticket.first_responded_at = NOW - timedelta(hours=1) if responded else None
        ticket.status = status
        return ticket.number


def _get(db: Database, number: int) -> Ticket:
    with db.session() as s:
        return s.execute(select(Ticket).where(Ticket.number == number)).scalar_one()


def _audit(db: Database, action: str) -> list[AuditEntry]:
    with db.session() as s:
        return list(s.execute(select(AuditEntry).where(AuditEntry.action == action)).scalars())


async def test_an_overdue_ticket_is_escalated_to_the_team_lead_once(db: Database) -> None:
    desk = _desk(db)
    late = _ticket(db, desk, first_due=-timedelta(minutes=5))
    _ticket(db, desk, first_due=timedelta(minutes=30), subject="Not yet due")
    notifier = MemoryNotifier()
    escalator = SlaEscalator(db, notifier)

    sent = await escalator.run_once(NOW)
    assert [(e.ticket_number, e.reason, e.to_addr, e.team, e.assignee) for e in sent] == [
        (late, "first_response", desk.lead_email, "Support", "Alex Agent")
    ]
    assert sent[0].due_at == NOW - timedelta(minutes=5)
    assert _get(db, late).escalated_at == NOW
    entries = _audit(db, "escalate")
    assert [(e.entity, e.actor, e.payload["number"], e.payload["reason"]) for e in entries] == [
        ("ticket", "system:sla", late, "first_response")
    ]
    # never twice: neither a second pass nor a restarted job (a new process) notifies again
    assert await escalator.run_once(NOW + timedelta(minutes=1)) == []
    assert await SlaEscalator(db, notifier).run_once(NOW + timedelta(minutes=2)) == []
    assert len(notifier.sent) == 1
    with db.session() as s:
        assert audit_log.verify(s).ok


async def test_resolution_target_counts_after_a_first_response_and_closed_tickets_never(
    db: Database,
) -> None:
    desk = _desk(db)
    answered = _ticket(db, desk, first_due=-timedelta(hours=3), resolution_due=-timedelta(minutes=1),
                       responded=True)  # fmt: skip
    in_time = _ticket(db, desk, first_due=-timedelta(hours=3), responded=True)
    solved = _ticket(db, desk, first_due=-timedelta(hours=3), status="solved")
    notifier = MemoryNotifier()
    sent = await SlaEscalator(db, notifier).run_once(NOW)
    assert [(e.ticket_number, e.reason) for e in sent] == [(answered, "resolution")]
    assert _get(db, in_time).escalated_at is None and _get(db, solved).escalated_at is None


async def test_the_next_wake_up_is_computed_from_the_store(db: Database) -> None:
    desk = _desk(db)
    escalator = SlaEscalator(db, MemoryNotifier(), max_wait=3600)
    assert escalator.next_due(NOW) is None
    assert escalator.seconds_until_next(NOW) == 3600  # nothing open: only the safety cap
    soon = _ticket(db, desk, first_due=timedelta(minutes=20), resolution_due=timedelta(hours=8))
    _ticket(db, desk, first_due=timedelta(minutes=10), responded=True)  # answered: its first target is moot
    assert escalator.next_due(NOW) == NOW + timedelta(minutes=20)
    assert escalator.seconds_until_next(NOW) == pytest.approx(20 * 60 + 0.5)
    assert await escalator.run_once(NOW + timedelta(minutes=19)) == []
    sent = await escalator.run_once(NOW + timedelta(minutes=20, seconds=1))
    assert [e.ticket_number for e in sent] == [soon]
    assert escalator.next_due(NOW + timedelta(minutes=21)) == NOW + timedelta(
        hours=48
    )  # the other's resolution


async def test_a_failed_notification_gives_the_claim_back_and_is_retried(db: Database) -> None:
    desk = _desk(db)
    number = _ticket(db, desk, first_due=-timedelta(minutes=1))
    broken = MemoryNotifier(fail=True)
    escalator = SlaEscalator(db, broken)
    assert await escalator.run_once(NOW) == []
    assert escalator.failures == 1
    assert _get(db, number).escalated_at is None
    assert [e.payload["number"] for e in _audit(db, "escalation_failed")] == [number]
    broken.fail = False
    later = NOW + timedelta(minutes=5)
    assert [e.ticket_number for e in await escalator.run_once(later)] == [number]
    assert _get(db, number).escalated_at == later
    assert len(_audit(db, "escalate")) == 2  # the failed claim and the good one


async def test_without_a_lead_the_fallback_is_told_and_without_one_nobody(db: Database) -> None:
    desk = _desk(db, with_lead=False)
    first = _ticket(db, desk, first_due=-timedelta(minutes=1))
    notifier = MemoryNotifier()
    sent = await SlaEscalator(db, notifier, fallback_to="support-leads@example-crm.com").run_once(NOW)
    assert [(e.ticket_number, e.to_addr) for e in sent] == [(first, "support-leads@example-crm.com")]
    second = _ticket(db, None, first_due=-timedelta(minutes=1))
    sent = await SlaEscalator(db, notifier).run_once(NOW)
    assert [(e.ticket_number, e.to_addr, e.team) for e in sent] == [(second, None, None)]
    assert _get(db, second).escalated_at == NOW  # escalated all the same: it shows on the lists
    assert _audit(db, "escalate")[-1].payload["notify_user"] is False


# --- the lead's mail on loopback SMTP ---------------------------------------------------------------


@dataclass
class Inbox:
    messages: list[tuple[list[str], EmailMessage]] = field(default_factory=list)
    arrived: asyncio.Event = field(default_factory=asyncio.Event)

    async def handle_DATA(self, server: SMTP, session: Session, envelope: Envelope) -> str:
        mail = message_from_bytes(envelope.original_content or b"", policy=policy.default)
        self.messages.append((list(envelope.rcpt_tos), mail))  # type: ignore[arg-type]
        self.arrived.set()
        return "250 OK"


async def _smtp(inbox: Inbox) -> tuple[asyncio.Server, int]:
    server = await asyncio.get_running_loop().create_server(lambda: SMTP(inbox), host="127.0.0.1", port=0)
    return server, server.sockets[0].getsockname()[1]


async def test_the_lead_gets_an_email_in_their_language(db: Database) -> None:
    desk = _desk(db, lead_language="de")
    number = _ticket(db, desk, first_due=-timedelta(minutes=2), subject="Export schlägt fehl")
    inbox = Inbox()
    server, port = await _smtp(inbox)
    try:
        notifier = SmtpNotifier(SmtpSettings(host="127.0.0.1", port=port, start_tls=False),
                                from_addr="crm@example-crm.com")  # fmt: skip
        sent = await SlaEscalator(db, notifier).run_once(NOW)
    finally:
        server.close()
        await server.wait_closed()
    assert [e.ticket_number for e in sent] == [number]
    [(recipients, mail)] = inbox.messages
    assert recipients == [desk.lead_email]
    assert mail["Subject"] == f"[#{number}] SLA verletzt (Erstreaktion): Export schlägt fehl"
    assert mail["Auto-Submitted"] == "auto-generated"
    body = mail.get_content()
    assert "Alex Agent" in body and "2026-11-28 08:58 UTC" in body


async def test_smtp_down_leaves_the_ticket_for_the_next_pass(db: Database) -> None:
    desk = _desk(db)
    number = _ticket(db, desk, first_due=-timedelta(minutes=2))
    server, port = await _smtp(Inbox())
    server.close()
    await server.wait_closed()  # nothing listens on this port any more
    notifier = SmtpNotifier(SmtpSettings(host="127.0.0.1", port=port, start_tls=False, timeout=5),
                            from_addr="crm@example-crm.com")  # fmt: skip
    assert await SlaEscalator(db, notifier).run_once(NOW) == []
    assert _get(db, number).escalated_at is None


# --- the scheduled job ---------------------------------------------------------------------------------


def _running_clock() -> Callable[[], datetime]:
    started = time.monotonic()
    return lambda: NOW + timedelta(seconds=time.monotonic() - started)


async def test_the_job_sleeps_until_the_next_target_and_wakes_for_new_tickets(db: Database) -> None:
    desk = _desk(db)
    due_soon = _ticket(db, desk, first_due=timedelta(seconds=1))
    escalated: asyncio.Queue[int] = asyncio.Queue()

    class Recorder:
        async def notify(self, escalation: object) -> None:
            escalated.put_nowait(escalation.ticket_number)  # type: ignore[attr-defined]

    job = SlaEscalator(db, Recorder(), clock=_running_clock(), max_wait=3600)
    job.start()
    try:
        # the only timer is the computed one: one second (plus slack), not the hour-long cap
        assert await asyncio.wait_for(escalated.get(), timeout=15) == due_soon
        late = _ticket(db, desk, first_due=-timedelta(minutes=1))  # e.g. opened by another path
        job.wake()
        assert await asyncio.wait_for(escalated.get(), timeout=15) == late
    finally:
        await job.stop()
    assert escalated.empty()
