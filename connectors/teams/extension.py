"""The message extension: "Log to CRM" on a Teams message, and CRM links unfurled into a card.

    composeExtension/fetchTask    -> a dialog: the message text, the contacts it names to choose from
    composeExtension/submitAction -> the activity is created (``crm.activities.create``, audited there)
    composeExtension/queryLink    -> a card for ``{CRM_PUBLIC_URL}/api/v1/{contacts|deals|organizations}/N``

Who clicks is the linked CRM user of the invoke's ``from`` (``LinkService``, as for messages); an
unlinked user gets the linking hint and nothing else. The candidates come from the same lookup as the
Slack shortcut (``connectors/slack/shortcut.py``: ``find_candidates``, ``activity_kind``), so both
channels propose the same contacts. An unfurled card shows only what a link pasted into a channel may
show (name, organisation, stage and amount of a deal), and only what the pasting user may read.
"""

from __future__ import annotations

import html
import re
from typing import Any
from urllib.parse import urlsplit

from actions.labels import label
from connectors.slack.shortcut import activity_kind, find_candidates
from connectors.teams import wording
from connectors.teams.render import card
from crm_store.db import Database
from crm_store.services import Actor, CrmServices
from crm_store.services.errors import CrmError

FETCH_TASK = "composeExtension/fetchTask"
SUBMIT_ACTION = "composeExtension/submitAction"
QUERY_LINK = "composeExtension/queryLink"
NAMES = (FETCH_TASK, SUBMIT_ACTION, QUERY_LINK)
LOG_COMMAND = "logToCrm"
MAX_TEXT_CHARS = 4000
_TAGS = re.compile(r"<[^>]+>")
_RECORD = re.compile(r"^/api/v1/(contacts|deals|organizations)/(\d+)/?$")


def message_text(value: dict[str, Any]) -> str:
    """The plain text of the message the action was used on (Teams sends its HTML body)."""
    payload = value.get("messagePayload")
    body = payload.get("body") if isinstance(payload, dict) else None
    content = body.get("content") if isinstance(body, dict) else None
    if not isinstance(content, str):
        return ""
    return html.unescape(_TAGS.sub(" ", content)).strip()[:MAX_TEXT_CHARS]


def _task_message(text: str) -> dict[str, Any]:
    return {"task": {"type": "message", "value": text}}


def fetch_task(db: Database, actor: Actor, value: dict[str, Any], lang: str) -> dict[str, Any]:
    """The dialog: the text (editable) and the contacts it names."""
    text = message_text(value)
    if not text:
        return _task_message(wording.say("log_nothing", lang))
    with db.session() as session:
        matches = find_candidates(CrmServices(session, actor), text)
    if not matches:
        return _task_message(wording.say("log_no_contact", lang))
    choices = [
        {"title": f"{m.name} ({m.organization})" if m.organization else m.name, "value": str(m.id)}
        for m in matches
    ]
    body: list[dict[str, Any]] = [
        {"type": "TextBlock", "text": wording.say("log_title", lang), "weight": "Bolder", "wrap": True},
        {"type": "Input.ChoiceSet", "id": "contact_id", "value": choices[0]["value"], "choices": choices},
        {
            "type": "Input.Text",
            "id": "summary",
            "value": text,
            "isMultiline": True,
            "maxLength": MAX_TEXT_CHARS,
        },
        {
            "type": "ActionSet",
            "actions": [{"type": "Action.Submit", "title": wording.say("log_button", lang), "data": {}}],
        },
    ]
    return {
        "task": {
            "type": "continue",
            "value": {"title": wording.say("log_title", lang), "card": card(body), "width": "medium"},
        }
    }


def submit_action(db: Database, actor: Actor, value: dict[str, Any], lang: str) -> dict[str, Any]:
    """Create the activity the dialog describes, as the user (the service checks and audits)."""
    data = value.get("data") if isinstance(value.get("data"), dict) else {}
    contact = str(data.get("contact_id") or "")
    summary = str(data.get("summary") or message_text(value))[:MAX_TEXT_CHARS].strip()
    if not contact.isdigit() or not summary:
        return _task_message(wording.say("log_nothing", lang))
    kind = activity_kind(summary)
    try:
        with db.session() as session:
            crm = CrmServices(session, actor)
            person = crm.contacts.get(int(contact))
            crm.activities.create(
                {"type": kind, "contact_id": person.id, "summary": summary, "channel": "teams"}
            )
            who = f"{person.first_name} {person.last_name}".strip()
    except CrmError:
        return _task_message(wording.say("log_refused", lang))
    return _task_message(wording.say("log_done", lang, kind=label(kind, lang), contact=who))


def record_of(url: str, public_url: str) -> tuple[str, int] | None:
    """``(kind, id)`` for a link to one of our records; None for any other link."""
    ours = urlsplit(public_url)
    link = urlsplit(url)
    if not ours.hostname or link.scheme != "https" or link.hostname != ours.hostname:
        return None
    path = (
        link.path[len(ours.path.rstrip("/")) :] if link.path.startswith(ours.path.rstrip("/")) else link.path
    )
    found = _RECORD.match(path)
    return (found.group(1), int(found.group(2))) if found else None


def unfurl(db: Database, actor: Actor, url: str, public_url: str, lang: str) -> dict[str, Any] | None:
    """The card for a pasted link to a record the user may read; None (no preview) otherwise."""
    record = record_of(url, public_url)
    if record is None:
        return None
    kind, number = record
    try:
        with db.session() as session:
            crm = CrmServices(session, actor)
            if kind == "contacts":
                contact = crm.contacts.get(number)
                title = f"{contact.first_name} {contact.last_name}".strip()
                org = contact.organization.name if contact.organization else ""
                facts = [(wording.say("fact_organization", lang), org)] if org else []
            elif kind == "organizations":
                title, facts = crm.organizations.get(number).name, []
            else:
                deal = crm.deals.get(number)
                title = deal.name
                facts = [
                    (wording.say("fact_stage", lang), label(deal.stage, lang)),
                    (wording.say("fact_amount", lang), f"{deal.amount or 0} {deal.currency or ''}".strip()),
                ]
    except CrmError:
        return None
    body: list[dict[str, Any]] = [{"type": "TextBlock", "text": title, "weight": "Bolder", "wrap": True}]
    if facts:
        body.append({"type": "FactSet", "facts": [{"title": k, "value": v} for k, v in facts]})
    attachment = {
        **card(body),
        "preview": {"contentType": "application/vnd.microsoft.card.thumbnail", "content": {"title": title}},
    }
    return {"composeExtension": {"type": "result", "attachmentLayout": "list", "attachments": [attachment]}}
