"""The "Log to CRM" message shortcut: any Slack message becomes an activity on the contact it names.

    shortcut (callback_id log_to_crm) -> find the contact(s) the text names -> ephemeral confirmation
    with one button per candidate (or an explanation) -> click -> activity + reply, in one transaction

The text is kept server-side as a draft (``ProcessedEvent(source="slack_log", key=<token>)``, the
draft in ``result``), so buttons carry only ``<token>|<contact id>``; the draft also makes a double
click or a retried request log once. Its text is dropped once the draft is used.
"""

from __future__ import annotations

import asyncio
import json
import logging
import re
import secrets
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import select

from actions.activities import ACTIVITY_WORDS
from actions.labels import label
from connectors.slack import wording
from connectors.slack.identity import Workspace
from connectors.slack.outbox import Notify, SlackOutbox, posts, respond
from connectors.slack.render import escape
from crm_store.db import Database
from crm_store.models import OutboxMessage, ProcessedEvent
from crm_store.services import Actor, CrmServices
from crm_store.services.errors import PermissionDenied
from crm_store.services.search import Match

log = logging.getLogger(__name__)

CALLBACK_ID = "log_to_crm"
ACTION_PREFIX = "log_to_crm_"
DRAFT_SOURCE = "slack_log"
MIN_SCORE = 90.0
AMBIGUITY_GAP = 8.0
MAX_CHOICES = 5
MAX_PHRASES = 12
SUMMARY_LIMIT = 20000
PREVIEW_CHARS = 280
_EMAIL = re.compile(r"[\w.+-]+@[\w-]+(?:\.[\w-]+)+")
_LINK = re.compile(r"<(?:mailto:)?([^<>|]+)\|([^<>]+)>|<mailto:([^<>|]+)>")
_WORD = re.compile(r"[^\W\d_][\w'’-]*\.?", re.UNICODE)
_KINDS = ("call", "email")  # a note unless the text says it was a call or an e-mail

ActorLookup = Callable[[str, Workspace], Awaitable[tuple[Actor | None, str]]]


def plain_text(slack_text: str) -> str:
    """Slack's message markup as readable text: links become their label, entities are unescaped."""

    def link(m: re.Match[str]) -> str:
        if m.group(3):
            return m.group(3)
        target, shown = m.group(1), m.group(2)
        return shown if shown == target or target.startswith(shown) else f"{shown} ({target})"

    text = _LINK.sub(link, slack_text)
    return text.replace("&lt;", "<").replace("&gt;", ">").replace("&amp;", "&").strip()


def activity_kind(text: str) -> str:
    """``call`` or ``email`` when the text says so (English or German), else ``note``."""
    lowered = text.lower()
    for kind in _KINDS:
        if any(re.search(rf"\b{re.escape(w)}\b", lowered) for w in ACTIVITY_WORDS[kind]):
            return kind
    if re.search(r"^(from|von|subject|betreff):", lowered, re.MULTILINE):
        return "email"
    return "note"


def name_phrases(text: str) -> list[str]:
    """What in ``text`` may name a contact: e-mail addresses, then runs of capitalised words."""
    phrases = list(dict.fromkeys(m.group(0).lower() for m in _EMAIL.finditer(text)))
    without_emails = _EMAIL.sub(" ", text)
    run: list[str] = []
    last_end = -1
    for m in _WORD.finditer(without_emails):
        word = m.group(0)
        joined = last_end >= 0 and without_emails[last_end : m.start()].strip() == ""
        if word[0].isupper():
            run = [*run, word] if joined and run else [word]
            last_end = m.end()
            if len(run) == 1:
                phrases.append(word)
            else:
                phrases[-1] = " ".join(run)
        else:
            run, last_end = [], -1
    return list(dict.fromkeys(p.rstrip(".") for p in phrases if p.rstrip(".")))[:MAX_PHRASES]


def find_candidates(crm: CrmServices, text: str) -> list[Match]:
    """The contacts ``text`` names: the best match and any nearly as good, best first."""
    best: dict[int, Match] = {}
    for phrase in name_phrases(text):
        for match in crm.contacts.lookup(phrase, limit=MAX_CHOICES):
            if match.score >= MIN_SCORE and (match.id not in best or best[match.id].score < match.score):
                best[match.id] = match
    if not best:
        return []
    ranked = sorted(best.values(), key=lambda m: (-m.score, m.name, m.id))
    top = ranked[0].score
    return [m for m in ranked if top - m.score <= AMBIGUITY_GAP][:MAX_CHOICES]


