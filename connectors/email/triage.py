"""Inbound e-mail triage: one raw RFC 5322 message in, one store transaction, one ``TriageResult`` out.

    triage = TriageService(db, classifier, routing=Router.from_yaml())
    result = triage.process(raw_bytes, source="smtp")

Rules (issue 5): each Message-ID (or, without one, a hash of From, Date, Subject and body) is processed
once: a ``ProcessedEvent`` row is inserted in the same transaction as everything else, and losing a race
on its unique index makes the mail a duplicate. Robots (bounces, out-of-office, bulk) and spam get no
ticket and no acknowledgement. The sender becomes a contact (with an organisation from the domain,
except freemail). Whether a mail joins the ticket it names (In-Reply-To/References or a ``[#4711]``
subject token) is the ticket service's rule (``crm_store.services.mail_threads``): only the requester or
a participant of that thread may, and only when our MTA's ``Authentication-Results`` record no SPF, DKIM
or DMARC failure; the appended message is authored by the real sender. Anything else opens a new ticket
linked to the named one and flagged for an agent; mail that failed authentication is never
acknowledged. Sales mail becomes a lead deal; privacy mail a GDPR request plus a ticket. Broken MIME is
kept: a ticket with the raw text, priority ``normal``, flagged ``needs_human``.
"""

from __future__ import annotations

import hashlib
import json
import logging
import re
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from datetime import datetime, timedelta
from email.utils import getaddresses
from typing import Any, Literal, Protocol

from sqlalchemy import func, select
from sqlalchemy.exc import IntegrityError, OperationalError, SQLAlchemyError
from sqlalchemy.orm import Session

from connectors.email.model import authentication_results
from connectors.email.routing import Router, TeamCache
from crm_store.db import Database, StoreUnavailable
from crm_store.models import Contact, ProcessedEvent, utcnow
from crm_store.services import Actor, CrmServices
from crm_store.services.errors import Conflict, CrmError
from crm_store.services.mail_threads import InboundMail, MailThreading, ThreadDecision
from nlu.email_autoreply import is_no_reply_address
from nlu.email_classifier import EmailLabel
from nlu.email_text import ParsedMail, parse_mail

log = logging.getLogger(__name__)

# "failed": only from ``process_batch``, for a mail rolled back alone (not processed; redeliver it)
Action = Literal["created", "appended", "duplicate", "ignored", "lead", "gdpr_request", "failed"]
EVENT_SOURCE = "email"  # one namespace for every inbound path: SMTP and IMAP never both process a mail
ACK_SOURCE = "email-ack"
ACKS_PER_HOUR = 3
NO_TICKET_QUEUES = frozenset({"auto_reply", "spam"})
FREEMAIL_DOMAINS = frozenset(
    {
        "gmail.com", "googlemail.com", "gmx.de", "gmx.net", "gmx.at", "gmx.ch", "gmx.com", "web.de",
        "outlook.com", "outlook.de", "hotmail.com", "hotmail.de", "live.com", "live.de", "msn.com",
        "yahoo.com", "yahoo.de", "ymail.com", "t-online.de", "icloud.com", "me.com", "mac.com",
        "posteo.de", "posteo.net", "mailbox.org", "freenet.de", "aol.com", "aol.de", "protonmail.com",
        "proton.me", "gmx.org", "arcor.de", "1und1.de", "online.de", "yandex.com", "mail.ru", "zoho.com",
    }
)  # fmt: skip
# MIME structure defects after which the parsed text cannot be trusted: keep the raw text instead.
BROKEN_DEFECTS = frozenset(
    {
        "StartBoundaryNotFoundDefect", "CloseBoundaryNotFoundDefect", "MultipartInvariantViolationDefect",
        "MissingHeaderBodySeparatorDefect", "InvalidMultipartContentTransferEncodingDefect",
        "MisplacedEnvelopeHeaderDefect", "NoBoundaryInMultipartDefect",
    }
)  # fmt: skip
ERASURE = re.compile(r"\b(?:delete|erase|remove|forget)\b|lösch|entfern|vergessen|art\.?\s*17", re.IGNORECASE)
OBJECTION = re.compile(
    r"unsubscribe|newsletter|marketing|opt[- ]?out|abmeld|austragen|widersp|art\.?\s*21", re.IGNORECASE
)
# Art. 18 (checked first: "restrict it instead of deleting it" is a restriction) and Art. 16, EN/DE; German
# "schränken Sie ... ein" is a separable verb
RESTRICTION = re.compile(
    r"\brestrict|\beinschränk|\beinzuschränk|\bschränken\b[^.?!\n]{0,60}\bein\b|\bsperrung\b|art\.?\s*18\b",
    re.IGNORECASE,
)
RECTIFICATION = re.compile(r"\brectif|\bberichtig|art\.?\s*16\b", re.IGNORECASE)
MAX_RAW_CHARS = 100_000
MAX_RECIPIENTS = 50  # To/Cc addresses kept per message (they make participants of the thread)
AUTH_FAILED = "auth_failed"  # TriageResult.flags: SPF/DKIM/DMARC failed; never acknowledged
NOT_CLASSIFIED = EmailLabel(queue="other", priority="normal", language="", confidence=0.0)


