"""Inbound e-mail: the SMTP endpoint, the IMAP pollers and the SLA escalation job in the web application.

    install(app)   # listed in CONNECTOR_MODULES; does nothing unless the settings enable a part

What runs is read from ``Settings``: ``smtp_listen_port`` (CRM_SMTP_LISTEN_PORT, 0 = off) starts the
SMTP endpoint, ``imap_host`` (CRM_IMAP_HOST) one poller per mailbox in ``imap_mailboxes``,
``sla_escalation`` (CRM_SLA_ESCALATION, needs CRM_SMTP_HOST) the escalation job. Acknowledgements
and escalation mails go out through ``smtp_host``. Everything starts on app start-up (the e-mail
classifier is loaded, or trained once, in a worker thread) and stops on shutdown; every background
task is held in ``MailConnector``. A ticket opened by mail wakes the SLA job, so its next due time
is recomputed at once. Tests put a trained classifier under ``CLASSIFIER_KEY`` before start-up.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field

from aiohttp import web

from assistant.settings import Settings
from connectors.email.ack import AckSender, AckSettings, SmtpSettings
from connectors.email.imap_poller import ImapPoller, ImapSettings, ImapStateStore
from connectors.email.outbox import install_outbox
from connectors.email.routing import DEFAULT_RULES_FILE, Router
from connectors.email.sla import SlaEscalator, SmtpNotifier
from connectors.email.smtp_server import TriageHandler, start_smtp_server
from connectors.email.triage import MailClassifier, TriageResult, TriageService
from crm_store.db import Database
from crm_store.tasks import cancel_and_wait

log = logging.getLogger(__name__)

Exclusive = Callable[[str, Callable[[], object], Callable[[], Awaitable[object]]], Awaitable[bool]]
CLASSIFIER_KEY = web.AppKey("email_classifier", object)  # a MailClassifier; tests inject a trained one


@dataclass
class MailConnector:
    """What the e-mail side runs; ``stop()`` ends it all."""

    triage: TriageService | None = None
    smtp_handler: TriageHandler | None = None
    smtp_server: asyncio.Server | None = None
    pollers: list[ImapPoller] = field(default_factory=list)
    escalator: SlaEscalator | None = None
    _stop: asyncio.Event = field(default_factory=asyncio.Event)
    _tasks: set[asyncio.Task[None]] = field(default_factory=set)
    _stops: set[asyncio.Event] = field(default_factory=set)  # of the pollers run as exclusive jobs

    @property
    def smtp_port(self) -> int | None:
        if self.smtp_server is None or not self.smtp_server.sockets:
            return None
        return int(self.smtp_server.sockets[0].getsockname()[1])

    def on_result(self, result: TriageResult) -> None:
        if result.action in ("created", "gdpr_request") and self.escalator is not None:
            self.escalator.wake()

    def spawn(self, poller: ImapPoller, stop: asyncio.Event | None = None) -> asyncio.Task[None]:
        task = asyncio.create_task(poller.run(stop or self._stop), name=f"imap-{poller.settings.mailbox}")
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)
        return task

    def poller_job(self, poller: ImapPoller) -> tuple[Callable[[], None], Callable[[], Awaitable[None]]]:
        """``start``/``stop`` of one poller, for a job that runs in one worker at a time (assistant/leader.py)."""
        running: list[tuple[asyncio.Event, asyncio.Task[None]]] = []

        def start() -> None:
            stop = asyncio.Event()
            self._stops.add(stop)
            running.append((stop, self.spawn(poller, stop)))

        async def stop() -> None:
            while running:
                event, task = running.pop()
                event.set()
                self._stops.discard(event)
                await _finish(task)

        return start, stop

    async def stop(self) -> None:
        self._stop.set()
        for event in self._stops:
            event.set()
        if self.smtp_server is not None:
            self.smtp_server.close()
            await self.smtp_server.wait_closed()
        if self._tasks:
            _, pending = await asyncio.wait(set(self._tasks), timeout=30)
            for task in pending:  # a poller stuck in a network call
                await _finish(task, grace=0)
        if self.smtp_handler is not None:
            await self.smtp_handler.drain()
        if self.escalator is not None:
            await self.escalator.stop()


async def _finish(task: asyncio.Task[None], *, grace: float = 30) -> None:
    """Wait for a poller that was asked to stop; cancel it when stuck in a network call."""
    if grace:
        await asyncio.wait({task}, timeout=grace)
    if not task.done():
        await cancel_and_wait(task)


MAIL_KEY = web.AppKey("email_connector", MailConnector)


def enabled(settings: Settings) -> bool:
    return bool(settings.smtp_listen_port or settings.imap_host or settings.sla_escalation)


def smtp_out(settings: Settings) -> SmtpSettings | None:
    """Where our own mail (acknowledgements, escalations) goes; None when no relay is configured."""
    if not settings.smtp_host:
        return None
    return SmtpSettings(host=settings.smtp_host, port=settings.smtp_port)


def _classifier(settings: Settings) -> MailClassifier:
    from connectors.email.model import load_or_train_classifier
    from nlu.embedder import get_embedder

    embedder = get_embedder(
        settings.embedding_model,
        backend=settings.extra.get("email_embedding_backend", "auto"),
        cache_dir=settings.model_dir / "embeddings",
    )
    return load_or_train_classifier(settings.model_dir, settings.training_data / "emails", embedder)


async def start_mail(
    settings: Settings,
    db: Database,
    classifier: MailClassifier | None = None,
    *,
    exclusive: Exclusive | None = None,
) -> MailConnector:
    """Start whatever the settings enable (used by ``install``; callable on its own in tests and tools).
    With ``exclusive`` (``Leadership.run_exclusive``) the SLA job and the pollers run in one worker only."""
    connector = MailConnector()
    relay = smtp_out(settings)
    if settings.sla_escalation:
        if relay is None:
            log.warning("CRM_SLA_ESCALATION is on but CRM_SMTP_HOST is empty: no escalation mails")
        else:
            notifier = SmtpNotifier(relay, from_addr=settings.mail_from)
            escalator = SlaEscalator(db, notifier, fallback_to=settings.sla_fallback_to or None)
            connector.escalator = escalator
            if exclusive is None:
                escalator.start()
            else:
                await exclusive("sla-escalation", escalator.start, escalator.stop)
    if not (settings.smtp_listen_port or settings.imap_host):
        return connector
    if classifier is None:
        classifier = await asyncio.to_thread(_classifier, settings)
    router = Router.from_yaml(settings.routing_config or DEFAULT_RULES_FILE)
    connector.triage = triage = TriageService(
        db, classifier, routing=router, authserv_id=settings.mail_authserv_id or None
    )
    acks = (
        AckSender(AckSettings(from_addr=settings.mail_from, smtp=relay))
        if settings.mail_ack and relay is not None
        else None
    )
    try:
        if settings.smtp_listen_port:
            handler = TriageHandler(
                triage, acks=acks, accept_domains=settings.mail_domains or None, on_result=connector.on_result
            )
            connector.smtp_handler = handler
            connector.smtp_server = await start_smtp_server(
                handler,
                host=settings.smtp_listen_host,
                port=settings.smtp_listen_port,
                reuse_port=settings.workers > 1,  # each worker listens; the kernel shares connections out
            )
            log.info("inbound SMTP on %s:%s", settings.smtp_listen_host, connector.smtp_port)
        for mailbox in settings.imap_mailboxes if settings.imap_host else ():
            imap = ImapSettings(
                host=settings.imap_host, port=settings.imap_port, user=settings.imap_user,
                password=settings.imap_password, mailbox=mailbox, use_ssl=settings.imap_ssl,
            )  # fmt: skip
            poller = ImapPoller(imap, triage, ImapStateStore(db), acks=acks, on_result=connector.on_result)
            connector.pollers.append(poller)
            if exclusive is None:
                connector.spawn(poller)
            else:
                await exclusive(f"imap:{imap.state_key}", *connector.poller_job(poller))
            log.info("polling IMAP %s", imap.state_key)
    except BaseException:
        await connector.stop()
        raise
    return connector


def install(app: web.Application) -> None:
    from assistant.leader import leadership
    from assistant.server import DB_KEY, SETTINGS_KEY

    settings = app[SETTINGS_KEY]
    install_outbox(app)  # mail the chat decided to send (one-time codes), with or without the intake
    if not enabled(settings):
        log.info("e-mail intake is off (CRM_SMTP_LISTEN_PORT, CRM_IMAP_HOST, CRM_SLA_ESCALATION unset)")
        return

    async def start(app: web.Application) -> None:
        classifier = app.get(CLASSIFIER_KEY)
        exclusive = leadership(app).run_exclusive
        app[MAIL_KEY] = await start_mail(settings, app[DB_KEY], classifier, exclusive=exclusive)  # type: ignore[arg-type]

    async def stop(app: web.Application) -> None:
        connector = app.get(MAIL_KEY)
        if connector is not None:
            await connector.stop()

    app.on_startup.append(start)
    app.on_shutdown.append(stop)


__all__ = ["CLASSIFIER_KEY", "MAIL_KEY", "MailConnector", "enabled", "install", "start_mail"]