def _who(match: Match) -> str:
    return f"{match.name} ({match.organization})" if match.organization else match.name


def confirmation_blocks(
    token: str, kind: str, text: str, choices: list[Match], lang: str
) -> list[dict[str, Any]]:
    kind_label = label(kind, lang)
    if len(choices) == 1:
        question = wording.say("log_confirm", lang, kind=kind_label, contact=escape(_who(choices[0])))
    else:
        question = wording.say("log_choose", lang, kind=kind_label)
    preview = text if len(text) <= PREVIEW_CHARS else text[: PREVIEW_CHARS - 1] + "…"
    quoted = "\n".join("> " + line for line in escape(preview).splitlines() or [""])
    buttons: list[dict[str, Any]] = [
        {
            "type": "button",
            "action_id": f"{ACTION_PREFIX}{i}",
            "text": {"type": "plain_text", "text": wording.say("log_button", lang, contact=_who(m))[:75]},
            "value": f"{token}|{m.id}",
            **({"style": "primary"} if len(choices) == 1 else {}),
        }
        for i, m in enumerate(choices)
    ]
    buttons.append(
        {
            "type": "button",
            "action_id": f"{ACTION_PREFIX}cancel",
            "text": {"type": "plain_text", "text": wording.say("cancel", lang)},
            "value": f"{token}|cancel",
        }
    )
    return [
        {"type": "section", "text": {"type": "mrkdwn", "text": question}},
        {"type": "context", "elements": [{"type": "mrkdwn", "text": quoted[:2900]}]},
        {"type": "actions", "block_id": "log_to_crm", "elements": buttons},
    ]


def _occurred_at(ts: Any) -> str | None:
    try:
        return datetime.fromtimestamp(float(ts), UTC).isoformat()
    except (TypeError, ValueError, OverflowError):
        return None


class LogToCrm:
    def __init__(self, *, db: Database, outbox: SlackOutbox, actor: ActorLookup) -> None:
        self.db = db
        self.outbox = outbox
        self._actor = actor

    # -- the shortcut ---------------------------------------------------------------------------------
    async def shortcut(self, body: dict[str, Any]) -> None:
        place = _Place.of(body)
        if place is None:
            return
        actor, lang = await self._actor(place.user, place.workspace)
        if actor is None:
            await self.outbox.add([place.reply(wording.say("not_linked_short", lang), lang=lang)])
            return
        message = body.get("message") or {}
        text = plain_text(str(message.get("text") or ""))[:SUMMARY_LIMIT]
        if not text:
            await self.outbox.add([place.reply(wording.say("log_empty", lang), lang=lang)])
            return
        draft = {
            "slack_user": place.user,
            "kind": activity_kind(text),
            "text": text,
            "occurred_at": _occurred_at(message.get("ts") or body.get("message_ts")),
            "lang": lang,
        }
        token = secrets.token_urlsafe(9)
        await asyncio.to_thread(self._propose, actor, token, draft, place)
        self.outbox.wake()

    def _propose(self, actor: Actor, token: str, draft: dict[str, Any], place: _Place) -> None:
        lang = str(draft["lang"])
        with self.db.session() as session:
            choices = find_candidates(CrmServices(session, actor), str(draft["text"]))
            if not choices:
                session.add(place.reply(wording.say("log_none", lang), lang=lang))
                return
            draft["choices"] = {str(m.id): _who(m) for m in choices}
            session.add(ProcessedEvent(source=DRAFT_SOURCE, key=token, result=json.dumps(draft)))
            blocks = confirmation_blocks(token, str(draft["kind"]), str(draft["text"]), choices, lang)
            session.add(place.reply(_fallback(blocks), blocks=blocks, lang=lang))

    # -- the buttons ----------------------------------------------------------------------------------
    async def click(self, body: dict[str, Any]) -> None:
        place = _Place.of(body)
        actions = body.get("actions") or []
        value = actions[0].get("value") if actions and isinstance(actions[0], dict) else None
        if place is None or not isinstance(value, str) or "|" not in value:
            return
        token, _, choice = value.partition("|")
        actor, lang = await self._actor(place.user, place.workspace)
        if actor is None:
            await self.outbox.add([place.reply(wording.say("not_linked_short", lang), lang=lang)])
            return
        ref = secrets.token_hex(2)
        try:
            await asyncio.to_thread(self._decide, actor, token, choice, place, lang)
        except PermissionDenied:
            await self.outbox.add([place.reply(wording.say("not_allowed", lang), lang=lang, replace=True)])
            return
        except Exception:
            log.exception("logging a Slack message to the CRM failed (ref %s)", ref)
            await self.outbox.add([place.reply(wording.say("failed", lang, ref=ref), lang=lang)])
            return
        self.outbox.wake()

    def _decide(self, actor: Actor, token: str, choice: str, place: _Place, lang: str) -> None:
        """Create the activity, mark the draft used and queue the answer: all in one transaction."""
        with self.db.session() as session:
            row = session.execute(
                select(ProcessedEvent)
                .where(ProcessedEvent.source == DRAFT_SOURCE, ProcessedEvent.key == token[:998])
                .with_for_update()
            ).scalar_one_or_none()
            draft = _load(row)
            if row is None or draft is None or draft.get("slack_user") != place.user:
                session.add(place.reply(wording.say("log_expired", lang), lang=lang, replace=True))
                return
            lang = str(draft.get("lang") or lang)
            kind_label = label(str(draft.get("kind")), lang)
            if draft.get("activity_id"):
                text = wording.say("log_already", lang, kind=kind_label, contact=str(draft.get("contact")))
                session.add(place.reply(text, lang=lang, replace=True))
                return
            if choice == "cancel":
                _finish(row, draft, state="cancelled")
                session.add(place.reply(wording.say("log_cancelled", lang), lang=lang, replace=True))
                return
            choices = draft.get("choices") or {}
            if choice not in choices:
                session.add(place.reply(wording.say("log_expired", lang), lang=lang, replace=True))
                return
            activity = CrmServices(session, actor).activities.create(
                {
                    "type": draft.get("kind") or "note",
                    "contact_id": int(choice),
                    "summary": str(draft.get("text") or ""),
                    "occurred_at": draft.get("occurred_at"),
                    "channel": "slack",
                }
            )
            _finish(row, draft, state="logged", activity_id=activity.id, contact=choices[choice])
            text = wording.say("log_done", lang, kind=kind_label, contact=escape(choices[choice]))
            session.add(place.reply(text, lang=lang, replace=True))


