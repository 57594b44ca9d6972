"""Finding the record the user means: by name, by pronoun ("her"), with buttons when it is ambiguous."""

from __future__ import annotations

from dataclasses import dataclass

from actions.base import Turn
from crm_store.services import CrmServices
from crm_store.services.search import Match

AMBIGUITY_GAP = 8.0  # matches within this many points of the best one are all offered
PRONOUNS = frozenset({"her", "him", "them", "she", "he", "ihr", "ihm", "sie", "er", "ihn", "dem", "der"})


@dataclass
class Resolution:
    contact_id: int | None = None
    organization_id: int | None = None
    label: str = ""
    choices: list[Match] | None = None  # several equally good matches
    unknown: str | None = None  # nothing found for this name


def resolve_contact(crm: CrmServices, turn: Turn, *, name: str | None, organization: str | None = None) -> Resolution:
    """A button choice wins, then a pronoun refers to the last contact, then a name/org search."""
    chosen = turn.slot("contact_id")
    if chosen not in (None, ""):
        c = crm.contacts.get(int(chosen))
        return Resolution(contact_id=c.id, organization_id=c.organization_id, label=_label(c.full_name, c.organization))
    chosen_org = turn.slot("organization_id")
    if chosen_org not in (None, "") and not name:
        o = crm.organizations.get(int(chosen_org))
        return Resolution(organization_id=o.id, label=o.name)
    if name and name.strip().lower() in PRONOUNS and turn.slot("last_contact_id"):
        c = crm.contacts.get(int(turn.slot("last_contact_id")))
        return Resolution(contact_id=c.id, organization_id=c.organization_id, label=_label(c.full_name, c.organization))
    if name:
        matches = crm.contacts.lookup(name, limit=8)
        if organization and matches:
            org_matches = {m.id for m in crm.organizations.list(q=organization, limit=20).items}
            in_org = [m for m in matches if m.organization_id in org_matches]
            matches = in_org or matches
        if matches:
            best = matches[0].score
            close = [m for m in matches if best - m.score <= AMBIGUITY_GAP]
            if len(close) > 1:
                return Resolution(choices=close)
            c = crm.contacts.get(close[0].id)
            return Resolution(contact_id=c.id, organization_id=c.organization_id,
                              label=_label(c.full_name, c.organization))
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


def choice_buttons(matches: list[Match]) -> list[dict[str, str]]:
    return [{"title": f"{m.name}, {m.organization}" if m.organization else m.name,
             "payload": f'/choose{{"contact_id": {m.id}}}'} for m in matches]


def _label(name: str, org: object | None) -> str:
    org_name = getattr(org, "name", None)
    return f"{name} ({org_name})" if org_name else name

