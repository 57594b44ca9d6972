"""Data-subject rights: access/portability (Art. 15/20), erasure (Art. 17) and consent (Art. 7/21).

Export and erasure are driven by the column classification in ``crm_store/models/data_classes.py``: every
table that holds people has a *locator* here (``LOCATORS``) that finds one person's own rows, and tables
whose rows can merely mention the person (a Slack post, someone else's deal name, a staff chat about them)
are searched for the person's identifiers (addresses, names, the subjects of their mails, Message-IDs).
A unit test fails when a table with personal data has no locator, so a new table cannot be forgotten.

Erasure anonymises the person and keeps the business aggregates: a deal keeps its amount, stage and
organisation (HGB §257 / AO §147), a ticket its number, queue and status. Transcripts, outbox posts and
idempotency keys about them are deleted, audit payloads about them are redacted (the chain stays
verifiable) and the erasure itself is logged with ids and counts only. After the commit the caller frees the
pages that held the deleted data (``Database.reclaim_free_pages``: SQLite checkpoint + VACUUM, PostgreSQL
VACUUM of the touched tables).

    gdpr = GdprService(session, actor)
    request = gdpr.request_erasure(contact.id, via="chat")
    report = gdpr.confirm_erasure(request.id)          # admin only; erases the contact
"""

from __future__ import annotations

import calendar
import html
import json
import logging
import re
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import ColumnElement, Text, and_, cast, delete, false, func, or_, select, text
from sqlalchemy.orm import Session

from crm_store import serialize
from crm_store.models import (
    Activity,
    AuditEntry,
    Base,
    ConsentConfirmation,
    ConsentRecord,
    Contact,
    ContactEmail,
    ContactPhone,
    ContactRelationship,
    Conversation,
    ConversationEvent,
    ConversationGrant,
    Deal,
    GdprRequest,
    LegalHold,
    NameToken,
    OutboxMessage,
    ProcessedEvent,
    Task,
    Ticket,
    TicketMessage,
    utcnow,
)
from crm_store.models.data_classes import (
    ERASED_NAME,
    ERASED_TEXT,
    PURPOSES,
    REDACTED,
    TABLES,
    DataClass,
    Erasure,
    anonymised_values,
    columns_of,
    deletes_rows,
    kept,
    personal_columns,
)
from crm_store.services import audit
from crm_store.services.base import Service
from crm_store.services.errors import PermissionDenied, ValidationFailed

log = logging.getLogger(__name__)

__all__ = [
    "ERASED_NAME",
    "LOCATORS",
    "REDACTED",
    "GdprService",
    "due_date",
    "export_html",
    "record_of_processing",
    "request_row",
]

MARKETING_PURPOSES: tuple[str, ...] = ("marketing", "newsletter")
REQUEST_KINDS: tuple[str, ...] = ("access", "erasure", "restriction", "objection", "rectification")
OPEN_STATUSES: tuple[str, ...] = ("pending", "confirmed")
# how a requester's identity was proven. A mail's From: is none of these (anyone can write any From:).
IDENTITY_METHODS: tuple[str, ...] = (
    "customer_token",  # a signed customer token (logged in to the web chat)
    "code",  # a one-time code mailed to the address, typed into the chat (crm_store/services/grants.py)
    "callback",  # staff called the person back on a number we already had
    "id_document",  # staff checked an identity document
    "in_person",
    "signed_letter",
    "staff",  # the operator of the CLI acts on a request they verified themselves
)
REMIND_WITHIN = timedelta(days=7)
OBJECTION_PURPOSES: tuple[str, ...] = (*MARKETING_PURPOSES, "profiling")  # Art. 21(2)/(3): stop at once
ERASED_DEAL_NAME = "Enquiry (contact erased)"  # a deal named after the person's mail subject
MAIL_EVENT_SOURCE = "email"  # connectors/email/triage.py EVENT_SOURCE: keys are Message-IDs
MIN_NAME = 4  # shorter name parts ("Li", "Ana") are not searched alone: they would hit other people
ROLE_ADDRESSES = frozenset(
    {
        "office",
        "contact",
        "kontakt",
        "support",
        "service",
        "hello",
        "billing",
        "vertrieb",
        "buchhaltung",
        "noreply",
        "no-reply",
        "invoice",
        "invoices",
        "rechnung",
        "accounts",
        "postmaster",
    }
)  # local parts that name a role, not a person: searched only as whole addresses
MIN_TEXT = 12  # a subject shorter than this is too generic to search for in other rows


def _iso(value: Any) -> Any:
    return value.isoformat() if value is not None else None


def due_date(received: datetime) -> datetime:
    """Receipt + one calendar month (Art. 12(3)): the same day of the next month, or its last day when the
    next month is shorter (31 January -> 28/29 February, 31 March -> 30 April)."""
    year, month = (received.year + 1, 1) if received.month == 12 else (received.year, received.month + 1)
    return received.replace(year=year, month=month, day=min(received.day, calendar.monthrange(year, month)[1]))


# --- who the person is, collected once before anything changes -------------------------------------------
@dataclass
class Subject:
    """One person's rows and identifiers across the store (ids only, plus the strings to search for)."""

    contact_id: int
    addresses: list[str] = field(default_factory=list)
    identifiers: list[str] = field(default_factory=list)  # strings whose occurrence elsewhere is about them
    ticket_ids: list[int] = field(default_factory=list)
    ticket_numbers: list[int] = field(default_factory=list)
    deal_ids: list[int] = field(default_factory=list)
    mail_deal_ids: list[int] = field(default_factory=list)  # deals triage named after their mail
    message_row_ids: list[int] = field(default_factory=list)  # ticket messages they wrote or received
    message_ids: list[str] = field(default_factory=list)  # RFC 5322 Message-IDs of those
    grant_ids: list[int] = field(default_factory=list)
    conversation_ids: list[int] = field(default_factory=list)
    event_ids: list[int] = field(default_factory=list)  # processed_events about them
    mention_ids: dict[str, list[int]] = field(default_factory=dict)  # table -> rows that mention them

    @property
    def speaker(self) -> str:
        return f"customer:{self.contact_id}"

    def variants(self) -> list[str]:
        """Lower-cased search strings: as written, and as JSON stores them (``ü`` is ``\\u00fc`` there)."""
        out: dict[str, None] = {}
        for ident in self.identifiers:
            low = ident.lower()
            out[low] = None
            escaped = json.dumps(low)[1:-1]
            if escaped != low:
                out[escaped] = None
        return list(out)

    def scrub(self, value: Any) -> Any:
        """``value`` without the person's identifiers: strings replaced, list entries equal to one dropped."""
        if isinstance(value, str):
            for ident in sorted(self.identifiers, key=len, reverse=True):
                value = re.sub(re.escape(ident), ERASED_TEXT, value, flags=re.IGNORECASE)
            return value
        if isinstance(value, list):
            wanted = {i.lower() for i in self.identifiers}
            return [self.scrub(v) for v in value if not (isinstance(v, str) and v.lower() in wanted)]
        if isinstance(value, dict):
            return {k: self.scrub(v) for k, v in value.items()}
        return value

    def mentions(self, value: Any) -> bool:
        blob = json.dumps(value, ensure_ascii=False, default=str).lower()
        return any(i.lower() in blob for i in self.identifiers)


