"""The e-mail outbox: mail that a turn decided to send (a one-time code) is a row first, then delivered here.

    session.add(OutboxMessage(channel="email", target=addr, payload={...}))   # in the turn's transaction
    deliverer = EmailOutbox(db, relay, from_addr="support@example.com")       # started with the e-mail side
    deliverer.start()                                                         # sends what is due, then waits

The row is written in the same transaction as the decision (``GrantService.issue_code``), so a rolled-back
turn sends nothing and a committed one is not lost when the relay is down. The worker claims a row before
sending (``attempts + 1`` and a lease, compared-and-set, so two processes never send it at once), hands it to
the SMTP relay and records the outcome:

* accepted                            -> ``sent_at``
* connection error, 4xx, timeout      -> retried with exponential backoff until the code inside has expired
* 5xx (address refused), code expired,
  no relay configured                 -> failed for good (``next_attempt_at`` NULL, ``last_error``)

Whatever the outcome, the code is then wiped from the row: the plain code lives only while it is in flight.
It never appears in a log above DEBUG. The worker wakes when a session that added an e-mail row commits (a
SQLAlchemy ``after_commit`` hook on this store's sessions) and otherwise sleeps until the next retry is due.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from email.message import EmailMessage
from email.utils import format_datetime, formataddr, make_msgid
from typing import Any

import aiosmtplib
from aiohttp import web
from sqlalchemy import event
from sqlalchemy.orm import Session

from connectors.email.ack import SmtpSettings
from crm_store import outbox as outbox_rows
from crm_store.db import Database
from crm_store.models import OutboxMessage, utcnow
from crm_store.outbox import Pending

log = logging.getLogger(__name__)
STOP_TIMEOUT_SECONDS = 10.0
IDLE_POLL_SECONDS = 5.0  # how often an idle worker looks for rows other processes committed

CHANNEL = "email"
KIND_CODE = "verification_code"
KIND_CONSENT = "consent_confirmation"  # double opt-in link (crm_store/services/consent.py)
KIND_LOGIN = "login_link"  # a one-time sign-in link to the agent inbox (crm_store/services/agent_sessions.py)
KIND_REPLY = "reply"  # an agent's answer to a ticket (crm_store/services/ticket_replies.py), threaded
SCAN_LIMIT = 100
ERROR_RETRY_SECONDS = 5.0
_DIRTY = "crm_email_outbox_dirty"

# User-facing wording, English and German side by side (German in the Sie-form, as our support mail).
SUBJECTS: dict[str, str] = {
    "en": "Your code for the support chat: {code}",
    "de": "Ihr Code für den Support-Chat: {code}",
}
BODIES: dict[str, str] = {
    "en": (
        "Hello,\n\nsomeone asked in our support chat to act on your behalf{about}. If that was you, type "
        "this code in the chat:\n\n    {code}\n\nThe code is valid for 10 minutes and can be used once. If it "
        "wasn't you, ignore this e-mail: nothing happens without the code.\n\nKind regards\n{team}\n"
    ),
    "de": (
        "Guten Tag,\n\nin unserem Support-Chat hat jemand darum gebeten, in Ihrem Namen zu handeln{about}. "
        "Wenn Sie das waren, geben Sie diesen Code im Chat ein:\n\n    {code}\n\nDer Code ist 10 Minuten "
        "gültig und nur einmal verwendbar. Wenn Sie es nicht waren, ignorieren Sie diese E-Mail: Ohne den "
        "Code geschieht nichts.\n\nFreundliche Grüße\n{team}\n"
    ),
}
ABOUT: dict[str, str] = {"en": " (ticket #{number})", "de": " (Ticket #{number})"}
LOGIN_SUBJECTS: dict[str, str] = {"en": "Your sign-in link for the support inbox",
                                  "de": "Ihr Anmeldelink für den Support-Posteingang"}
LOGIN_BODIES: dict[str, str] = {
    "en": "Hello,\n\nopen this link to sign in to the support inbox (valid for 15 minutes, once):\n\n    {url}\n\n"
    "If you did not ask for it, ignore this e-mail.\n\n{team}\n",
    "de": "Guten Tag,\n\nöffnen Sie diesen Link, um sich im Support-Posteingang anzumelden (15 Minuten gültig, "
    "einmal):\n\n    {url}\n\nWenn Sie ihn nicht angefordert haben, ignorieren Sie diese E-Mail.\n\n{team}\n",
}
REPLY_SUBJECT = "[#{number}] Re: {subject}"  # "Re:" (RFC 5322 3.6.5), understood by German clients too
REPLY_FOOTERS: dict[str, str] = {
    "en": "\n\n--\n{name}{team}\nTo answer, reply to this e-mail and keep [#{number}] in the subject.\n",
    "de": "\n\n--\n{name}{team}\nUm zu antworten, antworten Sie einfach auf diese E-Mail und lassen "
    "[#{number}] im Betreff stehen.\n",
}
CONSENT_SUBJECTS: dict[str, str] = {
    "en": "Please confirm your subscription ({purpose})",
    "de": "Bitte bestätigen Sie Ihre Anmeldung ({purpose})",
}
CONSENT_BODIES: dict[str, str] = {
    "en": (
        "Hello,\n\nplease confirm that we may send you e-mails for: {purpose}. Open this link and press "
        "the button on the page:\n\n    {url}\n\nThe link is valid for 48 hours and can be used once. If you "
        "did not ask for this, ignore this e-mail: without your confirmation nothing is sent.\n\n"
        "Kind regards\n{team}\n"
    ),
    "de": (
        "Guten Tag,\n\nbitte bestätigen Sie, dass wir Ihnen E-Mails zu folgendem Zweck senden dürfen: "
        "{purpose}. Öffnen Sie diesen Link und drücken Sie die Schaltfläche auf der Seite:\n\n    {url}\n\n"
        "Der Link ist 48 Stunden gültig und nur einmal verwendbar. Wenn Sie das nicht angefordert haben, "
        "ignorieren Sie diese E-Mail: Ohne Ihre Bestätigung wird nichts gesendet.\n\n"
        "Freundliche Grüße\n{team}\n"
    ),
}


@dataclass(frozen=True)
class Policy:
    backoff: float = 2.0  # seconds before the first retry; doubled per attempt
    max_backoff: float = 120.0
    lease: float = 120.0  # a claimed row is not picked up again for this long


def build_code_mail(payload: dict[str, Any], *, from_addr: str, from_name: str) -> EmailMessage:
    """The one-time-code mail, in the chat's language."""
    lang = str(payload.get("language") or "en")
    lang = lang if lang in SUBJECTS else "en"
    number = payload.get("ticket_number")
    about = ABOUT[lang].format(number=number) if number else ""
    code = str(payload["code"])
    message = EmailMessage()
    message["From"] = formataddr((from_name, from_addr))
    message["To"] = str(payload["to"])
    message["Subject"] = SUBJECTS[lang].format(code=code)
    message["Date"] = format_datetime(utcnow())
    message["Message-ID"] = make_msgid("code", domain=from_addr.rsplit("@", 1)[-1] or "localhost")
    message["Auto-Submitted"] = "auto-generated"
    message["X-Auto-Response-Suppress"] = "All"
    message["Content-Language"] = lang
    message.set_content(BODIES[lang].format(code=code, about=about, team=from_name))
    return message