class MailClassifier(Protocol):
    def predict(self, mail: ParsedMail) -> EmailLabel: ...


@dataclass(slots=True)
class TriageResult:
    message_id: str
    queue: str
    priority: str
    language: str
    confidence: float
    action: Action
    contact_id: int | None = None
    ticket_number: int | None = None
    team: str | None = None
    assignee_id: int | None = None
    ack: bool = False  # an acknowledgement is due (and already counted against the sender's hourly limit)
    automatic: str | None = None
    organization_id: int | None = None
    deal_id: int | None = None
    gdpr_request_id: int | None = None
    flags: list[str] = field(default_factory=list)
    from_addr: str = ""
    subject: str = ""
    related_ticket: int | None = None  # the ticket the mail named but could not join
    review_reason: str | None = None  # why the new ticket waits for an agent (``Ticket.review_reason``)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def idempotency_key(mail: ParsedMail, raw: bytes) -> str:
    """The Message-ID, or a hash of From + Date + Subject + body for mail without one."""
    if mail.message_id:
        return mail.message_id[:990]
    basis = "\n".join(
        [mail.from_addr, mail.headers.get("date", ""), mail.subject, mail.text or raw.decode("latin-1")]
    )
    return "sha256:" + hashlib.sha256(basis.encode("utf-8", "replace")).hexdigest()


def is_broken(mail: ParsedMail) -> bool:
    return any(defect in BROKEN_DEFECTS for defect in mail.defects)


def sender_domain(addr: str) -> str | None:
    domain = addr.rsplit("@", 1)[1].strip().lower() if "@" in addr else ""
    return domain or None


def is_freemail(domain: str | None) -> bool:
    return domain is None or domain in FREEMAIL_DOMAINS


