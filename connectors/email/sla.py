"""SLA escalation: a ticket past its first-response or resolution target goes to its team lead, once.

    escalator = SlaEscalator(db, SmtpNotifier(SmtpSettings(host=...), from_addr="support@example.com"))
    escalator.start()                  # a held task; ``await escalator.stop()`` on shutdown
    escalator.wake()                   # a ticket was opened or changed: recompute the next due time now
    await escalator.run_once(now)      # one pass at a fixed time (tests, the command line)

The job waits exactly until the earliest target still ahead, read from the store (no fixed-interval
polling), capped at ``max_wait`` so that tickets created or re-prioritised by another process are
noticed; ``wake()`` (the triage calls it when it opens a ticket) makes it recompute at once.

A pass claims the overdue tickets (``TicketService.overdue``) in one transaction before any mail goes
out: ``escalated_at`` is set with a guarded ``UPDATE ... WHERE escalated_at IS NULL`` and an
``escalate`` audit entry is written, so a second worker or a restart never notifies twice. A
notification that fails gives its claim back (audited as ``escalation_failed``) and is retried after
``retry_delay``; a crash between the commit and the send loses that one mail (logged), never repeats it.
The lead is the ticket team's ``lead_user_id``; without one (or an inactive one) ``fallback_to``.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from email.message import EmailMessage
from email.utils import format_datetime, formataddr, make_msgid
from typing import Literal, Protocol

import aiosmtplib
from sqlalchemy import func, select, update
from sqlalchemy.orm import Session

from connectors.email.ack import SmtpSettings
from crm_store.db import Database
from crm_store.models import Team, Ticket, User, utcnow
from crm_store.services import Actor, CrmServices
from crm_store.services.audit import record as audit_record
from crm_store.tasks import cancel_and_wait

log = logging.getLogger(__name__)

Reason = Literal["first_response", "resolution"]
OPEN_STATUSES: tuple[str, ...] = ("new", "open", "pending")
MAX_WAIT_SECONDS = 900.0  # re-read the store at least this often (tickets changed by other processes)
RETRY_SECONDS = 300.0  # after a failed notification
DUE_SLACK_SECONDS = 0.5  # ``overdue`` compares strictly: wake just after the target, not on it

# User-facing wording, English and German side by side.
SUBJECTS: dict[str, str] = {
    "en": "[#{number}] SLA breached ({reason}): {subject}",
    "de": "[#{number}] SLA verletzt ({reason}): {subject}",
}
REASONS: dict[str, dict[str, str]] = {
    "en": {"first_response": "first response", "resolution": "resolution"},
    "de": {"first_response": "Erstreaktion", "resolution": "Lösung"},
}
BODIES: dict[str, str] = {
    "en": (
        'Hello {lead},\n\nticket #{number} "{subject}" ({priority}, queue {queue}, team {team}) has '
        "missed its {reason} target, which was due at {due} UTC.\nAssignee: {assignee}.\n\n"
        "Please take care of it or reassign it.\n\n-- CRM assistant\n"
    ),
    "de": (
        'Hallo {lead},\n\ndas Ticket #{number} "{subject}" ({priority}, Queue {queue}, Team {team}) hat '
        "sein Ziel für die {reason} verfehlt (fällig am {due} UTC).\nBearbeitung: {assignee}.\n\n"
        "Bitte kümmern Sie sich darum oder weisen Sie es neu zu.\n\n-- CRM-Assistent\n"
    ),
}
NOBODY: dict[str, str] = {"en": "nobody", "de": "niemand"}


@dataclass(frozen=True, slots=True)
class Escalation:
    ticket_id: int
    ticket_number: int
    subject: str
    priority: str
    queue: str
    reason: Reason
    due_at: datetime
    escalated_at: datetime
    team: str | None = None
    assignee: str | None = None
    to_addr: str | None = None  # None: nobody to tell (no lead, no fallback); escalated all the same
    to_name: str = ""
    language: str = "en"


class Notifier(Protocol):
    async def notify(self, escalation: Escalation) -> None: ...


class MemoryNotifier:
    """The in-memory twin: remembers what it was asked to send; ``fail`` makes it raise."""

    def __init__(self, *, fail: bool = False) -> None:
        self.sent: list[Escalation] = []
        self.fail = fail

    async def notify(self, escalation: Escalation) -> None:
        if self.fail:
            raise ConnectionError("notifier configured to fail")
        self.sent.append(escalation)


class SmtpNotifier:
    """One e-mail per escalation, to the lead, in the lead's language (aiosmtplib)."""

    def __init__(self, smtp: SmtpSettings, *, from_addr: str, from_name: str = "CRM assistant") -> None:
        self.smtp = smtp
        self.from_addr = from_addr
        self.from_name = from_name

    def build(self, escalation: Escalation) -> EmailMessage:
        return build_escalation_mail(escalation, from_addr=self.from_addr, from_name=self.from_name)

    async def notify(self, escalation: Escalation) -> None:
        if escalation.to_addr is None:
            return
        smtp = self.smtp
        await aiosmtplib.send(
            self.build(escalation),
            hostname=smtp.host,
            port=smtp.port,
            username=smtp.username,
            password=smtp.password,
            start_tls=smtp.start_tls,
            use_tls=smtp.use_tls,
            timeout=smtp.timeout,
        )


