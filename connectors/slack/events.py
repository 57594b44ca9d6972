"""Slack events, the ``/crm`` command and button clicks -> the assistant -> Block Kit replies.

Bolt runs each listener inline (``process_before_response=True``) and every listener only acknowledges,
claims the event and starts a tracked background task, so Slack gets its 200 within milliseconds and
the HTTP response is never held up by the assistant. Every answer is queued in the outbox
(``outbox.py``) and delivered by its worker. ``drain()`` waits for the tasks and the outbox (tests).
The "Log to CRM" message shortcut lives in ``shortcut.py``.

Who speaks: the CRM user linked to this Slack id *in this workspace* (``identity.py``,
``LinkService.resolve``). The e-mail Slack reports links nothing: an unlinked user gets a pending request
for an admin (its number) and the way to link themselves (``link <code>`` with a code from the CRM side).
Outside a DM every answer is ephemeral, for the asking user only, so CRM data never lands in a channel;
a mention also gets a public thread note that says so, with no data in it.
"""

from __future__ import annotations

import asyncio
import logging
import re
import secrets
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, replace
from typing import Any

from slack_bolt.async_app import AsyncApp
from slack_sdk.errors import SlackApiError
from slack_sdk.web.async_client import AsyncWebClient

from assistant.messages import IncomingMessage
from assistant.pipeline import Assistant
from connectors.chat_common import ActorDirectory, claim_event
from connectors.slack import home, shortcut, wording
from connectors.slack.identity import Workspace
from connectors.slack.outbox import Notify, SlackOutbox, posts, update_message
from connectors.slack.render import ACTION_PREFIX, Rendered, escape, render, unescape
from crm_store.db import Database
from crm_store.services import Actor, CrmServices
from crm_store.services.errors import CrmError
from crm_store.services.links import ChatAccount, link_code

log = logging.getLogger(__name__)
SOURCE = "slack"
_MENTION = re.compile(r"<@[A-Z0-9]+>")
MAX_TEXT_CHARS = 4000
NO_WORKSPACE = Workspace("")


