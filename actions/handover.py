"""Hand a conversation over to a person, relay the customer's words to the ticket, release it again.

``action_request_human`` flags a ticket ``needs_human`` (the one this conversation is about, the speaker's
open one, or a new one with the recent chat as its description), assigns and notifies an available agent
and pauses the bot. While paused the engine runs ``action_handover_relay`` for every message: it goes to
the ticket and the bot stays quiet. An agent ends the hand-over from the inbox
(``crm_store.services.live_chat``) or with :func:`release_conversation`.

The notifier (``ActionDeps.notifier``) gets ``notify(user_id, text)``; one that also has
``notify_ticket(notice)`` gets the whole :class:`HandoverNotice` (the agent inbox publishes it live and posts
to the team's Slack channel). Its ``wait_seconds`` (if any) is how long a customer may wait for a person's
first answer before the bot tells them that the ticket stays open and the answer may come by e-mail.
"""

from __future__ import annotations

import inspect
import logging
from contextvars import ContextVar
from dataclasses import dataclass
from datetime import timedelta
from typing import TYPE_CHECKING, Any

from rasa_sdk import Action, Tracker
from rasa_sdk.events import ConversationPaused, ConversationResumed, EventType, SlotSet
from rasa_sdk.executor import CollectingDispatcher
from sqlalchemy import select

from actions.base import DomainDict, Turn
from actions.forms import ticket_number
from actions.identity import (
    SYSTEM,
    acting_as,
    customer,
    find_email,
    find_or_create_contact,
    is_anonymous,
    is_staff,
)
from actions.store_access import StoreAccess
from actions.tickets import OPEN_STATUSES, TicketAction, channel_of
from assistant.parsing import parse_payload
from crm_store.db import Database
from crm_store.models import Conversation, ConversationEvent, Ticket, TicketMessage, User, utcnow
from crm_store.services import Actor, CrmServices
from crm_store.services.errors import NotFound

if TYPE_CHECKING:
    from actions.registry import ActionDeps

log = logging.getLogger(__name__)
HISTORY_MESSAGES = 6  # recent customer messages copied into a new hand-over ticket
# Said once per wait when nobody has answered for ``wait_seconds`` (German customers addressed with "Sie").
STILL_WAITING = {
    "en": "Sorry for the wait: everyone on our team is busy right now. Your request is ticket #{number} and "
    "stays open; you can keep writing here, or close this window and we will answer by e-mail.",
    "de": "Entschuldigen Sie die Wartezeit: Unser Team ist gerade ausgelastet. Ihr Anliegen ist als Ticket "
    "#{number} erfasst und bleibt offen; Sie können hier weiterschreiben oder das Fenster schließen, dann "
    "antworten wir per E-Mail.",
}


@dataclass(frozen=True)
class HandoverNotice:
    """What the agent side is told: a new hand-over, or a new customer message on a handed-over ticket."""

    kind: str  # "handover" / "message"
    ticket_id: int
    number: int
    user_id: int | None  # the assignee; None: the ticket's team (or every agent) is told
    team_id: int | None
    text: str


# Notifications wait here until the action's transaction work is done, then are sent (sync or async).
_OUTBOX: ContextVar[list[HandoverNotice] | None] = ContextVar("handover_outbox", default=None)


def release_conversation(db: Database, channel: str, sender_id: str) -> bool:
    """An agent hands the conversation back to the bot; False when there is no such conversation."""
    with db.session() as session:
        conv = session.execute(
            select(Conversation).where(Conversation.channel == channel, Conversation.sender_id == sender_id)
        ).scalar_one_or_none()
        if conv is None:
            return False
        conv.state = {**(conv.state or {}), "paused": False}
        conv.paused = False
        session.add(ConversationEvent(conversation_id=conv.id, event={"event": "resume"}))
    return True


def _conversation(crm: CrmServices, turn: Turn) -> Conversation | None:
    return crm.session.execute(
        select(Conversation).where(
            Conversation.channel == channel_of(turn),
            Conversation.sender_id == turn.tracker.sender_id,
        )
    ).scalar_one_or_none()


def _recent_customer_text(tracker: Tracker) -> list[str]:
    texts = [str(e.get("text") or "") for e in tracker.events if e.get("event") == "user"]
    return [t for t in texts if t.strip() and parse_payload(t) is None][-HISTORY_MESSAGES:]


def pick_agent(crm: CrmServices, language: str) -> User | None:
    """An active, available agent; one who speaks the customer's language first, then the least busy."""
    agents = [u for u in crm.users.list(role="agent", limit=200).items if u.is_active and u.is_available]
    if not agents:
        return None
    load = {a.id: crm.tickets.list(assignee_id=a.id, open_only=True, limit=1).total for a in agents}
    return min(agents, key=lambda a: (language not in (a.languages_spoken or [a.language]), load[a.id], a.id))


class _Notifying(TicketAction):
    """Collects notifications during ``act`` and sends them through ``notifier`` afterwards."""

    def __init__(self, store: StoreAccess, notifier: Any = None) -> None:
        super().__init__(store)
        self.notifier = notifier

    def notify(self, notice: HandoverNotice) -> None:
        outbox = _OUTBOX.get()
        if outbox is not None and self.notifier is not None:
            outbox.append(notice)

    async def run(
        self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: DomainDict
    ) -> list[EventType]:
        outbox: list[HandoverNotice] = []
        token = _OUTBOX.set(outbox)
        try:
            events = await super().run(dispatcher, tracker, domain)
        finally:
            _OUTBOX.reset(token)
        for notice in outbox:
            try:
                rich = getattr(self.notifier, "notify_ticket", None)
                result = rich(notice) if rich is not None else self.notifier.notify(notice.user_id, notice.text)
                if inspect.isawaitable(result):
                    await result
            except Exception:  # a failed notification must not undo the hand-over
                log.exception("could not notify agent %s about a hand-over", notice.user_id)
        return events

    @property
    def wait_seconds(self) -> float | None:
        value = getattr(self.notifier, "wait_seconds", None)
        return float(value) if isinstance(value, int | float) and value > 0 else None


