"""Slack events, the ``/crm`` command and button clicks -> the assistant -> Block Kit replies.

Bolt runs each listener inline (``process_before_response=True``) and every listener only acknowledges,
claims the event and starts a tracked background task, so Slack gets its 200 within milliseconds and
the HTTP response is never held up by the assistant. Every answer is queued in the outbox
(``outbox.py``) and delivered by its worker. ``drain()`` waits for the tasks and the outbox (tests).
The "Log to CRM" message shortcut lives in ``shortcut.py``.
"""

from __future__ import annotations

import asyncio
import logging
import re
import secrets
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

from slack_bolt.async_app import AsyncApp
from slack_sdk.errors import SlackApiError
from slack_sdk.web.async_client import AsyncWebClient
from sqlalchemy import select
from sqlalchemy.exc import IntegrityError

from assistant.messages import IncomingMessage
from assistant.pipeline import Assistant
from connectors.slack import home, shortcut, wording
from connectors.slack.outbox import Notify, SlackOutbox, posts, update_message
from connectors.slack.render import ACTION_PREFIX, Rendered, escape, render, unescape
from crm_store.db import Database
from crm_store.models import ProcessedEvent, User
from crm_store.services import Actor
from crm_store.services.users import UserService, actor_for

log = logging.getLogger(__name__)
SOURCE = "slack"
_MENTION = re.compile(r"<@[A-Z0-9]+>")
MAX_TEXT_CHARS = 4000
ACTOR_CACHE_SECONDS = 300.0  # a deactivated CRM user loses Slack access within five minutes


@dataclass(frozen=True)
class Where:
    """Where a turn came from and where its answer goes."""

    team: str
    channel: str
    user: str
    thread_ts: str | None = None
    ephemeral: bool = False  # /crm outside a DM: only the caller sees the answer

    @property
    def sender_id(self) -> str:
        return f"slack:{self.team}:{self.channel}:{self.user}"


