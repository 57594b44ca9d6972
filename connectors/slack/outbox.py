"""The Slack outbox: every outgoing post is a row in ``outbox_messages`` first, then delivered here.

    session.add_all(outbox.posts(channel="D1", text="Hi", blocks=[...]))   # in the work's transaction
    worker.wake()                                                          # after the commit

``SlackOutbox`` is one background task. Each pass takes the oldest pending message of every target
(channel), so a channel's messages arrive in order, claims it (attempts + 1 and a lease, so a second
process or a crash mid-send cannot send it twice at once), calls Slack and records the outcome:

* sent                      -> ``sent_at``
* 5xx, connection error     -> retried with exponential backoff (capped), nothing is dropped
* 429                       -> retried after Retry-After; the method is paused for everyone meanwhile
* anything else (``channel_not_found``, ``invalid_blocks``, an expired response_url) or too many
  attempts                  -> marked failed (``next_attempt_at`` NULL, ``last_error``), logged, and the
                               user it was meant for is told (by DM when the channel itself is the problem)

Between passes it waits exactly until the next message is due, or until ``wake()``.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import logging
import secrets
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any
from urllib.parse import urlsplit

import aiohttp
from slack_sdk.errors import SlackApiError
from slack_sdk.web.async_client import AsyncWebClient
from sqlalchemy import select
from sqlalchemy.orm import Session

from connectors.slack import wording
from crm_store import outbox as outbox_rows
from crm_store.db import Database
from crm_store.models import OutboxMessage, utcnow
from crm_store.outbox import Pending
from crm_store.tasks import cancel_and_wait

log = logging.getLogger(__name__)

CHANNEL = "slack"
WEB_API_METHODS = frozenset({"chat.postMessage", "chat.postEphemeral", "chat.update"})
FILE_UPLOAD = "files.upload"
RESPONSE_URL = "response"
TRANSIENT_ERRORS = frozenset(
    {"ratelimited", "internal_error", "fatal", "service_unavailable", "request_timeout"}
)
# The place itself is the problem: telling the user there would fail again, so they get a DM.
PLACE_ERRORS = frozenset(
    {
        "channel_not_found",
        "not_in_channel",
        "is_archived",
        "channel_is_archived",
        "restricted_action",
        "expired_url",
        "response_url_not_allowed",
        "message_not_found",
        "cant_update_message",
    }
)
SCAN_LIMIT = 1000
ERROR_RETRY_SECONDS = 5.0  # when the store itself fails, try again after this long
RESPONSE_TIMEOUT = aiohttp.ClientTimeout(total=20)


@dataclass(frozen=True)
class Policy:
    backoff: float = 1.0  # seconds before the first retry; doubled per attempt
    max_backoff: float = 600.0
    max_attempts: int = 100  # ~16 hours of a Slack outage at the cap, then the message fails for good
    lease: float = 120.0  # a claimed message is not picked up again for this long


@dataclass(frozen=True)
class Outcome:
    sent: bool = False
    error: str | None = None
    retry_after: float | None = None  # transient: try again (None = permanent when not sent)
    pause_method: bool = False


SENT = Outcome(sent=True)


def retry_delay(attempts: int, policy: Policy) -> float:
    """Seconds to wait after the ``attempts``-th failed attempt: exponential, capped."""
    return min(policy.max_backoff, policy.backoff * 2 ** max(0, attempts - 1))


def classify(exc: BaseException) -> Outcome:
    """What a failed call means: transient (retry, maybe after Retry-After) or permanent."""
    if isinstance(exc, SlackApiError):
        response = exc.response
        status = getattr(response, "status_code", None) or getattr(response, "status", None) or 0
        error = ""
        with contextlib.suppress(Exception):
            error = str(response.get("error") or "")
        if status == 429 or error == "ratelimited":
            headers = getattr(response, "headers", None) or {}
            return Outcome(error="ratelimited", retry_after=_retry_after(headers), pause_method=True)
        if status >= 500 or error in TRANSIENT_ERRORS:
            return Outcome(error=error or f"http_{status}", retry_after=-1)
        return Outcome(error=error or f"http_{status}")
    if isinstance(exc, aiohttp.ClientError | TimeoutError | OSError):
        return Outcome(error=type(exc).__name__, retry_after=-1)
    return Outcome(error=f"unexpected_{type(exc).__name__}")


def _retry_after(headers: Any) -> float:
    for key in ("Retry-After", "retry-after"):
        value = headers.get(key) if hasattr(headers, "get") else None
        if value is not None:
            try:
                return max(0.0, float(value))
            except ValueError:
                break
    return 1.0


# --- building messages -------------------------------------------------------------------------------
@dataclass(frozen=True)
class Notify:
    """Whom to tell when the message cannot be delivered: the Slack user, and where they talked to us."""

    user: str
    channel: str
    thread_ts: str | None = None
    ephemeral: bool = False
    lang: str = "en"

    def to_json(self) -> dict[str, Any]:
        return {k: v for k, v in self.__dict__.items() if v is not None}


def _message(target: str, payload: dict[str, Any], notify: Notify | None) -> OutboxMessage:
    if notify is not None:
        payload = {**payload, "notify": notify.to_json()}
    return OutboxMessage(channel=CHANNEL, target=target[:200], payload=payload, next_attempt_at=utcnow())


def posts(
    *,
    channel: str,
    text: str,
    blocks: list[dict[str, Any]] | None = None,
    images: Iterable[tuple[bytes, str]] = (),
    thread_ts: str | None = None,
    ephemeral_user: str | None = None,
    notify: Notify | None = None,
) -> list[OutboxMessage]:
    """A message (and its PNG uploads, in order) to ``channel``; ephemeral to one user when given."""
    args: dict[str, Any] = {"channel": channel, "text": text or " "}
    if blocks:
        args["blocks"] = blocks
    out: list[OutboxMessage] = []
    if ephemeral_user:
        args["user"] = ephemeral_user
        out.append(_message(channel, {"method": "chat.postEphemeral", "args": args}, notify))
        return out  # files cannot be ephemeral
    if thread_ts:
        args["thread_ts"] = thread_ts
    if text or blocks:
        out.append(_message(channel, {"method": "chat.postMessage", "args": args}, notify))
    for png, title in images:
        upload = {"channel": channel, "filename": title, "title": title}
        if thread_ts:
            upload["thread_ts"] = thread_ts
        payload = {"method": FILE_UPLOAD, "args": upload, "png_b64": base64.b64encode(png).decode("ascii")}
        out.append(_message(channel, payload, notify))
    return out


def update_message(
    *, channel: str, ts: str, text: str, blocks: list[dict[str, Any]], notify: Notify | None = None
) -> OutboxMessage:
    args = {"channel": channel, "ts": ts, "text": text or " ", "blocks": blocks}
    return _message(channel, {"method": "chat.update", "args": args}, notify)


def respond(*, url: str, body: dict[str, Any], target: str, notify: Notify | None = None) -> OutboxMessage:
    """A message sent to an interaction's ``response_url`` (ephemeral replies, replacing them)."""
    return _message(target, {"method": RESPONSE_URL, "url": url, "body": body}, notify)