def build_escalation_mail(escalation: Escalation, *, from_addr: str, from_name: str) -> EmailMessage:
    e = escalation
    lang = e.language if e.language in SUBJECTS else "en"
    subject = " ".join(e.subject.split())[:150] or "-"
    reason = REASONS[lang][e.reason]
    message = EmailMessage()
    message["From"] = formataddr((from_name, from_addr))
    message["To"] = formataddr((e.to_name, e.to_addr or ""))
    message["Subject"] = SUBJECTS[lang].format(number=e.ticket_number, reason=reason, subject=subject)
    message["Date"] = format_datetime(e.escalated_at)
    message["Message-ID"] = make_msgid(f"sla-{e.ticket_number}", domain=from_addr.rsplit("@", 1)[-1])
    message["Auto-Submitted"] = "auto-generated"
    message["X-CRM-Ticket"] = str(e.ticket_number)
    message.set_content(
        BODIES[lang].format(
            lead=e.to_name or e.to_addr,
            number=e.ticket_number,
            subject=subject,
            priority=e.priority,
            queue=e.queue,
            team=e.team or "-",
            reason=reason,
            due=e.due_at.strftime("%Y-%m-%d %H:%M"),
            assignee=e.assignee or NOBODY[lang],
        )
    )
    return message


class SlaEscalator:
    def __init__(
        self,
        db: Database,
        notifier: Notifier,
        *,
        fallback_to: str | None = None,
        clock: Callable[[], datetime] = utcnow,
        max_wait: float = MAX_WAIT_SECONDS,
        retry_delay: float = RETRY_SECONDS,
    ) -> None:
        self.db = db
        self.notifier = notifier
        self.fallback_to = fallback_to or None
        self.clock = clock
        self.max_wait = max_wait
        self.retry_delay = retry_delay
        self.actor = Actor.system("sla")
        self.failures = 0  # notifications that failed in the last pass
        self._task: asyncio.Task[None] | None = None
        self._wake = asyncio.Event()

    # --- one pass -------------------------------------------------------------------------------

    async def run_once(self, now: datetime | None = None) -> list[Escalation]:
        """Escalate what is overdue at ``now``; returns the escalations whose notification went out."""
        now = now or self.clock()
        claimed = await asyncio.to_thread(self.claim, now)
        done: list[Escalation] = []
        self.failures = 0
        for escalation in claimed:
            try:
                await self.notifier.notify(escalation)
            except Exception:
                log.exception(
                    "SLA notification for ticket #%s failed; retrying later", escalation.ticket_number
                )
                await asyncio.to_thread(self.release, escalation)
                self.failures += 1
                continue
            log.info("ticket #%s escalated (%s)", escalation.ticket_number, escalation.reason)
            done.append(escalation)
        return done

    def claim(self, now: datetime) -> list[Escalation]:
        """Mark every overdue ticket escalated and audit it, in one transaction; what to send."""
        out: list[Escalation] = []
        with self.db.session() as session:
            crm = CrmServices(session, self.actor)
            for ticket in crm.tickets.overdue(now):
                won = session.execute(
                    update(Ticket)
                    .where(Ticket.id == ticket.id, Ticket.escalated_at.is_(None))
                    .values(escalated_at=now)
                    .execution_options(synchronize_session=False)
                ).rowcount
                if won != 1:  # another worker claimed it first
                    continue
                escalation = self._escalation(session, ticket, now)
                audit_record(
                    session, self.actor, "escalate", "ticket", ticket.id,
                    {"number": ticket.number, "reason": escalation.reason,
                     "due_at": escalation.due_at.isoformat(), "notify_user": escalation.to_addr is not None},
                )  # fmt: skip
                out.append(escalation)
        return out

    def release(self, escalation: Escalation) -> None:
        """Give a claim back after its notification failed, so a later pass tries again."""
        with self.db.session() as session:
            released = session.execute(
                update(Ticket)
                .where(Ticket.id == escalation.ticket_id, Ticket.escalated_at == escalation.escalated_at)
                .values(escalated_at=None)
                .execution_options(synchronize_session=False)
            ).rowcount
            if released:
                audit_record(
                    session, self.actor, "escalation_failed", "ticket", escalation.ticket_id,
                    {"number": escalation.ticket_number, "reason": escalation.reason},
                )  # fmt: skip

    def _escalation(self, session: Session, ticket: Ticket, now: datetime) -> Escalation:
        first_missed = (
            ticket.first_responded_at is None
            and ticket.first_response_due_at is not None
            and ticket.first_response_due_at < now
        )
        reason: Reason = "first_response" if first_missed else "resolution"
        due = ticket.first_response_due_at if first_missed else ticket.resolution_due_at
        team = session.get(Team, ticket.team_id) if ticket.team_id is not None else None
        lead = session.get(User, team.lead_user_id) if team is not None and team.lead_user_id else None
        assignee = session.get(User, ticket.assignee_id) if ticket.assignee_id is not None else None
        if lead is not None and lead.is_active:
            to_addr, to_name, language = lead.email, lead.name, lead.language
        else:
            to_addr, to_name, language = self.fallback_to, "", "en"
        return Escalation(
            ticket_id=ticket.id, ticket_number=ticket.number, subject=ticket.subject, priority=ticket.priority,
            queue=ticket.queue, reason=reason, due_at=due or now, escalated_at=now,
            team=team.name if team is not None else None,
            assignee=assignee.name if assignee is not None else None,
            to_addr=to_addr, to_name=to_name, language=language,
        )  # fmt: skip

    # --- when to look next ------------------------------------------------------------------------

    def next_due(self, now: datetime) -> datetime | None:
        """The earliest first-response or resolution target after ``now`` of an open, unescalated ticket."""
        waiting = (Ticket.status.in_(OPEN_STATUSES), Ticket.escalated_at.is_(None))
        with self.db.session() as session:
            first = session.execute(
                select(func.min(Ticket.first_response_due_at)).where(
                    *waiting, Ticket.first_responded_at.is_(None), Ticket.first_response_due_at >= now
                )
            ).scalar()
            resolution = session.execute(
                select(func.min(Ticket.resolution_due_at)).where(*waiting, Ticket.resolution_due_at >= now)
            ).scalar()
        candidates = [d for d in (first, resolution) if d is not None]
        return min(candidates) if candidates else None

    def seconds_until_next(self, now: datetime) -> float:
        due = self.next_due(now)
        if due is None:
            return self.max_wait
        return min(max((due - now).total_seconds() + DUE_SLACK_SECONDS, 0.0), self.max_wait)

    # --- the scheduled job ----------------------------------------------------------------------

    def wake(self) -> None:
        """Recompute now (a ticket was opened or its priority changed)."""
        self._wake.set()

    def start(self) -> None:
        if self._task is None:
            self._task = asyncio.create_task(self._run(), name="sla-escalation")

    async def stop(self) -> None:
        task, self._task = self._task, None
        await cancel_and_wait(task)

    async def _run(self) -> None:
        while True:
            self._wake.clear()  # a wake() during the pass below stays set: the loop goes round at once
            try:
                await self.run_once(self.clock())
                wait = await asyncio.to_thread(self.seconds_until_next, self.clock())
                if self.failures:
                    wait = min(wait, self.retry_delay)
            except Exception:
                log.exception("SLA escalation pass failed; retrying in %.0f s", self.retry_delay)
                wait = self.retry_delay
            with contextlib.suppress(TimeoutError):  # asyncio.timeout: 3.11's wait_for can lose a cancel
                async with asyncio.timeout(wait):
                    await self._wake.wait()


__all__ = [
    "Escalation",
    "MemoryNotifier",
    "Notifier",
    "SlaEscalator",
    "SmtpNotifier",
    "build_escalation_mail",
]
