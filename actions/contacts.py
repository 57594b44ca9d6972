"""Reps create, update and look up contacts, and ask for the recent history of a contact or company."""

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
from crm_store.names import fold
from crm_store.services import CrmServices

if TYPE_CHECKING:
    from actions.registry import ActionDeps
    from crm_store.models import Contact, Organization

CONTACT_FIELDS = ("email", "phone", "job_title", "organization")
FIELD_LABELS: dict[str, dict[str, str]] = {
    "email": {"en": "email", "de": "E-Mail"},
    "phone": {"en": "phone number", "de": "Telefonnummer"},
    "job_title": {"en": "job title", "de": "Position"},
    "organization": {"en": "company", "de": "Firma"},
}
# Which field a question asks for, by its words (EN and DE); the first hit wins.
FIELD_WORDS: dict[str, tuple[str, ...]] = {
    "email": ("email", "e-mail", "mail", "address", "adresse", "mailadresse"),
    "phone": (
        "phone",
        "number",
        "mobile",
        "cell",
        "nummer",
        "telefon",
        "telefonnummer",
        "handy",
        "natel",
        "handynummer",
        "tel",
    ),
    "job_title": ("title", "position", "role", "job", "rolle", "funktion", "jobtitel"),
    "organization": ("company", "firma", "organisation", "organization", "employer", "arbeitgeber", "works"),
}
POSSESSIVES = frozenset(
    {
        "her",
        "his",
        "their",
        "ihr",
        "ihre",
        "ihren",
        "ihrem",
        "ihrer",
        "sein",
        "seine",
        "seinen",
        "seinem",
        "seiner",
        "she",
        "he",
        "sie",
        "er",
        "him",
        "ihm",
        "ihn",
    }
)
_WORD = re.compile(r"[\wäöüß@.+-]+", re.UNICODE)


# --- helpers shared by the rep actions ------------------------------------------------------------------
def entity_values(tracker: Tracker) -> dict[str, Any]:
    """The first value of each entity in the latest message (not the slots: ``email`` outlives requests)."""
    found: dict[str, Any] = {}
    for e in (tracker.latest_message or {}).get("entities") or []:
        found.setdefault(str(e.get("entity")), e.get("value"))
    return found


def message_words(text: str) -> list[str]:
    return [w.strip(".,;:!?").lower() for w in _WORD.findall(text or "")]


def free_text(tracker: Tracker) -> str:
    """The latest message's text unless it is a button payload."""
    text = str((tracker.latest_message or {}).get("text") or "").strip()
    return "" if text.startswith("/") else text


def find_organization(crm: CrmServices, name: str | None) -> Organization | None:
    """The organisation called ``name``: an exact (folded) match first, else the best search hit."""
    if not name or not name.strip():
        return None
    orgs = crm.organizations.list(q=name, limit=20).items
    if not orgs:
        return None
    wanted = fold(name.strip())
    exact = [o for o in orgs if fold(o.name) == wanted]
    prefix = [o for o in orgs if fold(o.name).startswith(wanted)]
    return (exact or prefix or orgs)[0]


def contact_label(contact: Contact) -> str:
    org = contact.organization.name if contact.organization else None
    return f"{contact.full_name} ({org})" if org else contact.full_name


def describe_details(details: dict[str, Any], lang: str) -> str:
    """``CTO at Initech, jane@initech.com`` for a confirmation question."""
    parts: list[str] = []
    job, org = details.get("job_title"), details.get("organization")
    if job and org:
        parts.append(f"{job} {'bei' if lang == 'de' else 'at'} {org}")
    elif job or org:
        parts.append(str(job or org))
    parts += [str(details[k]) for k in ("email", "phone") if details.get(k)]
    return ", ".join(parts)


def describe_change(change: dict[str, Any], lang: str) -> str:
    return ", ".join(
        f"{FIELD_LABELS[k][lang if lang in ('en', 'de') else 'en']} → {v}"
        for k, v in change.items()
        if k in FIELD_LABELS and v
    )


def contact_details_from(tracker: Tracker, *, from_text: bool) -> dict[str, Any]:
    """E-mail, phone, job title and organisation named in the latest message."""
    values = entity_values(tracker)
    details = {k: values[k] for k in CONTACT_FIELDS if values.get(k)}
    text = free_text(tracker)
    if from_text and text and not details:
        from nlu.rule_entities import extract_rule_entities

        lang = tracker.get_slot("language") or "en"
        for e in extract_rule_entities(text, lang):
            if e.entity in ("email", "phone"):
                details.setdefault(e.entity, e.value)
    return details


# --- create ---------------------------------------------------------------------------------------------
class ValidateCreateContactForm(FormValidationAction):
    """Keeps the details given with the request (e-mail, phone, title, company) in ``pending``."""

    def name(self) -> str:
        return "validate_create_contact_form"

    async def run(
        self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: DomainDict
    ) -> list[EventType]:
        details = dict(tracker.get_slot("pending") or {})
        details.update(contact_details_from(tracker, from_text=False))
        events: list[EventType] = [SlotSet("pending", details or None)]
        person = str(tracker.get_slot("person") or "").strip()
        if person and "@" in person:  # "jane@initech.com" answered to "what's the name?"
            events.append(SlotSet("person", None))
        return events