def build_consent_mail(payload: dict[str, Any], *, from_addr: str, from_name: str) -> EmailMessage:
    """The double opt-in mail with its single-use confirm link, in the person's language."""
    lang = str(payload.get("language") or "en")
    lang = lang if lang in CONSENT_SUBJECTS else "en"
    purpose = str(payload.get("purpose") or "newsletter")
    message = EmailMessage()
    message["From"] = formataddr((from_name, from_addr))
    message["To"] = str(payload["to"])
    message["Subject"] = CONSENT_SUBJECTS[lang].format(purpose=purpose)
    message["Date"] = format_datetime(utcnow())
    message["Message-ID"] = make_msgid("optin", domain=from_addr.rsplit("@", 1)[-1] or "localhost")
    message["Auto-Submitted"] = "auto-generated"
    message["Content-Language"] = lang
    message.set_content(CONSENT_BODIES[lang].format(purpose=purpose, url=payload["url"], team=from_name))
    return message


def build_reply_mail(payload: dict[str, Any], *, from_addr: str, from_name: str) -> EmailMessage:
    """An agent's reply: threaded into the customer's conversation (In-Reply-To, References, ``[#N]``)."""
    lang = str(payload.get("language") or "en")
    lang = lang if lang in REPLY_FOOTERS else "en"
    number = payload.get("ticket_number")
    subject = str(payload.get("subject") or "").strip()
    while subject.lower().startswith(("re:", "aw:", "fwd:", "wg:")):
        subject = subject.split(":", 1)[1].strip()
    subject = subject.replace(f"[#{number}]", "").strip()
    agent = str(payload.get("from_name") or "")
    message = EmailMessage()
    message["From"] = formataddr((f"{agent} ({from_name})" if agent else from_name, from_addr))
    message["To"] = str(payload["to"])
    message["Subject"] = REPLY_SUBJECT.format(number=number, subject=subject)[:900]
    message["Date"] = format_datetime(utcnow())
    message["Message-ID"] = _angled(payload["message_id"])
    if payload.get("in_reply_to"):
        message["In-Reply-To"] = _angled(payload["in_reply_to"])
    references = [_angled(r) for r in payload.get("references") or [] if r]
    if references:
        message["References"] = " ".join(references)
    footer = REPLY_FOOTERS[lang].format(name=f"{agent}\n" if agent else "", team=from_name, number=number)
    message.set_content(str(payload["body"]).rstrip() + footer)
    message["Content-Language"] = lang  # after set_content, which drops Content-* headers set before it
    return message