class SlackConnector:
    def __init__(
        self,
        *,
        db: Database,
        client: AsyncWebClient,
        outbox: SlackOutbox,
        assistant: Callable[[], Assistant | None],
    ) -> None:
        self.db = db
        self.client = client  # reads only (users.info, views.publish); posts go through the outbox
        self.outbox = outbox
        self._assistant = assistant
        self.log_to_crm = shortcut.LogToCrm(db=db, outbox=outbox, actor=self._actor)
        self._tasks: set[asyncio.Task[None]] = set()
        self._actors: dict[str, tuple[float, Actor]] = {}  # slack id -> (cached at, actor)
        self.bolt = AsyncApp(client=client, process_before_response=True, request_verification_enabled=False)
        self.bolt.event("message")(self._on_message)
        self.bolt.event("app_mention")(self._on_mention)
        self.bolt.event("app_home_opened")(self._on_home)
        self.bolt.command("/crm")(self._on_command)
        self.bolt.action(re.compile(f"^{ACTION_PREFIX}"))(self._on_button)
        self.bolt.message_shortcut(shortcut.CALLBACK_ID)(self._on_log_shortcut)
        self.bolt.action(re.compile(f"^{shortcut.ACTION_PREFIX}"))(self._on_log_click)

    # -- background work -------------------------------------------------------------------------
    def _spawn(self, work: Awaitable[None]) -> None:
        task: asyncio.Task[None] = asyncio.ensure_future(work)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def drain(self) -> None:
        """Wait for the background turns, then until the outbox has nothing pending (tests)."""
        while self._tasks:
            await asyncio.gather(*list(self._tasks), return_exceptions=True)
        await self.outbox.settled()

    async def finish_turns(self) -> None:
        """Wait for the background turns only (shutdown: undelivered messages stay in the outbox)."""
        while self._tasks:
            await asyncio.gather(*list(self._tasks), return_exceptions=True)

    # -- listeners (ack first, claim, then work in the background) -------------------------------
    async def _on_message(self, ack: Any, body: dict[str, Any], event: dict[str, Any]) -> None:
        await ack()
        if event.get("channel_type") != "im" or event.get("subtype") or event.get("bot_id"):
            return
        await self._accept_event(body, event, text=str(event.get("text") or ""))

    async def _on_mention(self, ack: Any, body: dict[str, Any], event: dict[str, Any]) -> None:
        await ack()
        if event.get("bot_id") or event.get("subtype"):
            return
        text = _MENTION.sub("", str(event.get("text") or ""))
        await self._accept_event(body, event, text=text, thread=event.get("thread_ts") or event.get("ts"))

    async def _accept_event(
        self, body: dict[str, Any], event: dict[str, Any], *, text: str, thread: str | None = None
    ) -> None:
        event_id = body.get("event_id")
        if isinstance(event_id, str) and not await self._claim(event_id):
            log.info("slack event %s already processed; ignored", event_id)
            return
        user, channel = event.get("user"), event.get("channel")
        if not isinstance(user, str) or not isinstance(channel, str):
            return
        team = str(body.get("team_id") or event.get("team") or "")
        where = Where(team=team, channel=channel, user=user, thread_ts=thread or event.get("thread_ts"))
        self._spawn(self._converse(where, unescape(text)))

    async def _on_home(self, ack: Any, event: dict[str, Any]) -> None:
        await ack()
        user = event.get("user")
        if event.get("tab") == "home" and isinstance(user, str):
            self._spawn(self._publish_home(user))

    async def _on_command(self, ack: Any, body: dict[str, Any]) -> None:
        await ack()
        channel, user = str(body.get("channel_id") or ""), str(body.get("user_id") or "")
        if not channel or not user:
            return
        where = Where(
            team=str(body.get("team_id") or ""),
            channel=channel,
            user=user,
            ephemeral=not channel.startswith("D"),
        )
        self._spawn(self._converse(where, unescape(str(body.get("text") or "")) or "/help"))

    async def _on_button(self, ack: Any, body: dict[str, Any]) -> None:
        await ack()
        actions = body.get("actions") or []
        action = actions[0] if actions and isinstance(actions[0], dict) else {}
        payload, user = action.get("value"), (body.get("user") or {}).get("id")
        channel = (body.get("channel") or {}).get("id") or (body.get("container") or {}).get("channel_id")
        if not isinstance(payload, str) or not isinstance(user, str) or not isinstance(channel, str):
            return
        message = body.get("message") or {}
        team = str((body.get("team") or {}).get("id") or (body.get("user") or {}).get("team_id") or "")
        where = Where(team=team, channel=channel, user=user, thread_ts=message.get("thread_ts"))
        self._spawn(self._click(where, message, action, payload))

    async def _on_log_shortcut(self, ack: Any, body: dict[str, Any]) -> None:
        await ack()
        self._spawn(self._guarded(self.log_to_crm.shortcut(body), "the Log to CRM shortcut"))

    async def _on_log_click(self, ack: Any, body: dict[str, Any]) -> None:
        await ack()
        self._spawn(self._guarded(self.log_to_crm.click(body), "a Log to CRM button"))

    @staticmethod
    async def _guarded(work: Awaitable[None], what: str) -> None:
        try:
            await work
        except Exception:
            log.exception("%s failed", what)

    # -- the work ------------------------------------------------------------------------------
    async def _click(
        self, where: Where, message: dict[str, Any], action: dict[str, Any], payload: str
    ) -> None:
        ts, blocks = message.get("ts"), message.get("blocks")
        if isinstance(ts, str) and isinstance(blocks, list):
            title = str((action.get("text") or {}).get("text") or payload)
            chosen = {
                "type": "context",
                "elements": [{"type": "mrkdwn", "text": escape(wording.say("chosen", title=title))}],
            }
            updated = [
                chosen if b.get("block_id") == action.get("block_id") else b
                for b in blocks
                if isinstance(b, dict)
            ]
            await self.outbox.add(
                [
                    update_message(
                        channel=where.channel, ts=ts, blocks=updated, text=str(message.get("text") or title)
                    )
                ]
            )
        await self._converse(where, payload)

    async def _publish_home(self, slack_user: str) -> None:
        try:
            actor, lang = await self._actor(slack_user)
            if actor is None:
                view = {
                    "type": "home",
                    "blocks": [
                        {
                            "type": "section",
                            "text": {"type": "mrkdwn", "text": wording.say("unknown_user", lang)},
                        }
                    ],
                }
            else:
                view = home.home_view(
                    await asyncio.to_thread(home.open_tasks, self.db, actor), actor.language
                )
            await self.client.views_publish(user_id=slack_user, view=view)
        except Exception:
            log.exception("could not publish the App Home of a Slack user")

    async def _converse(self, where: Where, text: str) -> None:
        ref = secrets.token_hex(2)
        lang = "en"
        try:
            actor, lang = await self._actor(where.user)
            if actor is None:
                await self._post(where, Rendered(text=wording.say("unknown_user", lang), blocks=[]), lang)
                return
            assistant = self._assistant()
            if assistant is None:
                await self._post(where, Rendered(text=wording.say("starting", lang)), lang)
                return
            replies = await assistant.handle(
                IncomingMessage(
                    channel="slack",
                    sender_id=where.sender_id,
                    text=text.strip()[:MAX_TEXT_CHARS],
                    speaker=actor,
                    metadata={"slack_team": where.team, "slack_channel": where.channel},
                )
            )
            await self._post(where, render(replies), lang)
        except Exception:
            log.exception("slack turn failed (ref %s)", ref)
            try:
                await self._post(where, Rendered(text=wording.say("failed", lang, ref=ref)), lang)
            except Exception:
                log.exception("could not report the failure (ref %s)", ref)

    async def _post(self, where: Where, message: Rendered, lang: str = "en") -> None:
        """Queue the answer (and its charts; files cannot be ephemeral, the table says the same)."""
        if not (message.blocks or message.text or message.images):
            return
        notify = Notify(
            user=where.user,
            channel=where.channel,
            thread_ts=where.thread_ts,
            ephemeral=where.ephemeral,
            lang=lang,
        )
        await self.outbox.add(
            posts(
                channel=where.channel,
                text=message.text,
                blocks=message.blocks,
                images=[(image.png, image.title) for image in message.images],
                thread_ts=where.thread_ts,
                ephemeral_user=where.user if where.ephemeral else None,
                notify=notify,
            )
        )

    # -- store ---------------------------------------------------------------------------------
    async def _claim(self, event_id: str) -> bool:
        """Record ``event_id``; False when it was already recorded (a retry or a duplicate)."""

        def insert() -> bool:
            try:
                with self.db.session() as session:
                    session.add(ProcessedEvent(source=SOURCE, key=event_id[:998]))
            except IntegrityError:
                return False
            return True

        return await asyncio.to_thread(insert)

    async def _actor(self, slack_user: str) -> tuple[Actor | None, str]:
        """The CRM user behind a Slack user (cached), and a language for talking to them."""
        cached = self._actors.get(slack_user)
        if cached is not None and time.monotonic() - cached[0] < ACTOR_CACHE_SECONDS:
            return cached[1], cached[1].language
        actor: Actor | None = await asyncio.to_thread(self._by_slack_id, slack_user)
        lang = "en"
        if actor is None:
            email, lang = await self._slack_email(slack_user)
            if email:
                actor = await asyncio.to_thread(self._link_by_email, slack_user, email)
        if actor is not None:
            self._actors[slack_user] = (time.monotonic(), actor)
            lang = actor.language
        return actor, lang

    def _by_slack_id(self, slack_user: str) -> Actor | None:
        with self.db.session() as session:
            user = session.execute(select(User).where(User.slack_user_id == slack_user)).scalar()
            return actor_for(user) if user is not None and user.is_active else None

    def _link_by_email(self, slack_user: str, email: str) -> Actor | None:
        try:
            with self.db.session() as session:
                user = UserService(session, Actor.system("slack")).by_email(email)
                if user is None or not user.is_active:
                    return None
                if user.slack_user_id is None:
                    user.slack_user_id = slack_user
                return actor_for(user)
        except IntegrityError:  # linked concurrently by another turn
            return self._by_slack_id(slack_user)

    async def _slack_email(self, slack_user: str) -> tuple[str | None, str]:
        try:
            response = await self.client.users_info(user=slack_user, include_locale=True)
        except SlackApiError as exc:
            log.warning("users.info failed: %s", exc.response.get("error"))
            return None, "en"
        info = response.get("user") or {}
        lang = "de" if str(info.get("locale") or "").startswith("de") else "en"
        if info.get("is_bot") or info.get("deleted"):
            return None, lang
        email = (info.get("profile") or {}).get("email")
        return (email if isinstance(email, str) and email else None), lang
