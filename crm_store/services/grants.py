"""What an anonymous chat has proven about its customer: the one place that decides, for one conversation.

Knowing an e-mail address and a ticket number proves nothing (addresses are not secrets, ticket numbers count
up). A conversation acts on a ticket only when it opened that ticket itself (a ``created`` grant) or when the
speaker typed a one-time code that we mailed to the contact's address (a ``code`` grant). Both belong to one
conversation key (``<channel>:<sender id>``, sealed by the channel) and lapse after an idle timeout.

Codes are six digits, live ten minutes, are used once, allow five tries and are rate-limited per conversation
and per contact. They are stored only as a salted SHA-256; the plain code leaves this module once, inside the
e-mail written to the outbox in the same transaction (``connectors/email/outbox.py`` sends it and then wipes
it from the row). Whether an address or a ticket matched is never visible to the caller: a pair that does not
match gets a decoy grant (no contact, nothing mailed) that is counted, tried and expires exactly like a real
one, so every answer up to the code check is the same.

    grants = CrmServices(session, Actor.customer(None)).grants
    grants.issue_code("web:3f9c...", "anna@example.com", ticket_number=1058, language="de")
    grants.verify_code("web:3f9c...", "493021").verified   # -> the conversation now acts as Anna
    grants.may_act_on("web:3f9c...", ticket)
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import re
import secrets
import threading
from collections.abc import Callable
from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from typing import Any, Literal

from sqlalchemy import func, select, update

from crm_store.models import Contact, ContactEmail, ConversationGrant, OutboxMessage, Ticket, utcnow
from crm_store.services.base import Service

CODE_DIGITS = 6
CODE_RE = re.compile(r"(?<!\d)\d{6}(?!\d)")
MAIL_CHANNEL = "email"
MAIL_KIND = "verification_code"
_HASH_VERSION = "s1"


@dataclass(frozen=True)
class GrantPolicy:
    """The limits of proving an address; ``idle`` comes from ``CRM_CUSTOMER_PROOF_IDLE_SECONDS``."""

    code_ttl: timedelta = timedelta(minutes=10)
    max_attempts: int = 5
    codes_per_conversation: int = 3  # per ``window``
    codes_per_contact: int = 3  # per ``window``; more are silently not mailed (no mail bombing)
    window: timedelta = timedelta(hours=1)
    idle: timedelta = timedelta(minutes=30)


_policy_lock = threading.Lock()
_policy = GrantPolicy()


def configure(*, idle_seconds: int | None = None) -> None:
    """Set this process's policy from the settings (``build_app`` calls it, like ``speaker_seal.configure``)."""
    global _policy
    if idle_seconds is None or idle_seconds <= 0:
        return
    with _policy_lock:
        _policy = replace(_policy, idle=timedelta(seconds=idle_seconds))


def current_policy() -> GrantPolicy:
    return _policy


def find_code(text: Any) -> str | None:
    """The six-digit code in what the customer typed ("493021", "code: 493 021" is not one)."""
    match = CODE_RE.search(str(text or ""))
    return match.group(0) if match else None


def hash_code(code: str, *, salt: str | None = None) -> str:
    """``s1$<salt>$<sha256>``, a fresh salt per grant; 59 characters, fits ``code_hash``."""
    salt = salt or secrets.token_urlsafe(9)
    digest = hashlib.sha256(f"{salt}:{code}".encode()).digest()
    return f"{_HASH_VERSION}${salt}${base64.urlsafe_b64encode(digest).rstrip(b'=').decode('ascii')}"


def code_matches(code: str, stored: str | None) -> bool:
    if not stored or stored.count("$") != 2:
        return False
    version, salt, _ = stored.split("$")
    return version == _HASH_VERSION and hmac.compare_digest(hash_code(code, salt=salt), stored)


IssueStatus = Literal["sent", "limited", "unavailable"]
VerifyStatus = Literal["verified", "wrong", "locked", "expired", "unavailable"]


@dataclass(frozen=True)
class CodeIssue:
    """``sent`` means "answered as if sent": the caller cannot tell a decoy from a real mail."""

    status: IssueStatus


@dataclass(frozen=True)
class Verification:
    status: VerifyStatus
    contact_id: int | None = None
    ticket_number: int | None = None
    attempts_left: int = 0

    @property
    def verified(self) -> bool:
        return self.status == "verified"


