"""Finding the record the user means: by name, by pronoun ("her"), with buttons when it is ambiguous.

Names are resolved honestly (nlu/name_match.py): an exact or near-exact full-name match is used; a first name
alone or a different surname is never chosen silently but offered next to "create a new contact".
"""

from __future__ import annotations

from dataclasses import dataclass

from rasa_sdk.events import EventType

from actions.base import Turn
from crm_store.services import CrmServices
from crm_store.services.search import Match
from nlu.name_match import name_match

AMBIGUITY_GAP = 8.0  # matches within this many points of the best one are all offered
NEW_CONTACT = "new"  # the contact_id of the "create a new contact" button
SURE = frozenset({"exact", "near"})
MAYBE = frozenset({"first_only", "other_surname", "surname_only"})
PRONOUNS = frozenset({"her", "him", "them", "she", "he", "ihr", "ihm", "sie", "er", "ihn", "dem", "der"})


@dataclass
class Resolution:
    contact_id: int | None = None
    organization_id: int | None = None
    label: str = ""
    choices: list[Match] | None = None  # several equally good matches
    unknown: str | None = None  # nothing found for this name
    partial: bool = False  # the choices only partly match the name: offer "create a new contact" too


def resolve_contact(
    crm: CrmServices, turn: Turn, *, name: str | None, organization: str | None = None, strict: bool = True
) -> Resolution:
    """A button choice wins, then a pronoun refers to the last contact, then a name/org search.

    ``strict=False`` (look-ups, which answer with the full name) uses a unique first-name or surname match;
    writes never do."""
    chosen = turn.slot("contact_id")
    if chosen == NEW_CONTACT:
        return Resolution(unknown=name or organization)
    if chosen not in (None, ""):
        c = crm.contacts.get(int(chosen))
        return Resolution(
            contact_id=c.id, organization_id=c.organization_id, label=_label(c.full_name, c.organization)
        )
    chosen_org = turn.slot("organization_id")
    if chosen_org not in (None, "") and not name:
        o = crm.organizations.get(int(chosen_org))
        return Resolution(organization_id=o.id, label=o.name)
    if name and name.strip().lower() in PRONOUNS and turn.slot("last_contact_id"):
        c = crm.contacts.get(int(turn.slot("last_contact_id")))
        return Resolution(
            contact_id=c.id, organization_id=c.organization_id, label=_label(c.full_name, c.organization)
        )
    if name:
        matches = crm.contacts.lookup(name, limit=8)
        if organization and matches:
            org_matches = {m.id for m in crm.organizations.list(q=organization, limit=20).items}
            in_org = [m for m in matches if m.organization_id in org_matches]
            matches = in_org or matches
        if matches:
            graded = [(m, name_match(name, m.name)) for m in matches]
            sure = [m for m, grade in graded if grade in SURE]
            surname = [m for m, grade in graded if grade == "surname_only"]
            maybe = [m for m, grade in graded if grade in MAYBE]
            if organization and len(maybe) == 1 and not sure:
                sure = maybe  # "Anna at Acme": the company makes a first name specific
            if not sure and len(surname) == 1 and len(maybe) == 1:
                sure = surname  # "Frau Koch" when there is one Koch
            partial_name = [m for m, grade in graded if grade in ("first_only", "surname_only")]
            if not sure and not strict and len(maybe) == 1 and partial_name:
                sure = partial_name  # "Bob's number?" with one Bob: the answer names him in full
            if sure:
                best = sure[0].score
                close = [m for m in sure if best - m.score <= AMBIGUITY_GAP]
                if len(close) > 1:
                    return Resolution(choices=close)
                c = crm.contacts.get(close[0].id)
                return Resolution(
                    contact_id=c.id,
                    organization_id=c.organization_id,
                    label=_label(c.full_name, c.organization),
                )
            if maybe:
                return Resolution(choices=maybe[:5], unknown=name, partial=True)
        orgs = crm.organizations.list(q=name, limit=3).items
        if orgs and not organization:
            return Resolution(organization_id=orgs[0].id, label=orgs[0].name)
        return Resolution(unknown=name)
    if organization:
        orgs = crm.organizations.list(q=organization, limit=3).items
        if orgs:
            return Resolution(organization_id=orgs[0].id, label=orgs[0].name)
        return Resolution(unknown=organization)
    return Resolution()


def choice_buttons(
    matches: list[Match], *, new_name: str | None = None, lang: str = "en"
) -> list[dict[str, str]]:
    buttons = [
        {
            "title": f"{m.name}, {m.organization}" if m.organization else m.name,
            "payload": f'/choose{{"contact_id": {m.id}}}',
        }
        for m in matches
    ]
    if new_name:
        title = f"{new_name} neu anlegen" if lang == "de" else f"New contact: {new_name}"
        buttons.append({"title": title, "payload": f'/choose{{"contact_id": "{NEW_CONTACT}"}}'})
    return buttons


def offer(turn: Turn, res: Resolution, name: str | None, *, may_create: bool = True) -> list[EventType]:
    """Ask which contact is meant: several good matches, or partial ones next to "create a new contact"."""
    choices = res.choices or []
    if res.partial and may_create:
        return turn.offer_choices(
            "utter_which_contact_partial",
            choice_buttons(choices, new_name=res.unknown, lang=turn.lang),
            name=res.unknown,
        )
    return turn.offer_choices("utter_which_contact", choice_buttons(choices), name=name)


def _label(name: str, org: object | None) -> str:
    org_name = getattr(org, "name", None)
    return f"{name} ({org_name})" if org_name else name
