"""Retention rules: personal data is kept only as long as its purpose needs it (Art. 5(1)(e)).

Each rule names one data class, its age limit and what happens after it (delete or redact).
``apply(now, dry_run=True)`` counts what would change and changes nothing.

    report = RetentionService(session, actor).apply(now, dry_run=True)
    for rule in report.rules: print(rule.name, rule.count)
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import Select, and_, delete, exists, func, or_, select, update

from crm_store.models import (
    Activity,
    AuditEntry,
    ConsentRecord,
    Contact,
    ContactRelationship,
    Deal,
    GdprRequest,
    ProcessedEvent,
    Ticket,
    TicketMessage,
)
from crm_store.services import audit
from crm_store.services.base import Service

DAY = timedelta(days=1)


@dataclass(frozen=True)
class RetentionPolicy:
    """Age limits in days per data class (defaults follow common German/EU practice)."""

    closed_ticket_messages: int = 2 * 365
    activities_without_deal: int = 3 * 365
    audit_payloads: int = 6 * 365  # HGB/AO: business letters 6 years; the chain itself is kept
    processed_events: int = 90
    erased_contact_leftovers: int = 30
    finished_gdpr_requests: int = 3 * 365  # proof that a request was handled

    @classmethod
    def from_mapping(cls, values: dict[str, Any]) -> RetentionPolicy:
        known = set(cls.__dataclass_fields__)
        unknown = set(values) - known
        if unknown:
            raise ValueError(f"unknown retention rule(s): {', '.join(sorted(unknown))}")
        return cls(**{k: int(v) for k, v in values.items()})


@dataclass
class RuleResult:
    name: str
    description: str
    action: str  # "delete" / "redact"
    cutoff: datetime
    count: int = 0

    def to_dict(self) -> dict[str, Any]:
        return {
            "rule": self.name,
            "description": self.description,
            "action": self.action,
            "cutoff": self.cutoff.isoformat(),
            "count": self.count,
        }


@dataclass
class RetentionReport:
    now: datetime
    dry_run: bool
    rules: list[RuleResult] = field(default_factory=list)

    @property
    def total(self) -> int:
        return sum(r.count for r in self.rules)

    def to_dict(self) -> dict[str, Any]:
        return {
            "now": self.now.isoformat(),
            "dry_run": self.dry_run,
            "total": self.total,
            "rules": [r.to_dict() for r in self.rules],
        }


class RetentionService(Service):
    entity = "retention"

    def __init__(self, session: Any, actor: Any, policy: RetentionPolicy | None = None) -> None:
        super().__init__(session, actor)
        self.policy = policy or RetentionPolicy()

    def apply(self, now: datetime, *, dry_run: bool = True) -> RetentionReport:
        self.require_role("admin")
        p = self.policy
        report = RetentionReport(now=now, dry_run=dry_run)
        rules = (
            (
                "closed_ticket_messages",
                "messages of tickets closed longer ago",
                "delete",
                p.closed_ticket_messages,
                self._closed_ticket_messages,
            ),
            (
                "activities_without_deal",
                "activities of contacts who never had a deal",
                "delete",
                p.activities_without_deal,
                self._activities_without_deal,
            ),
            (
                "audit_payloads",
                "audit payloads (the hash chain stays verifiable)",
                "redact",
                p.audit_payloads,
                self._audit_payloads,
            ),
            (
                "processed_events",
                "idempotency keys of processed events",
                "delete",
                p.processed_events,
                self._processed_events,
            ),
            (
                "erased_contact_leftovers",
                "consent records and relationships of erased contacts",
                "delete",
                p.erased_contact_leftovers,
                self._erased_leftovers,
            ),
            (
                "finished_gdpr_requests",
                "GDPR requests completed or rejected",
                "delete",
                p.finished_gdpr_requests,
                self._finished_requests,
            ),
        )
        for name, description, action, days, rule in rules:
            result = RuleResult(name, description, action, now - days * DAY)
            result.count = rule(result.cutoff, dry_run)
            report.rules.append(result)
        if not dry_run:
            self.audit("apply", None, {r.name: r.count for r in report.rules})
        return report

    # Each rule: count the matching rows; unless dry_run, delete or redact them. Returns the count.
    def _run(self, model: Any, where: Any, dry_run: bool, *, redact: dict[str, Any] | None = None) -> int:
        count = int(self.session.execute(select(func.count()).select_from(model).where(where)).scalar_one())
        if count and not dry_run:
            stmt = update(model).where(where).values(**redact) if redact else delete(model).where(where)
            self.session.execute(stmt.execution_options(synchronize_session=False))
        return count

    def _closed_ticket_messages(self, cutoff: datetime, dry_run: bool) -> int:
        old_closed = select(Ticket.id).where(
            Ticket.status == "closed", func.coalesce(Ticket.solved_at, Ticket.updated_at) < cutoff
        )
        return self._run(TicketMessage, TicketMessage.ticket_id.in_(old_closed), dry_run)

    def _activities_without_deal(self, cutoff: datetime, dry_run: bool) -> int:
        has_deal = exists().where(Deal.contact_id == Activity.contact_id)
        where = and_(
            Activity.occurred_at < cutoff,
            Activity.deal_id.is_(None),
            Activity.contact_id.is_not(None),
            ~has_deal,
        )
        return self._run(Activity, where, dry_run)

    def _audit_payloads(self, cutoff: datetime, dry_run: bool) -> int:
        """Old payloads go through the chain's own redaction (a chained ``redact`` entry names them), so
        ``audit verify`` still passes after a retention run."""
        if not dry_run:
            return audit.redact_where(self.session, AuditEntry.at < cutoff, actor=self.actor, reason="retention")
        where = and_(
            AuditEntry.at < cutoff,
            AuditEntry.redacted.is_(False),
            AuditEntry.salt.is_not(None),
            AuditEntry.action != audit.REDACT_ACTION,
        )
        return self._run(AuditEntry, where, dry_run)

    def _processed_events(self, cutoff: datetime, dry_run: bool) -> int:
        return self._run(ProcessedEvent, ProcessedEvent.processed_at < cutoff, dry_run)

    def _erased_leftovers(self, cutoff: datetime, dry_run: bool) -> int:
        erased: Select[Any] = select(Contact.id).where(Contact.erased_at < cutoff)
        consents = self._run(ConsentRecord, ConsentRecord.contact_id.in_(erased), dry_run)
        relations = self._run(
            ContactRelationship,
            or_(
                ContactRelationship.contact_id.in_(erased), ContactRelationship.related_contact_id.in_(erased)
            ),
            dry_run,
        )
        return consents + relations

    def _finished_requests(self, cutoff: datetime, dry_run: bool) -> int:
        where = and_(GdprRequest.status.in_(("done", "rejected")), GdprRequest.completed_at < cutoff)
        return self._run(GdprRequest, where, dry_run)
