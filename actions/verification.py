"""Proving an address in an anonymous chat: a one-time code mailed to it, typed back here.

An anonymous speaker who names a ticket and an address (or an address for a privacy request) is not trusted
with anything: the action that needs proof starts ``verify_code_form`` (:func:`start_verification`) and says nothing
about whether the pair matched. The form asks for what is still missing (the ticket number, the address),
then ``action_ask_verification_code`` mails the code (``GrantService.issue_code``; a decoy when nothing
matched) and says "If ticket #N belongs to that address, we have sent a code to it". The code typed back
(six digits, or the payload ``/choose{"verification_code": "493021"}``) is checked by the form's validator;
when it is right, ``action_verify_code`` continues the request that asked for it (``verify_for``), which
then finds the conversation proven (:class:`Proof`).

The rules live in ``crm_store/services/grants.py``; this module only talks.
"""

from __future__ import annotations

from dataclasses import replace
from typing import TYPE_CHECKING, Any

from rasa_sdk import Action, Tracker
from rasa_sdk.events import ActiveLoop, AllSlotsReset, EventType, FollowupAction, SlotSet
from rasa_sdk.executor import CollectingDispatcher
from rasa_sdk.forms import FormValidationAction

from actions.base import DomainDict, Turn, conversation_of, speaker
from actions.forms import answer_to, latest_text, rejected_this_turn, ticket_number
from actions.identity import customer, find_email, is_anonymous
from actions.store_access import StoreAccess
from crm_store.models import Ticket
from crm_store.services import Actor
from crm_store.services.grants import find_code

if TYPE_CHECKING:
    from actions.registry import ActionDeps

FORM = "verify_code_form"
SLOT_CODE = "verification_code"
SLOT_FOR = "verify_for"
SLOT_SENT = "verification_sent"
VERIFIED = "verified"  # the slot's value once the code was right (never the code itself)
TICKET_ACTIONS = frozenset({"action_ticket_status", "action_update_ticket", "action_close_ticket"})
PRIVACY_ACTIONS = frozenset({"action_gdpr_access", "action_gdpr_erasure", "action_unsubscribe"})
CONTINUABLE = TICKET_ACTIONS | PRIVACY_ACTIONS
ANONYMOUS = Actor.customer(None)


def ticket_in_question(tracker: Tracker) -> int | None:
    """The ticket the request is about: the one named, else the one this conversation last talked about."""
    return ticket_number(tracker.get_slot("ticket_id")) or ticket_number(tracker.get_slot("last_ticket_number"))


class Proof:
    """What this conversation has proven, asked of the grant service (inside the turn's transaction)."""

    def __init__(self, store: StoreAccess) -> None:
        self.store = store

    def contact(self, tracker: Tracker) -> int | None:
        """The contact an anonymous speaker proved with a code (and is still active); None otherwise."""
        conversation = conversation_of(tracker)
        if conversation is None or not is_anonymous(speaker(tracker)):
            return None
        with self.store.services(ANONYMOUS) as crm:
            return crm.grants.proven_contact(conversation)

    def ticket(self, tracker: Tracker, number: int | None) -> Ticket | None:
        """Ticket ``number`` if this conversation may act on it (opened it, or proved its requester)."""
        conversation = conversation_of(tracker)
        if conversation is None or number is None:
            return None
        with self.store.services(ANONYMOUS) as crm:
            return crm.grants.granted_ticket(conversation, number)

    def as_proven(self, turn: Turn) -> Turn:
        """The turn with the proven contact as its speaker, when an anonymous one proved an address."""
        if not is_anonymous(turn.actor):
            return turn
        contact_id = self.contact(turn.tracker)
        return turn if contact_id is None else replace(turn, actor=customer(contact_id, turn.lang))


def start_verification(turn: Turn, *, ticket: int | None = None) -> list[EventType]:
    """Ask for proof before ``turn.action_name`` goes on: the form collects the rest and mails the code."""
    if turn.conversation is None:  # an unsigned conversation can hold no proof
        turn.say("utter_code_unavailable")
        return turn.done()
    events: list[EventType] = [
        SlotSet(SLOT_FOR, turn.action_name),
        SlotSet(SLOT_SENT, None),
        SlotSet(SLOT_CODE, None),
        SlotSet("pending_action", None),
    ]
    if ticket is not None:
        events.append(SlotSet("ticket_id", str(ticket)))
    return [*events, FollowupAction(FORM)]


