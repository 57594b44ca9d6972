"""Help and cancel: answers that depend on who is asking."""

from __future__ import annotations

from typing import TYPE_CHECKING

from rasa_sdk import Action
from rasa_sdk.events import EventType

from actions.base import CrmAction, Turn

if TYPE_CHECKING:
    from actions.registry import ActionDeps


class ActionHelp(CrmAction):
    NAME = "action_help"
    STAFF_ONLY = False

    def act(self, turn: Turn) -> list[EventType]:
        turn.say("utter_help_staff" if turn.actor.kind == "user" else "utter_help_customer")
        return []


class ActionCancel(CrmAction):
    NAME = "action_cancel"
    STAFF_ONLY = False

    def act(self, turn: Turn) -> list[EventType]:
        turn.say("utter_cancelled")
        return turn.done()


def actions(deps: ActionDeps) -> list[Action]:
    return [ActionHelp(deps.store), ActionCancel(deps.store)]
