"""Real SMTP on loopback: aiosmtpd receives for the triage, a second aiosmtpd plays the customer's MX."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from email import message_from_bytes
from email.message import EmailMessage, Message
from pathlib import Path
from typing import Any

import aiosmtplib
import pytest
from aiosmtpd.smtp import SMTP, Envelope, Session

from connectors.email.ack import AckSender, AckSettings, SmtpSettings
from connectors.email.routing import Router
from connectors.email.smtp_server import TriageHandler, start_smtp_server
from connectors.email.triage import TriageService
from crm_store.db import Database
from crm_store.services import Actor, CrmServices
from nlu.email_classifier import EmailClassifier, load_training_emails
from nlu.embedder import HashingEmbedder

ROOT = Path(__file__).resolve().parents[2]
NOW = datetime(2026, 11, 28, 9, 0, tzinfo=UTC)


@pytest.fixture(scope="session")
def mail_classifier() -> EmailClassifier:
    training = load_training_emails(ROOT / "training_data" / "emails")
    return EmailClassifier(HashingEmbedder()).fit(
        [t[0] for t in training], [t[1] for t in training], [t[2] for t in training]
    )


@dataclass
class Inbox:
    """A second SMTP server: collects what it receives (the customer's side)."""

    messages: list[Message] = field(default_factory=list)
    arrived: asyncio.Event = field(default_factory=asyncio.Event)

    async def handle_DATA(self, server: SMTP, session: Session, envelope: Envelope) -> str:
        self.messages.append(message_from_bytes(envelope.original_content or b""))
        self.arrived.set()
        return "250 OK"


async def _listen(factory: object) -> tuple[asyncio.Server, int]:
    server = await asyncio.get_running_loop().create_server(factory, host="127.0.0.1", port=0)  # type: ignore[arg-type]
    return server, server.sockets[0].getsockname()[1]


@dataclass
class Servers:
    handler: TriageHandler
    port: int
    inbox: Inbox


@pytest.fixture
async def servers(db: Database, mail_classifier: EmailClassifier) -> AsyncIterator[Servers]:
    inbox = Inbox()
    customer_mx, mx_port = await _listen(lambda: SMTP(inbox))
    triage = TriageService(db, mail_classifier, routing=Router.from_yaml(), now=NOW)
    acks = AckSender(AckSettings(smtp=SmtpSettings(host="127.0.0.1", port=mx_port, start_tls=False)))
    handler = TriageHandler(triage, acks=acks, accept_domains=["example-crm.com"])
    server = await start_smtp_server(handler, host="127.0.0.1", port=0, size_limit=200_000)
    yield Servers(handler, server.sockets[0].getsockname()[1], inbox)
    await handler.drain()
    for s in (server, customer_mx):
        s.close()
        await s.wait_closed()


def _mail(message_id: str, *, body: str = "Hello, the invoice 2026-113 shows a wrong amount, please correct it.",
          sender: str = "Laura Chen <laura.chen@chenarchitects.com>") -> EmailMessage:  # fmt: skip
    msg = EmailMessage()
    msg["From"] = sender
    msg["To"] = "support@example-crm.com"
    msg["Subject"] = "Wrong invoice amount"
    msg["Message-ID"] = f"<{message_id}>"
    msg.set_content(body)
    return msg


async def test_smtp_mail_becomes_a_ticket_and_the_ack_reaches_the_sender(
    db: Database, servers: Servers
) -> None:
    errors, reply = await aiosmtplib.send(
        _mail("smtp-1@chenarchitects.com"), hostname="127.0.0.1", port=servers.port
    )
    assert errors == {} and reply.startswith("2.0.0 Message accepted (created)")
    result = servers.handler.results[-1]
    with db.session() as s:
        ticket = CrmServices(s, Actor.system("test")).tickets.by_number(result.ticket_number)
        assert ticket.channel == "email" and ticket.queue == "billing"
    await asyncio.wait_for(servers.inbox.arrived.wait(), timeout=10)
    await servers.handler.drain()
    ack = servers.inbox.messages[0]
    assert ack["To"] == "laura.chen@chenarchitects.com"
    assert f"[#{result.ticket_number}]" in ack["Subject"]
    assert ack["Auto-Submitted"] == "auto-replied"
    assert ack["In-Reply-To"] == "<smtp-1@chenarchitects.com>"
    # the acknowledgement is on the ticket, so a reply to it threads by In-Reply-To
    reply_mail = _mail("smtp-2@chenarchitects.com", body="One more detail: the VAT is also wrong.")
    reply_mail["In-Reply-To"] = " ".join(str(ack["Message-ID"]).split())
    await aiosmtplib.send(reply_mail, hostname="127.0.0.1", port=servers.port)
    assert servers.handler.results[-1].action == "appended"
    assert servers.handler.results[-1].ticket_number == result.ticket_number


async def test_redelivery_and_auto_replies_send_no_ack(servers: Servers) -> None:
    mail = _mail("smtp-3@chenarchitects.com")
    for _ in range(3):
        await aiosmtplib.send(mail, hostname="127.0.0.1", port=servers.port)
    ooo = _mail("ooo-9@chenarchitects.com", body="I am out of the office until Monday.")
    ooo["Auto-Submitted"] = "auto-replied"
    await aiosmtplib.send(ooo, hostname="127.0.0.1", port=servers.port)
    await servers.handler.drain()
    assert [r.action for r in servers.handler.results] == ["created", "duplicate", "duplicate", "ignored"]
    assert len(servers.inbox.messages) == 1


async def test_oversized_mail_and_foreign_recipients_are_refused(servers: Servers) -> None:
    with pytest.raises(aiosmtplib.SMTPResponseException) as too_big:
        await aiosmtplib.send(
            _mail("big@x.example", body="x" * 300_000), hostname="127.0.0.1", port=servers.port
        )
    assert too_big.value.code == 552
    with pytest.raises(aiosmtplib.SMTPRecipientsRefused):
        await aiosmtplib.send(_mail("relay@x.example"), hostname="127.0.0.1", port=servers.port,
                              recipients=["someone@elsewhere.example"])  # fmt: skip
    assert servers.handler.results == []


async def test_store_down_answers_451_so_the_sender_retries(
    tmp_path: Path, mail_classifier: EmailClassifier
) -> None:
    down = Database(f"sqlite:///{tmp_path / 'missing' / 'dir' / 'crm.db'}")
    handler = TriageHandler(TriageService(down, mail_classifier, routing=Router.from_yaml(), now=NOW))
    server = await start_smtp_server(handler, host="127.0.0.1", port=0)
    port = server.sockets[0].getsockname()[1]
    try:
        with pytest.raises(aiosmtplib.SMTPResponseException) as deferred:
            await aiosmtplib.send(_mail("down-1@x.example"), hostname="127.0.0.1", port=port)
        assert deferred.value.code == 451
    finally:
        server.close()
        await server.wait_closed()
        down.dispose()


# --- IMAP: aioimaplib's own protocol-level test server ----------------------------------------


def _imap_server() -> object:
    from aioimaplib.imap_testing_server import ImapProtocol, MockImapServer

    class PinnedImapServer(MockImapServer):
        """aioimaplib's test server with a UIDVALIDITY we choose (it otherwise takes the clock's)."""

        uidvalidity = 42

        def run_server(self, host: str = "127.0.0.1", port: int = 0, **_: object) -> object:
            def protocol() -> ImapProtocol:
                made = ImapProtocol(self._server_state, 0, self.capabilities, self.loop)
                made.uidvalidity = self.uidvalidity
                self._connections.append(made)
                return made

            return self.loop.create_server(protocol, host, port)

    return PinnedImapServer()


async def test_imap_poller_fetches_new_mail_once_across_restarts(
    db: Database, mail_classifier: EmailClassifier
) -> None:
    from aioimaplib.imap_testing_server import Mail

    from connectors.email.imap_poller import ImapPoller, ImapSettings, ImapStateStore, MailboxState

    imap: Any = _imap_server()
    server = await imap.run_server(host="127.0.0.1", port=0)
    port = server.sockets[0].getsockname()[1]
    settings = ImapSettings(
        host="127.0.0.1", port=port, user="support@example-crm.com", password="pw", use_ssl=False
    )

    def deliver(message_id: str, subject: str) -> None:
        mail = _mail(message_id)
        del mail["Subject"]
        mail["Subject"] = subject
        imap.receive(Mail(mail), imap_user=settings.user)

    def poller() -> ImapPoller:  # a fresh process: nothing in memory, only the store
        triage = TriageService(db, mail_classifier, routing=Router.from_yaml(), now=NOW)
        return ImapPoller(settings, triage, ImapStateStore(db))

    try:
        deliver("imap-1@chenarchitects.com", "Invoice 1")
        deliver("imap-2@chenarchitects.com", "Invoice 2")
        first = await poller().poll_once()
        assert [r.action for r in first] == ["created", "created"]
        assert await poller().poll_once() == []  # restarted: the stored UID says nothing is new
        deliver("imap-3@chenarchitects.com", "Invoice 3")
        later = await poller().poll_once()
        assert [(r.message_id, r.action) for r in later] == [("imap-3@chenarchitects.com", "created")]
        state = ImapStateStore(db).load(settings.state_key)
        assert state == MailboxState(uidvalidity=42, last_uid=3)
        imap.uidvalidity = 43  # the server renumbered the mailbox: rescan, but repeat nothing
        rescan = await poller().poll_once()
        assert [r.action for r in rescan] == ["duplicate"] * 3
        with db.session() as s:
            assert len(CrmServices(s, Actor.system("test")).tickets.list().items) == 3
    finally:
        server.close()
        await server.wait_closed()


async def test_imap_poller_uses_idle_to_pick_up_mail_as_it_arrives(
    db: Database, mail_classifier: EmailClassifier
) -> None:
    from aioimaplib.imap_testing_server import Mail

    from connectors.email.imap_poller import ImapPoller, ImapSettings, ImapStateStore

    imap: Any = _imap_server()
    server = await imap.run_server(host="127.0.0.1", port=0)
    port = server.sockets[0].getsockname()[1]
    settings = ImapSettings(
        host="127.0.0.1", port=port, user="support@example-crm.com", password="pw", use_ssl=False,
        poll_interval=600, idle_timeout=600,
    )  # fmt: skip
    arrived: asyncio.Queue[Any] = asyncio.Queue()
    triage = TriageService(db, mail_classifier, routing=Router.from_yaml(), now=NOW)
    poller = ImapPoller(settings, triage, ImapStateStore(db), on_result=arrived.put_nowait)
    imap.receive(Mail(_mail("idle-1@chenarchitects.com")), imap_user=settings.user)
    stop = asyncio.Event()
    task = asyncio.create_task(poller.run(stop))
    try:
        assert (await asyncio.wait_for(arrived.get(), 20)).message_id == "idle-1@chenarchitects.com"
        await asyncio.wait_for(imap.wait_state("IDLE", settings.user), 20)
        imap.receive(Mail(_mail("idle-2@chenarchitects.com")), imap_user=settings.user)
        pushed = await asyncio.wait_for(arrived.get(), 20)  # long before poll_interval: IDLE woke it
        assert (pushed.message_id, pushed.action) == ("idle-2@chenarchitects.com", "created")
    finally:
        stop.set()
        await asyncio.wait_for(task, 20)
        server.close()
        await server.wait_closed()


# --- wiring: install(app) starts and stops everything the settings enable --------------------------


async def test_install_runs_smtp_imap_and_sla_with_the_app_and_stops_them(
    db: Database, mail_classifier: EmailClassifier
) -> None:
    from datetime import timedelta

    from aiohttp import web
    from aioimaplib.imap_testing_server import Mail

    from assistant.server import build_app
    from assistant.settings import Settings
    from connectors.email import CLASSIFIER_KEY, MAIL_KEY, install
    from crm_store.models import Team, Ticket, User

    inbox = Inbox()
    relay, relay_port = await _listen(lambda: SMTP(inbox))  # our outgoing relay: acks and escalations
    imap: Any = _imap_server()
    imap_server = await imap.run_server(host="127.0.0.1", port=0)
    with db.session() as s:
        team = Team(name="Billing")
        s.add(team)
        s.flush()
        lead = User(email="lead@example-crm.com", name="Lead", role="manager", team_id=team.id)
        s.add(lead)
        s.flush()
        team.lead_user_id = lead.id
    settings = Settings(
        database_url=db.url, smtp_host="127.0.0.1", smtp_port=relay_port, mail_from="support@example-crm.com",
        smtp_listen_port=_free_port(), mail_domains=("example-crm.com",),
        imap_host="127.0.0.1", imap_port=imap_server.sockets[0].getsockname()[1], imap_ssl=False,
        imap_user="support@example-crm.com", imap_password="pw", sla_escalation=True,
    )  # fmt: skip
    app = build_app(settings, db=db, extra=[install])
    app[CLASSIFIER_KEY] = mail_classifier
    runner = web.AppRunner(app)
    await runner.setup()  # runs the start-up hooks
    try:
        mail = app[MAIL_KEY]
        assert mail.smtp_port == settings.smtp_listen_port and len(mail.pollers) == 1
        assert mail.escalator is not None
        # SMTP in, acknowledgement out through the relay
        await aiosmtplib.send(_mail("wired-1@chenarchitects.com"), hostname="127.0.0.1", port=mail.smtp_port)
        await asyncio.wait_for(inbox.arrived.wait(), timeout=20)
        assert "[#" in inbox.messages[-1]["Subject"]
        # IMAP in: the poller is running (IDLE on the test server)
        polled: asyncio.Queue[Any] = asyncio.Queue()
        poller, wake_sla = mail.pollers[0], mail.pollers[0].on_result
        poller.on_result = lambda r: (wake_sla(r), polled.put_nowait(r))  # type: ignore[misc]
        imap.receive(Mail(_mail("wired-2@chenarchitects.com")), imap_user=settings.imap_user)
        assert (await asyncio.wait_for(polled.get(), 20)).action == "created"
        with db.session() as s:
            assert s.query(Ticket).count() == 2
            # a ticket of the Billing team is overdue: the SLA job, woken, mails the lead
            ticket = s.query(Ticket).order_by(Ticket.id).first()
            assert ticket is not None
            ticket.team_id = team.id
            ticket.first_response_due_at = ticket.created_at - timedelta(minutes=1)
        inbox.arrived.clear()
        mail.escalator.wake()
        while not any("SLA" in str(m["Subject"]) for m in inbox.messages):
            await asyncio.wait_for(inbox.arrived.wait(), timeout=20)
            inbox.arrived.clear()
        escalation = next(m for m in inbox.messages if "SLA" in str(m["Subject"]))
        assert escalation["To"] == "Lead <lead@example-crm.com>"
    finally:
        await runner.cleanup()  # on_shutdown: everything stops
        for server in (relay, imap_server):
            server.close()
            await server.wait_closed()
    assert mail.smtp_server is not None and not mail.smtp_server.is_serving()
    assert not mail._tasks and mail.escalator._task is None
    with pytest.raises(OSError):
        await aiosmtplib.send(_mail("late@x.example"), hostname="127.0.0.1", port=settings.smtp_listen_port,
                              timeout=5)  # fmt: skip


async def test_install_does_nothing_when_mail_is_not_configured(db: Database) -> None:
    from aiohttp import web

    from assistant.server import build_app
    from assistant.settings import Settings
    from connectors.email import MAIL_KEY, enabled, install

    settings = Settings(database_url=db.url, smtp_host="127.0.0.1")  # a relay alone enables nothing
    assert not enabled(settings)
    app = build_app(settings, db=db, extra=[install])
    runner = web.AppRunner(app)
    await runner.setup()
    try:
        assert MAIL_KEY not in app
    finally:
        await runner.cleanup()


def _free_port() -> int:
    import socket

    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])
