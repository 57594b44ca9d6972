"""Data-protection requests from the chat: access/export (Art. 15/20), erasure (Art. 17), unsubscribe (Art. 21).

Only a logged-in customer, or an anonymous one who proved their address in this conversation with a
one-time code mailed to it (actions/verification.py), sees or changes their data. An anonymous speaker who
only names an address is asked for that code, with the same answer whether or not we know the address;
writes (unsubscribe, an erasure request) then wait for a yes like every other write.

Every request becomes a tracked ``GdprRequest`` (due one month after receipt) whose identity is verified by
how the speaker proved it: ``customer_token`` when logged in, ``code`` when the address was proven here.
An unsubscribe is a consent withdrawal (Art. 7(3)/21(3)), kept in the consent history. A message that names
a restriction of processing (Art. 18) or an objection (Art. 21) — ``nlu.privacy_request`` tells them from the
intent they were classified as — becomes that request instead: an objection takes effect at once (marketing
and profiling stop), a restriction is recorded for an administrator to apply. The right asked for is kept in
the ``privacy_right`` slot while the speaker proves their address and confirms.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from rasa_sdk import Action
from rasa_sdk.events import EventType, SlotSet

from actions.base import CrmAction, Turn
from actions.identity import is_logged_in, is_staff
from actions.verification import Proof, start_verification
from nlu.privacy_request import requested_right

if TYPE_CHECKING:
    from actions.registry import ActionDeps
    from actions.store_access import StoreAccess


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

    def __init__(self, store: StoreAccess) -> None:
        super().__init__(store)
        self.proof = Proof(store)

    def act(self, turn: Turn) -> list[EventType]:
        if is_staff(turn.actor):  # staff are not data subjects here; they use `crm-assistant gdpr`
            turn.say("utter_not_allowed")
            return turn.done()
        right = turn.slot("privacy_right") or requested_right(turn.text)
        remember = [SlotSet("privacy_right", right)] if right and not turn.slot("privacy_right") else []
        if is_logged_in(turn.actor):
            return remember + self._route(turn, int(turn.actor.id or 0), right, "customer_token")
        proven = self.proof.as_proven(turn)
        if is_logged_in(proven.actor):  # proved the address in this chat; a write still waits for a yes
            return remember + self._route(proven, int(proven.actor.id or 0), right, None)
        return remember + start_verification(turn)  # asks for the address, mails a code, comes back here

    def _route(self, turn: Turn, contact_id: int, right: str | None, identity: str | None) -> list[EventType]:
        if right is None:
            return self.for_customer(turn, contact_id, identity) if identity else self.for_proven(turn, contact_id)
        if not turn.confirmed:
            return turn.ask_confirmation(f"utter_confirm_gdpr_{right}")
        with self.crm(turn) as crm:
            if right == "objection":  # Art. 21(3): honoured at once
                crm.gdpr.objection_request(contact_id, via="chat", identity=identity or "code")
            else:
                crm.gdpr.request(contact_id, "restriction", via="chat", identity=identity or "code")
        turn.say(f"utter_gdpr_{right}_recorded")
        return turn.done()

    def for_customer(
        self, turn: Turn, contact_id: int, identity: str = "customer_token"
    ) -> list[EventType]:  # pragma: no cover - abstract
        raise NotImplementedError

    def for_proven(self, turn: Turn, contact_id: int) -> list[EventType]:
        return self.for_customer(turn, contact_id, "code")


class ActionGdprAccess(_PrivacyAction):
    NAME = "action_gdpr_access"

    def for_customer(self, turn: Turn, contact_id: int, identity: str = "customer_token") -> list[EventType]:
        with self.crm(turn) as crm:  # a tracked access request, answered at once: the speaker is proven
            request = crm.gdpr.request(contact_id, "access", via="chat", identity=identity)
            export = crm.gdpr.export_request(request.id)
        turn.say(
            "utter_gdpr_access_summary",
            json_message={"type": "gdpr_export", "data": export},
            **summary(export),
        )
        return turn.done()


class ActionGdprErasure(_PrivacyAction):
    NAME = "action_gdpr_erasure"

    def for_customer(self, turn: Turn, contact_id: int, identity: str = "customer_token") -> list[EventType]:
        if not turn.confirmed:
            return turn.ask_confirmation("utter_confirm_gdpr_erasure")
        with self.crm(turn) as crm:
            crm.gdpr.request_erasure(contact_id, via="chat", identity=identity)
        turn.say("utter_gdpr_erasure_requested")
        return turn.done()


class ActionUnsubscribe(_PrivacyAction):
    NAME = "action_unsubscribe"

    def for_customer(self, turn: Turn, contact_id: int, identity: str = "customer_token") -> list[EventType]:
        with self.crm(turn) as crm:
            crm.gdpr.withdraw_marketing(contact_id, source="chat")
        turn.say("utter_unsubscribed")
        return turn.done()

    def for_proven(self, turn: Turn, contact_id: int) -> list[EventType]:
        if not turn.confirmed:
            return turn.ask_confirmation("utter_confirm_unsubscribe")
        with self.crm(turn) as crm:
            crm.gdpr.withdraw_marketing(contact_id, source="chat (address proven by code)")
        turn.say("utter_unsubscribed")
        return turn.done()


def actions(deps: ActionDeps) -> list[Action]:
    return [ActionGdprAccess(deps.store), ActionGdprErasure(deps.store), ActionUnsubscribe(deps.store)]
