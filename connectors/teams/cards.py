"""Universal Actions: buttons that run the turn and replace their card in place.

    activity = universal(render(replies))          # Action.Submit -> Action.Execute (verb ``crm``)
    body = card_response(render(replies))          # the invoke response for ``adaptiveCard/action``

A click on an ``Action.Execute`` button reaches us as an ``invoke`` activity named
``adaptiveCard/action`` whose ``value.action.data`` holds the ``payload``; Teams waits for the answer and
puts the card we return where the clicked one was, so the buttons that were clicked are gone (no second
submit) and the outcome stands in their place.
"""

from __future__ import annotations

import copy
from typing import Any

from connectors.teams.render import CARD_CONTENT_TYPE, card

VERB = "crm"
INVOKE_NAME = "adaptiveCard/action"
MESSAGE_RESPONSE_TYPE = "application/vnd.microsoft.activity.message"


def _executes(node: Any) -> Any:
    if isinstance(node, list):
        return [_executes(n) for n in node]
    if not isinstance(node, dict):
        return node
    out = {k: _executes(v) for k, v in node.items()}
    if out.get("type") == "Action.Submit":
        out["type"] = "Action.Execute"
        out["verb"] = VERB
    return out


def universal(activity: dict[str, Any]) -> dict[str, Any]:
    """The rendered activity with its card buttons as ``Action.Execute``."""
    out = copy.copy(activity)
    if "attachments" in activity:
        out["attachments"] = [
            {**a, "content": _executes(a.get("content"))} if a.get("contentType") == CARD_CONTENT_TYPE else a
            for a in activity["attachments"]
        ]
    return out


def clicked_payload(activity: dict[str, Any]) -> str | None:
    """The payload of an ``Action.Execute`` click, None for anything else."""
    value = activity.get("value")
    action = value.get("action") if isinstance(value, dict) else None
    data = action.get("data") if isinstance(action, dict) else None
    payload = data.get("payload") if isinstance(data, dict) else None
    if not isinstance(action, dict) or action.get("verb") != VERB or not isinstance(payload, str):
        return None
    return payload.strip() or None


def card_response(activity: dict[str, Any]) -> dict[str, Any]:
    """The invoke response that replaces the clicked card with this turn's answer."""
    content = next(
        (
            a["content"]
            for a in activity.get("attachments") or []
            if a.get("contentType") == CARD_CONTENT_TYPE
        ),
        None,
    )
    if content is None:
        text = str(activity.get("text") or "")
        content = card([{"type": "TextBlock", "text": text, "wrap": True}])["content"]
    return {"statusCode": 200, "type": CARD_CONTENT_TYPE, "value": _executes(content)}


def text_card_response(text: str) -> dict[str, Any]:
    """A card of our own wording (already safe) in place of the clicked one."""
    return card_response({"text": text})


def message_response(text: str) -> dict[str, Any]:
    """A short message instead of a new card (a click we will not act on)."""
    return {"statusCode": 200, "type": MESSAGE_RESPONSE_TYPE, "value": text}