def _collect(session: Session, contact: Contact) -> Subject:
    s, cid = session, contact.id
    subj = Subject(cid)
    subj.addresses = [e.address.lower() for e in contact.emails]
    idents: list[str] = [*subj.addresses, *(p.number for p in contact.phones)]
    for addr in subj.addresses:
        local = addr.split("@", 1)[0]
        if len(local) >= 6 and local not in ROLE_ADDRESSES and not _local_part_shared(s, cid, local):
            idents.append(local)
    if contact.erased_at is None:
        first, last = contact.first_name.strip(), contact.last_name.strip()
        if first and last:
            idents.append(f"{first} {last}")
            idents.append(f"{last}, {first}")
        alone = last or first  # a name part alone only when nobody else in the store bears it
        if len(alone) >= MIN_NAME and not _name_shared(s, cid, alone):
            idents.append(alone)
    tickets = s.execute(select(Ticket).where(Ticket.requester_contact_id == cid)).scalars().all()
    subj.ticket_ids = [t.id for t in tickets]
    subj.ticket_numbers = [t.number for t in tickets]
    idents += [t.subject for t in tickets if len(t.subject) >= MIN_TEXT and t.subject != REDACTED]
    mine = or_(
        TicketMessage.ticket_id.in_(subj.ticket_ids) if subj.ticket_ids else false(),
        TicketMessage.author_contact_id == cid,
        func.lower(TicketMessage.author_address).in_(subj.addresses) if subj.addresses else false(),
    )
    for m in s.execute(select(TicketMessage).where(mine)).scalars():
        subj.message_row_ids.append(m.id)
        if m.direction == "inbound" and m.message_id:
            subj.message_ids.append(m.message_id)
    deals = s.execute(select(Deal).where(Deal.contact_id == cid)).scalars().all()
    subj.deal_ids = [d.id for d in deals]
    subj.event_ids, subj.mail_deal_ids, keys = _processed_events(s, subj)
    idents += [d.name for d in deals if d.id in subj.mail_deal_ids and len(d.name) >= MIN_TEXT]
    idents += [k.strip("<>") for k in [*subj.message_ids, *keys] if len(k.strip("<>")) >= 8]
    subj.identifiers = list(dict.fromkeys(i for i in idents if i and i.strip()))
    grant_where = or_(
        ConversationGrant.contact_id == cid,
        ConversationGrant.ticket_id.in_(subj.ticket_ids) if subj.ticket_ids else false(),
    )
    grants = s.execute(select(ConversationGrant).where(grant_where)).scalars().all()
    subj.grant_ids = [g.id for g in grants]
    keys_of_grants = {tuple(g.conversation.split(":", 1)) for g in grants if ":" in g.conversation}
    conv_where = or_(
        Conversation.speaker == subj.speaker,
        Conversation.ticket_id.in_(subj.ticket_ids) if subj.ticket_ids else false(),
        *(and_(Conversation.channel == ch, Conversation.sender_id == sid) for ch, sid in keys_of_grants),
    )
    subj.conversation_ids = list(s.execute(select(Conversation.id).where(conv_where)).scalars())
    return subj


def _local_part_shared(session: Session, contact_id: int, local: str) -> bool:
    """True when another contact has an address with the same local part (``office@`` at another firm)."""
    other = select(ContactEmail.id).where(
        ContactEmail.contact_id != contact_id,
        ContactEmail.address.startswith(f"{local}@", autoescape=True),
    )
    return session.execute(other.limit(1)).first() is not None


def _name_shared(session: Session, contact_id: int, name: str) -> bool:
    """True when another contact has ``name`` as first or last name (searching it would hit them)."""
    low = name.lower()
    other = select(Contact.id).where(
        Contact.id != contact_id,
        or_(func.lower(Contact.last_name) == low, func.lower(Contact.first_name) == low),
    )
    return session.execute(other.limit(1)).first() is not None


def _processed_events(session: Session, subj: Subject) -> tuple[list[int], list[int], list[str]]:
    """Idempotency rows about the person: their mails' Message-IDs, acks to their address, triage results
    naming their deals or tickets. Returns (row ids, deals made from their mail, Message-IDs found)."""
    ids: list[int] = []
    mail_deals: list[int] = []
    keys: list[str] = []
    conds: list[ColumnElement[bool]] = []
    if subj.message_ids:
        conds.append(ProcessedEvent.key.in_(subj.message_ids))
    for addr in subj.addresses:
        conds.append(func.lower(ProcessedEvent.key).contains(addr, autoescape=True))
    if subj.deal_ids or subj.ticket_numbers:
        conds.append(ProcessedEvent.result.contains('"deal"') | ProcessedEvent.result.contains('"ticket"'))
    if not conds:
        return ids, mail_deals, keys
    for row in session.execute(select(ProcessedEvent).where(or_(*conds))).scalars():
        result = _json(row.result)
        deal = result.get("deal") if isinstance(result, dict) else None
        ticket = result.get("ticket") if isinstance(result, dict) else None
        if deal in subj.deal_ids:
            mail_deals.append(int(deal))
        elif (
            ticket is not None
            and ticket not in subj.ticket_numbers
            and row.key not in subj.message_ids
            and not any(a in row.key.lower() for a in subj.addresses)
        ):
            continue  # someone else's mail
        elif (
            deal is not None
            and ticket is None
            and row.key not in subj.message_ids
            and not any(a in row.key.lower() for a in subj.addresses)
        ):
            continue
        ids.append(row.id)
        if row.source == MAIL_EVENT_SOURCE:
            keys.append(row.key)
    return ids, mail_deals, keys