# --- delivery ------------------------------------------------------------------------------------------
class SlackOutbox:
    """The background worker. ``start()`` on startup, ``stop()`` on shutdown; pending rows survive."""

    def __init__(
        self,
        *,
        db: Database,
        client: AsyncWebClient,
        policy: Policy | None = None,
        clock: Callable[[], datetime] = utcnow,
        response_hosts: Iterable[str] = ("hooks.slack.com",),
    ) -> None:
        self.db = db
        self.client = client  # no retry handlers: retrying is this class's job
        self.policy = policy or Policy()
        self.clock = clock
        self.response_hosts = frozenset(response_hosts)
        self._wake = asyncio.Event()
        self._idle = asyncio.Event()
        self._wanted = 0  # bumped by wake(); a pass only reports idle if nothing was wanted meanwhile
        self._paused: dict[str, datetime] = {}  # method -> not before (a 429's Retry-After)
        self._task: asyncio.Task[None] | None = None
        self._session: aiohttp.ClientSession | None = None

    # -- lifecycle ------------------------------------------------------------------------------------
    def start(self) -> None:
        if self._task is None:
            self._task = asyncio.create_task(self._run(), name="slack-outbox")

    async def stop(self) -> None:
        task, self._task = self._task, None
        await cancel_and_wait(task)
        if self._session is not None:
            await self._session.close()

    def wake(self) -> None:
        """New messages were committed: deliver now rather than at the next computed time."""
        self._wanted += 1
        self._idle.clear()
        self._wake.set()

    async def settled(self) -> None:
        """Wait until nothing is pending any more (sent or failed for good): tests and draining."""
        await self._idle.wait()

    async def add(self, messages: list[OutboxMessage]) -> None:
        """Store ``messages`` in a transaction of their own and wake the worker."""
        if not messages:
            return

        def insert() -> None:
            with self.db.session() as session:
                session.add_all(messages)

        await asyncio.to_thread(insert)
        self.wake()

    async def _run(self) -> None:
        while True:
            self._wake.clear()
            wanted = self._wanted
            try:
                wait = await self.deliver_due()
            except Exception:
                log.exception("slack outbox pass failed; trying again in %ss", ERROR_RETRY_SECONDS)
                wait = ERROR_RETRY_SECONDS
            if wait is None and wanted == self._wanted:
                self._idle.set()
            with contextlib.suppress(TimeoutError):  # asyncio.timeout: 3.11's wait_for can lose a cancel
                async with asyncio.timeout(wait):
                    await self._wake.wait()

    async def deliver_due(self) -> float | None:
        """Send every target's oldest message that is due; seconds until the next one is due, or None."""
        heads = await asyncio.to_thread(self._heads)
        if not heads:
            return None
        wait: float | None = None
        worked = False
        for head in heads:
            now = self.clock()
            due = max(head.due, self._paused.get(str(head.payload.get("method")), head.due))
            if due > now:
                seconds = (due - now).total_seconds()
                wait = seconds if wait is None else min(wait, seconds)
                continue
            if not await asyncio.to_thread(self._claim, head, now):
                worked = True  # someone else has it; look again soon
                continue
            outcome = await self._send(head.payload)
            await asyncio.to_thread(self._record, head, outcome)
            worked = True
        return 0.0 if worked else wait

    def _heads(self) -> list[Pending]:
        """The oldest pending message of each target: a channel's messages go out in order."""
        heads: dict[str, Pending] = {}
        for row in outbox_rows.pending(self.db, CHANNEL, limit=SCAN_LIMIT):
            heads.setdefault(row.target, row)
        return list(heads.values())

    def _claim(self, head: Pending, now: datetime) -> bool:
        return outbox_rows.claim(self.db, head, now, lease_seconds=self.policy.lease)

    def _record(self, head: Pending, outcome: Outcome) -> None:
        now = self.clock()
        attempts = head.attempts + 1
        with self.db.session() as session:
            row = session.get(OutboxMessage, head.id)
            if row is None:
                return
            if outcome.sent:
                row.sent_at, row.next_attempt_at, row.last_error = now, None, None
                return
            row.last_error = (outcome.error or "unknown")[:500]
            if outcome.retry_after is not None and attempts < self.policy.max_attempts:
                delay = (
                    outcome.retry_after if outcome.retry_after >= 0 else retry_delay(attempts, self.policy)
                )
                row.next_attempt_at = now + timedelta(seconds=delay)
                if outcome.pause_method:
                    self._paused[str(head.payload.get("method"))] = row.next_attempt_at
                log.info(
                    "slack outbox message %s failed (%s, attempt %s); retrying in %.2fs",
                    head.id,
                    row.last_error,
                    attempts,
                    delay,
                )
                return
            if outcome.retry_after is not None:
                row.last_error = f"gave_up_after_{attempts}_attempts: {row.last_error}"[:500]
            row.next_attempt_at = None
            ref = secrets.token_hex(2)
            log.error("slack outbox message %s failed for good: %s (ref %s)", head.id, row.last_error, ref)
            session.add_all(self._notice(head, outcome.error or "unknown", ref))

    def _notice(self, head: Pending, error: str, ref: str) -> list[OutboxMessage]:
        """Tell the user that a message meant for them could not be delivered (never recursively)."""
        raw = head.payload.get("notify")
        if not isinstance(raw, dict) or not raw.get("user"):
            return []
        lang = str(raw.get("lang") or "en")
        text = wording.say("undeliverable", lang, ref=ref)
        user, channel = str(raw["user"]), str(raw.get("channel") or "")
        if error in PLACE_ERRORS or not channel or head.payload.get("method") == RESPONSE_URL:
            return posts(channel=user, text=text)  # a DM: posting to a user id opens the bot's DM
        return posts(
            channel=channel,
            text=text,
            thread_ts=raw.get("thread_ts"),
            ephemeral_user=user if raw.get("ephemeral") else None,
        )

    # -- calls ----------------------------------------------------------------------------------------
    async def _send(self, payload: dict[str, Any]) -> Outcome:
        method = str(payload.get("method"))
        try:
            if method == RESPONSE_URL:
                return await self._respond(str(payload.get("url")), dict(payload.get("body") or {}))
            args = dict(payload.get("args") or {})
            if method == FILE_UPLOAD:
                await self.client.files_upload_v2(content=base64.b64decode(payload["png_b64"]), **args)
            elif method in WEB_API_METHODS:
                await getattr(self.client, method.replace(".", "_"))(**args)
            else:
                return Outcome(error=f"unknown_method_{method}"[:100])
        except Exception as exc:  # classified: transient ones are retried, the rest reported
            return classify(exc)
        return SENT

    async def _respond(self, url: str, body: dict[str, Any]) -> Outcome:
        parts = urlsplit(url)
        if parts.scheme not in ("https", "http") or parts.hostname not in self.response_hosts:
            return Outcome(error="response_url_not_allowed")
        if self._session is None or self._session.closed:
            self._session = aiohttp.ClientSession(timeout=RESPONSE_TIMEOUT)
        try:
            async with self._session.post(url, json=body) as res:
                text = (await res.text())[:100]
                if res.status == 200:
                    return SENT
                if res.status == 429:
                    return Outcome(error="ratelimited", retry_after=_retry_after(res.headers))
                if res.status >= 500:
                    return Outcome(error=f"http_{res.status}", retry_after=-1)
                return Outcome(
                    error="expired_url" if res.status in (404, 410) else text or f"http_{res.status}"
                )
        except (aiohttp.ClientError, TimeoutError, OSError) as exc:
            return classify(exc)


def pending_count(session: Session) -> int:
    """Messages still waiting to be sent (for health checks and tests)."""
    from sqlalchemy import func

    return int(
        session.execute(
            select(func.count())
            .select_from(OutboxMessage)
            .where(OutboxMessage.sent_at.is_(None), OutboxMessage.next_attempt_at.is_not(None))
        ).scalar()
        or 0
    )