class TriageService:
    def __init__(
        self,
        db: Database | None,
        classifier: MailClassifier,
        *,
        routing: Router,
        now: datetime | Callable[[], datetime] | None = None,
        acks_per_hour: int = ACKS_PER_HOUR,
        authserv_id: str | None = None,
    ) -> None:
        """``authserv_id``: our MTA's RFC 8601 authserv-id (CRM_MAIL_AUTHSERV_ID); only its
        Authentication-Results headers are believed. ``None``: only the top-most header."""
        self.db = db
        self.authserv_id = authserv_id
        self.classifier = classifier
        self.routing = routing
        self._now = now
        self.acks_per_hour = acks_per_hour
        self.actor = Actor.system("triage")

    def now(self) -> datetime:
        if self._now is None:
            return utcnow()
        return self._now() if callable(self._now) else self._now

    # --- read only ------------------------------------------------------------------------------

    def classify(self, raw: bytes) -> dict[str, Any]:
        """Labels plus what ``process`` would link (contact, ticket, team); writes nothing.

        Without a reachable store the contact and thread lookups are skipped.
        """
        mail = parse_mail(raw)
        label = self._label(mail)
        route = self.routing.route(queue=label.queue, priority=label.priority, language=label.language)
        out: dict[str, Any] = {
            "message_id": mail.message_id,
            "queue": label.queue,
            "priority": label.priority,
            "language": label.language,
            "confidence": round(label.confidence, 4),
            "automatic": label.automatic,
            "from": mail.from_addr or None,
            "contact_id": None,
            "organization_id": None,
            "thread_ticket": None,
            "team": None if label.queue in NO_TICKET_QUEUES else route.team,
        }
        if is_broken(mail):
            out["flags"] = ["broken_mime"]
        if self.db is None:
            return out
        try:
            with self.db.session() as session:
                contact = self._crm(session).contacts.by_email(mail.from_addr) if mail.from_addr else None
                if contact is not None:
                    out["contact_id"] = contact.id
                    out["organization_id"] = contact.organization_id
                decision = self._thread(session, mail, raw, contact)
                out["thread_ticket"] = decision.ticket.number if decision.ticket is not None else None
                if decision.related is not None:
                    out["related_ticket"] = decision.related.number
                if decision.reason is not None:
                    out["review_reason"] = decision.reason
                out["already_processed"] = self._seen_in(session, idempotency_key(mail, raw))
                org = contact.organization if contact is not None else None
                if org is not None and label.queue not in NO_TICKET_QUEUES:
                    routed = self.routing.route(
                        queue=label.queue, priority=label.priority, language=label.language,
                        segment=org.segment, vip=org.vip,
                    )  # fmt: skip
                    out["team"], out["priority"] = routed.team, routed.priority
                session.rollback()
        except (StoreUnavailable, SQLAlchemyError) as exc:
            log.info("store unavailable for the dry run, lookups skipped: %s", type(exc).__name__)
        return out

    # --- processing -----------------------------------------------------------------------------

    def process(self, raw: bytes, *, source: str = "smtp") -> TriageResult:
        """Triage one message in one transaction. Raises ``StoreUnavailable`` when the store is down."""
        mail = parse_mail(raw)
        return self._store(mail, raw, self._label(mail), source)

    def process_batch(self, raws: list[bytes], *, source: str = "smtp") -> list[TriageResult]:
        """Like ``process`` for each message, in one transaction with a savepoint per mail.

        The encoder runs once for the batch; mails already processed are not classified again (their
        result says queue ``other``, confidence 0). A mail whose processing fails is rolled back alone
        (its savepoint), reported with action ``failed`` and stays unprocessed, so a redelivery retries
        it; the others commit together. A failure of the batch classifier falls back to one mail at a
        time. A lost race on the idempotency row makes that mail a duplicate, as in ``process``.
        Raises ``StoreUnavailable`` (nothing committed) when the store is down.
        """
        if self.db is None:
            raise StoreUnavailable("triage needs a store; use classify() for a dry run")
        mails = [parse_mail(raw) for raw in raws]
        keys = [idempotency_key(m, raw) for m, raw in zip(mails, raws, strict=True)]
        with self.db.session() as session:
            seen = self._seen_keys(session, keys)
        fresh = [i for i, key in enumerate(keys) if key not in seen]
        labels: dict[int, EmailLabel] = {}
        predict_many = getattr(self.classifier, "predict_many", None)
        if fresh and predict_many is not None:
            try:
                labels = dict(zip(fresh, predict_many([mails[i] for i in fresh]), strict=True))
            except Exception:
                log.exception("batch classification failed; classifying one by one")
        results: list[TriageResult] = []
        with self.db.session() as session:
            _begin_outer(session)
            cache = _BatchCache()
            for i, (mail, raw, key) in enumerate(zip(mails, raws, keys, strict=True)):
                if key in seen:
                    results.append(self._duplicate(key, NOT_CLASSIFIED, mail))
                    continue
                label = labels[i] if i in labels else self._label(mail)
                try:
                    with session.begin_nested():
                        result = self._process(session, mail, raw, key, label, source, cache=cache)
                except IntegrityError:
                    cache.clear()
                    if not self._seen_in(session, key):  # not a lost race: this mail is broken
                        log.exception("mail %s failed; rolled back alone", key)
                        result = self._failed(key, label, mail)
                    else:
                        result = self._duplicate(key, label, mail)
                except (StoreUnavailable, OperationalError):
                    raise  # the store is gone: nothing of the batch is committed
                except Exception:
                    cache.clear()
                    log.exception("mail %s failed; rolled back alone", key)
                    result = self._failed(key, label, mail)
                results.append(result)
        for result in results:
            log.info("mail %s -> %s %s", result.message_id, result.action, result.ticket_number or "")
        return results

    def _store(self, mail: ParsedMail, raw: bytes, label: EmailLabel, source: str) -> TriageResult:
        if self.db is None:
            raise StoreUnavailable("triage needs a store; use classify() for a dry run")
        key = idempotency_key(mail, raw)
        try:
            with self.db.session() as session:
                result = self._process(session, mail, raw, key, label, source)
        except IntegrityError:
            if self._seen(key):  # another worker committed the same mail first
                return self._duplicate(key, label, mail)
            raise
        log.info("mail %s -> %s %s", key, result.action, result.ticket_number or "")
        return result

    def _process(
        self,
        session: Session,
        mail: ParsedMail,
        raw: bytes,
        key: str,
        label: EmailLabel,
        source: str,
        *,
        cache: _BatchCache | None = None,
    ) -> TriageResult:
        if self._seen_in(session, key):
            return self._duplicate(key, label, mail)
        event = ProcessedEvent(source=EVENT_SOURCE, key=key, processed_at=self.now())
        session.add(event)
        session.flush()  # the unique index decides a race here, before anything else is written

        result = TriageResult(
            message_id=key, queue=label.queue, priority=label.priority, language=label.language,
            confidence=round(label.confidence, 4), action="ignored", automatic=label.automatic,
            from_addr=mail.from_addr, subject=mail.subject,
        )  # fmt: skip
        broken = is_broken(mail)
        if broken:
            result.flags.append("broken_mime")
            result.priority = "normal"
        if label.queue in NO_TICKET_QUEUES and not broken:
            event.result = json.dumps({"action": "ignored", "source": source, "queue": label.queue})
            return result

        crm = self._crm(session)
        contact = self._contact(crm, mail, cache)
        if contact is not None:
            result.contact_id, result.organization_id = contact.id, contact.organization_id
        body = _raw_text(raw) if broken else (mail.new_text or mail.text)

        decision = self._thread(session, mail, raw, contact)
        if decision.auth_failed:
            result.flags.append(AUTH_FAILED)
        thread = decision.ticket
        if thread is not None:
            try:
                added = crm.tickets.add_message(
                    thread.id, body, channel="email", message_id=mail.message_id, in_reply_to=mail.in_reply_to,
                    author_contact_id=contact.id if contact is not None else None,
                    author_address=mail.from_addr or None, recipients=_recipients(mail),
                )  # fmt: skip
            except Conflict:  # this Message-ID is already on a ticket: delivered before under another key
                result.action = "duplicate"
                result.ticket_number = thread.number
                return result
            if mail.attachments:
                crm.tickets.record_attachments(added.id, _attachment_names(mail))
            result.action, result.ticket_number = "appended", thread.number
            result.queue, result.team = thread.queue, None
            event.result = json.dumps({"action": "appended", "source": source, "ticket": thread.number})
            return result

        org = contact.organization if contact is not None else None
        route = self.routing.route(
            queue=label.queue, priority=result.priority, language=label.language,
            segment=org.segment if org is not None else None, vip=bool(org is not None and org.vip),
        )  # fmt: skip
        result.team = route.team
        if not broken:
            result.priority = route.priority

        if decision.related is not None:
            result.related_ticket = decision.related.number
        if label.queue == "sales" and not broken and not decision.needs_review:
            deal = crm.deals.create(
                {
                    "name": (mail.subject or f"Enquiry from {mail.from_addr}")[:200],  # DealIn's limit
                    "contact_id": contact.id if contact is not None else None,
                    "stage": "lead",
                }
            )
            result.action, result.deal_id = "lead", deal.id
            event.result = json.dumps({"action": "lead", "source": source, "deal": deal.id})
            return result

        assignment = self.routing.assign(
            session, route.team, label.language, cache=cache.teams if cache is not None else None
        )
        ticket = crm.tickets.create(
            {
                "subject": (mail.subject or "(no subject)")[:500],
                "description": body[:100_000],
                "priority": result.priority,
                "queue": label.queue if label.queue not in NO_TICKET_QUEUES else "other",
                "language": label.language if re.fullmatch(r"[a-z]{2}", label.language or "") else None,
                "requester_contact_id": contact.id if contact is not None else None,
                "team_id": assignment.team_id,
                "assignee_id": assignment.assignee_id,
                "channel": "email",
            },
            message_id=mail.message_id,
        )
        if ticket.messages:  # the opening mail: its real sender and whom it brought into the thread
            ticket.messages[0].author_address = mail.from_addr or None
            ticket.messages[0].recipients = None if decision.auth_failed else _recipients(mail)
        MailThreading(session, self.actor).flag(ticket, decision)
        crm.tickets.record_triage(ticket.id, {
            "queue": label.queue, "priority": result.priority, "classified_priority": label.priority,
            "language": label.language, "confidence": result.confidence, "rules": list(route.matched),
            "team": route.team, "flags": list(result.flags), "automatic": label.automatic,
        })  # fmt: skip
        if ticket.messages and mail.attachments:
            crm.tickets.record_attachments(ticket.messages[0].id, _attachment_names(mail))
        result.review_reason = ticket.review_reason
        if broken:
            ticket.needs_human = True
        result.action, result.ticket_number, result.assignee_id = (
            "created",
            ticket.number,
            assignment.assignee_id,
        )
        if label.queue == "privacy" and contact is not None and not broken and not decision.auth_failed:
            # tracked and due in a month, but NOT verified: a From: proves nothing, so nothing is disclosed
            # or erased until the person proves who they are (chat code, or an admin's verify-request)
            request = crm.gdpr.request(
                contact.id, _gdpr_kind(mail), via="email", note=f"ticket #{ticket.number}"
            )
            result.action, result.gdpr_request_id = "gdpr_request", request.id
        # a forged From: must not get our mail (backscatter); a stranger's new ticket is acknowledged
        # like any new ticket, naming only its own number and the subject the sender wrote
        result.ack = not decision.auth_failed and self._reserve_ack(session, mail, key)
        event.result = json.dumps({"action": result.action, "source": source, "ticket": ticket.number})
        return result

    def record_outbound(self, ticket_number: int, body: str, *, message_id: str) -> None:
        """Put a mail we sent (an acknowledgement) on the ticket, so replies to it thread by In-Reply-To."""
        assert self.db is not None
        with self.db.session() as session:
            crm = self._crm(session)
            ticket = crm.tickets.by_number(ticket_number)
            crm.tickets.add_message(
                ticket.id, body, channel="email", message_id=message_id, direction="outbound"
            )

    # --- pieces ---------------------------------------------------------------------------------

    def _label(self, mail: ParsedMail) -> EmailLabel:
        try:
            return self.classifier.predict(mail)
        except Exception:  # a model failure must not lose the mail: it becomes a normal ticket in "other"
            log.exception("classifier failed; the mail is kept in queue 'other'")
            return EmailLabel(queue="other", priority="normal", language="en", confidence=0.0)

    def _crm(self, session: Session) -> CrmServices:
        return CrmServices(session, self.actor)

    def _seen(self, key: str) -> bool:
        assert self.db is not None
        with self.db.session() as session:
            return self._seen_in(session, key)

    @staticmethod
    def _seen_keys(session: Session, keys: list[str]) -> set[str]:
        """Which of ``keys`` are already processed: one query for a whole batch."""
        if not keys:
            return set()
        stmt = select(ProcessedEvent.key).where(
            ProcessedEvent.source == EVENT_SOURCE, ProcessedEvent.key.in_(set(keys))
        )
        return set(session.execute(stmt).scalars())

    @staticmethod
    def _seen_in(session: Session, key: str) -> bool:
        stmt = select(ProcessedEvent.id).where(
            ProcessedEvent.source == EVENT_SOURCE, ProcessedEvent.key == key
        )
        return session.execute(stmt).scalar() is not None

    @staticmethod
    def _duplicate(key: str, label: EmailLabel, mail: ParsedMail) -> TriageResult:
        return TriageResult(
            message_id=key, queue=label.queue, priority=label.priority, language=label.language,
            confidence=round(label.confidence, 4), action="duplicate", automatic=label.automatic,
            from_addr=mail.from_addr, subject=mail.subject,
        )  # fmt: skip

    @staticmethod
    def _failed(key: str, label: EmailLabel, mail: ParsedMail) -> TriageResult:
        result = TriageService._duplicate(key, label, mail)
        result.action = "failed"
        return result

    def _contact(
        self, crm: CrmServices, mail: ParsedMail, cache: _BatchCache | None = None
    ) -> Contact | None:
        if not mail.from_addr or "@" not in mail.from_addr:
            return None
        existing = crm.contacts.by_email(mail.from_addr)
        if existing is not None:
            return existing
        domain = sender_domain(mail.from_addr)
        org_id: int | None = None
        if domain is not None and not is_freemail(domain):
            if cache is not None and domain in cache.org_ids:
                org_id = cache.org_ids[domain]
            else:
                org = crm.organizations.by_domain(domain)
                if org is None:
                    try:
                        org = crm.organizations.create({"name": _org_name(domain), "domain": domain})
                    except CrmError:  # an odd domain the schema refuses: the contact comes without one
                        org = None
                org_id = org.id if org is not None else None
                if cache is not None and org_id is not None:
                    cache.org_ids[domain] = org_id
        first, last = _split_name(mail.from_name)
        try:
            contact = crm.contacts.create(
                {"first_name": first, "last_name": last, "email": mail.from_addr, "organization_id": org_id}
            )
        except CrmError:  # an address the validator refuses: keep the mail, without a contact
            log.info("sender address refused as a contact address")
            return None
        return contact  # no second lookup: it costs a query with eager loads per new sender

    def _thread(
        self, session: Session, mail: ParsedMail, raw: bytes, contact: Contact | None
    ) -> ThreadDecision:
        """Ask the ticket service which ticket this mail joins (In-Reply-To/References, ``[#nnnn]``)."""
        inbound = InboundMail(
            sender=mail.from_addr if "@" in mail.from_addr else "",
            sender_contact_id=contact.id if contact is not None else None,
            subject=mail.subject,
            in_reply_to=mail.in_reply_to,
            references=mail.references,
            recipients=_recipients(mail),
            auth=authentication_results(raw, self.authserv_id),
        )
        return MailThreading(session, self.actor).thread_for(inbound)

    def _reserve_ack(self, session: Session, mail: ParsedMail, key: str) -> bool:
        """True when an acknowledgement may go out; counts it (in the store) against the hourly limit."""
        addr = mail.from_addr
        if not addr or is_no_reply_address(addr) or mail.headers.get("auto-submitted", "no").lower() != "no":
            return False
        now = self.now()
        prefix = f"{addr} "
        sent = session.execute(
            select(func.count(ProcessedEvent.id)).where(
                ProcessedEvent.source == ACK_SOURCE,
                ProcessedEvent.key.startswith(prefix, autoescape=True),
                ProcessedEvent.processed_at > now - timedelta(hours=1),
            )
        ).scalar_one()
        if sent >= self.acks_per_hour:
            return False
        session.add(ProcessedEvent(source=ACK_SOURCE, key=f"{prefix}{key}"[:998], processed_at=now))
        return True