def _json(value: str | None) -> Any:
    try:
        return json.loads(value) if value else None
    except ValueError:
        return None


# --- where each table keeps a person's own rows (driven by data_classes.TABLES) -----------------------
Locator = Callable[[Subject], ColumnElement[bool]]


def _ids(column: Any, ids: list[int]) -> ColumnElement[bool]:
    return column.in_(ids) if ids else false()


LOCATORS: dict[str, Locator] = {
    "contacts": lambda x: Contact.id == x.contact_id,
    "contact_emails": lambda x: ContactEmail.contact_id == x.contact_id,
    "contact_phones": lambda x: ContactPhone.contact_id == x.contact_id,
    "contact_relationships": lambda x: or_(
        ContactRelationship.contact_id == x.contact_id, ContactRelationship.related_contact_id == x.contact_id
    ),
    "name_tokens": lambda x: and_(NameToken.kind == "c", NameToken.ref_id == x.contact_id),
    "activities": lambda x: Activity.contact_id == x.contact_id,
    "tasks": lambda x: Task.contact_id == x.contact_id,
    "deals": lambda x: Deal.contact_id == x.contact_id,
    "tickets": lambda x: _ids(Ticket.id, x.ticket_ids),
    "ticket_messages": lambda x: _ids(TicketMessage.id, x.message_row_ids),
    "conversation_events": lambda x: _ids(ConversationEvent.conversation_id, x.conversation_ids),
    "conversations": lambda x: _ids(Conversation.id, x.conversation_ids),
    "conversation_grants": lambda x: _ids(ConversationGrant.id, x.grant_ids),
    "consent_records": lambda x: ConsentRecord.contact_id == x.contact_id,
    "gdpr_requests": lambda x: GdprRequest.contact_id == x.contact_id,
    "consent_confirmations": lambda x: ConsentConfirmation.contact_id == x.contact_id,
    "legal_holds": lambda x: LegalHold.contact_id == x.contact_id,
    "audit_log": lambda x: false(),  # redacted through audit.redact_payloads, never edited here
    "outbox_messages": lambda x: false(),  # only mentions
    "quarantined_mail": lambda x: false(),  # only mentions (the sender's address, the subject)
    "processed_events": lambda x: _ids(ProcessedEvent.id, x.event_ids),
}
MODELS: dict[str, Any] = {m.class_.__table__.name: m.class_ for m in Base.registry.mappers}
# children before parents, so that a cascade never runs ahead of the count
ORDER: tuple[str, ...] = (
    "conversation_events",
    "conversations",
    "conversation_grants",
    "processed_events",
    "outbox_messages",
    "quarantined_mail",
    "ticket_messages",
    "tickets",
    "activities",
    "tasks",
    "deals",
    "contact_relationships",
    "name_tokens",
    "contact_emails",
    "contact_phones",
    "consent_records",
    "consent_confirmations",
    "gdpr_requests",
    "contacts",
    "audit_log",
)
# the audit entities of the person's own records, by table
AUDIT_ENTITIES: dict[str, str] = {
    "contacts": "contact",
    "activities": "activity",
    "tasks": "task",
    "deals": "deal",
    "tickets": "ticket",
    "contact_relationships": "relationship",
    "consent_records": "consent",
    "conversation_grants": "conversation_grant",
}


