"""Reps add reminders ("Remind me to send Acme the proposal next Monday") and ask what's on their list."""

from __future__ import annotations

import re
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any

from rasa_sdk import Action, Tracker
from rasa_sdk.events import EventType, SlotSet
from rasa_sdk.executor import CollectingDispatcher
from rasa_sdk.forms import FormValidationAction

from actions.base import CrmAction, DomainDict, Turn, speaker
from actions.contacts import POSSESSIVES, find_organization, free_text, message_words
from actions.reports import local_today, period_of, period_text
from actions.resolve import offer, resolve_contact

if TYPE_CHECKING:
    from actions.registry import ActionDeps

# What opens a reminder and carries no content of its own, EN and DE.
LEADS = re.compile(
    r"^\s*(?:(?:please|bitte)\s+)?(?:"
    r"remind\s+me\s+(?:to\s+|that\s+|about\s+)?|don'?t\s+let\s+me\s+forget\s+(?:to\s+)?|"
    r"(?:add|create|new)\s+(?:a\s+)?(?:task|reminder|to-?do)\s*(?:to\s+|:\s*)?|(?:task|reminder|to-?do)\s*:\s*|"
    r"i\s+(?:need|have)\s+to\s+|"
    r"erinnere?\s+mich\s*(?:daran\s*)?,?\s*(?:dass\s+)?|(?:neue\s+)?aufgabe\s*:?\s*|"
    r"leg\s+(?:eine\s+)?aufgabe\s+an\s*:?\s*|ich\s+muss\s+)",
    re.IGNORECASE,
)
# Prepositions that only belonged to the time expression ("by Friday", "am Montag", "bis Freitag").
TIME_PREPOSITIONS = frozenset(
    {
        "by",
        "on",
        "until",
        "till",
        "before",
        "at",
        "in",
        "am",
        "bis",
        "zum",
        "an",
        "um",
        "ab",
        "vor",
        "spätestens",
        "latest",
        "no",
        "later",
        "than",
    }
)
SECTIONS: dict[str, dict[str, str]] = {
    "overdue": {"en": "Overdue", "de": "Überfällig"},
    "today": {"en": "Today", "de": "Heute"},
    "upcoming": {"en": "Upcoming", "de": "Demnächst"},
}
UPCOMING_SHOWN = 10


def _time_spans(tracker: Tracker, text: str, lang: str, tz: str) -> list[tuple[int, int]]:
    spans = [
        (int(e["start"]), int(e["end"]))
        for e in (tracker.latest_message or {}).get("entities") or []
        if e.get("entity") == "time" and int(e.get("end") or 0) > int(e.get("start") or 0)
    ]
    if spans:
        return spans
    from nlu.dates import extract_times

    now = datetime.now().astimezone()
    return [(e.start, e.end) for e in extract_times(text, lang, now=now, tz=tz)]


def task_title(text: str, spans: list[tuple[int, int]], lang: str) -> str:
    """The reminder's content: the text without its opening phrase and its time words."""
    for start, end in sorted(spans, reverse=True):
        before = text[:start].rstrip()
        words = before.split(" ")
        while words and words[-1].lower().strip(",") in TIME_PREPOSITIONS:
            words.pop()
        text = " ".join(words) + " " + text[end:].lstrip()
    text = LEADS.sub("", text, count=1)
    text = re.sub(r"\s+", " ", text).strip(" ,.;:!?")
    if lang == "de":  # "Acme das Angebot zu schicken" -> "Acme das Angebot schicken"
        text = re.sub(r"\bzu (\w+)$", r"\1", text)
    return text[:1].upper() + text[1:] if text else ""


class ValidateCreateTaskForm(FormValidationAction):
    def name(self) -> str:
        return "validate_create_task_form"

    async def run(
        self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: DomainDict
    ) -> list[EventType]:
        events: list[EventType] = []
        lang = tracker.get_slot("language") or "en"
        tz = speaker(tracker).timezone or "Europe/Berlin"
        text = free_text(tracker)
        requested = tracker.get_slot("requested_slot")
        if not tracker.get_slot("task_title") and text and requested in (None, "task_title"):
            title = task_title(text, _time_spans(tracker, text, lang, tz), lang)
            events.append(SlotSet("task_title", title or None))
        value = tracker.get_slot("time")
        if value is not None and not _is_time_value(value):
            from nlu.dates import extract_times

            found = extract_times(str(value), lang, now=datetime.now().astimezone(), tz=tz)
            events.append(SlotSet("time", found[0].value if found else None))
            if not found:
                dispatcher.utter_message(response="utter_invalid_time")
        return events


