"""Teams activities -> the assistant -> replies through the Bot Connector (Microsoft 365 Agents SDK).

    connector = TeamsConnector(db=db, adapter=sdk.build_adapter(settings), assistant=...)
    connector.accept(activity, identity)   # claims it and starts a tracked background task; never waits
    await connector.drain()                # tests and shutdown

Each background turn runs through the SDK's ``adapter.process_activity`` with the identity our token check
accepted, so the SDK builds the connector client (its app token from MSAL) for the activity's
``serviceUrl``; a typing indicator goes out first, the answer after it.

Only Teams itself (``channelId`` ``msteams``, and one of ``tenants``: required, see settings) is heard, and
only ``message`` (typed text, or an older card's ``Action.Submit`` whose ``value`` has a ``payload``),
``conversationUpdate`` (a welcome when the bot is added) and ``invoke`` (``invoke``: card clicks and the
message extension, answered synchronously) do anything; every other activity type is acknowledged and
ignored. Each activity is claimed once in ``processed_events``
(source ``teams``), so Microsoft's redeliveries are answered but not processed twice.

The Teams user is the CRM user whose ``teams_user_id`` is the AAD object id (or the Bot Framework
id) *and* whose ``teams_tenant_id`` is the activity's tenant (``LinkService.resolve``). Nobody is linked
by e-mail: a tenant's administrator controls the addresses its users appear with, so the address the
activity or the member lookup gives is only a hint for the admin on the pending request an unlinked user
gets; they link by an admin's approval or by typing ``link <code>`` with a code from the CRM side.

In a channel or group chat the answer goes to the asker's personal chat with the bot (opened through the
Bot Connector; the turn runs as that 1:1 conversation, so its buttons work there) and the channel only
hears that it was sent; if the personal chat cannot be opened, the channel hears where to ask instead.
"""

from __future__ import annotations

import asyncio
import hashlib
import logging
import re
import secrets
from collections.abc import Awaitable, Callable, Coroutine
from dataclasses import dataclass, replace
from typing import Any

import aiohttp
from microsoft_agents.activity import Activity, ChannelAccount, ConversationParameters
from microsoft_agents.hosting.core import ClaimsIdentity, TurnContext
from microsoft_agents.hosting.core.connector import ConnectorClientBase

from assistant.messages import IncomingMessage
from assistant.pipeline import Assistant
from connectors.chat_common import ActorDirectory, claim_event
from connectors.teams import cards, extension, outbox, wording
from connectors.teams.render import is_empty, render, text_activity
from crm_store.db import Database
from crm_store.services import Actor, CrmServices
from crm_store.services.errors import CrmError
from crm_store.services.links import ChatAccount, link_code

