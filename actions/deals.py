"""Reps open deals ("New deal: Initech, 40k EUR, closing end of March") and move them along the pipeline."""

from __future__ import annotations

import re
from datetime import date, datetime, timedelta
from typing import TYPE_CHECKING, Any

from rasa_sdk import Action, Tracker
from rasa_sdk.events import EventType, SlotSet
from rasa_sdk.executor import CollectingDispatcher
from rasa_sdk.forms import FormValidationAction

from actions.base import CrmAction, DomainDict, Turn
from actions.contacts import entity_values, find_organization, free_text
from actions.labels import label
from actions.reports import period_of
from crm_store.models import OPEN_STAGES, STAGES
from crm_store.services import CrmServices
from crm_store.services.errors import NotFound
from nlu.references import refers_to_last_deal

if TYPE_CHECKING:
    from actions.registry import ActionDeps
    from crm_store.models import Deal

DEFAULT_CURRENCY = "EUR"
PERCENT = re.compile(r"(\d{1,3})\s?(?:%|percent|prozent)", re.IGNORECASE)
CHANGE_LABELS: dict[str, dict[str, str]] = {
    "stage": {"en": "stage", "de": "Phase"},
    "amount": {"en": "amount", "de": "Betrag"},
    "probability": {"en": "probability", "de": "Wahrscheinlichkeit"},
    "expected_close_date": {"en": "close date", "de": "Abschlussdatum"},
}


def normalise_amount(value: Any, lang: str) -> float | None:
    """40000, "40000", "40k", "40.000 €", "1,5 Mio" -> a number; None when it isn't one."""
    if isinstance(value, bool):
        return None
    if isinstance(value, int | float):
        return float(value) if value >= 0 else None
    text = str(value or "").strip()
    if not text:
        return None
    from nlu.numbers import parse_numeral
    from nlu.rule_entities import extract_rule_entities

    for e in extract_rule_entities(text, lang):
        if e.entity == "amount" and isinstance(e.value, int | float):
            return float(e.value)
    number = parse_numeral(text, lang)
    return number if number is not None and number >= 0 else None


def currency_in(text: str, lang: str) -> str | None:
    from nlu.rule_entities import extract_rule_entities

    return next((str(e.value) for e in extract_rule_entities(text, lang) if e.entity == "currency"), None)


def close_date(value: Any) -> date | None:
    """A ``time`` value as a close date: a day as such, a period as its last day."""
    period = period_of(value)
    if period is None:
        return None
    return period[1] - timedelta(days=1) if isinstance(value, dict) else period[0]


# --- create ---------------------------------------------------------------------------------------------
class ValidateCreateDealForm(FormValidationAction):
    def name(self) -> str:
        return "validate_create_deal_form"

    async def run(
        self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: DomainDict
    ) -> list[EventType]:
        lang = tracker.get_slot("language") or "en"
        events: list[EventType] = []
        raw = tracker.get_slot("amount")
        if raw is not None:
            amount = normalise_amount(raw, lang)
            events.append(SlotSet("amount", amount))
            if amount is None:
                dispatcher.utter_message(response="utter_invalid", detail=str(raw))
        currency = tracker.get_slot("currency") or entity_values(tracker).get("currency")
        if not currency and isinstance(raw, str):
            currency = currency_in(raw, lang)
        events.append(SlotSet("currency", str(currency or DEFAULT_CURRENCY).upper()))
        return events


def _deal_name(org_name: str, lang: str) -> str:
    return f"Deal {org_name}" if lang == "de" else f"{org_name} deal"


class ActionCreateDeal(CrmAction):
    NAME = "action_create_deal"

    def act(self, turn: Turn) -> list[EventType]:
        org_name = str(turn.slot("organization") or "").strip()
        amount = float(turn.slot("amount") or 0)
        currency = str(turn.slot("currency") or DEFAULT_CURRENCY)
        stage = str(turn.slot("stage") or "lead")
        closes = close_date(turn.slot("time"))
        shown = {
            "amount": turn.fmt_money(amount, currency),
            "stage": label(stage, turn.lang),
            "close": turn.fmt_date(closes),
        }
        with self.crm(turn) as crm:
            org = find_organization(crm, org_name)
            if not turn.confirmed:
                response = "utter_confirm_create_deal" if org else "utter_confirm_create_deal_new_org"
                return turn.ask_confirmation(response, organization=org.name if org else org_name, **shown)
            if org is None:
                org = crm.organizations.create({"name": org_name})
            contact = turn.slot("last_contact_id")
            deal = crm.deals.create(
                {
                    "name": _deal_name(org.name, turn.lang),
                    "organization_id": org.id,
                    "amount": amount,
                    "currency": currency,
                    "stage": stage if stage in STAGES else "lead",
                    "expected_close_date": closes,
                    "contact_id": _contact_in(crm, contact, org.id),
                }
            )
            name, deal_id, org_id = deal.name, deal.id, org.id
        turn.say("utter_deal_created", name=name, amount=shown["amount"])
        return turn.done(SlotSet("last_deal_id", deal_id), SlotSet("last_organization_id", org_id))


