"""Teams activities -> the assistant -> replies through the Bot Connector.

    connector = TeamsConnector(db=db, client=client, assistant=lambda: app.get(ASSISTANT_KEY))
    connector.accept(activity)     # claims it and starts a tracked background task; never waits
    await connector.drain()        # tests and shutdown

Only Teams itself (``channelId`` ``msteams``, and one of ``tenants`` when that is set) is heard, and
only ``message`` (typed text, or an Adaptive Card ``Action.Submit`` whose ``value`` has a
``payload``) and ``conversationUpdate`` (a welcome when the bot is added) do anything; every other
activity type is acknowledged and ignored. Each activity is claimed once in ``processed_events``
(source ``teams``), so Microsoft's redeliveries are answered but not processed twice.

The Teams user is the CRM user whose ``teams_user_id`` is the AAD object id (or the Bot Framework
id); failing that, the e-mail address the activity carries or that the Bot Connector's member lookup
returns links the accounts once (an account already linked to another Teams user is not re-linked).
Unknown people get a polite refusal and nothing else. Set ``tenants`` for a multi-tenant app registration:
another tenant's administrator controls the e-mail addresses its users appear with.
"""

from __future__ import annotations

import asyncio
import hashlib
import logging
import re
import secrets
import time
from collections.abc import Awaitable, Callable, Coroutine
from dataclasses import dataclass
from typing import Any

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError

from assistant.messages import IncomingMessage
from assistant.pipeline import Assistant
from connectors.teams import wording
from connectors.teams.client import BotConnectorClient, ConnectorError
from connectors.teams.render import is_empty, render, text_activity
from crm_store.db import Database
from crm_store.models import ProcessedEvent, User
from crm_store.services import Actor
from crm_store.services.users import UserService, actor_for

log = logging.getLogger(__name__)
SOURCE = "teams"
CHANNEL = "teams"
TEAMS_CHANNEL_ID = "msteams"
MAX_TEXT_CHARS = 4000
MAX_SENDER_CHARS = 200
ACTOR_CACHE_SECONDS = 300.0  # a deactivated CRM user loses Teams access within five minutes
_MENTION = re.compile(r"<at>.*?</at>", re.IGNORECASE | re.DOTALL)


def _str(value: Any) -> str | None:
    return value if isinstance(value, str) and value else None


def _account(value: Any) -> dict[str, Any]:
    return value if isinstance(value, dict) else {}


@dataclass(frozen=True)
class Where:
    """Where an activity came from and where its answer goes."""

    service_url: str
    conversation_id: str
    activity_id: str | None
    user: dict[str, Any]  # the activity's ``from``
    bot: dict[str, Any]  # the activity's ``recipient``
    locale: str | None = None
    tenant: str | None = None

    @classmethod
    def of(cls, activity: dict[str, Any]) -> Where | None:
        service_url = _str(activity.get("serviceUrl"))
        conversation = _account(activity.get("conversation"))
        conversation_id = _str(conversation.get("id"))
        user = _account(activity.get("from"))
        if service_url is None or conversation_id is None or _str(user.get("id")) is None:
            return None
        tenant = _str(conversation.get("tenantId")) or _str(
            _account(_account(activity.get("channelData")).get("tenant")).get("id")
        )
        return cls(
            service_url=service_url,
            conversation_id=conversation_id,
            activity_id=_str(activity.get("id")),
            user={k: user[k] for k in ("id", "name", "aadObjectId", "email") if _str(user.get(k))},
            bot={k: v for k, v in _account(activity.get("recipient")).items() if k in ("id", "name")},
            locale=_str(activity.get("locale")),
            tenant=tenant,
        )

    @property
    def user_id(self) -> str:
        return str(self.user["id"])

    @property
    def teams_user_id(self) -> str:
        """The id stored in ``User.teams_user_id``: the AAD object id when Teams sends one."""
        return str(self.user.get("aadObjectId") or self.user["id"])

    @property
    def sender_id(self) -> str:
        sender = f"teams:{self.conversation_id}:{self.teams_user_id}"
        if len(sender) <= MAX_SENDER_CHARS:
            return sender
        return "teams:h:" + hashlib.sha256(sender.encode()).hexdigest()

    @property
    def lang(self) -> str:
        return wording.language(self.locale)

    def addressed(self, activity: dict[str, Any], *, reply: bool = True) -> dict[str, Any]:
        out = {
            **activity,
            "from": self.bot,
            "recipient": {k: v for k, v in self.user.items() if k in ("id", "name")},
            "conversation": {"id": self.conversation_id},
        }
        if reply and self.activity_id:
            out["replyToId"] = self.activity_id
        return out


def message_text(activity: dict[str, Any]) -> str:
    """What the user said: a card submit's payload, else the text without @-mentions of the bot."""
    value = activity.get("value")
    payload = value.get("payload") if isinstance(value, dict) else None
    if isinstance(payload, str):
        return payload.strip()
    text = activity.get("text")
    return _MENTION.sub(" ", text).strip() if isinstance(text, str) else ""


