"""Assistant replies (Rasa REST style) -> one Bot Framework message activity for Teams.

    activity = render(replies)   # {"type": "message", "textFormat": "markdown", "text"?, "attachments"?}

Replies with only text become the message's markdown text. As soon as a reply carries buttons or a
table, everything is laid out in one Adaptive Card (1.5), in order: a ``TextBlock`` per text, a
``Table`` per table (falling back to a ``FactSet`` on hosts without tables), and ``ActionSet``s whose
``Action.Submit`` buttons carry ``{"payload": "/intent{...}"}``: Teams sends that back as the
activity's ``value`` and the connector hands the payload to the assistant as the message.
Images (data URLs or ``chart_png_b64``) become ``image/png`` attachments with a data-URL ``contentUrl``.

Everything the assistant says may contain customer data typed by users, so markdown control
characters are escaped (no forged links, emphasis or headings), and in message text, which Teams
also reads as HTML, ``&``, ``<`` and ``>`` too. The assistant's own ``**bold**`` is kept.
"""

from __future__ import annotations

import base64
import binascii
import re
from typing import Any

CARD_CONTENT_TYPE = "application/vnd.microsoft.card.adaptive"
CARD_VERSION = "1.5"
TEXT_LIMIT = 20_000
TITLE_LIMIT = 80
PAYLOAD_LIMIT = 2_000
BUTTONS_PER_SET = 5
MAX_BUTTONS = 25
MAX_TABLE_ROWS = 50
MAX_TABLE_COLUMNS = 8
SUMMARY_LIMIT = 200
_BOLD = re.compile(r"\*\*(.+?)\*\*", re.DOTALL)
_MD_CHARS = re.compile(r"([\\`*_~\[\]])")
_LINE_MARK = re.compile(r"^(\s*)([#+\-])(?=\s)", re.MULTILINE)
_LINE_QUOTE = re.compile(r"^(\s*)>", re.MULTILINE)
_LINE_NUMBER = re.compile(r"^(\s*\d+)\.(?=\s)", re.MULTILINE)


def _cut(text: str, limit: int) -> str:
    return text if len(text) <= limit else text[: limit - 1] + "…"


def escape_markdown(text: str, *, html: bool = True) -> str:
    """Show ``text`` literally in Teams markdown (and, with ``html``, in Teams' HTML)."""
    out = _MD_CHARS.sub(r"\\\1", text)
    out = _LINE_MARK.sub(r"\1\\\2", out)
    out = _LINE_NUMBER.sub(r"\1\\.", out)
    if html:
        return out.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")
    return _LINE_QUOTE.sub(r"\1\\>", out)


def markdown(text: str, *, html: bool = True) -> str:
    """The assistant's text for Teams: ``**bold**`` kept, everything else escaped."""
    parts: list[str] = []
    last = 0
    for match in _BOLD.finditer(text):
        parts.append(escape_markdown(text[last : match.start()], html=html))
        parts.append("**" + escape_markdown(match.group(1), html=html) + "**")
        last = match.end()
    parts.append(escape_markdown(text[last:], html=html))
    return "".join(parts)


def _text_block(text: str, **style: Any) -> dict[str, Any]:
    return {"type": "TextBlock", "text": _cut(text, TEXT_LIMIT), "wrap": True, **style}


def _action_sets(buttons: list[Any]) -> list[dict[str, Any]]:
    actions = []
    for button in buttons[:MAX_BUTTONS]:
        if not isinstance(button, dict):
            continue
        payload = str(button.get("payload") or "")
        if not payload or len(payload) > PAYLOAD_LIMIT:
            continue
        title = str(button.get("title") or payload)
        actions.append(
            {"type": "Action.Submit", "title": _cut(title, TITLE_LIMIT), "data": {"payload": payload}}
        )
    return [
        {"type": "ActionSet", "actions": actions[i : i + BUTTONS_PER_SET]}
        for i in range(0, len(actions), BUTTONS_PER_SET)
    ]


def _cells(row: Any, width: int) -> list[str]:
    cells = [str(c) for c in row][:width] if isinstance(row, list | tuple) else []
    return cells + [""] * (width - len(cells))


