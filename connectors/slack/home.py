"""The App Home tab: the user's open tasks, published with ``views.publish`` when they open it."""

from __future__ import annotations

from typing import Any

from connectors.slack.render import escape
from crm_store.db import Database
from crm_store.services import Actor, CrmServices

MAX_TASKS = 20
_TITLES = {
    "en": ("Your open tasks", "Nothing open. Enjoy!", "due {when}"),
    "de": ("Deine offenen Aufgaben", "Nichts offen. Schön!", "fällig {when}"),
}


def open_tasks(db: Database, actor: Actor) -> list[tuple[str, str | None]]:
    """(title, due date) of the actor's open tasks, soonest first."""
    with db.session() as session:
        page = CrmServices(session, actor).tasks.list(assignee_id=actor.id, status="open", limit=MAX_TASKS)
        return [(t.title, t.due_at.date().isoformat() if t.due_at else None) for t in page.items]


def home_view(tasks: list[tuple[str, str | None]], lang: str = "en") -> dict[str, Any]:
    heading, empty, due = _TITLES.get(lang, _TITLES["en"])
    blocks: list[dict[str, Any]] = [{"type": "header", "text": {"type": "plain_text", "text": heading}}]
    if not tasks:
        blocks.append({"type": "section", "text": {"type": "mrkdwn", "text": empty}})
    for title, when in tasks:
        line = f"• {escape(title)}" + (f"  _{due.format(when=when)}_" if when else "")
        blocks.append({"type": "section", "text": {"type": "mrkdwn", "text": line[:3000]}})
    return {"type": "home", "blocks": blocks}
