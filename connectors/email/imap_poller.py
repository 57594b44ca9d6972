"""IMAP intake (aioimaplib): new mail by UID, IDLE when the server offers it, state kept in the store.

The last UID seen per mailbox (with the mailbox's UIDVALIDITY) is stored as a ``ProcessedEvent`` row
(source ``imap-state``), updated after each message is triaged. A restart continues after that UID;
a changed UIDVALIDITY starts the mailbox over, which repeats nothing because the triage processes
each Message-ID once. Messages are fetched with ``BODY.PEEK[]`` so their \\Seen flag stays as it was.
"""

from __future__ import annotations

import asyncio
import json
import logging
import re
import ssl
from collections.abc import Callable
from dataclasses import dataclass

from aioimaplib import IMAP4, IMAP4_SSL, Response
from sqlalchemy import select

from connectors.email.ack import AckSender
from connectors.email.triage import TriageResult, TriageService
from crm_store.db import Database
from crm_store.models import ProcessedEvent, utcnow

log = logging.getLogger(__name__)

STATE_SOURCE = "imap-state"
_UIDVALIDITY = re.compile(rb"UIDVALIDITY (\d+)")
_FETCH_UID = re.compile(rb"UID (\d+)")


class ImapError(RuntimeError):
    """The IMAP server refused a command (login, select, fetch)."""


@dataclass(frozen=True, slots=True)
class ImapSettings:
    host: str
    user: str
    password: str
    port: int = 993
    mailbox: str = "INBOX"
    use_ssl: bool = True
    ssl_context: ssl.SSLContext | None = None
    poll_interval: float = 60.0  # without IDLE
    idle_timeout: float = 25 * 60.0  # RFC 2177: re-issue IDLE before 29 minutes
    batch_size: int = 50
    timeout: float = 30.0

    @property
    def state_key(self) -> str:
        return f"{self.user}@{self.host}:{self.port}/{self.mailbox}"


@dataclass(frozen=True, slots=True)
class MailboxState:
    uidvalidity: int
    last_uid: int


class ImapStateStore:
    """Last UID per mailbox in the store, so restarts neither lose nor repeat mail."""

    def __init__(self, db: Database) -> None:
        self.db = db

    def load(self, key: str) -> MailboxState | None:
        with self.db.session() as session:
            row = session.execute(
                select(ProcessedEvent).where(ProcessedEvent.source == STATE_SOURCE, ProcessedEvent.key == key)
            ).scalar_one_or_none()
            if row is None or not row.result:
                return None
            data = json.loads(row.result)
            return MailboxState(int(data["uidvalidity"]), int(data["last_uid"]))

    def save(self, key: str, state: MailboxState) -> None:
        with self.db.session() as session:
            row = session.execute(
                select(ProcessedEvent).where(ProcessedEvent.source == STATE_SOURCE, ProcessedEvent.key == key)
            ).scalar_one_or_none()
            if row is None:
                row = ProcessedEvent(source=STATE_SOURCE, key=key)
                session.add(row)
            row.result = json.dumps({"uidvalidity": state.uidvalidity, "last_uid": state.last_uid})
            row.processed_at = utcnow()