class ActionRequestHuman(_Notifying):
    NAME = "action_request_human"

    def act(self, turn: Turn) -> list[EventType]:
        if is_staff(turn.actor):
            turn.say("utter_not_allowed")
            return turn.done()
        actor, ticket_id = self._ticket(turn)
        with acting_as(self.store, actor) as crm:
            ticket = crm.tickets.request_human(ticket_id)
            number, subject = ticket.number, ticket.subject
        with acting_as(self.store, SYSTEM) as system:
            conv = _conversation(system, turn)
            if conv is not None:
                conv.ticket_id = ticket_id
            agent = pick_agent(system, turn.lang)
            current = system.tickets.get(ticket_id)
            if agent is not None and current.assignee_id is None:
                system.tickets.update(ticket_id, {"assignee_id": agent.id})
            assignee, team = current.assignee_id, current.team_id
        self.notify(HandoverNotice(
            "handover", ticket_id, number, assignee, team,
            f"Ticket #{number} needs a person ({channel_of(turn)} chat, language {turn.lang}): {subject}",
        ))
        turn.say("utter_handover", number=number)
        return [*turn.done(SlotSet("last_ticket_number", str(number))), ConversationPaused()]

    def _ticket(self, turn: Turn) -> tuple[Actor, int]:
        """Whom to act as and the ticket to hand over: this conversation's, an open one, or a new one."""
        found = self.locate(turn, statuses=OPEN_STATUSES)
        if found.actor is not None and found.number is not None:
            with acting_as(self.store, found.actor) as crm:
                return found.actor, crm.tickets.by_number(found.number).id
        history = "\n".join(_recent_customer_text(turn.tracker)) or turn.text
        subject = (
            "Chat: Kunde möchte eine Person sprechen"
            if turn.lang == "de"
            else "Chat: customer asked for a person"
        )
        actor: Actor = turn.actor
        email = find_email(turn.slot("email"))
        if is_anonymous(actor):
            if email is None:  # nobody to attribute it to: the agent answers in the chat
                actor = SYSTEM
            else:
                with acting_as(self.store, SYSTEM) as system:
                    actor = customer(find_or_create_contact(system, email, language=turn.lang), turn.lang)
        with acting_as(self.store, actor) as crm:
            ticket = crm.tickets.create(
                {
                    "subject": subject,
                    "description": history,
                    "language": turn.lang,
                    "channel": channel_of(turn),
                    "requester_contact_id": actor.id if actor.kind == "customer" else None,
                }
            )
            return actor, ticket.id


class ActionHandoverRelay(_Notifying):
    """While a person handles the conversation: every customer message goes to the ticket, no bot reply."""

    NAME = "action_handover_relay"

    def act(self, turn: Turn) -> list[EventType]:
        text = turn.text.strip()
        if not text or parse_payload(text) is not None:
            return []
        with acting_as(self.store, SYSTEM) as system:
            conv = _conversation(system, turn)
            ticket_id = conv.ticket_id if conv is not None else None
            ticket = self._ticket(system, turn, ticket_id)
            if ticket is None or ticket.status == "closed":
                turn.say("utter_handover_ended")
                return [ConversationResumed()]
            # the conversation is linked to this ticket by the server, so the system may write to it
            system.tickets.add_message(ticket.id, text, channel=channel_of(turn), direction="inbound")
            number, assignee, team = ticket.number, ticket.assignee_id, ticket.team_id
            waited_too_long = self._tell_waiting(system, ticket.id)
        self.notify(HandoverNotice("message", ticket.id, number, assignee, team,
                                   f"Ticket #{number}: new chat message from the customer"))
        if waited_too_long:
            turn.say_text(STILL_WAITING["de" if turn.lang == "de" else "en"].format(number=number))
        return []

    def _tell_waiting(self, system: CrmServices, ticket_id: int) -> bool:
        """True once per wait: on the first customer message after ``wait_seconds`` without a person's answer
        (counted from the first customer message after the last answer)."""
        wait = self.wait_seconds
        if wait is None:
            return False
        rows = system.session.execute(
            select(TicketMessage.direction, TicketMessage.created_at)
            .where(TicketMessage.ticket_id == ticket_id, TicketMessage.direction.in_(("inbound", "outbound")))
            .order_by(TicketMessage.created_at, TicketMessage.id)
        ).all()
        waiting: list[Any] = []
        for direction, at in rows:
            waiting = [] if direction == "outbound" else [*waiting, at]
        if len(waiting) < 1:
            return False
        limit = waiting[0] + timedelta(seconds=wait)
        now = utcnow()
        # told already when an earlier message of this wait came after the limit
        return now >= limit and all(at < limit for at in waiting[:-1])

    @staticmethod
    def _ticket(system: CrmServices, turn: Turn, ticket_id: int | None) -> Ticket | None:
        try:
            if ticket_id is not None:
                return system.tickets.get(ticket_id)
            number = ticket_number(turn.slot("last_ticket_number"))
            return system.tickets.by_number(number) if number is not None else None
        except NotFound:
            return None


def actions(deps: ActionDeps) -> list[Action]:
    return [ActionRequestHuman(deps.store, deps.notifier), ActionHandoverRelay(deps.store, deps.notifier)]
