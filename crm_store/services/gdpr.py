"""Data-subject rights: access/portability (Art. 15/20), erasure (Art. 17) and consent (Art. 7/21).

Erasure anonymises the person and keeps the business aggregates: a deal keeps its amount, stage and
organisation, a ticket its number, queue and status. The audit entries about the person lose their
payloads (the hash chain stays verifiable) and the erasure itself is logged with ids only.

    gdpr = GdprService(session, actor)
    request = gdpr.request_erasure(contact.id, via="chat")
    gdpr.confirm_erasure(request.id)          # admin only; erases the contact
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import delete, or_, select

from crm_store import serialize
from crm_store.models import (
    Activity,
    AuditEntry,
    ConsentRecord,
    Contact,
    ContactRelationship,
    Deal,
    GdprRequest,
    NameToken,
    Task,
    Ticket,
    TicketMessage,
    utcnow,
)
from crm_store.services import audit
from crm_store.services.base import STAFF, Service
from crm_store.services.errors import NotFound, ValidationFailed

ERASED_NAME = "Erased"
REDACTED = "[redacted: personal data erased]"
MARKETING_PURPOSES: tuple[str, ...] = ("marketing", "newsletter")
REQUEST_KINDS: tuple[str, ...] = ("access", "erasure", "objection")


def _iso(value: Any) -> Any:
    return value.isoformat() if value is not None else None


class GdprService(Service):
    entity = "contact"

    # --- access --------------------------------------------------------------------------------------
    def _check_self_or_staff(self, contact_id: int) -> None:
        if self.actor.kind == "customer":
            if self.actor.id != contact_id:
                raise NotFound(f"contact {contact_id} does not exist")
            return
        self.require_role(*STAFF)

    def _contact(self, contact_id: int) -> Contact:
        contact = self.session.get(Contact, contact_id)
        if contact is None:
            raise NotFound(f"contact {contact_id} does not exist")
        return contact

    def export(self, contact_id: int) -> dict[str, Any]:
        """Everything stored about one person, as one JSON-ready document (Art. 15/20)."""
        self._check_self_or_staff(contact_id)
        contact = self._contact(contact_id)
        s = self.session
        activities = (
            s.execute(
                select(Activity)
                .where(Activity.contact_id == contact_id)
                .order_by(Activity.occurred_at, Activity.id)
            )
            .scalars()
            .all()
        )
        tasks = s.execute(select(Task).where(Task.contact_id == contact_id).order_by(Task.id)).scalars().all()
        deals = s.execute(select(Deal).where(Deal.contact_id == contact_id).order_by(Deal.id)).scalars().all()
        tickets = (
            s.execute(select(Ticket).where(Ticket.requester_contact_id == contact_id).order_by(Ticket.id))
            .scalars()
            .all()
        )
        relationships = (
            s.execute(
                select(ContactRelationship)
                .where(ContactRelationship.contact_id == contact_id)
                .order_by(ContactRelationship.id)
            )
            .scalars()
            .all()
        )
        requests = (
            s.execute(
                select(GdprRequest).where(GdprRequest.contact_id == contact_id).order_by(GdprRequest.id)
            )
            .scalars()
            .all()
        )
        audit_entries = (
            s.execute(
                select(AuditEntry)
                .where(AuditEntry.entity == "contact", AuditEntry.entity_id == str(contact_id))
                .order_by(AuditEntry.id)
            )
            .scalars()
            .all()
        )
        person = serialize.contact(contact)
        person["erased_at"] = _iso(contact.erased_at)
        document = {
            "generated_at": utcnow().isoformat(),
            "contact": person,
            "emails": [
                {"address": e.address, "label": e.label, "primary": e.is_primary} for e in contact.emails
            ],
            "phones": [
                {"number": p.number, "label": p.label, "primary": p.is_primary} for p in contact.phones
            ],
            "organization": contact.organization.name if contact.organization else None,
            "relationships": [
                {
                    "kind": r.kind,
                    "organization_id": r.organization_id,
                    "related_contact_id": r.related_contact_id,
                    "note": r.note,
                }
                for r in relationships
            ],
            "activities": [serialize.activity(a) for a in activities],
            "tasks": [serialize.task(t) for t in tasks],
            "deals": [serialize.deal(d) for d in deals],
            "tickets": [
                {**serialize.ticket(t), "messages": [_message(m) for m in t.messages]} for t in tickets
            ],
            "consent": self.consent_state(contact_id),
            "consent_history": self.consent_history(contact_id),
            "gdpr_requests": [_request(r) for r in requests],
            "audit": [
                {
                    "id": e.id,
                    "at": e.at.isoformat(),
                    "actor": e.actor,
                    "action": e.action,
                    "payload": e.payload,
                    "redacted": e.redacted,
                }
                for e in audit_entries
            ],
        }
        self.audit("export", contact_id, {"sections": sorted(document)})
        return document

    # --- erasure -------------------------------------------------------------------------------------
    def request(self, contact_id: int, kind: str, via: str = "chat", note: str | None = None) -> GdprRequest:
        self._check_self_or_staff(contact_id)
        if kind not in REQUEST_KINDS:
            raise ValidationFailed(f"unknown request kind; one of {', '.join(REQUEST_KINDS)}", "kind")
        contact = self._contact(contact_id)
        if contact.erased_at is not None:
            raise ValidationFailed("this contact was already erased", "contact_id")
        req = GdprRequest(
            kind=kind, contact_id=contact_id, status="pending", requested_via=via[:20], note=note
        )
        self.session.add(req)
        self.session.flush()
        self.audit(
            "create",
            req.id,
            {"kind": kind, "contact_id": contact_id, "via": req.requested_via},
            entity="gdpr_request",
        )
        return req

    def request_erasure(self, contact_id: int, via: str = "chat") -> GdprRequest:
        """Record an Art. 17 request; an admin confirms it before anything is erased."""
        return self.request(contact_id, "erasure", via)

    def pending_requests(self) -> list[GdprRequest]:
        self.require_role("admin", "manager")
        return list(
            self.session.execute(
                select(GdprRequest).where(GdprRequest.status == "pending").order_by(GdprRequest.id)
            ).scalars()
        )

    def confirm_erasure(self, request_id: int) -> GdprRequest:
        self.require_role("admin")
        req = self.get_or_404(GdprRequest, request_id, "GDPR request")
        if req.kind != "erasure" or req.status not in ("pending", "confirmed"):
            raise ValidationFailed(f"request {request_id} is not a pending erasure request", "status")
        if req.contact_id is None:
            raise ValidationFailed("the request has no contact", "contact_id")
        req.status = "confirmed"
        req.decided_by_id = self.actor.id if self.actor.kind == "user" else None
        self.erase(req.contact_id, request_id=req.id)
        req.status = "done"
        req.completed_at = utcnow()
        self.audit("update", req.id, {"status": "done"}, entity="gdpr_request")
        return req

    def reject_request(self, request_id: int, note: str) -> GdprRequest:
        self.require_role("admin")
        req = self.get_or_404(GdprRequest, request_id, "GDPR request")
        req.status = "rejected"
        req.note = note
        req.completed_at = utcnow()
        self.audit("update", req.id, {"status": "rejected"}, entity="gdpr_request")
        return req

    def erase(self, contact_id: int, *, request_id: int | None = None) -> dict[str, int]:
        """Anonymise one person; returns what was touched (counts only, no personal data)."""
        self.require_role("admin")
        contact = self._contact(contact_id)
        if contact.erased_at is not None:
            raise ValidationFailed("this contact was already erased", "contact_id")
        s = self.session
        counts = {
            "emails": len(contact.emails),
            "phones": len(contact.phones),
            "activities": _redact_column(s, Activity, Activity.summary, Activity.contact_id == contact_id),
            "tasks": _redact_column(s, Task, Task.title, Task.contact_id == contact_id),
        }
        contact.first_name = ERASED_NAME
        contact.last_name = ERASED_NAME
        contact.salutation = None
        contact.job_title = None
        contact.tags = []
        contact.custom_fields = {}
        contact.is_customer_login = False
        contact.erased_at = utcnow()
        contact.emails.clear()
        contact.phones.clear()
        s.execute(delete(NameToken).where(NameToken.kind == "c", NameToken.ref_id == contact_id))
        rel_notes = (
            s.execute(select(ContactRelationship).where(ContactRelationship.contact_id == contact_id))
            .scalars()
            .all()
        )
        for rel in rel_notes:
            rel.note = None
        ticket_ids = list(
            s.execute(select(Ticket.id).where(Ticket.requester_contact_id == contact_id)).scalars()
        )
        for ticket in s.execute(select(Ticket).where(Ticket.id.in_(ticket_ids))).scalars():
            ticket.subject = REDACTED
            ticket.description = ""
        counts["tickets"] = len(ticket_ids)
        counts["ticket_messages"] = _redact_column(
            s,
            TicketMessage,
            TicketMessage.body,
            or_(TicketMessage.ticket_id.in_(ticket_ids), TicketMessage.author_contact_id == contact_id),
        )
        counts["audit_payloads"] = self._redact_audit(contact_id, ticket_ids)
        payload: dict[str, Any] = {"contact_id": contact_id, "counts": counts}
        if request_id is not None:
            payload["request_id"] = request_id
        self.audit("erase", contact_id, payload)
        return counts

    def _redact_audit(self, contact_id: int, ticket_ids: list[int]) -> int:
        s = self.session
        n = audit.redact_payloads(s, "contact", contact_id, actor=self.actor)
        related = {
            "activity": select(Activity.id).where(Activity.contact_id == contact_id),
            "task": select(Task.id).where(Task.contact_id == contact_id),
            "relationship": select(ContactRelationship.id).where(
                ContactRelationship.contact_id == contact_id
            ),
        }
        for entity, ids in related.items():
            for rid in s.execute(ids).scalars():
                n += audit.redact_payloads(s, entity, rid, actor=self.actor)
        for tid in ticket_ids:
            n += audit.redact_payloads(s, "ticket", tid, actor=self.actor)
        return n

    # --- consent -------------------------------------------------------------------------------------
    def record_consent(
        self,
        contact_id: int,
        purpose: str,
        granted: bool,
        source: str,
        *,
        channel: str = "email",
        legal_basis: str = "consent",
    ) -> ConsentRecord:
        self._check_self_or_staff(contact_id)
        if not purpose.strip():
            raise ValidationFailed("a consent needs a purpose", "purpose")
        contact = self._contact(contact_id)
        if contact.erased_at is not None and granted:
            raise ValidationFailed("this contact was erased", "contact_id")
        rec = ConsentRecord(
            contact_id=contact_id,
            purpose=purpose.strip()[:40],
            granted=granted,
            source=source[:60],
            channel=channel[:20],
            legal_basis=legal_basis[:40],
            recorded_at=utcnow(),
        )
        self.session.add(rec)
        self.session.flush()
        self.audit(
            "grant_consent" if granted else "withdraw_consent",
            rec.id,
            {"contact_id": contact_id, "purpose": rec.purpose, "channel": rec.channel, "source": rec.source},
            entity="consent",
        )
        return rec

    def withdraw_marketing(self, contact_id: int, source: str) -> list[ConsentRecord]:
        """Unsubscribe (Art. 21): every marketing purpose becomes withdrawn; the history is kept."""
        state = self.consent_state(contact_id)
        purposes = list(dict.fromkeys([*MARKETING_PURPOSES, *(p for p in state if p in MARKETING_PURPOSES)]))
        return [
            self.record_consent(contact_id, p, False, source)
            for p in purposes
            if state.get(p, {}).get("granted", True)
        ]

    def consent_history(self, contact_id: int) -> list[dict[str, Any]]:
        self._check_self_or_staff(contact_id)
        rows = self.session.execute(
            select(ConsentRecord)
            .where(ConsentRecord.contact_id == contact_id)
            .order_by(ConsentRecord.recorded_at, ConsentRecord.id)
        ).scalars()
        return [serialize.consent(r) for r in rows]

    def consent_state(self, contact_id: int) -> dict[str, dict[str, Any]]:
        """The latest record per purpose: {"marketing": {"granted": False, ...}, ...}."""
        state: dict[str, dict[str, Any]] = {}
        for rec in self.consent_history(contact_id):
            state[rec["purpose"]] = {k: v for k, v in rec.items() if k not in ("id", "purpose")}
        return state

    def has_consent(self, contact_id: int, purpose: str) -> bool:
        return bool(self.consent_state(contact_id).get(purpose, {}).get("granted", False))


def _redact_column(session: Any, model: Any, column: Any, where: Any) -> int:
    rows = session.execute(select(model).where(where)).scalars().all()
    for row in rows:
        setattr(row, column.key, REDACTED)
    return len(rows)


def _message(m: TicketMessage) -> dict[str, Any]:
    return {k: v for k, v in serialize.ticket_message(m).items() if k != "ticket_id"}


def _request(r: GdprRequest) -> dict[str, Any]:
    return {
        "id": r.id,
        "kind": r.kind,
        "status": r.status,
        "requested_at": _iso(r.requested_at),
        "requested_via": r.requested_via,
        "completed_at": _iso(r.completed_at),
    }
