"""Reps log calls, meetings, e-mails, visits and notes from one sentence, with a follow-up task."""

from __future__ import annotations

import re
from typing import TYPE_CHECKING, Any

from rasa_sdk import Action, Tracker
from rasa_sdk.events import EventType, SlotSet
from rasa_sdk.executor import CollectingDispatcher
from rasa_sdk.forms import FormValidationAction

from actions.base import CrmAction, DomainDict, Turn
from actions.labels import label
from actions.resolve import offer, resolve_contact
from nlu.note_text import follow_up_title, note_content

if TYPE_CHECKING:
    from actions.registry import ActionDeps

ACTIVITY_WORDS: dict[str, tuple[str, ...]] = {
    "call": (
        "call",
        "called",
        "phone",
        "phoned",
        "rang",
        "anruf",
        "angerufen",
        "telefonat",
        "telefoniert",
        "ruf",
    ),
    "meeting": ("meeting", "met", "meet", "termin", "treffen", "getroffen", "besprechung"),
    "email": ("email", "e-mail", "mail", "mailed", "emailed", "gemailt", "geschrieben"),
    "visit": ("visit", "visited", "besuch", "besucht", "vor ort", "on site", "onsite"),
    "note": ("note", "notiz", "notes"),
}


def normalise_activity_type(value: Any) -> str | None:
    text = str(value or "").strip().lower()
    if text in ACTIVITY_WORDS:
        return text
    for kind, words in ACTIVITY_WORDS.items():
        if any(re.search(rf"\b{re.escape(w)}\b", text) for w in words):
            return kind
    return None


class ValidateLogActivityForm(FormValidationAction):
    def name(self) -> str:
        return "validate_log_activity_form"

    async def validate_activity_type(
        self, value: Any, dispatcher: CollectingDispatcher, tracker: Tracker, domain: DomainDict
    ) -> dict[str, Any]:
        kind = normalise_activity_type(value)
        if kind is None:
            return {"activity_type": None}
        return {"activity_type": kind}

    async def validate_who(
        self, value: Any, dispatcher: CollectingDispatcher, tracker: Tracker, domain: DomainDict
    ) -> dict[str, Any]:
        text = str(value or "").strip()
        return {"who": text or None}

    async def run(
        self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: DomainDict
    ) -> list[EventType]:
        events = await super().run(dispatcher, tracker, domain)
        if not tracker.get_slot("summary"):  # the first sentence of the request is the activity's summary
            text = str((tracker.latest_message or {}).get("text") or "")
            events.append(SlotSet("summary", text))
            kind = normalise_activity_type(text)  # "Emailed Hannah ...": the verb says which kind
            if kind and not tracker.get_slot("activity_type") and not text.startswith("/"):
                events.append(SlotSet("activity_type", kind))
        return events


class ActionLogActivity(CrmAction):
    NAME = "action_log_activity"

    def act(self, turn: Turn) -> list[EventType]:
        kind = normalise_activity_type(turn.slot("activity_type")) or "note"
        summary = note_content(str(turn.slot("summary") or turn.text), turn.lang)
        due = turn.due_at(turn.slot("time"))
        with self.crm(turn) as crm:
            res = resolve_contact(
                crm,
                turn,
                name=turn.slot("who") or turn.slot("person"),
                organization=turn.slot("organization"),
            )
            if res.choices:
                return offer(turn, res, turn.slot("who"))
            if res.unknown and not turn.confirmed:
                return turn.ask_confirmation(
                    "utter_confirm_new_contact_activity", name=res.unknown, activity=label(kind, turn.lang)
                )
            if not turn.confirmed:
                follow = turn.fmt_date(due) if due else ""
                response = "utter_confirm_log_activity_task" if due else "utter_confirm_log_activity"
                return turn.ask_confirmation(
                    response,
                    activity=label(kind, turn.lang),
                    who=res.label or res.unknown,
                    summary=summary,
                    due=follow,
                )
            contact_id, org_id = res.contact_id, res.organization_id
            if res.unknown:
                first, _, last = res.unknown.strip().rpartition(" ")
                if turn.slot("organization") and org_id is None:
                    orgs = crm.organizations.list(q=turn.slot("organization"), limit=1).items
                    org_id = (
                        orgs[0].id
                        if orgs
                        else crm.organizations.create({"name": turn.slot("organization")}).id
                    )
                contact = crm.contacts.create(
                    {"first_name": first, "last_name": last, "organization_id": org_id}
                )
                contact_id = contact.id
            activity = crm.activities.create(
                {
                    "type": kind,
                    "contact_id": contact_id,
                    "organization_id": org_id,
                    "summary": summary,
                    "channel": "chat",
                }
            )
            task_id = None
            if due is not None:
                named = crm.contacts.get(contact_id).full_name if contact_id else res.label
                task = crm.tasks.create(
                    {
                        "title": follow_up_title(summary, named, turn.lang),
                        "due_at": due,
                        "contact_id": contact_id,
                        "organization_id": org_id,
                    }
                )
                task.activity_id = activity.id
                task_id = task.id
        if task_id is not None:
            turn.say("utter_logged_activity_task", activity=label(kind, turn.lang), due=turn.fmt_date(due))
        else:
            turn.say("utter_logged_activity", activity=label(kind, turn.lang))
        return turn.done(SlotSet("last_contact_id", contact_id))


def actions(deps: ActionDeps) -> list[Action]:
    return [ValidateLogActivityForm(), ActionLogActivity(deps.store)]