class TeamsConnector:
    def __init__(
        self,
        *,
        db: Database,
        client: BotConnectorClient,
        assistant: Callable[[], Assistant | None],
        member_lookup: bool = True,
        tenants: tuple[str, ...] = (),
    ) -> None:
        self.db = db
        self.client = client
        self.member_lookup = member_lookup
        self.tenants = tenants
        self._assistant = assistant
        self._tasks: set[asyncio.Task[None]] = set()
        self._actors: dict[str, tuple[float, Actor]] = {}  # teams user id -> (cached at, actor)

    # -- background work -------------------------------------------------------------------------
    def _spawn(self, work: Awaitable[None]) -> None:
        task: asyncio.Task[None] = asyncio.ensure_future(work)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def drain(self) -> None:
        while self._tasks:
            await asyncio.gather(*list(self._tasks), return_exceptions=True)

    # -- dispatch (fast: the HTTP 200 waits only for this) ---------------------------------------
    def accept(self, activity: dict[str, Any]) -> None:
        kind = activity.get("type")
        where = Where.of(activity)
        if where is None or kind not in ("message", "conversationUpdate"):
            return
        if activity.get("channelId") != TEAMS_CHANNEL_ID:
            # Other Bot Framework channels (Web Chat, Direct Line) let the client choose ``from``.
            log.info("ignored an activity from the %r channel", activity.get("channelId"))
            return
        if self.tenants and where.tenant not in self.tenants:
            log.info("ignored an activity from a tenant that is not allowed")
            return
        if kind == "message":
            text = message_text(activity)
            if text:
                self._spawn(self._once(where, self._converse(where, text)))
        elif self._bot_was_added(activity, where):
            self._spawn(self._once(where, self._welcome(where)))

    @staticmethod
    def _bot_was_added(activity: dict[str, Any], where: Where) -> bool:
        added = activity.get("membersAdded")
        ids = {m.get("id") for m in added if isinstance(m, dict)} if isinstance(added, list) else set()
        personal = _account(activity.get("conversation")).get("conversationType") == "personal"
        return bool(ids) and (where.bot.get("id") in ids or personal)

    async def _once(self, where: Where, work: Coroutine[Any, Any, None]) -> None:
        """Run ``work`` unless this activity was already processed (a redelivery)."""
        if where.activity_id and not await self._claim(f"{where.conversation_id}|{where.activity_id}"):
            log.info("teams activity already processed; ignored")
            work.close()
            return
        await work

    # -- the work ------------------------------------------------------------------------------
    async def _welcome(self, where: Where) -> None:
        try:
            await self._post(where, text_activity(wording.say("welcome", where.lang)), reply=False)
        except Exception:
            log.exception("could not welcome a Teams conversation")

    async def _converse(self, where: Where, text: str) -> None:
        ref = secrets.token_hex(2)
        try:
            actor, lang = await self._actor(where)
            if actor is None:
                await self._post(where, text_activity(wording.say("unknown_user", lang)))
                return
            assistant = self._assistant()
            if assistant is None:
                await self._post(where, text_activity(wording.say("starting", lang)))
                return
            replies = await assistant.handle(
                IncomingMessage(
                    channel=CHANNEL,
                    sender_id=where.sender_id,
                    text=text[:MAX_TEXT_CHARS],
                    speaker=actor,
                    metadata={"teams_conversation": where.conversation_id, "teams_tenant": where.tenant},
                )
            )
            activity = render(replies)
            if not is_empty(activity):
                await self._post(where, activity)
        except Exception:
            log.exception("teams turn failed (ref %s)", ref)
            try:
                await self._post(where, text_activity(wording.say("failed", where.lang, ref=ref)))
            except Exception:
                log.exception("could not report the failure (ref %s)", ref)

    async def _post(self, where: Where, activity: dict[str, Any], *, reply: bool = True) -> None:
        await self.client.reply(
            where.service_url,
            where.conversation_id,
            where.activity_id if reply else None,
            where.addressed(activity, reply=reply),
        )

    # -- store ---------------------------------------------------------------------------------
    async def _claim(self, key: str) -> bool:
        """Record ``key``; False when it was already recorded (a redelivery or a duplicate)."""

        def insert() -> bool:
            try:
                with self.db.session() as session:
                    session.add(ProcessedEvent(source=SOURCE, key=key[:998]))
            except IntegrityError:
                return False
            return True

        return await asyncio.to_thread(insert)

    async def _actor(self, where: Where) -> tuple[Actor | None, str]:
        """The CRM user behind a Teams user (cached), and a language for talking to them."""
        key = where.teams_user_id
        cached = self._actors.get(key)
        if cached is not None and time.monotonic() - cached[0] < ACTOR_CACHE_SECONDS:
            return cached[1], cached[1].language
        ids = sorted({key, where.user_id})
        actor: Actor | None = await asyncio.to_thread(self._by_teams_id, ids)
        if actor is None:
            email = await self._email(where)
            if email:
                actor = await asyncio.to_thread(self._link_by_email, key, ids, email)
        if actor is None:
            return None, where.lang
        self._actors[key] = (time.monotonic(), actor)
        return actor, actor.language

    def _by_teams_id(self, ids: list[str]) -> Actor | None:
        with self.db.session() as session:
            user = session.execute(select(User).where(User.teams_user_id.in_(ids))).scalars().first()
            return actor_for(user) if user is not None and user.is_active else None

    def _link_by_email(self, key: str, ids: list[str], email: str) -> Actor | None:
        try:
            with self.db.session() as session:
                user = UserService(session, Actor.system("teams")).by_email(email)
                if user is None or not user.is_active:
                    return None
                if user.teams_user_id is None:
                    user.teams_user_id = key
                elif user.teams_user_id not in ids:
                    log.warning("CRM user %s is linked to another Teams account; not linked", user.id)
                    return None
                return actor_for(user)
        except IntegrityError:  # linked concurrently by another turn
            return self._by_teams_id(ids)

    async def _email(self, where: Where) -> str | None:
        """The user's e-mail: from the activity when it has one, else from the Bot Connector."""
        email = _str(where.user.get("email"))
        if email is None and self.member_lookup:
            try:
                member = await self.client.member(where.service_url, where.conversation_id, where.user_id)
            except ConnectorError as exc:
                log.warning("Teams member lookup failed (%s)", exc.status)
                return None
            member = member or {}
            email = _str(member.get("email")) or _str(member.get("userPrincipalName"))
        return email if email and "@" in email else None