def build_login_mail(payload: dict[str, Any], *, from_addr: str, from_name: str) -> EmailMessage:
    lang = str(payload.get("language") or "en")
    lang = lang if lang in LOGIN_SUBJECTS else "en"
    message = EmailMessage()
    message["From"] = formataddr((from_name, from_addr))
    message["To"] = str(payload["to"])
    message["Subject"] = LOGIN_SUBJECTS[lang]
    message["Date"] = format_datetime(utcnow())
    message["Message-ID"] = make_msgid("signin", domain=from_addr.rsplit("@", 1)[-1] or "localhost")
    message["Auto-Submitted"] = "auto-generated"
    message.set_content(LOGIN_BODIES[lang].format(url=payload["url"], team=from_name))
    message["Content-Language"] = lang
    return message


def _angled(message_id: object) -> str:
    """A Message-ID as a header wants it (``<id@host>``); the store keeps them bare."""
    return f"<{str(message_id).strip().strip('<>')}>"


def _scrubbed(payload: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in payload.items() if k not in ("code", "url")}  # the secret in flight goes


class EmailOutbox:
    """One background task; ``start()`` on app start-up, ``stop()`` on shutdown. ``relay`` None: demo mode,
    every code mail is given up (and logged without the code) so that nothing waits forever."""

    def __init__(
        self,
        db: Database,
        relay: SmtpSettings | None,
        *,
        from_addr: str,
        from_name: str = "Customer Support",
        policy: Policy | None = None,
        clock: Callable[[], datetime] = utcnow,
    ) -> None:
        self.db = db
        self.relay = relay
        self.from_addr = from_addr
        self.from_name = from_name
        self.policy = policy or Policy()
        self.clock = clock
        self._wake = asyncio.Event()
        self._stopping = False
        self._idle = asyncio.Event()
        self._wanted = 0
        self._task: asyncio.Task[None] | None = None
        self._loop: asyncio.AbstractEventLoop | None = None

    # -- lifecycle ------------------------------------------------------------------------------------
    def start(self) -> None:
        if self._task is not None:
            return
        self._loop = asyncio.get_running_loop()
        self._stopping = False
        event.listen(Session, "after_flush", self._note_flush)
        event.listen(Session, "after_commit", self._note_commit)
        event.listen(Session, "after_soft_rollback", self._note_rollback)
        self._task = asyncio.create_task(self._run(), name="email-outbox")

    async def stop(self) -> None:
        task, self._task = self._task, None
        if task is None:
            return
        for name, fn in (("after_flush", self._note_flush), ("after_commit", self._note_commit),
                         ("after_soft_rollback", self._note_rollback)):  # fmt: skip
            with contextlib.suppress(Exception):
                event.remove(Session, name, fn)
        self._stopping = True  # the loop ends at its next turn even if a cancel were lost
        self._wake.set()
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await asyncio.wait({task}, timeout=STOP_TIMEOUT_SECONDS)
        if not task.done():  # pragma: no cover - a send stuck beyond its own timeouts
            log.warning("e-mail outbox did not stop within %ss", STOP_TIMEOUT_SECONDS)

    def wake(self) -> None:
        """New rows were committed: deliver now."""
        self._wanted += 1
        self._idle.clear()
        self._wake.set()

    async def settled(self) -> None:
        """Wait until nothing is pending (sent or given up): tests and draining."""
        await self._idle.wait()

    # -- commit hooks (any thread) ----------------------------------------------------------------------
    def _ours(self, session: Session) -> bool:
        return session.bind is self.db.engine

    def _note_flush(self, session: Session, _context: Any) -> None:
        if self._ours(session) and any(
            isinstance(o, OutboxMessage) and o.channel == CHANNEL for o in session.new
        ):
            session.info[_DIRTY] = True

    def _note_commit(self, session: Session) -> None:
        if session.info.pop(_DIRTY, False) and self._loop is not None and not self._loop.is_closed():
            self._loop.call_soon_threadsafe(self.wake)

    def _note_rollback(self, session: Session, _previous: Any) -> None:
        session.info.pop(_DIRTY, None)

    # -- the loop -------------------------------------------------------------------------------------
    async def _run(self) -> None:
        while not self._stopping:
            self._wake.clear()
            wanted = self._wanted
            try:
                wait = await self.deliver_due()
            except Exception:
                log.exception("e-mail outbox pass failed; trying again in %ss", ERROR_RETRY_SECONDS)
                wait = ERROR_RETRY_SECONDS
            if wait is None and wanted == self._wanted:
                self._idle.set()
            # Rows committed by another process (a separate action server with a real Rasa) do not wake
            # this one: when idle, look again every IDLE_POLL_SECONDS.
            # asyncio.timeout, not wait_for: on Python 3.11 wait_for can swallow a cancel that arrives as
            # the wake-up does, and stop() would wait for ever.
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(IDLE_POLL_SECONDS if wait is None else wait):
                    await self._wake.wait()

    async def deliver_due(self) -> float | None:
        """Send every due row; seconds until the next one is due, or None when nothing is pending."""
        rows = await asyncio.to_thread(self._pending)
        wait: float | None = None
        for row in rows:
            now = self.clock()
            if row.due > now:
                seconds = (row.due - now).total_seconds()
                wait = seconds if wait is None else min(wait, seconds)
                continue
            if not await asyncio.to_thread(self._claim, row, now):
                wait = 0.0
                continue
            error, retry = await self._send(row.payload)
            await asyncio.to_thread(self._record, row, error, retry)
            wait = 0.0
        return wait

    def _pending(self) -> list[Pending]:
        return outbox_rows.pending(self.db, CHANNEL, limit=SCAN_LIMIT)

    def _claim(self, row: Pending, now: datetime) -> bool:
        return outbox_rows.claim(self.db, row, now, lease_seconds=self.policy.lease)

    async def _send(self, payload: dict[str, Any]) -> tuple[str | None, bool]:
        """(error, retry): (None, False) when the relay accepted the mail."""
        kind = str(payload.get("kind"))
        secret = {KIND_CODE: "code", KIND_CONSENT: "url", KIND_LOGIN: "url", KIND_REPLY: "body"}.get(kind)
        if secret is None or not payload.get("to") or not payload.get(secret):
            return "unknown_payload", False
        expires = _parse_time(payload.get("expires_at"))
        if expires is not None and expires <= self.clock():
            return "code_expired", False
        if self.relay is None:
            log.warning("a %s mail could not be sent: no SMTP relay (set CRM_SMTP_HOST)", payload.get("kind"))
            log.debug("undelivered one-time code %s for %s", payload.get("code"), payload.get("to"))
            return "no_smtp_relay", False
        build = {KIND_CONSENT: build_consent_mail, KIND_LOGIN: build_login_mail,
                 KIND_REPLY: build_reply_mail}.get(kind, build_code_mail)
        message = build(payload, from_addr=self.from_addr, from_name=self.from_name)
        relay = self.relay
        try:
            await aiosmtplib.send(
                message, hostname=relay.host, port=relay.port, username=relay.username, password=relay.password,
                start_tls=relay.start_tls, use_tls=relay.use_tls, timeout=relay.timeout,
            )  # fmt: skip
        except aiosmtplib.SMTPRecipientsRefused as exc:
            return f"refused: {_smtp_code(exc)}", False
        except aiosmtplib.SMTPResponseException as exc:
            return f"smtp_{exc.code}", exc.code < 500
        except (aiosmtplib.SMTPException, OSError, TimeoutError) as exc:
            return type(exc).__name__, True
        return None, False

    def _record(self, row: Pending, error: str | None, retry: bool) -> None:
        now = self.clock()
        attempts = row.attempts + 1
        with self.db.session() as session:
            stored = session.get(OutboxMessage, row.id)
            if stored is None:
                return
            expires = _parse_time(row.payload.get("expires_at"))
            if error is None:
                stored.sent_at, stored.next_attempt_at, stored.last_error = now, None, None
                stored.payload = _scrubbed(row.payload)
                log.info("e-mail outbox: %s mail %s sent", row.payload.get("kind"), row.id)
                return
            stored.last_error = error[:500]
            if retry and (expires is None or expires > now):
                delay = min(self.policy.max_backoff, self.policy.backoff * 2 ** max(0, attempts - 1))
                stored.next_attempt_at = now + timedelta(seconds=delay)
                log.info("e-mail outbox: mail %s failed (%s, attempt %s); retrying in %.1fs", row.id, error,
                         attempts, delay)  # fmt: skip
                return
            stored.next_attempt_at = None
            stored.payload = _scrubbed(row.payload)
            log.warning("e-mail outbox: mail %s given up: %s", row.id, error)