log = logging.getLogger(__name__)
SOURCE = "teams"
CHANNEL = "teams"
TEAMS_CHANNEL_ID = "msteams"
MAX_TEXT_CHARS = 4000
MAX_SENDER_CHARS = 200
CHANNEL_INTENTS = frozenset({"pipeline_status"})  # answers about the team, meant for the channel asking
PRIVATE_ENTITIES = frozenset({"person", "organization", "deal", "contact_id", "email", "phone"})
_MENTION = re.compile(r"<at>(.*?)</at>", re.IGNORECASE | re.DOTALL)


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
    conversation_type: str | None = None  # personal / groupChat / channel
    mentioned: tuple[dict[str, str], ...] = ()  # people (not the bot) the message @-mentions

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
            conversation_type=_str(conversation.get("conversationType")),
        )

    @property
    def private(self) -> bool:
        """A 1:1 chat with the bot; channels and group chats are read by others."""
        return self.conversation_type == "personal"

    def account(self) -> ChatAccount:
        """The chat account for the link service; ``accept`` let only allowed tenants get here, so a
        link made before tenants were recorded is bound to this one."""
        return ChatAccount(
            channel="teams",
            external_id=self.teams_user_id,
            workspace=self.tenant or "",
            other_ids=(self.user_id,),
            adopt_legacy=bool(self.tenant),
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


def mentions(activity: dict[str, Any]) -> list[dict[str, Any]]:
    """The activity's mention entities: ``{"id", "name", "text"}`` each (``text`` is the ``<at>`` markup)."""
    found = []
    for entity in activity.get("entities") or []:
        if not isinstance(entity, dict) or entity.get("type") != "mention":
            continue
        who = _account(entity.get("mentioned"))
        if _str(who.get("id")) and _str(entity.get("text")):
            found.append({"id": who["id"], "name": _str(who.get("name")) or "", "text": entity["text"]})
    return found


def others_mentioned(activity: dict[str, Any]) -> list[dict[str, str]]:
    """The people (not the bot) the message mentions, for the assistant to use as entities."""
    bot = _account(activity.get("recipient")).get("id")
    return [{"id": m["id"], "name": m["name"]} for m in mentions(activity) if m["id"] != bot]


def message_text(activity: dict[str, Any]) -> str:
    """What the user said: a card submit's payload, else the text with the bot's own @-mention removed
    and other mentions kept as the names they show (``<at>Jane Roe</at>`` -> ``Jane Roe``)."""
    value = activity.get("value")
    payload = value.get("payload") if isinstance(value, dict) else None
    if isinstance(payload, str):
        return payload.strip()
    text = activity.get("text")
    if not isinstance(text, str):
        return ""
    bot = _account(activity.get("recipient"))
    for mention in mentions(activity):
        if mention["id"] == bot.get("id"):
            text = text.replace(mention["text"], " ")
    name = _str(bot.get("name"))
    if name:  # a client that sent no mention entity: the markup of the bot's own name is still its mention
        text = re.sub(rf"<at>\s*{re.escape(name)}\s*</at>", " ", text, flags=re.IGNORECASE)
    return _MENTION.sub(lambda m: m.group(1), text).strip()


class TeamsConnector:
    def __init__(
        self,
        *,
        db: Database,
        adapter: Any,
        assistant: Callable[[], Assistant | None],
        member_lookup: bool = True,
        tenants: tuple[str, ...] = (),
        public_url: str = "",
    ) -> None:
        self.db = db
        self.adapter = adapter
        self.member_lookup = member_lookup
        self.tenants = tenants
        self.public_url = public_url
        self._assistant = assistant
        self._tasks: set[asyncio.Task[None]] = set()
        self._actors = ActorDirectory(db, "teams")  # (user, tenant) -> linked CRM user

    # -- background work -------------------------------------------------------------------------
    def _spawn(self, work: Awaitable[None]) -> None:
        task: asyncio.Task[None] = asyncio.ensure_future(work)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def drain(self) -> None:
        while self._tasks:
            await asyncio.gather(*list(self._tasks), return_exceptions=True)

    # -- dispatch (fast: the HTTP 200 waits only for this) ---------------------------------------
    def accept(self, activity: dict[str, Any], identity: ClaimsIdentity) -> None:
        kind = activity.get("type")
        where = Where.of(activity)
        if where is None or kind not in ("message", "conversationUpdate"):
            return
        if activity.get("channelId") != TEAMS_CHANNEL_ID:
            # Other Bot Framework channels (Web Chat, Direct Line) let the client choose ``from``.
            log.info("ignored an activity from the %r channel", activity.get("channelId"))
            return
        if where.tenant is None or where.tenant not in self.tenants:
            log.info("ignored an activity from a tenant that is not allowed")
            return
        if kind == "message":
            text = message_text(activity)
            if text:
                where = replace(where, mentioned=tuple(others_mentioned(activity)))
                self._spawn(self._once(where, self._turn(identity, activity, where, text)))
        elif self._bot_was_added(activity, where):
            self._spawn(self._once(where, self._turn(identity, activity, where, None)))

    async def _turn(
        self, identity: ClaimsIdentity, activity: dict[str, Any], where: Where, text: str | None
    ) -> None:
        """One turn through the SDK: it hands us a TurnContext whose connector client is authorised."""

        async def callback(context: TurnContext) -> None:
            client = context.services.get(ConnectorClientBase)
            if text is None:
                await self._welcome(client, where)
            else:
                await self._converse(client, where, text)

        try:
            await asyncio.to_thread(self._remember, where)
            await self.adapter.process_activity(identity, Activity.model_validate(activity), callback)
        except Exception as exc:  # e.g. the app token could not be had: nothing to answer with
            log.warning("a Teams turn could not start: %s", type(exc).__name__)

    async def invoke(self, activity: dict[str, Any], identity: ClaimsIdentity) -> tuple[int, dict[str, Any]]:
        """An ``Action.Execute`` click: Teams waits for the card that replaces the clicked one."""
        where = Where.of(activity)
        payload = cards.clicked_payload(activity) if activity.get("name") == cards.INVOKE_NAME else None
        if where is None or activity.get("channelId") != TEAMS_CHANNEL_ID or where.tenant not in self.tenants:
            return 200, cards.message_response("")
        if activity.get("name") in extension.NAMES:
            return 200, await self._extension(activity, where)
        if payload is None:
            return 200, cards.message_response(wording.say("not_understood", where.lang))
        if where.activity_id and not await self._claim(f"{where.conversation_id}|{where.activity_id}"):
            return 200, cards.message_response(wording.say("already_done", where.lang))
        answer: dict[str, Any] = {}

        async def callback(context: TurnContext) -> None:
            answer.update(await self._click(context.services.get(ConnectorClientBase), where, payload))

        try:
            await self.adapter.process_activity(identity, Activity.model_validate(activity), callback)
        except Exception as exc:
            log.warning("a Teams card action could not start: %s", type(exc).__name__)
        if not answer:
            ref = secrets.token_hex(2)
            log.error("a Teams card action produced no answer (ref %s)", ref)
            return 200, cards.text_card_response(wording.say("failed", where.lang, ref=ref))
        return 200, answer

    async def _extension(self, activity: dict[str, Any], where: Where) -> dict[str, Any]:
        """The message extension's invokes, as the linked CRM user (an unlinked one gets a hint)."""
        actor, lang = await self._actor(where)
        value = activity.get("value") if isinstance(activity.get("value"), dict) else {}
        name = activity.get("name")
        if actor is None:
            return (
                {}
                if name == extension.QUERY_LINK
                else {"task": {"type": "message", "value": wording.say("see_chat", lang)}}
            )
        if name == extension.QUERY_LINK:
            url = str(value.get("url") or "")
            return await asyncio.to_thread(extension.unfurl, self.db, actor, url, self.public_url, lang) or {}
        if value.get("commandId") != extension.LOG_COMMAND:
            return {"task": {"type": "message", "value": wording.say("not_understood", lang)}}
        redelivered = (
            name == extension.SUBMIT_ACTION
            and where.activity_id is not None
            and not await self._claim(f"{where.conversation_id}|{where.activity_id}")
        )
        if redelivered:
            return {"task": {"type": "message", "value": wording.say("already_done", lang)}}
        handler = extension.fetch_task if name == extension.FETCH_TASK else extension.submit_action
        return await asyncio.to_thread(handler, self.db, actor, value, lang)

    async def _click(self, client: Any, where: Where, payload: str) -> dict[str, Any]:
        """Run the click as the user's message; the answer as the replacement card."""
        ref = secrets.token_hex(2)
        try:
            actor, lang = await self._actor(where)
            if actor is None:
                await self._not_linked(client, where)
                return cards.text_card_response(wording.say("see_chat", where.lang))
            assistant = self._assistant()
            if assistant is None:
                return cards.text_card_response(wording.say("starting", lang))
            replies = await assistant.handle(
                IncomingMessage(
                    channel=CHANNEL,
                    sender_id=where.sender_id,
                    text=payload[:MAX_TEXT_CHARS],
                    speaker=actor,
                    metadata={"teams_conversation": where.conversation_id, "teams_tenant": where.tenant},
                )
            )
            return cards.card_response(render(replies))
        except Exception:
            log.exception("teams card action failed (ref %s)", ref)
            return cards.text_card_response(wording.say("failed", where.lang, ref=ref))

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
    async def _welcome(self, client: Any, where: Where) -> None:
        try:
            await self._post(client, where, text_activity(wording.say("welcome", where.lang)), reply=False)
        except Exception:
            log.exception("could not welcome a Teams conversation")

    async def _converse(self, client: Any, where: Where, text: str) -> None:
        ref = secrets.token_hex(2)
        try:
            await self._typing(client, where)
            code = link_code(text)
            if code is not None:
                await self._redeem(client, where, code)
                return
            actor, lang = await self._actor(where)
            if actor is None:
                await self._not_linked(client, where)
                return
            assistant = self._assistant()
            if assistant is None:
                await self._post(client, where, text_activity(wording.say("starting", lang)))
                return
            public = None if where.private else where
            if public is not None and await self._for_the_channel(assistant, text, actor):
                public = None  # team data the channel asked for: answered where it was asked
            if public is not None:
                personal = await self._personal(client, public)
                if personal is None:
                    await self._post(client, public, text_activity(wording.say("ask_privately", lang)))
                    return
                where = personal
            replies = await assistant.handle(
                IncomingMessage(
                    channel=CHANNEL,
                    sender_id=where.sender_id,
                    text=text[:MAX_TEXT_CHARS],
                    speaker=actor,
                    metadata={
                        "teams_conversation": where.conversation_id,
                        "teams_tenant": where.tenant,
                        "teams_mentions": list(public.mentioned if public else where.mentioned),
                    },
                )
            )
            activity = cards.universal(render(replies))
            if not is_empty(activity):
                await self._post(client, where, activity, reply=where.activity_id is not None)
            if public is not None:
                await self._post(client, public, text_activity(wording.say("answered_privately", lang)))
        except Exception:
            log.exception("teams turn failed (ref %s)", ref)
            try:
                await self._post(client, where, text_activity(wording.say("failed", where.lang, ref=ref)))
            except Exception:
                log.exception("could not report the failure (ref %s)", ref)

    @staticmethod
    async def _for_the_channel(assistant: Assistant, text: str, actor: Actor) -> bool:
        """A question about the team's pipeline as a whole (no person, organisation or deal named) is
        meant for the channel; everything else is answered privately."""
        parser = getattr(assistant, "parser", None)
        if parser is None:
            return False
        parse = await parser.parse(text, lang=actor.language, tz=actor.timezone)
        intent = (parse.get("intent") or {}).get("name")
        named = {e.get("entity") for e in parse.get("entities") or [] if isinstance(e, dict)}
        return intent in CHANNEL_INTENTS and not named & PRIVATE_ENTITIES

    async def _personal(self, client: Any, where: Where) -> Where | None:
        """The asker's 1:1 chat with the bot, where CRM data may be shown; None if it cannot be opened."""
        parameters = ConversationParameters(
            is_group=False,
            agent=ChannelAccount.model_validate(where.bot),
            members=[ChannelAccount(id=where.user_id)],
            tenant_id=where.tenant,
            channel_data={"tenant": {"id": where.tenant}} if where.tenant else {},
        )
        try:
            created = await client.conversations.create_conversation(parameters)
        except (aiohttp.ClientError, ValueError) as exc:
            log.info("could not open a personal Teams chat (%s)", getattr(exc, "status", type(exc).__name__))
            return None
        if not created.id:
            return None
        return replace(where, conversation_id=created.id, activity_id=None, conversation_type="personal")

    async def _typing(self, client: Any, where: Where) -> None:
        """Teams shows "..." until the answer arrives (or a few seconds pass)."""
        try:
            await self._post(client, where, {"type": "typing"}, reply=False)
        except (aiohttp.ClientError, ValueError) as exc:
            log.info("could not send a typing indicator (%s)", type(exc).__name__)

    async def _not_linked(self, client: Any, where: Where) -> None:
        """An unlinked user: a pending request for an admin (the e-mail Teams gives is only a hint)."""
        email = await self._email(client, where)
        account = where.account()

        def request() -> int:
            with self.db.session() as session:
                return CrmServices(session, Actor.system("teams")).links.request(account, email).id

        number = await asyncio.to_thread(request)
        await self._post(
            client, where, text_activity(wording.say("not_linked", where.lang, request=str(number)))
        )

    async def _redeem(self, client: Any, where: Where, code: str) -> None:
        """``link <code>``: the code came from the CRM side, where the person is signed in."""
        account = where.account()

        def redeem() -> tuple[str, int | None]:
            with self.db.session() as session:
                outcome, link = CrmServices(session, Actor.system("teams")).links.redeem(account, code)
                return outcome, (link.id if link is not None else None)

        try:
            outcome, number = await asyncio.to_thread(redeem)
        except CrmError as exc:  # e.g. this Teams account was linked to someone else meanwhile
            log.info("a Teams link code was refused: %s", exc.detail)
            outcome, number = "taken", None
        text = wording.say(f"link_{outcome}", where.lang, request=str(number or ""))
        await self._post(client, where, text_activity(text))

    async def _post(
        self, client: Any, where: Where, activity: dict[str, Any], *, reply: bool = True
    ) -> str | None:
        """Send ``activity`` through the SDK's connector client; the new activity's id."""
        outgoing = Activity.model_validate(where.addressed(activity, reply=reply))
        if reply and where.activity_id:
            sent = await client.conversations.reply_to_activity(
                where.conversation_id, where.activity_id, outgoing
            )
        else:
            sent = await client.conversations.send_to_conversation(where.conversation_id, outgoing)
        return sent.id if sent is not None else None

    # -- store ---------------------------------------------------------------------------------
    def _remember(self, where: Where) -> int:
        """Keep this conversation's reference for proactive messages (the digest, notifications)."""
        conversation = where.conversation_id
        if where.conversation_type == "channel":
            conversation = conversation.split(";messageid=", 1)[0]  # the channel, not this thread
        return outbox.remember(
            self.db,
            tenant=where.tenant or "",
            conversation_id=conversation,
            conversation_type=where.conversation_type or "personal",
            service_url=where.service_url,
            bot_id=str(where.bot.get("id") or ""),
            teams_user_id=where.teams_user_id,
            user_id=where.user_id,
        )

    async def _claim(self, key: str) -> bool:
        """Record ``key``; False when it was already recorded (a redelivery or a duplicate)."""
        return await claim_event(self.db, SOURCE, key)

    async def _actor(self, where: Where) -> tuple[Actor | None, str]:
        """The CRM user linked to this Teams user in this tenant (cached), and a language."""
        key = (where.teams_user_id, where.tenant or "")
        return await self._actors.actor(key, where.account(), where.lang)

    async def _email(self, client: Any, where: Where) -> str | None:
        """The user's e-mail: from the activity when it has one, else from the Bot Connector."""
        email = _str(where.user.get("email"))
        if email is None and self.member_lookup:
            try:
                member = await client.conversations.get_conversation_member(
                    where.conversation_id, where.user_id
                )
            except aiohttp.ClientResponseError as exc:
                if exc.status not in (403, 404):
                    log.warning("Teams member lookup failed (%s)", exc.status)
                return None
            except (aiohttp.ClientError, ValueError) as exc:
                log.warning("Teams member lookup failed (%s)", type(exc).__name__)
                return None
            found = member.model_dump(by_alias=True, exclude_none=True) if member is not None else {}
            email = _str(found.get("email")) or _str(found.get("userPrincipalName"))
        return email if email and "@" in email else None