class GdprService(Service):
    entity = "contact"

    # --- access --------------------------------------------------------------------------------------

    def _rows(self, table: str, subj: Subject, *order: Any) -> list[Any]:
        model = MODELS[table]
        stmt = select(model).where(LOCATORS[table](subj)).order_by(*(order or (model.id,)))
        return list(self.session.execute(stmt).scalars())

    def export(self, contact_id: int) -> dict[str, Any]:
        """Everything stored about one person, as one JSON-ready document (Art. 15/20)."""
        self.require_self_or_staff(contact_id)
        contact = self.contact_or_404(contact_id)
        subj = _collect(self.session, contact)
        tickets = self._rows("tickets", subj)
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
                    "contact_id": r.contact_id,
                    "organization_id": r.organization_id,
                    "related_contact_id": r.related_contact_id,
                    "note": r.note,
                }
                for r in self._rows("contact_relationships", subj)
            ],
            "activities": [
                serialize.activity(a)
                for a in self._rows("activities", subj, Activity.occurred_at, Activity.id)
            ],
            "tasks": [serialize.task(t) for t in self._rows("tasks", subj)],
            "deals": [serialize.deal(d) for d in self._rows("deals", subj)],
            "tickets": [
                {**serialize.ticket(t), "messages": [_message(m) for m in t.messages]} for t in tickets
            ],
            "emails_received": self._emails_received(subj),
            "conversations": self._transcripts(subj),
            "consent": self.consent_state(contact_id),
            "consent_history": self.consent_history(contact_id),
            "gdpr_requests": [_request(r) for r in self._rows("gdpr_requests", subj)],
            "audit": self._audit_about(subj),
        }
        self.audit("export", contact_id, {"sections": sorted(document)})
        return document

    def _emails_received(self, subj: Subject) -> list[dict[str, Any]]:
        """Mails as received: the inbound messages with the headers we keep; a sales mail keeps only its
        subject (the deal's name) and Message-ID."""
        out: list[dict[str, Any]] = []
        for m in self._rows("ticket_messages", subj):
            if m.channel != "email" or m.direction != "inbound":
                continue
            out.append(
                {
                    "received_at": _iso(m.created_at),
                    "message_id": m.message_id,
                    "in_reply_to": m.in_reply_to,
                    "from": m.author_address,
                    "to_cc": m.recipients or [],
                    "ticket_id": m.ticket_id,
                    "body": m.body,
                }
            )
        deals = {d.id: d for d in self._rows("deals", subj)}
        for ev in self._rows("processed_events", subj):
            result = _json(ev.result)
            deal = deals.get(result.get("deal")) if isinstance(result, dict) else None
            if deal is not None and ev.source == MAIL_EVENT_SOURCE:
                out.append(
                    {
                        "received_at": _iso(ev.processed_at),
                        "message_id": ev.key,
                        "subject": deal.name,
                        "deal_id": deal.id,
                        "body": None,
                        "note": "a sales enquiry: only its subject is kept",
                    }
                )
        return out

    def _transcripts(self, subj: Subject) -> list[dict[str, Any]]:
        """Chat transcripts on every channel: what the person and the assistant said, when."""
        out = []
        for conv in self._rows("conversations", subj):
            events = self.session.execute(
                select(ConversationEvent)
                .where(ConversationEvent.conversation_id == conv.id)
                .order_by(ConversationEvent.id)
            ).scalars()
            lines = []
            for ev in events:
                kind = ev.event.get("event")
                if kind in ("user", "bot") and ev.event.get("text"):
                    lines.append(
                        {
                            "at": _iso(ev.at),
                            "from": "you" if kind == "user" else "assistant",
                            "text": ev.event["text"],
                        }
                    )
            out.append(
                {
                    "channel": conv.channel,
                    "started_at": _iso(conv.created_at),
                    "last_at": _iso(conv.updated_at),
                    "ticket_id": conv.ticket_id,
                    "messages": lines,
                }
            )
        return out

    def _audit_pairs(self, subj: Subject) -> list[tuple[str, str]]:
        pairs: list[tuple[str, str]] = []
        for table, entity in AUDIT_ENTITIES.items():
            model = MODELS[table]
            ids = self.session.execute(select(model.id).where(LOCATORS[table](subj))).scalars()
            pairs += [(entity, str(i)) for i in ids]
        pairs += [("gdpr_request", str(r.id)) for r in self._rows("gdpr_requests", subj)]
        return pairs

    def _audit_about(self, subj: Subject) -> list[dict[str, Any]]:
        """Who did what to the person's records, when; never other people's data (only their records)."""
        pairs = self._audit_pairs(subj)
        out: list[dict[str, Any]] = []
        by_entity: dict[str, list[str]] = {}
        for entity, eid in pairs:
            by_entity.setdefault(entity, []).append(eid)
        for entity, ids in by_entity.items():
            for chunk in (ids[i : i + 500] for i in range(0, len(ids), 500)):
                rows = self.session.execute(
                    select(AuditEntry).where(AuditEntry.entity == entity, AuditEntry.entity_id.in_(chunk))
                ).scalars()
                out += [
                    {
                        "id": e.id,
                        "at": e.at.isoformat(),
                        "actor": e.actor,
                        "action": e.action,
                        "entity": e.entity,
                        "entity_id": e.entity_id,
                        "payload": e.payload,
                        "redacted": e.redacted,
                    }
                    for e in rows
                ]
        return sorted(out, key=lambda e: e["id"])

    # --- requests ------------------------------------------------------------------------------------
    def request(
        self,
        contact_id: int,
        kind: str,
        via: str = "chat",
        note: str | None = None,
        *,
        identity: str | None = None,
    ) -> GdprRequest:
        """Record a data-subject request, due one calendar month after receipt (Art. 12(3)).

        Its identity is verified only when it is proven: a customer actor *is* proven (a signed customer
        token, or a code mailed to the address and typed into this chat; ``identity`` names which), and an
        admin or the CLI operator may vouch with one of ``IDENTITY_METHODS``. A request by mail (the system
        actor of triage, ``identity`` None) is not verified: From: proves nothing. Nothing is disclosed or
        erased for an unverified request (``verify_request`` first)."""
        self.require_self_or_staff(contact_id)
        if kind not in REQUEST_KINDS:
            raise ValidationFailed(f"unknown request kind; one of {', '.join(REQUEST_KINDS)}", "kind")
        contact = self.contact_or_404(contact_id)
        if contact.erased_at is not None:
            raise ValidationFailed("this contact was already erased", "contact_id")
        method: str | None = None
        if self.actor.kind == "customer":
            method = identity if identity in ("customer_token", "code") else "customer_token"
        elif identity is not None:
            if not self.actor.is_admin:
                raise PermissionDenied("only an admin may vouch for a requester's identity")
            method = self._method(identity)
        now = utcnow()
        req = GdprRequest(
            kind=kind,
            contact_id=contact_id,
            status="pending",
            requested_via=via[:20],
            note=note,
            requested_at=now,
            due_at=due_date(now),
            identity_verified_at=now if method else None,
            identity_method=method,
        )
        self.session.add(req)
        self.session.flush()
        self.audit(
            "create",
            req.id,
            {"kind": kind, "contact_id": contact_id, "via": req.requested_via, "identity": method},
            entity="gdpr_request",
        )
        return req

    def request_erasure(self, contact_id: int, via: str = "chat", *, identity: str | None = None) -> GdprRequest:
        """Record an Art. 17 request; an admin confirms it before anything is erased."""
        return self.request(contact_id, "erasure", via, identity=identity)

    @staticmethod
    def _method(method: str) -> str:
        if method not in IDENTITY_METHODS:
            raise ValidationFailed(f"unknown identity method; one of {', '.join(IDENTITY_METHODS)}", "method")
        return method

    def verify_request(self, request_id: int, method: str, note: str | None = None) -> GdprRequest:
        """An admin records how the requester's identity was proven (a call-back, an ID document, ...).
        The note says what was checked; it is kept on the request, the audit entry holds ids only."""
        self.require_role("admin")
        req = self._open_request(request_id)
        req.identity_method = self._method(method)
        req.identity_verified_at = utcnow()
        req.decided_by_id = self.actor.id if self.actor.kind == "user" else None
        if note:
            req.note = f"{req.note}\n{note}" if req.note else note
        self.audit("verify", req.id, {"method": req.identity_method}, entity="gdpr_request")
        return req

    def get_request(self, request_id: int) -> GdprRequest:
        """One request, for staff who work the queue (admins and managers)."""
        self.require_role("admin", "manager")
        return self.get_or_404(GdprRequest, request_id, "GDPR request")

    def list_requests(self, *, open_only: bool = True, limit: int = 50, offset: int = 0) -> tuple[list[GdprRequest], int]:
        """Requests by due date, the oldest first (open ones only unless ``open_only`` is false)."""
        self.require_role("admin", "manager")
        where = [GdprRequest.status.in_(OPEN_STATUSES)] if open_only else []
        total = self.session.execute(select(func.count()).select_from(GdprRequest).where(*where)).scalar_one()
        rows = self.session.execute(
            select(GdprRequest).where(*where).order_by(GdprRequest.due_at, GdprRequest.id).limit(limit).offset(offset)
        ).scalars()
        return list(rows), int(total)

    def _open_request(self, request_id: int) -> GdprRequest:
        req = self.get_or_404(GdprRequest, request_id, "GDPR request")
        if req.status not in OPEN_STATUSES:
            raise ValidationFailed(f"request {request_id} is {req.status}, not open", "status")
        return req

    @staticmethod
    def _require_verified(req: GdprRequest) -> None:
        """Nothing is disclosed or erased on an unproven request (a forged From: asks for someone)."""
        if req.identity_verified_at is None:
            raise ValidationFailed(
                f"request {req.id}: the requester's identity is not verified; verify it first "
                "(crm-assistant gdpr verify-request ID --method M)",
                "identity",
            )

    def pending_requests(self) -> list[GdprRequest]:
        self.require_role("admin", "manager")
        return list(
            self.session.execute(
                select(GdprRequest).where(GdprRequest.status == "pending").order_by(GdprRequest.id)
            ).scalars()
        )

    def open_requests(self, *, due_within: timedelta | None = None, now: datetime | None = None) -> list[GdprRequest]:
        """Open requests by due date (the oldest first); with ``due_within``, those due before now + it
        (overdue ones included)."""
        self.require_role("admin", "manager")
        stmt = select(GdprRequest).where(GdprRequest.status.in_(OPEN_STATUSES))
        if due_within is not None:
            stmt = stmt.where(GdprRequest.due_at <= (now or utcnow()) + due_within)
        return list(self.session.execute(stmt.order_by(GdprRequest.due_at, GdprRequest.id)).scalars())

    def export_request(self, request_id: int) -> dict[str, Any]:
        """Fulfil an access request (Art. 15/20): the export of its contact, only when the requester's
        identity is verified; the request is then done."""
        req = self._open_request(request_id)
        if req.kind != "access" or req.contact_id is None:
            raise ValidationFailed(f"request {request_id} is not an access request", "kind")
        if self.actor.kind != "customer":  # the person themselves, or the admin (DPO) who answers for them
            self.require_role("admin")
        self.require_self_or_staff(req.contact_id)
        self._require_verified(req)
        document = self.export(req.contact_id)
        self._done(req)
        return document

    def complete_request(self, request_id: int) -> GdprRequest:
        """Carry out a verified restriction or objection request (admin), or close a rectification one that
        staff handled; access and erasure have their own (``export_request``, ``confirm_erasure``)."""
        self.require_role("admin")
        req = self._open_request(request_id)
        self._require_verified(req)
        if req.contact_id is None:
            raise ValidationFailed("the request has no contact", "contact_id")
        if req.kind == "restriction":
            self.restrict(req.contact_id)
        elif req.kind == "objection":
            self.object(req.contact_id, source=f"gdpr_request:{req.id}")
        elif req.kind != "rectification":
            raise ValidationFailed(f"request {request_id} is an {req.kind} request", "kind")
        self._done(req)
        return req

    def _done(self, req: GdprRequest) -> None:
        req.status = "done"
        req.completed_at = utcnow()
        self.audit("update", req.id, {"status": "done"}, entity="gdpr_request")

    def remind(
        self, now: datetime | None = None, *, slack_channel: str | None = None
    ) -> dict[str, list[dict[str, Any]]]:
        """For a scheduler and ``crm-assistant gdpr remind``: open requests due within seven days that were
        not reminded yet (each once; ``reminded_at`` is set), and every open request past its due date.
        With ``slack_channel`` one Slack post goes to the outbox in this transaction; it and the log name
        request ids, kinds and dates only, never the person."""
        self.require_role("admin")
        now = now or utcnow()
        open_ = self.open_requests(due_within=REMIND_WITHIN, now=now)
        overdue = [r for r in open_ if r.due_at is not None and r.due_at < now]
        due = [r for r in open_ if r not in overdue and r.reminded_at is None]
        for r in due:
            r.reminded_at = now
        report = {"due": [_due(r) for r in due], "overdue": [_due(r) for r in overdue]}
        if due or overdue:
            lines = [f"GDPR request #{r['id']} ({r['kind']}) due {r['due_at'][:10]}" for r in report["due"]]
            lines += [f"OVERDUE: GDPR request #{r['id']} ({r['kind']}) was due {r['due_at'][:10]}"
                      for r in report["overdue"]]
            log.warning("GDPR requests: %s", "; ".join(lines))
            if slack_channel:
                text_ = "Data-protection requests need an answer:\n" + "\n".join(f"• {line}" for line in lines)
                self.session.add(
                    OutboxMessage(
                        channel="slack",
                        target=slack_channel[:200],
                        payload={"method": "chat.postMessage", "args": {"channel": slack_channel, "text": text_}},
                        next_attempt_at=now,
                    )
                )
            self.audit(
                "remind",
                None,
                {"due": [r["id"] for r in report["due"]], "overdue": [r["id"] for r in report["overdue"]]},
                entity="gdpr_request",
            )
        return report

    def confirm_erasure(self, request_id: int) -> GdprRequest:
        """Erase the request's contact (admin only), once the requester's identity is verified. The report
        is kept on ``request.erasure_report`` for the caller (not stored: it is counts only, and the audit
        entry holds them)."""
        self.require_role("admin")
        req = self.get_or_404(GdprRequest, request_id, "GDPR request")
        if req.kind != "erasure" or req.status not in ("pending", "confirmed"):
            raise ValidationFailed(f"request {request_id} is not a pending erasure request", "status")
        if req.contact_id is None:
            raise ValidationFailed("the request has no contact", "contact_id")
        self._require_verified(req)
        req.status = "confirmed"
        req.decided_by_id = self.actor.id if self.actor.kind == "user" else None
        self.last_report = self.erase(req.contact_id, request_id=req.id)
        req.status = "done"
        req.completed_at = utcnow()
        req.note = None  # the request is kept with ids only
        self.audit("update", req.id, {"status": "done"}, entity="gdpr_request")
        return req

    # --- restriction (Art. 18) and objection (Art. 21) -------------------------------------------------
    def restrict(self, contact_id: int) -> Contact:
        """Restrict processing (Art. 18): the contact is only stored. It disappears from lists, searches,
        chat lookups and bulk exports for everybody but admins and the person (policy.yml ``restricted``),
        and gets no marketing (``has_consent``). Idempotent."""
        self.require_role("admin")
        contact = self.contact_or_404(contact_id)
        if contact.restricted_at is None:
            contact.restricted_at = utcnow()
            self.audit("restrict", contact_id, {"restricted": True})
        return contact

    def lift_restriction(self, contact_id: int) -> Contact:
        """End a restriction (Art. 18(3): the person is told before; the caller does that)."""
        self.require_role("admin")
        contact = self.contact_or_404(contact_id)
        if contact.restricted_at is not None:
            contact.restricted_at = None
            self.audit("lift_restriction", contact_id, {"restricted": False})
        return contact

    def object(self, contact_id: int, *, source: str = "objection") -> Contact:
        """Record an objection (Art. 21): direct marketing and profiling stop at once (withdrawn consent
        records, kept in the history) and ``has_consent`` stays false for them even if a later record
        grants one, until staff clear ``objected_at``. The person themselves or an admin may object."""
        if self.actor.kind != "customer":
            self.require_role("admin")
        self.require_self_or_staff(contact_id)
        contact = self.contact_or_404(contact_id)
        state = self.consent_state(contact_id)
        for purpose in OBJECTION_PURPOSES:
            if state.get(purpose, {}).get("granted", True):
                self.record_consent(contact_id, purpose, False, source)
        if contact.objected_at is None:
            contact.objected_at = utcnow()
            self.audit("object", contact_id, {"purposes": list(OBJECTION_PURPOSES)})
        return contact

    def objection_request(self, contact_id: int, via: str = "chat", *, identity: str | None = None) -> GdprRequest:
        """An objection to direct marketing and profiling (Art. 21(2)/(3)) is honoured at once, without a
        balancing test: when the person is proven (a customer actor, or an admin vouching) it takes effect
        now and the tracked request is done; an unproven one (by mail) waits for ``verify_request``."""
        req = self.request(contact_id, "objection", via, identity=identity)
        if req.identity_verified_at is not None:
            self.object(contact_id, source=f"gdpr_request:{req.id}")
            self._done(req)
        return req

    def reject_request(self, request_id: int, note: str) -> GdprRequest:
        self.require_role("admin")
        req = self.get_or_404(GdprRequest, request_id, "GDPR request")
        req.status = "rejected"
        req.note = note
        req.completed_at = utcnow()
        self.audit("update", req.id, {"status": "rejected"}, entity="gdpr_request")
        return req

    # --- erasure -------------------------------------------------------------------------------------
    last_report: dict[str, Any] | None = None

    def erase(self, contact_id: int, *, request_id: int | None = None) -> dict[str, Any]:
        """Anonymise one person everywhere ``data_classes`` says they can be; returns the erasure report
        (counts per table, what is kept and why; no personal data). A contact that is already erased is
        left alone (``already_erased``): the erasure is one transaction, so it either happened or not."""
        self.require_role("admin")
        contact = self.contact_or_404(contact_id)
        from crm_store.services.retention import active_hold  # legal hold: erasure is refused, with reason

        hold = active_hold(self.session, contact)
        if hold is not None:
            raise ValidationFailed(
                f"contact {contact_id} is under legal hold {hold.id} ({hold.reason}); release it first",
                "legal_hold",
            )
        if contact.erased_at is not None:
            return {"contact_id": contact_id, "already_erased": True, "tables": {}, "kept": {}}
        s = self.session
        if s.get_bind().dialect.name == "sqlite":
            s.execute(text("PRAGMA secure_delete=ON"))  # deleted cells are zeroed, not just unlinked
        subj = _collect(s, contact)
        self._find_mentions(subj)
        audit_pairs = self._audit_pairs(subj)  # before rows (and their ids) go
        tables: dict[str, dict[str, Any]] = {}
        for table in ORDER:
            if table == "audit_log":
                continue
            own = self._erase_own(table, subj)
            mentioned = self._erase_mentions(table, subj)
            if own or mentioned:
                tables[table] = {"rows": own, "mentions": mentioned, "does": _does(table)}
        contact = self.contact_or_404(contact_id)
        contact.erased_at = utcnow()
        contact.is_customer_login = False
        redacted = self._redact_audit(audit_pairs, subj)
        if redacted:
            tables["audit_log"] = {"rows": redacted, "mentions": 0, "does": _does("audit_log")}
        report = {
            "contact_id": contact_id,
            "already_erased": False,
            "tables": tables,
            "kept": {t: kept(t) for t in TABLES if kept(t) and TABLES[t].subject == "contact"},
        }
        payload: dict[str, Any] = {
            "contact_id": contact_id,
            "counts": {t: v["rows"] + v["mentions"] for t, v in tables.items()},
        }
        if request_id is not None:
            payload["request_id"] = request_id
        self.audit("erase", contact_id, payload)
        return report

    def _erase_own(self, table: str, subj: Subject) -> int:
        """Apply the classification to the person's own rows of ``table``: delete, anonymise or scrub."""
        if table == "outbox_messages":
            return 0
        model, where = MODELS[table], LOCATORS[table](subj)
        s = self.session
        if table == "conversation_events":  # many rows, no relationships: one statement
            n = s.execute(select(func.count()).select_from(model).where(where)).scalar_one()
            s.execute(delete(model).where(where).execution_options(synchronize_session=False))
            return int(n)
        rows = list(s.execute(select(model).where(where)).scalars())
        if deletes_rows(table):
            for row in rows:
                s.delete(row)
            s.flush()
            return len(rows)
        values = anonymised_values(table)
        scrubbed = [n for n, c in personal_columns(table).items() if c.erasure is Erasure.SCRUB]
        for row in rows:
            for name, value in values.items():
                setattr(row, name, _fresh(value))
            for name in scrubbed:
                setattr(row, name, subj.scrub(getattr(row, name)))
            if table == "deals" and row.id in subj.mail_deal_ids:
                row.name = ERASED_DEAL_NAME
        s.flush()
        return len(rows)

    def _find_mentions(self, subj: Subject) -> None:
        """Rows of other records that carry the person's identifiers (computed before anything changes)."""
        variants = subj.variants()
        for table, info in TABLES.items():
            if not info.mentions or not variants or table == "audit_log":
                continue
            model = MODELS[table]
            cols = [getattr(model, n) for n in personal_columns(table)]
            hit = or_(
                *(func.lower(cast(c, Text)).contains(v, autoescape=True) for c in cols for v in variants)
            )
            own = LOCATORS[table](subj)
            rows = self.session.execute(select(model).where(hit, ~own)).scalars()
            subj.mention_ids[table] = [
                r.id for r in rows if any(subj.mentions(getattr(r, c.key)) for c in cols)
            ]

    def _erase_mentions(self, table: str, subj: Subject) -> int:
        ids = subj.mention_ids.get(table) or []
        if not ids:
            return 0
        model = MODELS[table]
        rows = list(self.session.execute(select(model).where(model.id.in_(ids))).scalars())
        if TABLES[table].mentions == "delete":
            for row in rows:
                self.session.delete(row)
        else:
            for row in rows:
                for name in personal_columns(table):
                    setattr(row, name, subj.scrub(getattr(row, name)))
        self.session.flush()
        return len(rows)

    def _redact_audit(self, pairs: Iterable[tuple[str, str]], subj: Subject) -> int:
        """Audit payloads about the person (their records, and entries whose payload names them)."""
        s = self.session
        n = 0
        wanted = set(pairs)
        variants = subj.variants()
        loose: list[int] = []
        if variants:
            hit = or_(
                *(func.lower(cast(AuditEntry.payload, Text)).contains(v, autoescape=True) for v in variants)
            )
            for e in s.execute(select(AuditEntry).where(hit, AuditEntry.redacted.is_(False))).scalars():
                if not subj.mentions(e.payload):
                    continue
                if e.entity_id is not None:
                    wanted.add((e.entity, e.entity_id))
                else:
                    loose.append(e.id)
        for entity, entity_id in sorted(wanted):
            n += audit.redact_payloads(s, entity, entity_id, actor=self.actor)
        if loose:
            n += audit.redact_where(s, AuditEntry.id.in_(loose), actor=self.actor)
        return n

    # --- consent: delegated to crm_store/services/consent.py (one rule, one history) ------------------
    @property
    def _consent(self) -> Any:
        from crm_store.services.consent import ConsentService

        return ConsentService(self.session, self.actor)

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
        return self._consent.record(  # type: ignore[no-any-return]
            contact_id, purpose, granted, source, channel=channel, legal_basis=legal_basis
        )

    def withdraw_marketing(self, contact_id: int, source: str) -> list[ConsentRecord]:
        """Unsubscribe (Art. 21): every marketing purpose becomes withdrawn; the history is kept."""
        return self._consent.withdraw_marketing(contact_id, source)  # type: ignore[no-any-return]

    def consent_history(self, contact_id: int) -> list[dict[str, Any]]:
        return self._consent.history(contact_id)  # type: ignore[no-any-return]

    def consent_state(self, contact_id: int) -> dict[str, dict[str, Any]]:
        """The current record per purpose: {"marketing": {"granted": False, ...}, ...}."""
        return self._consent.state(contact_id)  # type: ignore[no-any-return]

    def has_consent(self, contact_id: int, purpose: str) -> bool:
        return self._consent.has_consent(contact_id, purpose)  # type: ignore[no-any-return]