def _contact_in(crm: CrmServices, contact_id: Any, org_id: int) -> int | None:
    """The contact we just talked about, when they work for the deal's organisation."""
    if not contact_id:
        return None
    try:
        contact = crm.contacts.get(int(contact_id))
    except NotFound:
        return None
    return contact.id if contact.organization_id == org_id else None


# --- update ---------------------------------------------------------------------------------------------
def deal_change_from(tracker: Tracker, *, from_text: bool) -> dict[str, Any]:
    lang = tracker.get_slot("language") or "en"
    values = entity_values(tracker)
    text = free_text(tracker)
    if from_text and text:
        from nlu.dates import extract_times
        from nlu.rule_entities import extract_rule_entities

        for e in extract_rule_entities(text, lang):
            values.setdefault(e.entity, e.value)
        found = extract_times(text, lang, now=datetime.now().astimezone())
        if found:
            values.setdefault("time", found[0].value)
    change: dict[str, Any] = {}
    if values.get("stage") in STAGES:
        change["stage"] = values["stage"]
    amount = normalise_amount(values.get("amount"), lang) if values.get("amount") is not None else None
    if amount is not None:
        change["amount"] = amount
        if values.get("currency"):
            change["currency"] = str(values["currency"]).upper()
    closes = close_date(values.get("time"))
    if closes is not None:
        change["expected_close_date"] = closes.isoformat()
    percent = PERCENT.search(text)
    if percent and 0 <= int(percent.group(1)) <= 100:
        change["probability"] = int(percent.group(1))
    return change


class ValidateUpdateDealForm(FormValidationAction):
    def name(self) -> str:
        return "validate_update_deal_form"

    async def run(
        self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: DomainDict
    ) -> list[EventType]:
        change = dict(tracker.get_slot("deal_change") or {})
        change.update(
            deal_change_from(tracker, from_text=tracker.get_slot("requested_slot") == "deal_change")
        )
        events: list[EventType] = [SlotSet("deal_change", change or None)]
        last = tracker.get_slot("last_deal_id")
        if last and not tracker.get_slot("deal_id") and refers_to_last_deal(free_text(tracker)):
            events.append(
                SlotSet("deal_id", last)
            )  # "move that deal to negotiation": the one just talked about
            events.append(SlotSet("organization", "-"))
        elif tracker.get_slot("deal_id") and not tracker.get_slot("organization"):
            events.append(SlotSet("organization", "-"))  # a chosen deal needs no company name
        return events


def describe_deal_change(turn: Turn, change: dict[str, Any]) -> str:
    lang = turn.lang if turn.lang in ("en", "de") else "en"
    parts = []
    for key, value in change.items():
        if key == "currency":
            continue
        if key == "stage":
            shown = label(value, turn.lang)
        elif key == "amount":
            shown = turn.fmt_money(value, change.get("currency") or DEFAULT_CURRENCY)
        elif key == "probability":
            shown = f"{value} %"
        else:
            shown = turn.fmt_date(date.fromisoformat(value))
        parts.append(f"{CHANGE_LABELS[key][lang]} → {shown}")
    return ", ".join(parts)


def deal_button(turn: Turn, deal: Deal) -> dict[str, str]:
    title = (
        f"{deal.name} ({label(deal.stage, turn.lang)}, {turn.fmt_money(float(deal.amount), deal.currency)})"
    )
    return {"title": title, "payload": f'/choose{{"deal_id": {deal.id}}}'}


class ActionUpdateDeal(CrmAction):
    NAME = "action_update_deal"

    def act(self, turn: Turn) -> list[EventType]:
        change: dict[str, Any] = dict(turn.slot("deal_change") or {})
        org_name = str(turn.slot("organization") or "").strip()
        with self.crm(turn) as crm:
            if turn.slot("deal_id"):
                deal = crm.deals.get(int(turn.slot("deal_id")))
            else:
                org = find_organization(crm, org_name)
                if org is None:
                    turn.say("utter_organization_not_found", organization=org_name)
                    return turn.done()
                deals = [
                    d
                    for d in crm.deals.list(organization_id=org.id, limit=50).items
                    if d.stage in OPEN_STAGES
                ]
                if not deals:
                    turn.say("utter_no_open_deal", organization=org.name)
                    return turn.done()
                if len(deals) > 1:
                    return turn.offer_choices(
                        "utter_which_deal", [deal_button(turn, d) for d in deals[:8]], organization=org.name
                    )
                deal = deals[0]
            changes = describe_deal_change(turn, change)
            if not turn.confirmed:
                return turn.ask_confirmation("utter_confirm_update_deal", deal=deal.name, changes=changes)
            crm.deals.update(deal.id, change)
            name, deal_id, org_id = deal.name, deal.id, deal.organization_id
        turn.say("utter_deal_updated", deal=name, changes=changes)
        return turn.done(SlotSet("last_deal_id", deal_id), SlotSet("last_organization_id", org_id))


def actions(deps: ActionDeps) -> list[Action]:
    return [
        ValidateCreateDealForm(),
        ActionCreateDeal(deps.store),
        ValidateUpdateDealForm(),
        ActionUpdateDeal(deps.store),
    ]