def table_elements(table: dict[str, Any]) -> list[dict[str, Any]]:
    """A title and an Adaptive Card ``Table`` (with a ``FactSet`` fallback) for a ``custom`` table."""
    raw_columns = table.get("columns")
    columns = [str(c) for c in raw_columns] if isinstance(raw_columns, list) else []
    raw_rows = table.get("rows")
    rows_in = [r for r in raw_rows if isinstance(r, list | tuple)] if isinstance(raw_rows, list) else []
    width = min(max([len(columns), *(len(r) for r in rows_in)], default=0), MAX_TABLE_COLUMNS)
    if width == 0:
        return []
    header = _cells(columns, width) if columns else None
    rows = [_cells(r, width) for r in rows_in[:MAX_TABLE_ROWS]]

    def row(cells: list[str], *, bold: bool = False) -> dict[str, Any]:
        style = {"weight": "Bolder"} if bold else {}
        return {
            "type": "TableRow",
            "cells": [
                {"type": "TableCell", "items": [_text_block(escape_markdown(c, html=False), **style)]}
                for c in cells
            ],
        }

    def fact(cells: list[str]) -> dict[str, str]:
        names = header or [""] * width
        rest = " · ".join(f"{names[i]}: {cells[i]}" if names[i] else cells[i] for i in range(1, width))
        return {"title": escape_markdown(cells[0], html=False), "value": escape_markdown(rest, html=False)}

    elements: list[dict[str, Any]] = []
    if table.get("title"):
        elements.append(_text_block(escape_markdown(str(table["title"]), html=False), weight="Bolder"))
    elements.append(
        {
            "type": "Table",
            "gridStyle": "accent",
            "firstRowAsHeader": header is not None,
            "columns": [{"width": 1} for _ in range(width)],
            "rows": ([row(header, bold=True)] if header else []) + [row(r) for r in rows],
            "fallback": {"type": "FactSet", "facts": [fact(r) for r in rows]},
        }
    )
    return elements


def png_data_url(data: Any) -> str | None:
    """A clean ``data:image/png;base64,...`` URL for a PNG given as a data URL or bare base64."""
    if not isinstance(data, str) or not data:
        return None
    if data.startswith("data:"):
        head, _, data = data.partition(",")
        if "image/png" not in head or ";base64" not in head:
            return None
    try:
        raw = base64.b64decode(data, validate=True)
    except (binascii.Error, ValueError):
        return None
    if not raw.startswith(b"\x89PNG"):
        return None
    return "data:image/png;base64," + base64.b64encode(raw).decode()


def card(body: list[dict[str, Any]]) -> dict[str, Any]:
    return {
        "contentType": CARD_CONTENT_TYPE,
        "content": {
            "type": "AdaptiveCard",
            "$schema": "http://adaptivecards.io/schemas/adaptive-card.json",
            "version": CARD_VERSION,
            "body": body,
            "msteams": {"width": "Full"},
        },
    }


def text_activity(text: str) -> dict[str, Any]:
    """A message of our own wording (already safe, not from users)."""
    return {"type": "message", "textFormat": "markdown", "text": text}


def render(replies: list[dict[str, Any]]) -> dict[str, Any]:
    """One message activity (without addressing) for the assistant's replies to a turn."""
    texts: list[str] = []
    body: list[dict[str, Any]] = []
    images: list[dict[str, Any]] = []
    needs_card = False
    for reply in replies:
        if not isinstance(reply, dict):
            continue
        text = reply.get("text")
        if isinstance(text, str) and text.strip():
            texts.append(text)
            body.append(_text_block(markdown(text, html=False)))
        custom = reply.get("custom")
        custom = custom if isinstance(custom, dict) else {}
        if custom.get("type") == "table":
            elements = table_elements(custom)
            needs_card = needs_card or bool(elements)
            body.extend(elements)
        buttons = reply.get("buttons")
        if isinstance(buttons, list):
            sets = _action_sets(buttons)
            needs_card = needs_card or bool(sets)
            body.extend(sets)
        url = png_data_url(reply.get("image")) or png_data_url(custom.get("chart_png_b64"))
        if url:
            name = str(custom.get("title") or "chart")
            images.append({"contentType": "image/png", "contentUrl": url, "name": f"{name}.png"})
    activity: dict[str, Any] = {"type": "message", "textFormat": "markdown"}
    attachments: list[dict[str, Any]] = []
    if needs_card:
        attachments.append(card(body))
        if texts:
            activity["summary"] = _cut(texts[0], SUMMARY_LIMIT)
    elif texts:
        activity["text"] = _cut("\n\n".join(markdown(t) for t in texts), TEXT_LIMIT)
    attachments.extend(images)
    if attachments:
        activity["attachments"] = attachments
    return activity


def is_empty(activity: dict[str, Any]) -> bool:
    return not activity.get("text") and not activity.get("attachments")
