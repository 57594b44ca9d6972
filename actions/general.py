"""Help, cancel, and the yes/no/choice that continues a pending write when Rasa is the engine."""

from __future__ import annotations

import copy
from typing import TYPE_CHECKING

from rasa_sdk import Action, Tracker
from rasa_sdk.events import AllSlotsReset, EventType, FollowupAction, SlotSet
from rasa_sdk.executor import CollectingDispatcher

from actions.base import CrmAction, DomainDict, Turn

if TYPE_CHECKING:
    from actions.registry import ActionDeps


class ActionHelp(CrmAction):
    NAME = "action_help"
    STAFF_ONLY = False

    def act(self, turn: Turn) -> list[EventType]:
        turn.say("utter_help_staff" if turn.actor.kind == "user" else "utter_help_customer")
        return []


class ActionGreet(CrmAction):
    """A greeting that offers what this speaker can do: staff work for staff, self-service for customers."""

    NAME = "action_greet"
    STAFF_ONLY = False

    def act(self, turn: Turn) -> list[EventType]:
        if turn.actor.kind == "user":
            first = (turn.actor.name or "").split(" ")[0]
            turn.say("utter_greet" if first else "utter_greet_anonymous_staff", name=first)
        else:
            turn.say("utter_greet_customer")
        return []


class ActionCancel(CrmAction):
    NAME = "action_cancel"
    STAFF_ONLY = False

    def act(self, turn: Turn) -> list[EventType]:
        turn.say("utter_cancelled")
        return turn.done()


class ActionResumePending(Action):
    """A real Rasa server's answer to "yes" or a button click while a write waits for it (rules.yml).

    The in-process engine does this itself (assistant/engine.py); through Rasa, this action runs the
    action named in ``pending_action`` with ``confirmed`` set for a yes (or cancels the request for a
    no), exactly like the engine, and takes the yes back afterwards so it counts once. It ends with
    ``FollowupAction("action_listen")``: the resumed action may reset ``pending_action`` or ask again,
    and Rasa's rule for the yes (conditioned on that slot) must not then look broken and fall back.
    """

    NAME = "action_resume_pending"

    def __init__(self) -> None:
        self.registry: dict[str, Action] = {}

    def name(self) -> str:
        return self.NAME

    def bind_registry(self, registry: dict[str, Action]) -> None:
        self.registry = registry

    async def run(
        self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: DomainDict
    ) -> list[EventType]:
        listen = FollowupAction("action_listen")
        pending = tracker.get_slot("pending_action")
        action = self.registry.get(str(pending or ""))
        if action is None or action is self:
            dispatcher.utter_message(response="utter_nothing_pending")
            return [SlotSet("pending_action", None), listen]
        intent = (tracker.latest_message.get("intent") or {}).get("name")
        if intent == "deny":
            dispatcher.utter_message(response="utter_cancelled")
            return [AllSlotsReset(), listen]
        resumed = copy.copy(tracker)
        resumed.slots = dict(tracker.slots)
        if intent == "affirm":
            resumed.slots["confirmed"] = True
        events = list(await action.run(dispatcher, resumed, domain) or [])
        return [*events, SlotSet("confirmed", None), listen]


class ActionResumeForm(Action):
    """ "Yes" to "shall we go on with ...?" after a question interrupted a form: the form continues with what it
    had collected (the engine keeps that in the ``resume`` slot when it answers the detour)."""

    NAME = "action_resume_form"

    def name(self) -> str:
        return self.NAME

    async def run(
        self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: DomainDict
    ) -> list[EventType]:
        saved = tracker.get_slot("resume") or {}
        form = saved.get("form") if isinstance(saved, dict) else None
        cleared: list[EventType] = [SlotSet("resume", None), SlotSet("pending_action", None)]
        if not form or form not in (domain.get("forms") or {}):
            dispatcher.utter_message(response="utter_nothing_pending")
            return cleared
        if intent_of(tracker) == "deny":
            dispatcher.utter_message(response="utter_cancelled")
            return [AllSlotsReset()]
        restored = [SlotSet(name, value) for name, value in (saved.get("slots") or {}).items()]
        return [*cleared, *restored, FollowupAction(form)]


def intent_of(tracker: Tracker) -> str:
    return str(((tracker.latest_message or {}).get("intent") or {}).get("name") or "")


def actions(deps: ActionDeps) -> list[Action]:
    return [
        ActionHelp(deps.store),
        ActionGreet(deps.store),
        ActionCancel(deps.store),
        ActionResumePending(),
        ActionResumeForm(),
    ]