def _fresh(value: Any) -> Any:
    """A new list/dict per row (JSON columns must not share one mutable default)."""
    return type(value)() if isinstance(value, list | dict) else value


def _does(table: str) -> str:
    """What erasure does with ``table``, in words, for the report."""
    if table == "audit_log":
        return "payloads redacted (audit.redact_payloads); the chain is kept"
    parts = []
    if deletes_rows(table):
        parts.append("rows deleted")
    anon = anonymised_values(table)
    if anon:
        parts.append("anonymised: " + ", ".join(anon))
    scrub = [n for n, c in personal_columns(table).items() if c.erasure is Erasure.SCRUB]
    if scrub:
        parts.append("identifiers cut out of: " + ", ".join(scrub))
    mentions = TABLES[table].mentions
    if mentions:
        parts.append(f"rows mentioning the person: {'deleted' if mentions == 'delete' else 'scrubbed'}")
    return "; ".join(parts)


def _message(m: TicketMessage) -> dict[str, Any]:
    out = {k: v for k, v in serialize.ticket_message(m).items() if k != "ticket_id"}
    out["author_address"] = m.author_address
    out["recipients"] = m.recipients or []
    return out


def request_row(r: GdprRequest) -> dict[str, Any]:
    """A request for staff listings (ids and dates; the note stays in the store)."""
    return {
        **_request(r),
        "contact_id": r.contact_id,
        "reminded_at": _iso(r.reminded_at),
        "pages_freed_at": _iso(r.pages_freed_at),
    }