class ActionCreateContact(CrmAction):
    NAME = "action_create_contact"

    def act(self, turn: Turn) -> list[EventType]:
        details: dict[str, Any] = dict(turn.slot("pending") or {})
        name = str(turn.slot("person") or "").strip()
        first, _, last = name.rpartition(" ")
        with self.crm(turn) as crm:
            email = details.get("email")
            existing = crm.contacts.by_email(str(email)) if email else None
            if existing is not None and existing.erased_at is None:
                turn.say("utter_contact_exists", name=contact_label(existing), email=email)
                return turn.done(SlotSet("last_contact_id", existing.id))
            org_name = details.get("organization")
            org = find_organization(crm, org_name)
            if not turn.confirmed:
                text = describe_details(details, turn.lang)
                response = (
                    "utter_confirm_create_contact_new_org"
                    if org_name and org is None
                    else "utter_confirm_create_contact"
                )
                return turn.ask_confirmation(
                    response, name=name, details=f" ({text})" if text else "", organization=org_name
                )
            if org is None and org_name:
                org = crm.organizations.create({"name": org_name})
            contact = crm.contacts.create(
                {
                    "first_name": first,
                    "last_name": last,
                    "email": email,
                    "phone": details.get("phone"),
                    "job_title": details.get("job_title"),
                    "organization_id": org.id if org else None,
                }
            )
            contact_id, shown = contact.id, f"{name} ({org.name})" if org else name
        turn.say("utter_contact_created", name=shown)
        return turn.done(SlotSet("last_contact_id", contact_id))


# --- update ---------------------------------------------------------------------------------------------
class ValidateUpdateContactForm(FormValidationAction):
    """``contact_change``: the fields named in the message; a pronoun refers to the last contact."""

    def name(self) -> str:
        return "validate_update_contact_form"

    async def run(
        self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: DomainDict
    ) -> list[EventType]:
        asked = tracker.get_slot("requested_slot") == "contact_change"
        change = dict(tracker.get_slot("contact_change") or {})
        details = contact_details_from(tracker, from_text=asked)
        who = tracker.get_slot("who")
        events: list[EventType] = []
        words = set(message_words(free_text(tracker)))
        if (
            tracker.get_slot("last_contact_id")
            and (not who or who == details.get("organization"))
            and words & POSSESSIVES
        ):
            events.append(SlotSet("who", "her"))  # resolve_contact maps a pronoun to the last contact
        elif who and who == details.get("organization") and not tracker.get_slot("person"):
            details.pop("organization")  # the company named is whose contact to change, not the change
        change.update(details)
        events.append(SlotSet("contact_change", change or None))
        return events


class ActionUpdateContact(CrmAction):
    NAME = "action_update_contact"

    def act(self, turn: Turn) -> list[EventType]:
        change: dict[str, Any] = dict(turn.slot("contact_change") or {})
        who = turn.slot("who")
        with self.crm(turn) as crm:
            res = resolve_contact(crm, turn, name=who)
            if res.choices:
                return offer(turn, res, who)
            if res.contact_id is None:
                turn.say("utter_contact_not_found", name=res.unknown or who or "?")
                return turn.done()
            changes = describe_change(change, turn.lang)
            if not turn.confirmed:
                return turn.ask_confirmation("utter_confirm_update_contact", who=res.label, changes=changes)
            patch: dict[str, Any] = {k: change[k] for k in ("email", "phone", "job_title") if change.get(k)}
            if change.get("organization"):
                org = find_organization(crm, change["organization"]) or crm.organizations.create(
                    {"name": change["organization"]}
                )
                patch["organization_id"] = org.id
            crm.contacts.update(res.contact_id, patch)
            contact_id = res.contact_id
        turn.say("utter_contact_updated", who=res.label, changes=changes)
        return turn.done(SlotSet("last_contact_id", contact_id))


# --- find -----------------------------------------------------------------------------------------------
def asked_field(text: str) -> str | None:
    words = message_words(text)
    for field, vocabulary in FIELD_WORDS.items():
        if any(w in vocabulary or any(w.startswith(v) and len(v) > 4 for v in vocabulary) for w in words):
            return field
    return None


def _lookup_name(turn: Turn) -> str | None:
    who = turn.slot("who")
    name = turn.slot("person") or (who if who != turn.slot("organization") else None)
    if name:
        return str(name)
    if turn.slot("last_contact_id") and not turn.slot("organization") and not turn.slot("contact_id"):
        return "her"  # "and her phone number?" with no name: the contact we just talked about
    return None


