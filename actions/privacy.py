"""Data-protection requests from the chat: access/export (Art. 15/20), erasure (Art. 17), unsubscribe (Art. 21).

Only a logged-in customer sees their data. An anonymous speaker who names an e-mail address gets the
same answer whether or not we know it: the export link or the erasure confirmation goes to that
address, never into the chat, and the request is recorded for the privacy team.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from rasa_sdk import Action
from rasa_sdk.events import EventType

from actions.base import CrmAction, Turn
from actions.identity import SYSTEM, acting_as, find_contact, find_email, is_logged_in, is_staff
from crm_store.services.errors import ValidationFailed

if TYPE_CHECKING:
    from actions.registry import ActionDeps

ANONYMOUS_NOTE = "asked in an anonymous chat: answer only to the registered address"


def summary(export: dict[str, Any]) -> dict[str, Any]:
    """Counts of what the export holds, for the chat answer."""
    person = export.get("contact") or {}
    name = " ".join(p for p in (person.get("first_name"), person.get("last_name")) if p)
    return {
        "name": name or "-",
        "emails": len(export.get("emails") or []),
        "phones": len(export.get("phones") or []),
        "tickets": len(export.get("tickets") or []),
        "activities": len(export.get("activities") or []),
        "deals": len(export.get("deals") or []),
        "consents": len(export.get("consent_history") or []),
    }


class _PrivacyAction(CrmAction):
    STAFF_ONLY = False

    def act(self, turn: Turn) -> list[EventType]:
        if is_staff(turn.actor):  # staff are not data subjects here; they use `crm-assistant gdpr`
            turn.say("utter_not_allowed")
            return turn.done()
        if is_logged_in(turn.actor):
            return self.for_customer(turn, int(turn.actor.id or 0))
        return self.for_anonymous(turn, find_email(turn.slot("email")))

    def for_customer(self, turn: Turn, contact_id: int) -> list[EventType]:  # pragma: no cover - abstract
        raise NotImplementedError

    def for_anonymous(self, turn: Turn, email: str | None) -> list[EventType]:  # pragma: no cover - abstract
        raise NotImplementedError

    def record(self, email: str, kind: str) -> None:
        """A request for the privacy team about the contact with this address, if there is one."""
        with acting_as(self.store, SYSTEM) as system:
            contact_id = find_contact(system, email)
            if contact_id is None:
                return
            try:
                system.gdpr.request(contact_id, kind, via="chat", note=ANONYMOUS_NOTE)
            except ValidationFailed:  # already erased: nothing left to do, and nothing to tell
                return


class ActionGdprAccess(_PrivacyAction):
    NAME = "action_gdpr_access"

    def for_customer(self, turn: Turn, contact_id: int) -> list[EventType]:
        with self.crm(turn) as crm:
            export = crm.gdpr.export(contact_id)
        turn.say(
            "utter_gdpr_access_summary",
            json_message={"type": "gdpr_export", "data": export},
            **summary(export),
        )
        return turn.done()

    def for_anonymous(self, turn: Turn, email: str | None) -> list[EventType]:
        if email is None:
            turn.say("utter_gdpr_access_login")
            return turn.done()
        self.record(email, "access")
        turn.say("utter_gdpr_access_link", email=email)
        return turn.done()


class ActionGdprErasure(_PrivacyAction):
    NAME = "action_gdpr_erasure"

    def for_customer(self, turn: Turn, contact_id: int) -> list[EventType]:
        if not turn.confirmed:
            return turn.ask_confirmation("utter_confirm_gdpr_erasure")
        with self.crm(turn) as crm:
            crm.gdpr.request_erasure(contact_id, via="chat")
        turn.say("utter_gdpr_erasure_requested")
        return turn.done()

    def for_anonymous(self, turn: Turn, email: str | None) -> list[EventType]:
        if email is None:
            turn.say("utter_gdpr_erasure_login")
            return turn.done()
        if not turn.confirmed:
            return turn.ask_confirmation("utter_confirm_gdpr_erasure_email", email=email)
        self.record(email, "erasure")
        turn.say("utter_gdpr_erasure_requested_email", email=email)
        return turn.done()


class ActionUnsubscribe(_PrivacyAction):
    NAME = "action_unsubscribe"

    def for_customer(self, turn: Turn, contact_id: int) -> list[EventType]:
        with self.crm(turn) as crm:
            crm.gdpr.withdraw_marketing(contact_id, source="chat")
        turn.say("utter_unsubscribed")
        return turn.done()

    def for_anonymous(self, turn: Turn, email: str | None) -> list[EventType]:
        if email is None:
            turn.say("utter_unsubscribe_need_email")
            return turn.done()
        with acting_as(self.store, SYSTEM) as system:
            contact_id = find_contact(system, email)
            if contact_id is not None:
                system.gdpr.withdraw_marketing(contact_id, source="chat (anonymous)")
        turn.say("utter_unsubscribed_email", email=email)
        return turn.done()


def actions(deps: ActionDeps) -> list[Action]:
    return [ActionGdprAccess(deps.store), ActionGdprErasure(deps.store), ActionUnsubscribe(deps.store)]
