"""Assistant replies (Rasa REST style) -> Slack Block Kit.

    message = render(replies)   # Rendered(text=fallback, blocks=[...], images=[Image(...)])

Everything the assistant says may contain customer data typed by users, so ``&``, ``<`` and ``>`` are
escaped before Slack parses the text (no forged ``<!channel>`` or ``<https://evil|bank>`` links).
Buttons become one actions block per reply whose values are the payloads; tables become monospace
sections; images (data URLs or ``chart_png_b64``) are returned as PNG bytes to upload with
``files_upload_v2``.
"""

from __future__ import annotations

import base64
import binascii
import re
from dataclasses import dataclass, field
from typing import Any

ACTION_PREFIX = "crm_button_"
SECTION_LIMIT = 3000  # characters of mrkdwn per section block
BUTTON_TEXT_LIMIT = 75
BUTTON_VALUE_LIMIT = 2000
MAX_BLOCKS = 50
MAX_BUTTONS = 25
FALLBACK_LIMIT = 3500
_BOLD = re.compile(r"\*\*(.+?)\*\*")


@dataclass(frozen=True)
class Image:
    png: bytes
    title: str = "chart.png"


@dataclass
class Rendered:
    text: str = ""
    blocks: list[dict[str, Any]] = field(default_factory=list)
    images: list[Image] = field(default_factory=list)


def escape(text: str) -> str:
    """Slack's three control characters; everything else is shown as typed."""
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def unescape(text: str) -> str:
    """What the user typed, from Slack's escaped message text."""
    return text.replace("&lt;", "<").replace("&gt;", ">").replace("&amp;", "&")


def _cut(text: str, limit: int) -> str:
    return text if len(text) <= limit else text[: limit - 1] + "…"


def _mrkdwn(text: str) -> str:
    return _BOLD.sub(r"*\1*", escape(text))


def _section(text: str) -> dict[str, Any]:
    return {"type": "section", "text": {"type": "mrkdwn", "text": _cut(text, SECTION_LIMIT)}}


def _buttons(buttons: list[Any], reply_no: int) -> dict[str, Any] | None:
    elements = []
    for i, button in enumerate(buttons[:MAX_BUTTONS]):
        if not isinstance(button, dict):
            continue
        payload = str(button.get("payload") or "")
        if not payload or len(payload) > BUTTON_VALUE_LIMIT:
            continue
        title = str(button.get("title") or payload)
        elements.append(
            {
                "type": "button",
                "action_id": f"{ACTION_PREFIX}{reply_no}_{i}",
                "text": {"type": "plain_text", "text": _cut(title, BUTTON_TEXT_LIMIT), "emoji": True},
                "value": payload,
            }
        )
    return (
        {"type": "actions", "block_id": f"crm_actions_{reply_no}", "elements": elements} if elements else None
    )


def table_text(table: dict[str, Any]) -> str:
    """A table as aligned monospace lines (Slack has no table block for bots)."""
    columns = [str(c) for c in table.get("columns") or []]
    rows = [[str(c) for c in row] for row in table.get("rows") or [] if isinstance(row, list | tuple)]
    if not columns and not rows:
        return ""
    width = max([len(columns), *(len(r) for r in rows)])
    grid = [columns + [""] * (width - len(columns))] if columns else []
    grid += [r + [""] * (width - len(r)) for r in rows]
    sizes = [max(len(line[i]) for line in grid) for i in range(width)]
    lines = ["  ".join(cell.ljust(sizes[i]) for i, cell in enumerate(line)).rstrip() for line in grid]
    if columns:
        lines.insert(1, "  ".join("-" * s for s in sizes))
    return "\n".join(lines)


def _table_block(table: dict[str, Any]) -> dict[str, Any] | None:
    body = table_text(table)
    if not body:
        return None
    title = f"*{escape(str(table['title']))}*\n" if table.get("title") else ""
    room = SECTION_LIMIT - len(title) - 8
    return _section(f"{title}```{_cut(escape(body), room)}```")


def _png(data: Any) -> bytes | None:
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
    return raw if raw.startswith(b"\x89PNG") else None


def render(replies: list[dict[str, Any]]) -> Rendered:
    out = Rendered()
    fallback: list[str] = []
    for n, reply in enumerate(replies):
        text = reply.get("text")
        if isinstance(text, str) and text.strip():
            out.blocks.append(_section(_mrkdwn(text)))
            fallback.append(escape(text))
        custom = reply.get("custom")
        custom = custom if isinstance(custom, dict) else {}
        if custom.get("type") == "table":
            block = _table_block(custom)
            if block:
                out.blocks.append(block)
        buttons = reply.get("buttons")
        if isinstance(buttons, list):
            block = _buttons(buttons, n)
            if block:
                out.blocks.append(block)
        png = _png(reply.get("image")) or _png(custom.get("chart_png_b64"))
        if png:
            title = str(custom.get("title") or "chart")
            out.images.append(Image(png=png, title=f"{title}.png"))
    out.blocks = out.blocks[:MAX_BLOCKS]
    out.text = _cut("\n".join(fallback), FALLBACK_LIMIT)
    return out