def _request(r: GdprRequest) -> dict[str, Any]:
    return {
        "id": r.id,
        "kind": r.kind,
        "status": r.status,
        "requested_at": _iso(r.requested_at),
        "requested_via": r.requested_via,
        "due_at": _iso(r.due_at),
        "identity_verified_at": _iso(r.identity_verified_at),
        "identity_method": r.identity_method,
        "completed_at": _iso(r.completed_at),
    }


def _due(r: GdprRequest) -> dict[str, Any]:
    """A request in a reminder: ids, kind and dates only."""
    return {
        "id": r.id,
        "kind": r.kind,
        "contact_id": r.contact_id,
        "due_at": _iso(r.due_at),
        "verified": r.identity_verified_at is not None,
    }


# --- documents ---------------------------------------------------------------------------------------------
_SECTION_TITLES: dict[str, str] = {
    "contact": "Your contact record",
    "emails": "E-mail addresses",
    "phones": "Phone numbers",
    "organization": "Organisation",
    "relationships": "Relationships",
    "activities": "Activities (calls, meetings, mails, notes)",
    "tasks": "Tasks",
    "deals": "Deals",
    "tickets": "Support tickets and every message",
    "emails_received": "E-mails as we received them",
    "conversations": "Chat transcripts",
    "consent": "Consent (current)",
    "consent_history": "Consent history",
    "gdpr_requests": "Your data-protection requests",
    "audit": "Who did what with your data, and when",
}


