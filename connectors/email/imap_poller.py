"""IMAP intake (aioimaplib): new mail by UID, IDLE when the server offers it, state kept in the store.

The last UID seen per mailbox (with the mailbox's UIDVALIDITY) is stored as a ``ProcessedEvent`` row
(source ``imap-state``), updated after each message is triaged. A restart continues after that UID;
a changed UIDVALIDITY starts the mailbox over, which repeats nothing because the triage processes
each Message-ID once. Messages are fetched with ``BODY.PEEK[]`` so their \\Seen flag stays as it was.

Faults: while the store is down (``StoreUnavailable``) nothing is skipped: the poller waits
``store_retry`` seconds and reads the mailbox again from the stored UID, so intake resumes by itself when
the database is back. A message whose triage fails for another reason (a poison input) is tried
``max_tries`` times in this process, then set aside in the quarantine (``crm_store/services/quarantine.py``)
and the mailbox goes on behind it.
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
from sqlalchemy.exc import OperationalError

from connectors.email.ack import AckSender
from connectors.email.triage import TriageResult, TriageService
from crm_store.db import Database, StoreUnavailable
from crm_store.models import ProcessedEvent, utcnow
from crm_store.services import Actor, CrmServices
from crm_store.services.quarantine import describe_error
from nlu.email_text import parse_mail

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
    max_tries: int = 3  # a message failing this often is quarantined
    store_retry: float = 2.0  # seconds between reads while the store is down

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
        self.failures: dict[tuple[int, int], int] = {}  # (UIDVALIDITY, UID) -> failed tries in this process
        self.quarantined = 0
        self.retrying = False  # the last round stopped at a failed message: try again soon, do not IDLE

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
        self.retrying = False
        self.backlog = max(0, len(uids) - self.settings.batch_size)
        for uid in uids[: self.settings.batch_size]:
            fetched = _ok(await imap.uid("fetch", str(uid), "(BODY.PEEK[])"), "UID FETCH")
            raw = next((bytes(line) for line in fetched.lines if isinstance(line, bytearray)), None)
            if raw is not None:
                try:
                    result = await asyncio.to_thread(self.triage.process, raw, source="imap")
                except (StoreUnavailable, OperationalError):
                    raise  # the store is away: stop here, skip nothing, run() tries again
                except Exception as exc:
                    if not await self._failed(uidvalidity, uid, raw, exc):
                        self.retrying = True  # tried again on the next round; the UID is not passed
                        break
                    await asyncio.to_thread(self.state.save, key, MailboxState(uidvalidity, uid))
                    continue
                self.failures.pop((uidvalidity, uid), None)
                results.append(result)
                if self.on_result is not None:
                    self.on_result(result)
                if self.acks is not None and result.ack:
                    await self._acknowledge(result)
            await asyncio.to_thread(self.state.save, key, MailboxState(uidvalidity, uid))
        return results

    async def _failed(self, uidvalidity: int, uid: int, raw: bytes, exc: Exception) -> bool:
        """Count a failed try; at ``max_tries`` quarantine the message (True: pass it)."""
        tries = self.failures.get((uidvalidity, uid), 0) + 1
        self.failures[(uidvalidity, uid)] = tries
        if tries < self.settings.max_tries:
            log.warning("mail UID %s failed triage (try %s of %s): %s", uid, tries, self.settings.max_tries,
                        type(exc).__name__, exc_info=log.isEnabledFor(logging.DEBUG))
            return False
        await asyncio.to_thread(self._quarantine, uid, raw, describe_error(exc), tries)
        self.failures.pop((uidvalidity, uid), None)
        self.quarantined += 1
        log.error("mail UID %s failed triage %s times: quarantined (crm-assistant mail quarantine)", uid, tries)
        return True

    def _quarantine(self, uid: int, raw: bytes, error: str, tries: int) -> None:
        try:
            mail = parse_mail(raw)
            message_id, from_addr, subject = mail.message_id, mail.from_addr, mail.subject
        except Exception:  # so broken it does not parse: kept as bytes all the same
            message_id = from_addr = subject = None
        with self.state.db.session() as session:
            CrmServices(session, Actor.system("imap")).quarantine.add(
                source="imap", mailbox=self.settings.state_key, raw=raw, error=error, attempts=tries, uid=uid,
                message_id=message_id, from_addr=from_addr, subject=subject,
            )  # fmt: skip

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
                    if self.retrying:  # a message failed: try it again shortly rather than idle
                        await _wait(stop, self.settings.store_retry)
                        continue
                    if imap.has_capability("IDLE"):
                        await self._idle(imap, stop)
                    else:
                        await _wait(stop, self.settings.poll_interval)
            except (OSError, TimeoutError, ImapError):
                log.warning("IMAP session to %s ended; reconnecting", self.settings.host, exc_info=True)
            except (StoreUnavailable, OperationalError) as exc:
                log.warning("store unavailable (%s); mail intake waits %.0f s and resumes at the stored UID",
                            type(exc).__name__, self.settings.store_retry)
                await _wait(stop, self.settings.store_retry)
            except Exception:  # a bug must not end intake for good: log it, wait, start over
                log.exception("IMAP intake failed; restarting it")
                await _wait(stop, self.settings.poll_interval)
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
