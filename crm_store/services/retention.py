"""Retention rules: personal data is kept only as long as its purpose needs it (Art. 5(1)(e)).

Each rule names one data class, its age limit and what happens after it (delete or redact). The limits
live in ``RetentionPolicy`` (defaults) and may be overridden by a YAML file named in ``CRM_RETENTION_CONFIG``
(``load_policy``). ``apply(now, dry_run=True)`` counts what would change and changes nothing.

A **legal hold** (a contact, or every contact of an organisation) stops both retention and erasure until it
is released: the rules skip the held people's rows and count them as ``held`` in the report, and
``GdprService.erase`` refuses with the hold's reason. ``RetentionSchedule`` runs the rules once a day in the
server (``CRM_RETENTION_SCHEDULE``: ``daily``/``off``).

    report = RetentionService(session, actor).apply(now, dry_run=True)
    for rule in report.rules: print(rule.name, rule.count, rule.held)
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, time, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any

import yaml
from sqlalchemy import ColumnElement, Select, and_, delete, exists, false, func, or_, select, update

from crm_store.models import (
    Activity,
    AuditEntry,
    ConsentRecord,
    Contact,
    ContactRelationship,
    Deal,
    GdprRequest,
    LegalHold,
    Organization,
    ProcessedEvent,
    Ticket,
    TicketMessage,
    utcnow,
)
from crm_store.services import audit
from crm_store.services.actor import Actor
from crm_store.services.base import Service
from crm_store.services.errors import ValidationFailed
from crm_store.tasks import cancel_and_wait

if TYPE_CHECKING:
    from crm_store.db import Database

log = logging.getLogger(__name__)
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

    @classmethod
    def from_yaml(cls, path: Path) -> RetentionPolicy:
        """``{rule: days}`` at the top level or under ``retention:``; unknown rules are an error."""
        data = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
        if isinstance(data, dict) and isinstance(data.get("retention"), dict):
            data = data["retention"]
        if not isinstance(data, dict):
            raise ValueError(f"{path}: expected a mapping of rule names to days")
        return cls.from_mapping(data)


def load_policy(path: Path | str | None) -> RetentionPolicy:
    """The policy of ``CRM_RETENTION_CONFIG`` (a YAML file), or the defaults when none is given."""
    return RetentionPolicy.from_yaml(Path(path)) if path else RetentionPolicy()


# --- legal holds ---------------------------------------------------------------------------------------
def _active() -> ColumnElement[bool]:
    return LegalHold.released_at.is_(None)


def held_contacts() -> Select[Any]:
    """Ids of contacts under an active hold, directly or through their organisation."""
    direct = select(LegalHold.contact_id).where(_active(), LegalHold.contact_id.is_not(None))
    via_org = select(LegalHold.organization_id).where(_active(), LegalHold.organization_id.is_not(None))
    return select(Contact.id).where(or_(Contact.id.in_(direct), Contact.organization_id.in_(via_org)))


def active_hold(session: Any, contact: Contact) -> LegalHold | None:
    """The first active hold covering ``contact`` (for the erasure refusal), or None."""
    covers = LegalHold.contact_id == contact.id
    if contact.organization_id is not None:
        covers = or_(covers, LegalHold.organization_id == contact.organization_id)
    found: LegalHold | None = session.execute(
        select(LegalHold).where(_active(), covers).order_by(LegalHold.id).limit(1)
    ).scalar_one_or_none()
    return found


def _held(column: Any) -> ColumnElement[bool]:
    return and_(column.is_not(None), column.in_(held_contacts()))


@dataclass
class RuleResult:
    name: str
    description: str
    action: str  # "delete" / "redact"
    cutoff: datetime
    count: int = 0
    held: int = 0  # rows past the limit that a legal hold keeps

    def to_dict(self) -> dict[str, Any]:
        return {
            "rule": self.name,
            "description": self.description,
            "action": self.action,
            "cutoff": self.cutoff.isoformat(),
            "count": self.count,
            "held": self.held,
        }


@dataclass
class RetentionReport:
    now: datetime
    dry_run: bool
    rules: list[RuleResult] = field(default_factory=list)

    @property
    def total(self) -> int:
        return sum(r.count for r in self.rules)

    @property
    def held(self) -> int:
        return sum(r.held for r in self.rules)

    def to_dict(self) -> dict[str, Any]:
        return {
            "now": self.now.isoformat(),
            "dry_run": self.dry_run,
            "total": self.total,
            "held": self.held,
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
            self._held_count = 0
            result.count = rule(result.cutoff, dry_run)
            result.held = self._held_count
            report.rules.append(result)
        if not dry_run:
            self.audit("apply", None, {r.name: r.count for r in report.rules} | {"held": report.held})
        return report

    _held_count = 0

    # Each rule: count the matching rows; unless dry_run, delete or redact them. Returns the count. Rows
    # whose ``held`` condition is true (a legal hold covers their person) are counted apart and kept.
    def _run(
        self,
        model: Any,
        where: Any,
        dry_run: bool,
        *,
        redact: dict[str, Any] | None = None,
        held: ColumnElement[bool] | None = None,
    ) -> int:
        if held is not None:
            self._held_count += self._count(model, and_(where, held))
            where = and_(where, ~held)
        count = self._count(model, where)
        if count and not dry_run:
            stmt = update(model).where(where).values(**redact) if redact else delete(model).where(where)
            self.session.execute(stmt.execution_options(synchronize_session=False))
        return count

    def _count(self, model: Any, where: Any) -> int:
        return int(self.session.execute(select(func.count()).select_from(model).where(where)).scalar_one())

    # --- legal holds (admin) -------------------------------------------------------------------------
    def add_hold(self, *, reason: str, contact_id: int | None = None, organization_id: int | None = None
                 ) -> LegalHold:
        """Hold one contact or every contact of an organisation: retention and erasure skip them."""
        self.require_role("admin")
        if (contact_id is None) == (organization_id is None):
            raise ValidationFailed("a hold covers a contact or an organisation", "contact_id")
        if not reason.strip():
            raise ValidationFailed("a legal hold needs a reason", "reason")
        if contact_id is not None:
            self.get_or_404(Contact, contact_id, "contact")
        if organization_id is not None:
            self.get_or_404(Organization, organization_id, "organization")
        hold = LegalHold(
            contact_id=contact_id, organization_id=organization_id, reason=reason.strip()[:300],
            created_by_id=self.actor.id if self.actor.kind == "user" else None,
        )  # fmt: skip
        self.session.add(hold)
        self.session.flush()
        # the reason may name people or a case: the chain keeps ids only
        self.audit("create", hold.id, {"contact_id": contact_id, "organization_id": organization_id},
                   entity="legal_hold")  # fmt: skip
        return hold

    def release_hold(self, hold_id: int) -> LegalHold:
        self.require_role("admin")
        hold = self.get_or_404(LegalHold, hold_id, "legal hold")
        if hold.released_at is not None:
            raise ValidationFailed(f"legal hold {hold_id} was already released", "hold_id")
        hold.released_at = utcnow()
        self.audit("release", hold.id, {"released": True}, entity="legal_hold")
        return hold

    def holds(self, *, include_released: bool = False) -> list[LegalHold]:
        self.require_role("admin")
        stmt = select(LegalHold).order_by(LegalHold.id)
        if not include_released:
            stmt = stmt.where(_active())
        return list(self.session.execute(stmt).scalars())

    def _closed_ticket_messages(self, cutoff: datetime, dry_run: bool) -> int:
        old_closed = select(Ticket.id).where(
            Ticket.status == "closed", func.coalesce(Ticket.solved_at, Ticket.updated_at) < cutoff
        )
        held_tickets = select(Ticket.id).where(_held(Ticket.requester_contact_id))
        held = or_(
            TicketMessage.ticket_id.in_(held_tickets), _held(TicketMessage.author_contact_id)
        )
        return self._run(TicketMessage, TicketMessage.ticket_id.in_(old_closed), dry_run, held=held)

    def _activities_without_deal(self, cutoff: datetime, dry_run: bool) -> int:
        has_deal = exists().where(Deal.contact_id == Activity.contact_id)
        where = and_(
            Activity.occurred_at < cutoff,
            Activity.deal_id.is_(None),
            Activity.contact_id.is_not(None),
            ~has_deal,
        )
        return self._run(Activity, where, dry_run, held=_held(Activity.contact_id))

    def _audit_payloads(self, cutoff: datetime, dry_run: bool) -> int:
        """Old payloads go through the chain's own redaction (a chained ``redact`` entry names them), so
        ``audit verify`` still passes after a retention run. Entries about a held contact are kept."""
        held_ids = [str(i) for i in self.session.execute(held_contacts()).scalars()]
        held = (
            and_(AuditEntry.entity == "contact", AuditEntry.entity_id.in_(held_ids)) if held_ids else false()
        )
        where = and_(
            AuditEntry.at < cutoff,
            AuditEntry.redacted.is_(False),
            AuditEntry.salt.is_not(None),
            AuditEntry.action != audit.REDACT_ACTION,
        )
        self._held_count += self._count(AuditEntry, and_(where, held))
        if not dry_run:
            return audit.redact_where(
                self.session, and_(AuditEntry.at < cutoff, ~held), actor=self.actor, reason="retention"
            )
        return self._count(AuditEntry, and_(where, ~held))

    def _processed_events(self, cutoff: datetime, dry_run: bool) -> int:
        return self._run(ProcessedEvent, ProcessedEvent.processed_at < cutoff, dry_run)

    def _erased_leftovers(self, cutoff: datetime, dry_run: bool) -> int:
        erased: Select[Any] = select(Contact.id).where(Contact.erased_at < cutoff)
        consents = self._run(
            ConsentRecord, ConsentRecord.contact_id.in_(erased), dry_run, held=_held(ConsentRecord.contact_id)
        )
        relations = self._run(
            ContactRelationship,
            or_(
                ContactRelationship.contact_id.in_(erased), ContactRelationship.related_contact_id.in_(erased)
            ),
            dry_run,
            held=or_(_held(ContactRelationship.contact_id), _held(ContactRelationship.related_contact_id)),
        )
        return consents + relations

    def _finished_requests(self, cutoff: datetime, dry_run: bool) -> int:
        where = and_(GdprRequest.status.in_(("done", "rejected")), GdprRequest.completed_at < cutoff)
        return self._run(GdprRequest, where, dry_run, held=_held(GdprRequest.contact_id))


# --- the daily run in the server ---------------------------------------------------------------------------
SCHEDULES: tuple[str, ...] = ("daily", "off")
RUN_AT = time(3, 0)  # UTC; quiet hours, long after the day's last mail


def next_run(now: datetime, at: time = RUN_AT) -> datetime:
    """The next ``at`` (UTC) strictly after ``now``."""
    candidate = datetime.combine(now.date(), at, tzinfo=now.tzinfo)
    return candidate if candidate > now else candidate + DAY


class RetentionSchedule:
    """One background task: sleeps until the next run time, applies the rules in a worker thread (one
    transaction), logs the counts and sleeps again. ``start()`` on app start-up, ``stop()`` on shutdown.
    The first run is at the next ``RUN_AT``, never at start-up, so a test server never deletes anything."""

    def __init__(self, db: Database, policy: RetentionPolicy, *, clock: Callable[[], datetime] = utcnow,
                 at: time = RUN_AT) -> None:
        self.db = db
        self.policy = policy
        self.clock = clock
        self.at = at
        self._task: asyncio.Task[None] | None = None
        self.last_report: RetentionReport | None = None

    def start(self) -> None:
        if self._task is None:
            self._task = asyncio.create_task(self._run(), name="retention-schedule")

    async def stop(self) -> None:
        task, self._task = self._task, None
        await cancel_and_wait(task)

    async def _run(self) -> None:
        while True:
            now = self.clock()
            await asyncio.sleep(max(0.0, (next_run(now, self.at) - now).total_seconds()))
            try:
                self.last_report = await asyncio.to_thread(self.run_once)
            except Exception:  # a failed night must not end the schedule; tomorrow it runs again
                log.exception("scheduled retention run failed")

    def run_once(self) -> RetentionReport:
        """One real run, as the CLI's ``gdpr retention`` does it."""
        with self.db.session() as session:
            report = RetentionService(session, Actor.system("retention"), self.policy).apply(
                self.clock(), dry_run=False
            )
        log.info("retention: changed %s record(s), %s kept by legal holds", report.total, report.held)
        from crm_store.gdpr_requests import free_owed_pages  # after the commit: an autocommit step

        free_owed_pages(self.db)  # erasures whose free-page step could not run at the time
        return report