class ImapPoller:
    def __init__(
        self,
        settings: ImapSettings,
        triage: TriageService,
        state: ImapStateStore,
        *,
        acks: AckSender | None = None,
        on_result: Callable[[TriageResult], None] | None = None,
    ) -> None:
        self.settings = settings
        self.triage = triage
        self.state = state
        self.acks = acks
        self.on_result = on_result  # e.g. metrics; called once per triaged message
        self.backlog = 0  # new messages left for the next batch after the last fetch

    async def connect(self) -> IMAP4:
        s = self.settings
        client: IMAP4 = (
            IMAP4_SSL(host=s.host, port=s.port, timeout=s.timeout, ssl_context=s.ssl_context)
            if s.use_ssl
            else IMAP4(host=s.host, port=s.port, timeout=s.timeout)
        )
        await client.wait_hello_from_server()
        _ok(await client.login(s.user, s.password), "LOGIN")
        return client

    async def poll_once(self, client: IMAP4 | None = None) -> list[TriageResult]:
        """Triage up to ``batch_size`` messages after the stored UID (``backlog`` says how many are left);
        with no client, connect and log out again."""
        own = client is None
        imap = client or await self.connect()
        try:
            return await self._fetch_new(imap)
        finally:
            if own:
                await _logout(imap)

    async def _fetch_new(self, imap: IMAP4) -> list[TriageResult]:
        key = self.settings.state_key
        selected = _ok(await imap.select(self.settings.mailbox), "SELECT")
        uidvalidity = _uidvalidity(selected.lines)
        stored = await asyncio.to_thread(self.state.load, key)
        last_uid = stored.last_uid if stored is not None and stored.uidvalidity == uidvalidity else 0
        if stored is not None and stored.uidvalidity != uidvalidity:
            log.warning(
                "UIDVALIDITY of %s changed; rescanning (Message-IDs prevent repeats)", self.settings.mailbox
            )
        found = _ok(await imap.uid_search("ALL"), "UID SEARCH")  # every server understands ALL
        uids = sorted(
            int(n) for n in b" ".join(found.lines[:-1]).split() if n.isdigit() and int(n) > last_uid
        )
        results: list[TriageResult] = []
        self.backlog = max(0, len(uids) - self.settings.batch_size)
        for uid in uids[: self.settings.batch_size]:
            fetched = _ok(await imap.uid("fetch", str(uid), "(BODY.PEEK[])"), "UID FETCH")
            raw = next((bytes(line) for line in fetched.lines if isinstance(line, bytearray)), None)
            if raw is not None:
                result = await asyncio.to_thread(self.triage.process, raw, source="imap")
                results.append(result)
                if self.on_result is not None:
                    self.on_result(result)
                if self.acks is not None and result.ack:
                    await self._acknowledge(result)
            await asyncio.to_thread(self.state.save, key, MailboxState(uidvalidity, uid))
        return results

    async def _acknowledge(self, result: TriageResult) -> None:
        assert self.acks is not None
        try:
            message = await self.acks.send(result)
        except Exception:
            log.exception("acknowledgement for ticket #%s failed", result.ticket_number)
            return
        if message is not None and result.ticket_number is not None:
            await asyncio.to_thread(
                self.triage.record_outbound,
                result.ticket_number,
                message.get_content(),
                message_id=str(message["Message-ID"]).strip("<>"),
            )

    async def run(self, stop: asyncio.Event) -> None:
        """Poll until ``stop`` is set: IDLE when offered, else every ``poll_interval`` seconds."""
        while not stop.is_set():
            try:
                imap = await self.connect()
            except (OSError, TimeoutError, ImapError):
                log.warning("IMAP connection to %s failed; retrying", self.settings.host, exc_info=True)
                await _wait(stop, self.settings.poll_interval)
                continue
            try:
                while not stop.is_set():
                    await self._fetch_new(imap)
                    if self.backlog:  # more than one batch waiting: fetch on before idling
                        continue
                    if imap.has_capability("IDLE"):
                        await self._idle(imap, stop)
                    else:
                        await _wait(stop, self.settings.poll_interval)
            except (OSError, TimeoutError, ImapError):
                log.warning("IMAP session to %s ended; reconnecting", self.settings.host, exc_info=True)
            finally:
                await _logout(imap)

    async def _idle(self, imap: IMAP4, stop: asyncio.Event) -> None:
        idle = await imap.idle_start(timeout=self.settings.idle_timeout)
        stopper = asyncio.ensure_future(stop.wait())
        push = asyncio.ensure_future(imap.wait_server_push(timeout=self.settings.idle_timeout))
        try:
            await asyncio.wait({stopper, push}, return_when=asyncio.FIRST_COMPLETED)
        finally:
            for task in (stopper, push):
                task.cancel()
            await asyncio.gather(stopper, push, return_exceptions=True)
            imap.idle_done()
            await asyncio.wait_for(idle, timeout=self.settings.timeout)


def _ok(response: Response, command: str) -> Response:
    if response.result != "OK":
        raise ImapError(f"IMAP {command} failed: {response.result}")
    return response


def _uidvalidity(lines: list[bytes]) -> int:
    for line in lines:
        match = _UIDVALIDITY.search(bytes(line))
        if match:
            return int(match.group(1))
    return 0


async def _wait(stop: asyncio.Event, seconds: float) -> None:
    try:
        await asyncio.wait_for(stop.wait(), timeout=seconds)
    except TimeoutError:
        return


async def _logout(imap: IMAP4) -> None:
    try:
        await imap.logout()
    except Exception:  # a dead connection needs no goodbye
        log.debug("IMAP logout failed", exc_info=True)


__all__ = ["ImapError", "ImapPoller", "ImapSettings", "ImapStateStore", "MailboxState"]