class ValidateVerifyCodeForm(FormValidationAction):
    """Collects the ticket number and address when missing, then checks the code typed."""

    def __init__(self, store: StoreAccess) -> None:
        self.store = store

    def name(self) -> str:
        return f"validate_{FORM}"

    async def required_slots(
        self, domain_slots: list[str], dispatcher: CollectingDispatcher, tracker: Tracker, domain: DomainDict
    ) -> list[str]:
        # Stable within a turn (extraction, validation and the next question each ask again).
        needs_ticket = tracker.get_slot(SLOT_FOR) in TICKET_ACTIONS and not tracker.get_slot(
            "last_ticket_number"
        )
        return [*(["ticket_id"] if needs_ticket else []), "email", SLOT_CODE]

    async def extract_ticket_id(
        self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: DomainDict
    ) -> dict[str, Any]:
        return self._answer(tracker, "ticket_id")

    async def extract_email(
        self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: DomainDict
    ) -> dict[str, Any]:
        return self._answer(tracker, "email")

    @staticmethod
    def _answer(tracker: Tracker, slot: str) -> dict[str, Any]:
        return answer_to(tracker, slot, payloads=False)

    async def validate_ticket_id(
        self, value: Any, dispatcher: CollectingDispatcher, tracker: Tracker, domain: DomainDict
    ) -> dict[str, Any]:
        number = ticket_number(value)
        return {"ticket_id": str(number) if number is not None else None}

    async def validate_email(
        self, value: Any, dispatcher: CollectingDispatcher, tracker: Tracker, domain: DomainDict
    ) -> dict[str, Any]:
        return {"email": find_email(value)}

    async def validate_verification_code(
        self, value: Any, dispatcher: CollectingDispatcher, tracker: Tracker, domain: DomainDict
    ) -> dict[str, Any]:
        if value == VERIFIED:
            return {SLOT_CODE: VERIFIED}
        code = find_code(value)
        conversation = conversation_of(tracker)
        if code is None or conversation is None or not tracker.get_slot(SLOT_SENT):
            return {SLOT_CODE: None}  # not a code: not a try either
        with self.store.services(ANONYMOUS) as crm:
            result = crm.grants.verify_code(conversation, code)
        if not result.verified:
            return {SLOT_CODE: None}
        found: dict[str, Any] = {SLOT_CODE: VERIFIED}
        # the ticket the code was sent for, whatever the text typed looked like
        if result.ticket_number is not None:
            found["ticket_id"] = str(result.ticket_number)
        return found


class ActionAskVerificationCode(Action):
    """Mails the code the first time the form asks; afterwards says why the code typed was not taken."""

    def __init__(self, store: StoreAccess) -> None:
        self.store = store

    def name(self) -> str:
        return f"action_ask_{SLOT_CODE}"

    async def run(
        self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: DomainDict
    ) -> list[EventType]:
        conversation = conversation_of(tracker)
        email = find_email(tracker.get_slot("email"))
        target = tracker.get_slot(SLOT_FOR)
        if (
            conversation is None
            or email is None
            or target not in CONTINUABLE
            or not is_anonymous(speaker(tracker))
        ):
            dispatcher.utter_message(response="utter_code_unavailable")
            return [ActiveLoop(None), AllSlotsReset()]
        number = ticket_in_question(tracker) if target in TICKET_ACTIONS else None
        lang = str(tracker.get_slot("language") or "en")
        if not tracker.get_slot(SLOT_SENT):
            with self.store.services(ANONYMOUS) as crm:
                issued = crm.grants.issue_code(conversation, email, ticket_number=number, language=lang)
            if issued.status != "sent":
                dispatcher.utter_message(
                    response="utter_code_limited" if issued.status == "limited" else "utter_code_unavailable"
                )
                return [ActiveLoop(None), AllSlotsReset()]
            if number is not None:
                dispatcher.utter_message(response="utter_code_sent_ticket", number=number, email=email)
            else:
                dispatcher.utter_message(response="utter_code_sent_address", email=email)
            return [SlotSet(SLOT_SENT, True)]
        with self.store.services(ANONYMOUS) as crm:
            pending = crm.grants.code_pending(conversation)
        if not pending:  # expired, or too many wrong tries: start again later
            dispatcher.utter_message(response="utter_code_expired")
            return [ActiveLoop(None), AllSlotsReset()]
        typed = find_code(latest_text(tracker)) or find_code(tracker.get_slot(SLOT_CODE))
        wrong = rejected_this_turn(tracker, SLOT_CODE) and typed is not None
        dispatcher.utter_message(response="utter_code_wrong" if wrong else "utter_code_expected")
        return []


class ActionVerifyCode(Action):
    """The form's submit: the code was right, so the request that asked for proof goes on."""

    def name(self) -> str:
        return "action_verify_code"

    async def run(
        self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: DomainDict
    ) -> list[EventType]:
        target = tracker.get_slot(SLOT_FOR)
        if tracker.get_slot(SLOT_CODE) != VERIFIED or target not in CONTINUABLE:
            return [AllSlotsReset()]
        dispatcher.utter_message(response="utter_code_verified")
        return [
            SlotSet(SLOT_CODE, None),
            SlotSet(SLOT_SENT, None),
            SlotSet(SLOT_FOR, None),
            FollowupAction(target),
        ]


def actions(deps: ActionDeps) -> list[Action]:
    return [ValidateVerifyCodeForm(deps.store), ActionAskVerificationCode(deps.store), ActionVerifyCode()]
