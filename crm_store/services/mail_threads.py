"""May this mail join that ticket? The threading rule for inbound mail, asked by every mail path.

    threading = MailThreading(session, actor)
    decision = threading.thread_for(InboundMail(sender=..., sender_contact_id=..., subject=..., ...))
    if decision.ticket is not None:      # append, authored by the real sender
        ...
    else:                                # a new ticket; ``threading.flag(new, decision)`` links and flags it

Why here and not in the mail connector: e-mail addresses are not secrets, ticket numbers count up from
1000 and Message-IDs travel in every quoted reply, so "which ticket does this mail name?" is a hint and
"may its sender write there?" is a business rule (issue 10). The connector converts a raw mail into an
``InboundMail`` (including what our own MTA recorded in ``Authentication-Results``); this module decides.

The rule:

- The candidate tickets are those whose stored ``TicketMessage.message_id`` the mail's In-Reply-To or
  References name (newest first), then the ``[#N]`` token of the subject.
- A mail joins a candidate only when (a) our MTA did not record an SPF ``fail``/``softfail``, a DKIM
  ``fail`` or a DMARC ``fail`` for it, and (b) its sender is the requester (any of the requester
  contact's addresses: an address belongs to exactly one contact) or already a participant of that
  thread: the author (address or contact) of an earlier inbound message, or an address an earlier
  message on the thread was sent to (To/Cc of a participant's mail or of our outbound mail). Being at
  the requester's company is not enough: a colleague must have been brought into the thread.
- A closed ticket is never joined.
- Anything else opens a new ticket; when there was a candidate, ``flag`` links the new ticket to it
  (``related_ticket_id``) and sets ``needs_human`` with a ``review_reason`` such as
  ``sender not on ticket #1000`` or ``DMARC fail``. The old ticket is not touched (not reopened).
  Mail that failed authentication is always flagged (with or without a candidate) and is never
  acknowledged: its From: is likely forged, and an acknowledgement would be backscatter.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass, field

from sqlalchemy import select

from crm_store.models import Ticket, TicketMessage
from crm_store.services.base import Service

TICKET_TOKEN = re.compile(r"\[#\s*(\d{3,9})\]")
MAX_CANDIDATE_IDS = 50  # In-Reply-To plus the newest References; older ones add nothing but query size
REVIEW_REASON_CHARS = 200  # Ticket.review_reason


@dataclass(frozen=True, slots=True)
class MailAuth:
    """What the receiving MTA recorded (RFC 8601 ``Authentication-Results``), reduced to the verdicts.

    Each field is the lower-cased result words of that method (``pass``, ``fail``, ``softfail``,
    ``none``, ...); empty when our MTA recorded nothing for it. ``MailAuth()`` means "not checked".
    """

    spf: tuple[str, ...] = ()
    dkim: tuple[str, ...] = ()
    dmarc: tuple[str, ...] = ()

    @property
    def failures(self) -> list[str]:
        """The failed checks as agents read them: ``["DMARC fail", "SPF softfail"]``; empty: not failed."""
        out = [f"DMARC {r}" for r in dict.fromkeys(self.dmarc) if r == "fail"]
        out += [f"SPF {r}" for r in dict.fromkeys(self.spf) if r in ("fail", "softfail")]
        out += [f"DKIM {r}" for r in dict.fromkeys(self.dkim) if r == "fail"]
        return out

    @property
    def failed(self) -> bool:
        return bool(self.failures)


@dataclass(frozen=True, slots=True)
class InboundMail:
    """The facts of one inbound mail the threading rule needs, as the connector parsed them."""

    sender: str  # the From: address, lower-cased ("" when the mail has none)
    sender_contact_id: int | None  # the contact that owns ``sender`` (the connector creates unknown ones)
    subject: str = ""
    in_reply_to: str | None = None
    references: Sequence[str] = ()
    recipients: Sequence[str] = ()  # To and Cc, lower-cased
    auth: MailAuth = field(default_factory=MailAuth)


@dataclass(frozen=True, slots=True)
class ThreadDecision:
    """Where a mail goes: ``ticket`` to append to, or a new ticket (``ticket is None``).

    For a new ticket, ``related`` is the ticket the mail named but may not join (linked, not changed)
    and ``reason`` what an agent must review; ``needs_review`` says whether to flag the new ticket.
    """

    ticket: Ticket | None = None
    related: Ticket | None = None
    reason: str | None = None
    auth_failed: bool = False

    @property
    def joins(self) -> bool:
        return self.ticket is not None

    @property
    def needs_review(self) -> bool:
        return self.ticket is None and self.reason is not None


class MailThreading(Service):
    """The mail threading rule of the ticket service (see the module docstring)."""

    entity = "ticket"

    def candidates(self, mail: InboundMail) -> list[Ticket]:
        """The tickets the mail names: by In-Reply-To/References (newest match first), then ``[#N]``."""
        found: list[Ticket] = []
        ids = list(dict.fromkeys(i for i in [mail.in_reply_to, *reversed(mail.references)] if i))
        if ids:
            rows = self.session.execute(
                select(Ticket)
                .join(TicketMessage, TicketMessage.ticket_id == Ticket.id)
                .where(TicketMessage.message_id.in_(ids[:MAX_CANDIDATE_IDS]))
                .order_by(TicketMessage.id.desc())
            ).scalars()
            found.extend(rows)
        match = TICKET_TOKEN.search(mail.subject or "")
        if match is not None:
            ticket = self.session.execute(
                select(Ticket).where(Ticket.number == int(match.group(1)))
            ).scalar_one_or_none()
            if ticket is not None:
                found.append(ticket)
        return list({t.id: t for t in found}.values())  # first occurrence wins, order kept

    def may_join(self, ticket: Ticket, mail: InboundMail) -> bool:
        """The sender is the requester or already a participant of ``ticket``'s thread (by address)."""
        if mail.sender_contact_id is not None and mail.sender_contact_id == ticket.requester_contact_id:
            return True  # one of the requester's addresses: an address belongs to one contact only
        if not mail.sender:
            return False
        rows = self.session.execute(
            select(
                TicketMessage.direction,
                TicketMessage.author_address,
                TicketMessage.author_contact_id,
                TicketMessage.recipients,
            ).where(TicketMessage.ticket_id == ticket.id)
        ).all()
        for direction, author_address, author_contact_id, recipients in rows:
            if direction == "inbound":
                if author_address == mail.sender:
                    return True
                if mail.sender_contact_id is not None and author_contact_id == mail.sender_contact_id:
                    return True
            if recipients and mail.sender in recipients:
                return True
        return False

    def thread_for(self, mail: InboundMail) -> ThreadDecision:
        """Which ticket this mail joins, or why it opens a new one (see the module docstring)."""
        failures = mail.auth.failures
        candidates = self.candidates(mail)
        open_ones = [t for t in candidates if t.status != "closed"]
        if not failures:
            for ticket in open_ones:
                if self.may_join(ticket, mail):
                    return ThreadDecision(ticket=ticket)
        related = open_ones[0] if open_ones else (candidates[0] if candidates else None)
        reasons = list(failures)
        if related is not None:
            # without failures every open candidate was refused above: no need to ask again
            on_thread = bool(failures or related.status == "closed") and self.may_join(related, mail)
            if on_thread and not failures:
                return ThreadDecision(related=related)  # a follow-up to a closed ticket: linked, no review
            if not on_thread:
                reasons.append(f"sender not on ticket #{related.number}")
        reason = "; ".join(reasons)[:REVIEW_REASON_CHARS] or None
        return ThreadDecision(related=related, reason=reason, auth_failed=bool(failures))

    def flag(self, ticket: Ticket, decision: ThreadDecision) -> None:
        """Link a ticket opened instead of joining and flag it for an agent with the reason (audited)."""
        if decision.related is not None:
            ticket.related_ticket_id = decision.related.id
        if not decision.needs_review:
            return
        ticket.needs_human = True
        ticket.review_reason = decision.reason
        payload: dict[str, object] = {"needs_human": True, "reason": decision.reason}
        if decision.related is not None:
            payload["related_ticket"] = decision.related.number
        self.audit("review", ticket.id, payload)


__all__ = ["TICKET_TOKEN", "InboundMail", "MailAuth", "MailThreading", "ThreadDecision"]