@dataclass(slots=True)
class _BatchCache:
    """Look-ups that repeat within one batch transaction; cleared when a mail's savepoint rolls back."""

    org_ids: dict[str, int] = field(default_factory=dict)  # sender domain -> organisation id
    teams: TeamCache = field(default_factory=dict)  # team name -> id and available members

    def clear(self) -> None:
        self.org_ids.clear()
        self.teams.clear()


def _begin_outer(session: Session) -> None:
    """SQLite's driver starts transactions lazily: without this the first SAVEPOINT's release commits."""
    conn = session.connection()
    raw = conn.connection.dbapi_connection
    if conn.dialect.name == "sqlite" and raw is not None and not getattr(raw, "in_transaction", True):
        conn.exec_driver_sql("BEGIN")


def _gdpr_kind(mail: ParsedMail) -> str:
    """Which right a privacy mail invokes (an agent reads the ticket and may correct it)."""
    text = f"{mail.subject}\n{mail.new_text or mail.text}"
    if RESTRICTION.search(text):
        return "restriction"
    if ERASURE.search(text):
        return "erasure"
    if RECTIFICATION.search(text):
        return "rectification"
    if OBJECTION.search(text):
        return "objection"
    return "access"


def _split_name(name: str) -> tuple[str, str]:
    name = " ".join(name.replace('"', "").split())
    if "," in name:  # "Schmidt, Anna"
        last, _, first = name.partition(",")
        return first.strip()[:120], last.strip()[:120]
    first, _, last = name.rpartition(" ")
    return first[:120], last[:120]


def _org_name(domain: str) -> str:
    label = domain.split(".")[-2] if domain.count(".") >= 1 else domain
    return label.replace("-", " ").title()[:300]


def _recipients(mail: ParsedMail) -> list[str]:
    """To and Cc, lower-cased, without duplicates (bounded: a mail can name thousands)."""
    cc = [addr.lower() for _, addr in getaddresses([mail.headers.get("cc", "")]) if "@" in addr]
    return list(dict.fromkeys(a for a in [*mail.to, *cc] if "@" in a))[:MAX_RECIPIENTS]


def _attachment_names(mail: ParsedMail) -> list[str]:
    return [(a.name or "(unnamed)")[:200] for a in mail.attachments][:50]


def _raw_text(raw: bytes) -> str:
    return raw.decode("utf-8", "replace")[:MAX_RAW_CHARS]


__all__ = [
    "ACKS_PER_HOUR",
    "AUTH_FAILED",
    "FREEMAIL_DOMAINS",
    "MailClassifier",
    "TriageResult",
    "TriageService",
    "idempotency_key",
    "is_freemail",
]