@dataclass(frozen=True)
class Where:
    """Where a turn came from and where its answer goes."""

    team: str
    channel: str
    user: str
    thread_ts: str | None = None
    ephemeral: bool = False  # outside a DM: only the caller sees the answer
    workspace: Workspace = NO_WORKSPACE
    mention: bool = False  # an @-mention in a channel: also a public note (no data) that we answered

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
        allowed_workspaces: tuple[str, ...] = (),
    ) -> None:
        self.db = db
        self.allowed_workspaces = allowed_workspaces  # SLACK_TEAM_IDS; empty: every install
        self.client = client  # reads only (users.info, views.publish); posts go through the outbox
        self.outbox = outbox
        self._assistant = assistant
        self.log_to_crm = shortcut.LogToCrm(db=db, outbox=outbox, actor=self._actor)
        self._tasks: set[asyncio.Task[None]] = set()
        self._actors = ActorDirectory(db, "slack")  # (user, team, enterprise) -> linked CRM user
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
        workspace = Workspace.of_event(body, event)
        if not self._heard(workspace):
            return
        team = str(body.get("team_id") or event.get("team") or "")
        private = _is_dm(channel) or event.get("channel_type") == "im"
        where = Where(
            team=team,
            channel=channel,
            user=user,
            thread_ts=thread or event.get("thread_ts"),
            ephemeral=not private,
            workspace=workspace,
            mention=not private,
        )
        self._spawn(self._converse(where, unescape(text)))

    def _heard(self, workspace: Workspace) -> bool:
        """Refuse other workspaces before anything else (``SLACK_TEAM_IDS``)."""
        if workspace.allowed(self.allowed_workspaces):
            return True
        log.info("ignored a Slack request from a workspace that is not allowed")
        return False

    async def _on_home(self, ack: Any, body: dict[str, Any], event: dict[str, Any]) -> None:
        await ack()
        user = event.get("user")
        workspace = Workspace.of_event(body, event)
        if event.get("tab") == "home" and isinstance(user, str) and self._heard(workspace):
            self._spawn(self._publish_home(user, workspace))

    async def _on_command(self, ack: Any, body: dict[str, Any]) -> None:
        await ack()
        channel, user = str(body.get("channel_id") or ""), str(body.get("user_id") or "")
        workspace = Workspace.of_command(body)
        if not channel or not user or not self._heard(workspace):
            return
        where = Where(
            team=str(body.get("team_id") or ""),
            channel=channel,
            user=user,
            ephemeral=not _is_dm(channel),
            workspace=workspace,
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
        workspace = Workspace.of_interaction(body)
        if not self._heard(workspace):
            return
        team = str((body.get("team") or {}).get("id") or (body.get("user") or {}).get("team_id") or "")
        where = Where(
            team=team,
            channel=channel,
            user=user,
            thread_ts=message.get("thread_ts"),
            ephemeral=not _is_dm(channel),
            workspace=workspace,
        )
        self._spawn(self._click(where, message, action, payload))

    async def _on_log_shortcut(self, ack: Any, body: dict[str, Any]) -> None:
        await ack()
        if self._heard(Workspace.of_interaction(body)):
            self._spawn(self._guarded(self.log_to_crm.shortcut(body), "the Log to CRM shortcut"))

    async def _on_log_click(self, ack: Any, body: dict[str, Any]) -> None:
        await ack()
        if self._heard(Workspace.of_interaction(body)):
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
        if isinstance(ts, str) and isinstance(blocks, list) and not where.ephemeral:
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

    async def _publish_home(self, slack_user: str, workspace: Workspace) -> None:
        try:
            actor, lang = await self._actor(slack_user, workspace)
            if actor is None:
                view = {
                    "type": "home",
                    "blocks": [
                        {
                            "type": "section",
                            "text": {"type": "mrkdwn", "text": wording.say("not_linked_home", lang)},
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
            code = link_code(text)
            if code is not None:
                await self._redeem(where, code)
                return
            actor, lang = await self._actor(where.user, where.workspace)
            if actor is None:
                await self._not_linked(where)
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
            if where.mention:
                await self._post(
                    replace(where, ephemeral=False, mention=False),
                    Rendered(text=wording.say("answered_privately", lang)),
                    lang,
                    notify=False,  # a courtesy: if it cannot be posted, nobody needs to hear about it
                )
        except Exception:
            log.exception("slack turn failed (ref %s)", ref)
            try:
                await self._post(where, Rendered(text=wording.say("failed", lang, ref=ref)), lang)
            except Exception:
                log.exception("could not report the failure (ref %s)", ref)

    async def _post(self, where: Where, message: Rendered, lang: str = "en", *, notify: bool = True) -> None:
        """Queue the answer (and its charts; files cannot be ephemeral, the table says the same)."""
        if not (message.blocks or message.text or message.images):
            return
        whom = Notify(
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
                notify=whom if notify else None,
            )
        )

    # -- store ---------------------------------------------------------------------------------
    async def _claim(self, event_id: str) -> bool:
        """Record ``event_id``; False when it was already recorded (a retry or a duplicate)."""
        return await claim_event(self.db, SOURCE, event_id)

    def _account(self, slack_user: str, workspace: Workspace) -> ChatAccount:
        return workspace.account(slack_user, self.allowed_workspaces)

    async def _actor(self, slack_user: str, workspace: Workspace) -> tuple[Actor | None, str]:
        """The CRM user linked to this Slack user in this workspace (cached), and a language."""
        key = (slack_user, workspace.team, workspace.enterprise)
        return await self._actors.actor(key, self._account(slack_user, workspace), "en")

    async def _not_linked(self, where: Where) -> None:
        """An unlinked (or other-workspace) user: a pending request for an admin, and how to self-link.
        Slack's e-mail for them is only a hint for the admin."""
        email, lang = await self._slack_email(where.user)
        account = self._account(where.user, where.workspace)

        def request() -> int:
            with self.db.session() as session:
                return CrmServices(session, Actor.system("slack")).links.request(account, email).id

        number = await asyncio.to_thread(request)
        await self._post(where, Rendered(text=wording.say("not_linked", lang, request=str(number))), lang)

    async def _redeem(self, where: Where, code: str) -> None:
        """``link <code>``: the code came from the CRM side, where the person is signed in."""
        account = self._account(where.user, where.workspace)

        def redeem() -> tuple[str, int | None]:
            with self.db.session() as session:
                outcome, link = CrmServices(session, Actor.system("slack")).links.redeem(account, code)
                return outcome, (link.id if link is not None else None)

        try:
            outcome, number = await asyncio.to_thread(redeem)
        except CrmError as exc:  # e.g. this Slack account was linked to someone else meanwhile
            log.info("a Slack link code was refused: %s", exc.detail)
            outcome, number = "taken", None
        actor, lang = await self._actor(where.user, where.workspace)
        if actor is None:
            _, lang = await self._slack_email(where.user)
        text = wording.say(f"link_{outcome}", lang, request=str(number or ""))
        await self._post(where, Rendered(text=text), lang)

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


def _is_dm(channel: str) -> bool:
    """A direct message with the bot (``D...``); channels and group DMs are read by others."""
    return channel.startswith("D")