def _parse_time(value: Any) -> datetime | None:
    try:
        return datetime.fromisoformat(str(value)) if value else None
    except ValueError:
        return None


def _smtp_code(exc: aiosmtplib.SMTPRecipientsRefused) -> str:
    codes = [str(getattr(r, "code", "")) for r in getattr(exc, "recipients", [])]
    return ",".join(c for c in codes if c) or "5xx"


OUTBOX_KEY = web.AppKey("email_outbox", EmailOutbox)


def install_outbox(app: web.Application) -> None:
    """Run the deliverer with the app (every app: without CRM_SMTP_HOST it gives code mails up, logged)."""
    from assistant.server import DB_KEY, SETTINGS_KEY

    settings = app[SETTINGS_KEY]
    relay = SmtpSettings(host=settings.smtp_host, port=settings.smtp_port) if settings.smtp_host else None
    if relay is None:
        log.info("no SMTP relay (CRM_SMTP_HOST): one-time codes for the chat cannot be mailed")

    async def start(app: web.Application) -> None:
        outbox = EmailOutbox(app[DB_KEY], relay, from_addr=settings.mail_from)
        app[OUTBOX_KEY] = outbox
        outbox.start()
        outbox.wake()  # rows left from before a restart

    async def stop(app: web.Application) -> None:
        outbox = app.get(OUTBOX_KEY)
        if outbox is not None:
            await outbox.stop()

    app.on_startup.append(start)
    app.on_shutdown.append(stop)


__all__ = ["CHANNEL", "OUTBOX_KEY", "EmailOutbox", "Policy", "build_code_mail", "build_consent_mail",
           "build_reply_mail", "install_outbox"]