def _is_time_value(value: Any) -> bool:
    return isinstance(value, dict) or period_of(value) is not None


class ActionCreateTask(CrmAction):
    NAME = "action_create_task"

    def act(self, turn: Turn) -> list[EventType]:
        title = str(turn.slot("task_title") or "").strip()
        due = turn.due_at(turn.slot("time"))
        person, org_name = turn.slot("person"), turn.slot("organization")
        if (
            not person
            and not turn.slot("contact_id")
            and turn.slot("last_contact_id")
            and (set(message_words(turn.text)) & POSSESSIVES)
        ):
            person = "her"  # "remind me to send her the contract": the contact just talked about
        back_ref = [SlotSet("contact_id", turn.slot("last_contact_id"))] if person == "her" else []
        with self.crm(turn) as crm:
            contact_id = org_id = None
            link, new_contact = "", None
            if person or turn.slot("contact_id"):
                res = resolve_contact(crm, turn, name=person, organization=org_name)
                if res.choices:
                    return offer(turn, res, person)
                contact_id, org_id, new_contact = res.contact_id, res.organization_id, res.unknown
                link = res.label or res.unknown or ""
            if org_name and org_id is None:
                org = find_organization(crm, org_name)
                org_id = org.id if org else None
                link = link or (org.name if org else "")
            if not turn.confirmed:
                link_text = f" ({link})" if link else ""
                if new_contact:
                    link_text = f" ({new_contact}: {'neuer Kontakt' if turn.lang == 'de' else 'new contact'})"
                return [
                    *turn.ask_confirmation(
                        "utter_confirm_create_task", title=title, due=turn.fmt_date(due), link=link_text
                    ),
                    *back_ref,
                ]
            if new_contact:
                first, _, last = new_contact.strip().rpartition(" ")
                contact_id = crm.contacts.create(
                    {"first_name": first, "last_name": last, "organization_id": org_id}
                ).id
            crm.tasks.create(
                {"title": title, "due_at": due, "contact_id": contact_id, "organization_id": org_id}
            )
        turn.say("utter_task_created", title=title, due=turn.fmt_date(due))
        return turn.done(*([SlotSet("last_contact_id", contact_id)] if contact_id else []))


class ActionListTasks(CrmAction):
    NAME = "action_list_tasks"

    def act(self, turn: Turn) -> list[EventType]:
        period = period_of(turn.slot("time"))
        with self.crm(turn) as crm:
            tasks = crm.tasks.list(assignee_id=turn.actor.id, status="open", limit=200).items
            rows = [(t.title, t.due_at) for t in tasks]
        if period is not None:
            start = datetime.combine(period[0], datetime.min.time(), tzinfo=turn.tz)
            end = datetime.combine(period[1], datetime.min.time(), tzinfo=turn.tz)
            chosen = [r for r in rows if r[1] is not None and start <= r[1] < end]
            when = period_text(turn, period)
            if not chosen:
                turn.say("utter_tasks_none_period", period=when)
            else:
                turn.say(
                    "utter_tasks_period", period=when, lines="\n".join(self._line(turn, r) for r in chosen)
                )
            return turn.done()
        if not rows:
            turn.say("utter_tasks_none")
            return turn.done()
        now = datetime.now(turn.tz)
        tomorrow = datetime.combine(
            local_today(turn) + timedelta(days=1), datetime.min.time(), tzinfo=turn.tz
        )
        groups: dict[str, list[tuple[str, datetime | None]]] = {"overdue": [], "today": [], "upcoming": []}
        for title, due in rows:
            key = "upcoming" if due is None or due >= tomorrow else "overdue" if due < now else "today"
            groups[key].append((title, due))
        groups["upcoming"] = groups["upcoming"][:UPCOMING_SHOWN]
        lang = turn.lang if turn.lang in ("en", "de") else "en"
        blocks = [
            f"{SECTIONS[key][lang]}:\n" + "\n".join(self._line(turn, r) for r in items)
            for key, items in groups.items()
            if items
        ]
        turn.say("utter_tasks_open", lines="\n".join(blocks))
        return turn.done()

    @staticmethod
    def _line(turn: Turn, row: tuple[str, datetime | None]) -> str:
        title, due = row
        return f"• {title}" + (f" ({turn.fmt_date(due)})" if due else "")


def actions(deps: ActionDeps) -> list[Action]:
    return [ValidateCreateTaskForm(), ActionCreateTask(deps.store), ActionListTasks(deps.store)]