class GrantService(Service):
    """Grants for conversations; any speaker may ask, the rules (not the role) decide."""

    entity = "conversation_grant"

    def __init__(
        self,
        session: Any,
        actor: Any,
        *,
        policy: GrantPolicy | None = None,
        clock: Callable[[], datetime] = utcnow,
    ) -> None:
        super().__init__(session, actor)
        self.policy = policy or current_policy()
        self.clock = clock

    # --- codes -------------------------------------------------------------------------------------
    def issue_code(
        self, conversation: str | None, email: str, *, ticket_number: int | None = None, language: str = "en"
    ) -> CodeIssue:
        """Mail a code to ``email`` when it belongs to a contact (and, with ``ticket_number``, that contact
        asked for the ticket); answer the same either way. Older unused codes of the conversation die."""
        if not conversation:
            return CodeIssue("unavailable")
        now = self.clock()
        since = now - self.policy.window
        issued = self.session.execute(
            select(func.count())
            .select_from(ConversationGrant)
            .where(
                ConversationGrant.conversation == conversation,
                ConversationGrant.method == "code",
                ConversationGrant.created_at >= since,
            )
        ).scalar_one()
        if issued >= self.policy.codes_per_conversation:
            self.audit("grant.code_limited", None, {"codes_this_window": int(issued)})
            return CodeIssue("limited")
        self._retire_pending(conversation, now)
        contact_id, ticket = self._match(email, ticket_number)
        if contact_id is not None:
            mailed = self.session.execute(
                select(func.count())
                .select_from(ConversationGrant)
                .where(
                    ConversationGrant.contact_id == contact_id,
                    ConversationGrant.method == "code",
                    ConversationGrant.created_at >= since,
                )
            ).scalar_one()
            if mailed >= self.policy.codes_per_contact:
                contact_id, ticket = None, None  # a decoy: the contact's mailbox is not flooded
        code = f"{secrets.randbelow(10**CODE_DIGITS):0{CODE_DIGITS}d}"
        grant = ConversationGrant(
            conversation=conversation[:300],
            contact_id=contact_id,
            ticket_id=ticket.id if ticket is not None else None,
            method="code",
            code_hash=hash_code(code),
            attempts=0,
            code_expires_at=now + self.policy.code_ttl,
            created_at=now,
        )
        self.session.add(grant)
        self.session.flush()
        if contact_id is not None:
            self.session.add(
                OutboxMessage(
                    channel=MAIL_CHANNEL,
                    target=email.strip().lower()[:200],
                    payload={
                        "kind": MAIL_KIND,
                        "to": email.strip().lower(),
                        "code": code,  # wiped by the deliverer once sent or given up
                        "language": language if language in ("en", "de") else "en",
                        "ticket_number": ticket.number if ticket is not None else None,
                        "expires_at": grant.code_expires_at.isoformat() if grant.code_expires_at else None,
                    },
                    next_attempt_at=now,
                )
            )
        self.audit(
            "grant.code_sent",
            grant.id,
            {"mailed": contact_id is not None, "contact_id": contact_id, "ticket_id": grant.ticket_id},
        )
        return CodeIssue("sent")

    def verify_code(self, conversation: str | None, code: str) -> Verification:
        """Check the conversation's newest pending code; a right one turns it into a proof."""
        if not conversation:
            return Verification("unavailable")
        now = self.clock()
        grant = self._pending(conversation)
        if grant is None:
            return Verification("expired")
        if grant.code_expires_at is None or grant.code_expires_at <= now:
            grant.code_hash = None
            self.audit("grant.failed", grant.id, {"reason": "expired", "attempts": grant.attempts})
            return Verification("expired")
        grant.attempts += 1
        if grant.contact_id is not None and code_matches(code.strip(), grant.code_hash):
            grant.code_hash = None
            grant.granted_at = grant.last_used_at = now
            ticket = self.session.get(Ticket, grant.ticket_id) if grant.ticket_id is not None else None
            self.audit(
                "grant.verified", grant.id, {"contact_id": grant.contact_id, "attempts": grant.attempts}
            )
            return Verification(
                "verified",
                contact_id=grant.contact_id,
                ticket_number=ticket.number if ticket is not None else None,
            )
        left = max(0, self.policy.max_attempts - grant.attempts)
        if left == 0:
            grant.code_hash = None
        self.audit(
            "grant.failed",
            grant.id,
            {"reason": "wrong_code", "attempts": grant.attempts, "locked": left == 0},
        )
        return Verification("locked" if left == 0 else "wrong", attempts_left=left)

    def code_pending(self, conversation: str | None) -> bool:
        """Is a code waiting to be typed (not used up, not expired, tries left)?"""
        if not conversation:
            return False
        grant = self._pending(conversation)
        return (
            grant is not None and grant.code_expires_at is not None and grant.code_expires_at > self.clock()
        )

    # --- proofs ------------------------------------------------------------------------------------
    def record_created_ticket(self, conversation: str | None, ticket_id: int, contact_id: int | None) -> None:
        """The conversation opened ``ticket_id``: it may come back to that ticket (and only that one)."""
        if not conversation:
            return
        now = self.clock()
        grant = ConversationGrant(
            conversation=conversation[:300], contact_id=contact_id, ticket_id=ticket_id, method="created",
            granted_at=now, last_used_at=now, created_at=now,
        )  # fmt: skip
        self.session.add(grant)
        self.session.flush()
        self.audit("grant.created", grant.id, {"ticket_id": ticket_id, "contact_id": contact_id})

    def proven_contact(self, conversation: str | None) -> int | None:
        """The contact whose address this conversation proved with a code, while it is not idle too long."""
        if not conversation:
            return None
        now = self.clock()
        grant = self.session.execute(
            select(ConversationGrant)
            .where(
                ConversationGrant.conversation == conversation,
                ConversationGrant.method == "code",
                ConversationGrant.granted_at.is_not(None),
                ConversationGrant.contact_id.is_not(None),
                ConversationGrant.last_used_at >= now - self.policy.idle,
            )
            .order_by(ConversationGrant.id.desc())
            .limit(1)
        ).scalar_one_or_none()
        if grant is None or not self._contact_alive(grant.contact_id):
            return None
        grant.last_used_at = now
        return grant.contact_id

    def may_act_on(self, conversation: str | None, ticket: Ticket) -> bool:
        """May this conversation read or change ``ticket``: it opened it, or proved its requester's address."""
        if not conversation or ticket.requester_contact_id is None:
            return False
        if self.proven_contact(conversation) == ticket.requester_contact_id:
            return True
        now = self.clock()
        grant = self.session.execute(
            select(ConversationGrant)
            .where(
                ConversationGrant.conversation == conversation,
                ConversationGrant.method == "created",
                ConversationGrant.ticket_id == ticket.id,
                ConversationGrant.last_used_at >= now - self.policy.idle,
            )
            .order_by(ConversationGrant.id.desc())
            .limit(1)
        ).scalar_one_or_none()
        if grant is None:
            return False
        grant.last_used_at = now
        return True

    def granted_ticket(self, conversation: str | None, number: int) -> Ticket | None:
        """Ticket ``number`` when this conversation may act on it; None for a missing or foreign one alike."""
        if not conversation:
            return None
        ticket = self.session.execute(select(Ticket).where(Ticket.number == number)).scalar_one_or_none()
        return ticket if ticket is not None and self.may_act_on(conversation, ticket) else None

    def revoke(self, conversation: str | None) -> int:
        """End every grant of the conversation (log-out, hand-over to another person)."""
        if not conversation:
            return 0
        result = self.session.execute(
            update(ConversationGrant)
            .where(ConversationGrant.conversation == conversation)
            .values(code_hash=None, last_used_at=None)
            .execution_options(synchronize_session=False)
        )
        return int(getattr(result, "rowcount", 0) or 0)

    # --- helpers -----------------------------------------------------------------------------------
    def _pending(self, conversation: str) -> ConversationGrant | None:
        return self.session.execute(
            select(ConversationGrant)
            .where(
                ConversationGrant.conversation == conversation,
                ConversationGrant.method == "code",
                ConversationGrant.granted_at.is_(None),
                ConversationGrant.code_hash.is_not(None),
            )
            .order_by(ConversationGrant.id.desc())
            .limit(1)
        ).scalar_one_or_none()

    def _retire_pending(self, conversation: str, now: datetime) -> None:
        self.session.execute(
            update(ConversationGrant)
            .where(
                ConversationGrant.conversation == conversation,
                ConversationGrant.method == "code",
                ConversationGrant.granted_at.is_(None),
                ConversationGrant.code_hash.is_not(None),
            )
            .values(code_hash=None, code_expires_at=now)
            .execution_options(synchronize_session=False)
        )

    def _match(self, email: str, ticket_number: int | None) -> tuple[int | None, Ticket | None]:
        """The contact behind ``email`` (not erased) and, when asked, its ticket; (None, None) otherwise."""
        row = self.session.execute(
            select(Contact.id)
            .join(ContactEmail, ContactEmail.contact_id == Contact.id)
            .where(ContactEmail.address == email.strip().lower(), Contact.erased_at.is_(None))
        ).scalar_one_or_none()
        if row is None:
            return None, None
        if ticket_number is None:
            return int(row), None
        ticket = self.session.execute(
            select(Ticket).where(Ticket.number == ticket_number)
        ).scalar_one_or_none()
        if ticket is None or ticket.requester_contact_id != row:
            return None, None
        return int(row), ticket

    def _contact_alive(self, contact_id: int | None) -> bool:
        contact = self.session.get(Contact, contact_id) if contact_id is not None else None
        return contact is not None and contact.erased_at is None


__all__ = [
    "CodeIssue",
    "GrantPolicy",
    "GrantService",
    "Verification",
    "code_matches",
    "configure",
    "find_code",
    "hash_code",
]