def export_html(document: dict[str, Any]) -> str:
    """A readable, self-contained HTML summary of an export (Art. 15); the JSON stays the portable copy."""
    e = html.escape
    out = [
        "<!doctype html><html lang='en'><head><meta charset='utf-8'><title>Your data</title>",
        "<style>body{font-family:sans-serif;max-width:60rem;margin:2rem auto}table{border-collapse:collapse}"
        "td,th{border:1px solid #ccc;padding:.2rem .4rem;vertical-align:top;text-align:left}</style>"
        "</head><body>",
        f"<h1>Personal data held about you</h1><p>Generated {e(str(document.get('generated_at', '')))}</p>",
    ]
    for key, title in _SECTION_TITLES.items():
        value = document.get(key)
        out.append(f"<section id='{e(key)}'><h2>{e(title)}</h2>{_html_value(value)}</section>")
    out.append("</body></html>")
    return "\n".join(out)


def _html_value(value: Any) -> str:
    e = html.escape
    if value is None or value == [] or value == {}:
        return "<p><em>none</em></p>"
    if isinstance(value, dict):
        rows = "".join(f"<tr><th>{e(str(k))}</th><td>{_html_value(v)}</td></tr>" for k, v in value.items())
        return f"<table>{rows}</table>"
    if isinstance(value, list):
        if all(isinstance(v, dict) for v in value):
            keys = list(dict.fromkeys(k for v in value for k in v))
            head = "".join(f"<th>{e(k)}</th>" for k in keys)
            body = "".join(
                "<tr>" + "".join(f"<td>{_html_value(v.get(k))}</td>" for k in keys) + "</tr>" for v in value
            )
            return f"<table><tr>{head}</tr>{body}</table>"
        return "<ul>" + "".join(f"<li>{_html_value(v)}</li>" for v in value) + "</ul>"
    return e(str(value))