def _load(row: ProcessedEvent | None) -> dict[str, Any] | None:
    if row is None or not row.result:
        return None
    try:
        data = json.loads(row.result)
    except ValueError:
        return None
    return data if isinstance(data, dict) else None


def _finish(row: ProcessedEvent, draft: dict[str, Any], **result: Any) -> None:
    """Keep who/what was decided, drop the message text (personal data we no longer need)."""
    kept = {k: v for k, v in draft.items() if k not in ("text", "choices")}
    row.result = json.dumps({**kept, **result})


def _fallback(blocks: list[dict[str, Any]]) -> str:
    return str(blocks[0]["text"]["text"]) if blocks else " "


class _Place:
    """Where an interaction came from and how to answer it (its response_url, else an ephemeral post)."""

    def __init__(self, *, user: str, channel: str, response_url: str | None, workspace: Workspace) -> None:
        self.user = user
        self.channel = channel
        self.response_url = response_url
        self.workspace = workspace

    @classmethod
    def of(cls, body: dict[str, Any]) -> _Place | None:
        user = (body.get("user") or {}).get("id")
        channel = (body.get("channel") or {}).get("id") or (body.get("container") or {}).get("channel_id")
        url = body.get("response_url")
        if not isinstance(user, str) or not isinstance(channel, str):
            return None
        return cls(
            user=user,
            channel=channel,
            response_url=url if isinstance(url, str) and url else None,
            workspace=Workspace.of_interaction(body),
        )

    def reply(
        self, text: str, *, lang: str, blocks: list[dict[str, Any]] | None = None, replace: bool = False
    ) -> OutboxMessage:
        notify = Notify(user=self.user, channel=self.channel, ephemeral=True, lang=lang)
        if self.response_url:
            body: dict[str, Any] = {"response_type": "ephemeral", "text": text}
            if blocks:
                body["blocks"] = blocks
            body["replace_original"] = replace
            return respond(url=self.response_url, body=body, target=self.channel, notify=notify)
        return posts(channel=self.channel, text=text, blocks=blocks, ephemeral_user=self.user, notify=notify)[
            0
        ]
