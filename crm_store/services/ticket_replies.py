"""An agent answers a ticket: the reply reaches the customer on the ticket's channel; a note reaches nobody.

    replies = TicketReplies(session, agent)
    sent = replies.send(ticket_id, "Please try again now.")          # e-mail: queued in the outbox
    note = replies.send(ticket_id, "Old SSO plan", kind="note")      # internal, never to the customer

The one rule for the agent page, ``POST /api/v1/tickets/{id}/messages`` and the Slack console:

* who may answer: whoever may update the ticket (``tickets.update`` in ``policy.yml``);
* an e-mail ticket's reply becomes an ``outbox_messages`` row (kind ``reply``) in the same transaction as
  the thread message, so it is sent once and never lost (``connectors/email/outbox.py`` delivers it),
  threaded: a new Message-ID, ``In-Reply-To`` the newest message of the thread that has one, ``References``
  the thread's ids, ``[#N]`` in the subject, in the customer's language;
* a web chat ticket's reply is on the thread; the caller pushes it to the open chat (``Delivery.chat``);
* a reply counts as the first response (``first_responded_at``) and moves a new ticket to open.
"""

from __future__ import annotations

from dataclasses import dataclass
from email.utils import make_msgid
from typing import Any, Literal

from sqlalchemy import select

from crm_store.models import Contact, OutboxMessage, Ticket, TicketMessage, utcnow
from crm_store.services.base import Service
from crm_store.services.errors import ValidationFailed
from crm_store.services.live_chat import conversation_of
from crm_store.services.tickets import TicketService

ReplyKind = Literal["outbound", "note"]
MAX_BODY_CHARS = 20_000
MAX_REFERENCES = 20
MAIL_CHANNEL = "email"
REPLY_KIND = "reply"


@dataclass(frozen=True)
class Delivery:
    """What became of a reply: the thread message, and where it goes."""

    message: TicketMessage
    via: str  # "email", "web_chat", "note", "stored" (a channel we cannot answer on: the agent is told)
    conversation: tuple[str, str] | None = None  # (channel, sender_id) of the chat to push it to


def reply_language(ticket: Ticket, contact: Contact | None) -> str:
    for lang in (ticket.language, contact.language if contact is not None else None):
        if lang in ("en", "de"):
            return lang
    return "en"


class TicketReplies(Service):
    entity = "ticket"
    owner_attr = "assignee_id"
    customer_attr = "requester_contact_id"

    def __init__(self, session: Any, actor: Any, *, mail_domain: str = "localhost") -> None:
        super().__init__(session, actor)
        self.mail_domain = mail_domain
        self.tickets = TicketService(session, actor)

    def send(self, ticket_id: int, body: str, *, kind: ReplyKind = "outbound") -> Delivery:
        if kind not in ("outbound", "note"):
            raise ValidationFailed('"direction" is "outbound" or "note"', "direction")
        text = (body or "").strip()
        if not text:
            raise ValidationFailed("the message is empty", "body")
        if len(text) > MAX_BODY_CHARS:
            raise ValidationFailed(f"at most {MAX_BODY_CHARS} characters", "body")
        ticket = self.tickets.get(ticket_id)  # 404 outside the read scope
        self.tickets.check_write(ticket)  # 403: may read, may not answer
        if kind == "note":
            msg = self.tickets.add_message(ticket.id, text, channel=ticket.channel, direction="internal")
            return Delivery(msg, "note")
        if ticket.status == "closed":
            raise ValidationFailed("this ticket is closed; reopen it to answer", "status")
        if ticket.channel == MAIL_CHANNEL:
            return self._mail(ticket, text)
        conv = conversation_of(self.session, ticket.id)
        msg = self.tickets.add_message(ticket.id, text, channel=ticket.channel, direction="outbound")
        self._opened(ticket)
        if conv is not None:
            return Delivery(msg, "web_chat", (conv.channel, conv.sender_id))
        return Delivery(msg, "stored")

    def _opened(self, ticket: Ticket) -> None:
        if ticket.status == "new":
            self.tickets.update(ticket.id, {"status": "open"})

    def _recipient(self, ticket: Ticket) -> tuple[str, Contact | None]:
        contact = (
            self.session.get(Contact, ticket.requester_contact_id) if ticket.requester_contact_id else None
        )
        address = contact.email if contact is not None else None
        if not address:  # no contact (a stranger's mail): whoever wrote the thread's first inbound mail
            address = (
                self.session.execute(
                    select(TicketMessage.author_address)
                    .where(
                        TicketMessage.ticket_id == ticket.id,
                        TicketMessage.direction == "inbound",
                        TicketMessage.author_address.is_not(None),
                    )
                    .order_by(TicketMessage.id)
                )
                .scalars()
                .first()
            )
        if not address:
            raise ValidationFailed("this ticket has no e-mail address to answer to", "requester_contact_id")
        return address, contact

    def _mail(self, ticket: Ticket, text: str) -> Delivery:
        address, contact = self._recipient(ticket)
        ids = [
            m
            for m in self.session.execute(
                select(TicketMessage.message_id)
                .where(
                    TicketMessage.ticket_id == ticket.id,
                    TicketMessage.message_id.is_not(None),
                    TicketMessage.direction != "internal",
                )
                .order_by(TicketMessage.created_at, TicketMessage.id)
            ).scalars()
            if m
        ]
        message_id = make_msgid("reply", domain=self.mail_domain).strip("<>")  # stored bare, as triage does
        msg = self.tickets.add_message(
            ticket.id,
            text,
            channel=MAIL_CHANNEL,
            direction="outbound",
            message_id=message_id,
            in_reply_to=ids[-1] if ids else None,
            recipients=[address.lower()],
        )
        now = utcnow()
        self.session.add(
            OutboxMessage(
                channel=MAIL_CHANNEL,
                target=address.lower()[:200],
                next_attempt_at=now,
                payload={
                    "kind": REPLY_KIND,
                    "to": address,
                    "body": text,
                    "message_id": message_id,
                    "in_reply_to": ids[-1] if ids else None,
                    "references": ids[-MAX_REFERENCES:],
                    "subject": ticket.subject,
                    "ticket_number": ticket.number,
                    "language": reply_language(ticket, contact),
                    "from_name": self.actor.name or None,
                    "ticket_message_id": msg.id,
                },
            )
        )
        self._opened(ticket)
        self.audit("reply", ticket.id, {"message": msg.id, "via": MAIL_CHANNEL})
        return Delivery(msg, MAIL_CHANNEL)