TOMS: tuple[str, ...] = (
    "Access control: roles and per-record read/write policy (crm_store/policy.yml), enforced in the services "
    "for every channel; customers see only their own records",
    "Authentication: API tokens stored as SHA-256 hashes with expiry and revocation; customer tokens and "
    "chat "
    "speakers signed (HMAC, CRM_SECRET_KEY); Slack/Teams requests verified before parsing",
    "Proof of identity before disclosure or erasure from a chat: one-time codes mailed to the address, "
    "stored only as salted hashes, limited tries",
    "Accountability: keyed, hash-chained audit log (HMAC with a key outside the database, salted payload "
    "digests), anchored outside the database; `crm-assistant audit verify`",
    "Data minimisation in logs: SQL parameters and driver messages hide values by default",
    "Erasure reaches free pages: SQLite secure_delete, WAL checkpoint and VACUUM; PostgreSQL VACUUM of the "
    "touched tables",
    "Retention rules per data class with a dry run (`crm-assistant gdpr retention --dry-run`)",
    "Transport: TLS at the reverse proxy; e-mail relayed through the configured SMTP host",
)


def record_of_processing(fmt: str = "md") -> str:
    """The Art. 30 record of processing activities, generated from ``data_classes`` (``md`` or ``html``)."""
    from crm_store.services.retention import RetentionPolicy

    policy = RetentionPolicy()
    lines = [
        "# Record of processing activities (Art. 30 GDPR)",
        "",
        f"Generated {utcnow().date().isoformat()} from crm_store/models/data_classes.py.",
        "Controller: the company operating this CRM (name, address and data-protection officer to be "
        "filled in).",
        "",
    ]
    for key, purpose in PURPOSES.items():
        tables = [t for t, info in TABLES.items() if info.purpose == key]
        categories = []
        for t in tables:
            for name, col in columns_of(t).items():
                if col.data_class is not DataClass.NONE:
                    line = f"`{t}.{name}` ({col.data_class.value}; erasure: {col.erasure.value}"
                    line += f", {col.reason})" if col.reason else ")"
                    categories.append(line)
        lines += [
            f"## {purpose.title}",
            "",
            f"- Purpose: {purpose.description}",
            f"- Lawful basis: {purpose.lawful_basis}",
            f"- Data subjects: {purpose.subjects}",
            f"- Recipients / channels: {purpose.recipients}",
            f"- Retention: {purpose.retention}",
            f"- Tables: {', '.join(f'`{t}`' for t in tables) or '-'}",
            "- Categories of data:" if categories else "- Categories of data: none",
            *(f"  - {c}" for c in categories),
            "",
        ]
    lines += ["## Retention rules (crm-assistant gdpr retention)", ""]
    lines += [f"- {name}: {days} days" for name, days in vars(policy).items()]
    lines += ["", "## Technical and organisational measures (Art. 32)", ""]
    lines += [f"- {m}" for m in TOMS]
    lines += [
        "",
        "Special categories (Art. 9): none are collected on purpose; free text that contains them is "
        "erased with the text.",
        "",
    ]
    markdown = "\n".join(lines)
    if fmt == "md":
        return markdown
    return _markdown_html(markdown)


def _markdown_html(markdown: str) -> str:
    """The few markdown forms the record uses (headings, lists, code), as HTML."""
    out = [
        "<!doctype html><html lang='en'><head><meta charset='utf-8'>"
        "<title>Record of processing activities</title></head><body>"
    ]
    open_lists = 0
    for raw in markdown.splitlines():
        depth = (len(raw) - len(raw.lstrip(" "))) // 2 + 1 if raw.lstrip().startswith("- ") else 0
        while open_lists > depth:
            out.append("</ul>")
            open_lists -= 1
        while open_lists < depth:
            out.append("<ul>")
            open_lists += 1
        body = re.sub(r"`([^`]*)`", r"<code>\1</code>", html.escape(raw.strip().removeprefix("- ")))
        if raw.startswith("## "):
            out.append(f"<h2>{body[3:]}</h2>")
        elif raw.startswith("# "):
            out.append(f"<h1>{body[2:]}</h1>")
        elif depth:
            out.append(f"<li>{body}</li>")
        elif body:
            out.append(f"<p>{body}</p>")
    out += ["</ul>"] * open_lists + ["</body></html>"]
    return "\n".join(out)