class ActionFindContact(CrmAction):
    NAME = "action_find_contact"

    def act(self, turn: Turn) -> list[EventType]:
        name = _lookup_name(turn)
        field = asked_field(turn.text) or (turn.slot("pending") or {}).get("field")
        with self.crm(turn) as crm:
            res = resolve_contact(crm, turn, name=name, organization=turn.slot("organization"), strict=False)
            if res.choices:  # the button's payload has no words: remember which field was asked for
                events = offer(turn, res, name, may_create=False)
                return [*events, SlotSet("pending", {"field": field})]
            if res.contact_id is not None:
                contact = crm.contacts.get(res.contact_id)
                self._answer_contact(turn, contact, field, crm.contacts.readable_fields())
                return turn.done(SlotSet("last_contact_id", contact.id))
            if res.organization_id is not None:
                self._answer_organization(turn, crm, crm.organizations.get(res.organization_id))
                return turn.done()
        if res.unknown:
            turn.say("utter_contact_not_found", name=res.unknown)
        else:
            turn.say("utter_ask_which_contact_lookup")
        return turn.done()

    @staticmethod
    def _answer_contact(
        turn: Turn, contact: Contact, field: str | None, readable: frozenset[str] | None = None
    ) -> None:
        """The contact's card or one field, only with what the speaker's role may read (crm_store/policy.yml)."""
        lang = turn.lang if turn.lang in ("en", "de") else "en"
        values = {
            "email": contact.email,
            "phone": contact.phone,
            "job_title": contact.job_title,
            "organization": contact.organization.name if contact.organization else None,
        }
        source = {"organization": "organization_id"}
        hidden = {k for k in values if readable is not None and source.get(k, k) not in readable}
        if field is not None and field in hidden:
            turn.say("utter_not_allowed")
            return
        values = {k: v for k, v in values.items() if k not in hidden}
        if field is not None:
            if values[field]:
                turn.say(
                    "utter_contact_field",
                    name=contact.full_name,
                    field=FIELD_LABELS[field][lang],
                    value=values[field],
                )
            else:
                turn.say(
                    "utter_contact_field_missing", name=contact.full_name, field=FIELD_LABELS[field][lang]
                )
            return
        details = describe_details({k: v for k, v in values.items() if v}, lang) or "-"
        turn.say("utter_contact_card", name=contact.full_name, details=details)

    @staticmethod
    def _answer_organization(turn: Turn, crm: CrmServices, org: Organization) -> None:
        people = crm.contacts.list(organization_id=org.id, limit=5)
        noun = ("Kontakt", "Kontakte") if turn.lang == "de" else ("contact", "contacts")
        parts = [p for p in (org.domain, org.industry) if p]
        parts.append(
            f"{people.total} {noun[0] if people.total == 1 else noun[1]}"
            + (": " + ", ".join(c.full_name for c in people.items) if people.items else "")
        )
        turn.say("utter_organization_card", name=org.name, details="; ".join(parts))


# --- history --------------------------------------------------------------------------------------------
HISTORY_SIZE = 5


class ActionContactHistory(CrmAction):
    NAME = "action_contact_history"

    def act(self, turn: Turn) -> list[EventType]:
        name = _lookup_name(turn)
        with self.crm(turn) as crm:
            res = resolve_contact(crm, turn, name=name, organization=turn.slot("organization"), strict=False)
            if res.choices:
                return offer(turn, res, name, may_create=False)
            if res.contact_id is not None:
                items = crm.activities.list(contact_id=res.contact_id, limit=HISTORY_SIZE).items
            elif res.organization_id is not None:
                items = crm.activities.list(organization_id=res.organization_id, limit=HISTORY_SIZE).items
            else:
                if res.unknown:
                    turn.say("utter_contact_not_found", name=res.unknown)
                else:
                    turn.say("utter_ask_which_contact_lookup")
                return turn.done()
            lines = [self._line(turn, a, with_contact=res.contact_id is None) for a in items]
        if lines:
            turn.say("utter_history", who=res.label, lines="\n".join(lines))
        else:
            turn.say("utter_history_empty", who=res.label)
        extra = [SlotSet("last_contact_id", res.contact_id)] if res.contact_id else []
        return turn.done(*extra)

    @staticmethod
    def _line(turn: Turn, activity: Any, *, with_contact: bool) -> str:
        day = turn.fmt_date(activity.occurred_at.astimezone(turn.tz).date())
        who = f" – {activity.contact.full_name}" if activity.contact and with_contact else ""
        summary = (activity.summary or "").strip().replace("\n", " ")
        if len(summary) > 90:
            summary = summary[:89] + "…"
        return f"• {day}: {label(activity.type, turn.lang)}{who}" + (f" — {summary}" if summary else "")


def actions(deps: ActionDeps) -> list[Action]:
    return [
        ValidateCreateContactForm(),
        ActionCreateContact(deps.store),
        ValidateUpdateContactForm(),
        ActionUpdateContact(deps.store),
        ActionFindContact(deps.store),
        ActionContactHistory(deps.store),
    ]
