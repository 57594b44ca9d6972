"""Live hand-over from the agent's side: which chat a ticket is talking to, and giving it back to the bot.

The bot pauses a conversation when it hands over (``actions/handover.py``); while paused, the customer's
messages go to the ticket and the agent's replies to the chat (``ticket_replies``). ``release`` ends that:
the conversation is resumed (the bot answers again), the ticket no longer needs a person, and it is audited.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from sqlalchemy import select

from crm_store.models import Conversation, ConversationEvent, Ticket
from crm_store.services.base import Service
from crm_store.services.errors import ValidationFailed
from crm_store.services.tickets import TicketService


@dataclass(frozen=True)
class ChatRef:
    channel: str
    sender_id: str
    paused: bool
    language: str = "en"


def conversation_of(session: Any, ticket_id: int) -> Conversation | None:
    """The newest conversation linked to the ticket (the hand-over links them)."""
    return (
        session.execute(
            select(Conversation).where(Conversation.ticket_id == ticket_id).order_by(Conversation.id.desc())
        )
        .scalars()
        .first()
    )


class LiveChatService(Service):
    entity = "ticket"
    owner_attr = "assignee_id"
    customer_attr = "requester_contact_id"

    def __init__(self, session: Any, actor: Any) -> None:
        super().__init__(session, actor)
        self.tickets = TicketService(session, actor)

    def chat(self, ticket_id: int) -> ChatRef | None:
        ticket = self.tickets.get(ticket_id)
        conv = conversation_of(self.session, ticket.id)
        return None if conv is None else ChatRef(conv.channel, conv.sender_id, bool(conv.paused))

    def release(self, ticket_id: int) -> ChatRef:
        """Give the ticket's chat back to the bot (whoever may update the ticket)."""
        ticket: Ticket = self.tickets.get(ticket_id)
        self.tickets.check_write(ticket)
        conv = conversation_of(self.session, ticket.id)
        if conv is None:
            raise ValidationFailed("this ticket has no live chat", "ticket")
        conv.state = {**(conv.state or {}), "paused": False}
        conv.paused = False
        self.session.add(ConversationEvent(conversation_id=conv.id, event={"event": "resume"}))
        ticket.needs_human = False
        self.audit("release", ticket.id, {"conversation": conv.id})
        return ChatRef(
            conv.channel, conv.sender_id, False, ticket.language if ticket.language == "de" else "en"
        )
