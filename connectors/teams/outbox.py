"""Proactive Teams messages: a row in ``outbox_messages`` first, then sent through the Agents SDK.

    remember(db, where)                                   # each authenticated turn keeps its reference
    session.add(message(ref_id, activity))                # in the producer's transaction (digest, SLA...)
    worker.wake()                                         # after the commit

``TeamsOutbox`` is one background task, like the Slack one: each pass takes the pending rows of channel
``teams`` (``crm_store.outbox``), claims one (attempts + 1 and a lease), resolves its target
``ref:<id>`` to the stored conversation reference and sends the activity with
``adapter.continue_conversation`` (the SDK's proactive turn: an app token from MSAL, the connector client
for the reference's ``serviceUrl``, with our retries on 429/5xx). Sent -> ``sent_at``; a failure is tried
again with capped exponential backoff, ``MAX_ATTEMPTS`` times, then marked failed with ``last_error``.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from datetime import datetime, timedelta
from typing import Any

from microsoft_agents.activity import Activity, ConversationReference
from microsoft_agents.hosting.core import TurnContext
from microsoft_agents.hosting.core.connector import ConnectorClientBase
from sqlalchemy import select, update

from crm_store import outbox as outbox_rows
from crm_store.db import Database
from crm_store.models import OutboxMessage, TeamsConversationRef, utcnow
from crm_store.outbox import Pending
from crm_store.tasks import cancel_and_wait

log = logging.getLogger(__name__)

CHANNEL = "teams"
MAX_ATTEMPTS = 6
LEASE_SECONDS = 120.0
MAX_BACKOFF_SECONDS = 3600.0
BATCH = 50


def target(ref_id: int) -> str:
    return f"ref:{ref_id}"


def message(ref_id: int, activity: dict[str, Any]) -> OutboxMessage:
    """A proactive post of ``activity`` (a rendered message) to the stored conversation ``ref_id``."""
    return OutboxMessage(channel=CHANNEL, target=target(ref_id), payload={"activity": activity})


def remember(
    db: Database,
    *,
    tenant: str,
    conversation_id: str,
    conversation_type: str,
    service_url: str,
    bot_id: str,
    teams_user_id: str | None,
    user_id: str | None,
) -> int:
    """Store (or refresh) where this conversation is; its id. Called from authenticated turns only."""
    with db.session() as session:
        ref = session.execute(
            select(TeamsConversationRef).where(
                TeamsConversationRef.tenant_id == tenant,
                TeamsConversationRef.conversation_id == conversation_id,
            )
        ).scalar_one_or_none()
        if ref is None:
            ref = TeamsConversationRef(tenant_id=tenant, conversation_id=conversation_id)
            session.add(ref)
        ref.conversation_type = conversation_type
        ref.service_url = service_url
        ref.bot_id = bot_id
        if conversation_type == "personal":
            ref.teams_user_id, ref.user_id = teams_user_id, user_id
        ref.updated_at = utcnow()
        session.flush()
        return ref.id


def personal_ref(db: Database, *, tenant: str, teams_user_id: str) -> int | None:
    """The bot's 1:1 chat with a (linked) Teams user, if they ever talked to it."""
    with db.session() as session:
        return session.execute(
            select(TeamsConversationRef.id)
            .where(
                TeamsConversationRef.tenant_id == tenant,
                TeamsConversationRef.teams_user_id == teams_user_id,
                TeamsConversationRef.conversation_type == "personal",
            )
            .order_by(TeamsConversationRef.updated_at.desc())
            .limit(1)
        ).scalar_one_or_none()


def backoff(attempts: int) -> float:
    return min(30.0 * 2 ** max(attempts - 1, 0), MAX_BACKOFF_SECONDS)


class TeamsOutbox:
    def __init__(self, *, db: Database, adapter: Any, app_id: str) -> None:
        self.db = db
        self.adapter = adapter
        self.app_id = app_id
        self._wake = asyncio.Event()
        self._task: asyncio.Task[None] | None = None

    def start(self) -> None:
        self._task = asyncio.ensure_future(self._run())

    async def stop(self) -> None:
        task, self._task = self._task, None
        await cancel_and_wait(task)

    def wake(self) -> None:
        self._wake.set()

    async def _run(self) -> None:
        while True:
            self._wake.clear()
            try:
                wait = await self.deliver_due()
            except Exception:
                log.exception("the Teams outbox pass failed")
                wait = 60.0
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._wake.wait(), timeout=wait)

    async def deliver_due(self, now: datetime | None = None) -> float:
        """Send what is due; seconds until the next row is due (at most an hour)."""
        now = now or utcnow()
        rows = await asyncio.to_thread(outbox_rows.pending, self.db, CHANNEL, limit=BATCH)
        later = 3600.0
        for row in rows:
            if row.due > now:
                later = min(later, (row.due - now).total_seconds())
                continue
            if await asyncio.to_thread(outbox_rows.claim, self.db, row, now, lease_seconds=LEASE_SECONDS):
                await self._deliver(row)
        return max(later, 0.0)

    async def _deliver(self, row: Pending) -> None:
        ref = await asyncio.to_thread(self._reference, row.target)
        activity = row.payload.get("activity")
        if ref is None or not isinstance(activity, dict):
            await asyncio.to_thread(self._finish, row, "no such conversation reference", give_up=True)
            return
        reference = ConversationReference.model_validate(
            {
                "channelId": "msteams",
                "serviceUrl": ref.service_url,
                "conversation": {"id": ref.conversation_id, "tenantId": ref.tenant_id},
                "agent": {"id": ref.bot_id},
                "user": {"id": ref.user_id} if ref.user_id else None,
            }
        )

        failures: list[BaseException] = []
        outgoing = Activity.model_validate(
            {**activity, "from": {"id": ref.bot_id}, "conversation": {"id": ref.conversation_id}}
        )

        async def send(context: TurnContext) -> None:
            # The connector client directly: TurnContext.send_activity would reply to the continuation.
            try:
                client = context.services.get(ConnectorClientBase)
                await client.conversations.send_to_conversation(ref.conversation_id, outgoing)
            except Exception as exc:  # the SDK's turn-error handler would swallow it
                failures.append(exc)

        try:
            await self.adapter.continue_conversation(self.app_id, reference.get_continuation_activity(), send)
        except Exception as exc:
            failures.append(exc)
        if failures:
            log.warning("a proactive Teams message failed (%s)", type(failures[0]).__name__)
            give_up = row.attempts + 1 >= MAX_ATTEMPTS
            await asyncio.to_thread(self._finish, row, type(failures[0]).__name__, give_up=give_up)
            return
        await asyncio.to_thread(self._finish, row, None, give_up=False)

    def _reference(self, row_target: str) -> TeamsConversationRef | None:
        prefix, _, number = row_target.partition(":")
        if prefix != "ref" or not number.isdigit():
            return None
        with self.db.session() as session:
            ref = session.get(TeamsConversationRef, int(number))
            if ref is not None:
                session.expunge(ref)
            return ref

    def _finish(self, row: Pending, error: str | None, *, give_up: bool) -> None:
        now = utcnow()
        if error is None:
            values: dict[str, Any] = {"sent_at": now, "next_attempt_at": None, "last_error": None}
        elif give_up:
            values = {"next_attempt_at": None, "last_error": error[:500]}
        else:
            values = {
                "next_attempt_at": now + timedelta(seconds=backoff(row.attempts + 1)),
                "last_error": error[:500],
            }
        with self.db.session() as session:
            session.execute(update(OutboxMessage).where(OutboxMessage.id == row.id).values(**values))
