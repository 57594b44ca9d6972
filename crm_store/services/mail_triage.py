"""Mail triage in the store: tickets flagged for a person when the classifier is unsure, and agents'
queue/priority corrections kept as labelled data for ``crm-assistant train --with-corrections``.

    record_triage_correction(session, actor, ticket, old_queue="billing", old_priority="low")
    MailTriageService(session, actor).training_examples()   # -> [CorrectionExample, ...]

Rules:

- A correction is recorded when staff (admin, manager, agent) change the queue or priority of a ticket
  that came in by e-mail; system changes (SLA escalation) are not corrections. The row holds labels
  only: the text is the ticket's own subject and description, read at training time, so erasing a
  person's tickets takes their text out of the training data too. Each correction is audited.
- The same change recorded twice in a row (the ticket service's hook and an explicit call) is one row.
- A ticket may change several times: training uses the latest correction per ticket.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from crm_store.models import PRIORITIES, QUEUES, Ticket, TriageCorrection
from crm_store.models.data_classes import REDACTED
from crm_store.services.actor import Actor
from crm_store.services.base import Service
from crm_store.services.errors import ValidationFailed

CORRECTION_ROLES = ("admin", "manager", "agent")
REVIEW_REASON_CHARS = 200  # Ticket.review_reason
MAIL_CHANNEL = "email"


@dataclass(frozen=True, slots=True)
class CorrectionExample:
    """One corrected mail ticket as training data: its text and the labels an agent gave it."""

    ticket_id: int
    subject: str
    body: str
    queue: str
    priority: str
    language: str


class MailTriageService(Service):
    entity = "triage_correction"
    owner_attr = None

    def record_correction(
        self, ticket: Ticket, *, old_queue: str, old_priority: str
    ) -> TriageCorrection | None:
        """Store the change from ``old_queue``/``old_priority`` to the ticket's current values.

        ``None`` (nothing stored) when nothing changed, the ticket did not come by e-mail, the actor is
        not staff, or the same change is already the ticket's latest correction.
        """
        if self.actor.kind != "user" or ticket.channel != MAIL_CHANNEL:
            return None
        self.require_role(*CORRECTION_ROLES)
        if (old_queue, old_priority) == (ticket.queue, ticket.priority):
            return None
        for value, allowed, name in (
            (ticket.queue, QUEUES, "queue"),
            (ticket.priority, PRIORITIES, "priority"),
        ):
            if value not in allowed:
                raise ValidationFailed(f"unknown {name} {value!r}", name)
        latest = self.session.execute(
            select(TriageCorrection)
            .where(TriageCorrection.ticket_id == ticket.id)
            .order_by(TriageCorrection.id.desc())
            .limit(1)
        ).scalar_one_or_none()
        if latest is not None and (latest.new_queue, latest.new_priority) == (ticket.queue, ticket.priority):
            return None
        correction = TriageCorrection(
            ticket_id=ticket.id,
            old_queue=old_queue,
            new_queue=ticket.queue,
            old_priority=old_priority,
            new_priority=ticket.priority,
            language=ticket.language,
            corrected_by_id=self.actor.id,
        )
        self.session.add(correction)
        self.session.flush()
        self.audit(
            "create",
            correction.id,
            {
                "ticket": ticket.number,
                "queue": [old_queue, ticket.queue],
                "priority": [old_priority, ticket.priority],
            },
        )
        return correction

    def training_examples(self) -> list[CorrectionExample]:
        """The latest correction of each mail ticket whose text is still there (not erased); audited."""
        if self.actor.kind == "user":
            self.require_role("admin", "manager")
        rows = self.session.execute(
            select(TriageCorrection, Ticket)
            .join(Ticket, Ticket.id == TriageCorrection.ticket_id)
            .order_by(TriageCorrection.id)
        ).all()
        latest: dict[int, tuple[TriageCorrection, Ticket]] = {}
        for correction, ticket in rows:
            latest[ticket.id] = (correction, ticket)
        examples = [
            CorrectionExample(
                ticket_id=ticket.id,
                subject=ticket.subject,
                body=ticket.description,
                queue=correction.new_queue,
                priority=correction.new_priority,
                language=ticket.language or "",
            )
            for correction, ticket in latest.values()
            if ticket.description.strip() and ticket.subject != REDACTED
        ]
        self.audit("training_read", None, {"rows": len(examples)})
        return examples

    def flag_for_review(self, ticket: Ticket, reason: str, details: dict[str, Any] | None = None) -> None:
        """Put a ticket in the triage queue for a person (``needs_human``) with the reason; audited.

        A reason already on the ticket (a threading decision) is kept; this one is in the audit entry.
        """
        ticket.needs_human = True
        if not ticket.review_reason:
            ticket.review_reason = reason[:REVIEW_REASON_CHARS]
        self.audit("review", ticket.id, {"needs_human": True, "reason": reason, **(details or {})}, "ticket")


def record_triage_correction(
    session: Session, actor: Actor, ticket: Ticket, *, old_queue: str, old_priority: str
) -> TriageCorrection | None:
    """Record an agent's change of a mail ticket's queue/priority as labelled data (see the module).

    Call it after changing ``ticket`` with the values it had before; ``TicketService.update`` already
    does, so callers that change tickets through it need not.
    """
    return MailTriageService(session, actor).record_correction(
        ticket, old_queue=old_queue, old_priority=old_priority
    )


__all__ = ["CorrectionExample", "MailTriageService", "record_triage_correction"]
