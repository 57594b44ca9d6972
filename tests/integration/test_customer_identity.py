"""Customer identity is proven, never asserted (issue 10, item 1 and the consent part of 7).

Every ``attack`` test performs the attack against the real web chat (aiohttp test client on ``build_app``, real
store on SQLite and PostgreSQL) and fails if it ever succeeds again. Codes travel by real SMTP to an aiosmtpd
server on loopback, from the e-mail outbox the turn wrote them to.
"""

from __future__ import annotations

import asyncio
import logging
import socket
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from email import message_from_bytes
from email.message import Message
from typing import Any

import pytest
from aiohttp.test_utils import TestClient
from aiosmtpd.smtp import SMTP, Envelope, Session
from sqlalchemy import select

from assistant.app import build_assistant
from assistant.runtime import FACTORY_KEY
from assistant.server import build_app
from assistant.settings import Settings
from connectors import web_chat
from connectors.email import install as install_email
from connectors.email.ack import SmtpSettings
from connectors.email.outbox import OUTBOX_KEY, EmailOutbox
from crm_store.db import Database
from crm_store.models import AuditEntry, ConversationGrant, GdprRequest, OutboxMessage, Ticket, TicketMessage
from crm_store.services import Actor, CrmServices, grants
from crm_store.services.grants import GrantPolicy, GrantService, find_code
from tests.support.fake_nlu import ScriptedNLU

SECRET = "identity-secret"
SYSTEM = Actor.system("test")
ANNA = "anna@example.com"
SCRIPT: dict[str, tuple[str, list[dict[str, Any]]]] = {
    "status of ticket #1000, my email is anna@example.com": (
        "ticket_status", [{"entity": "ticket_id", "value": "1000"}, {"entity": "email", "value": ANNA}]),
    "status of ticket #1000, my email is eve@evil.example": (
        "ticket_status", [{"entity": "ticket_id", "value": "1000"}, {"entity": "email", "value": "eve@evil.example"}]),
    "status of ticket #4711, my email is anna@example.com": (
        "ticket_status", [{"entity": "ticket_id", "value": "4711"}, {"entity": "email", "value": ANNA}]),
    "I can't log in since this morning": ("report_issue", []),
    "what's the status of my ticket": ("ticket_status", []),
}  # fmt: skip


# --- servers ------------------------------------------------------------------------------------------
@dataclass
class Inbox:
    """The customer's mail server: what it receives."""

    messages: list[Message] = field(default_factory=list)
    arrived: asyncio.Event = field(default_factory=asyncio.Event)

    async def handle_DATA(self, server: SMTP, session: Session, envelope: Envelope) -> str:
        self.messages.append(message_from_bytes(envelope.original_content or b""))
        self.arrived.set()
        return "250 OK"

    async def next_code(self) -> str:
        async with asyncio.timeout(10):
            await self.arrived.wait()
        self.arrived.clear()
        body = self.messages[-1].get_payload(decode=True)
        code = find_code(body.decode("utf-8") if isinstance(body, bytes) else body)
        assert code is not None
        return code


@pytest.fixture
async def inbox() -> AsyncIterator[tuple[Inbox, int]]:
    box = Inbox()
    server = await asyncio.get_running_loop().create_server(lambda: SMTP(box), host="127.0.0.1", port=0)
    yield box, server.sockets[0].getsockname()[1]
    server.close()
    await server.wait_closed()


@dataclass
class World:
    client: TestClient
    db: Database
    inbox: Inbox
    ticket: int  # Anna's ticket, with a staff reply


def seed(db: Database) -> int:
    with db.session() as s:
        crm = CrmServices(s, SYSTEM)
        anna = crm.contacts.create({"first_name": "Anna", "last_name": "Schmidt", "email": ANNA}).id
        crm.contacts.create({"first_name": "Ben", "last_name": "Meyer", "email": "ben@example.com"})
        crm.gdpr.record_consent(anna, "newsletter", True, "signup form")
        ticket = crm.tickets.create({"subject": "Export fails", "description": "Export fails",
                                     "requester_contact_id": anna})  # fmt: skip
        crm.tickets.add_message(ticket.id, "Please clear your browser cache", direction="outbound")
        return ticket.number


@pytest.fixture
async def world(aiohttp_client: Any, db: Database, inbox: tuple[Inbox, int]) -> World:
    box, port = inbox
    number = seed(db)
    settings = Settings.from_env(
        {}, database_url=db.url, secret_key=SECRET, chat_burst=200, chat_rate=100.0, smtp_host="127.0.0.1",
        smtp_port=port, mail_from="support@crm.example",
    )  # fmt: skip
    app = build_app(settings, db=db, extra=[web_chat.install, install_email])
    nlu = ScriptedNLU(SCRIPT)
    app[FACTORY_KEY] = lambda database, _settings: build_assistant(database, nlu)
    return World(await aiohttp_client(app), db, box, number)


class Chat:
    """One anonymous web-chat conversation (an unguessable sender id, as the chat page makes them)."""

    def __init__(self, world: World) -> None:
        self.world = world
        self.sender = f"visitor-{uuid.uuid4().hex}"
        self.replies: list[dict[str, Any]] = []

    async def send(self, text: str) -> str:
        res = await self.world.client.post("/webhooks/rest/webhook", json={"sender": self.sender, "message": text})
        assert res.status == 200, await res.text()
        self.replies = await res.json()
        return "\n".join(str(r.get("text") or "") for r in self.replies)


def ticket_state(db: Database, number: int) -> tuple[str, int]:
    with db.session() as s:
        ticket = s.execute(select(Ticket).where(Ticket.number == number)).scalar_one()
        count = len(s.execute(select(TicketMessage).where(TicketMessage.ticket_id == ticket.id)).scalars().all())
        return ticket.status, count


def normalise(text: str) -> str:
    for value in (ANNA, "eve@evil.example", "4711", "1000"):
        text = text.replace(value, "X")
    return text


# --- the attacks --------------------------------------------------------------------------------------
@pytest.mark.parametrize("how", ["text", "payload"])
async def test_attack_status_with_number_and_address_reveals_nothing(world: World, how: str) -> None:
    """Attack 10.1: the requester's address and a ticket number used to show subject, status and the reply."""
    asks = {
        "text": [f"status of ticket #1000, my email is {e}" for e in (ANNA, "eve@evil.example")]
        + ["status of ticket #4711, my email is anna@example.com"],
        "payload": [f'/ticket_status{{"ticket_id": "{n}", "email": "{e}"}}'
                    for n, e in ((1000, ANNA), (1000, "eve@evil.example"), (4711, ANNA))],
    }[how]  # fmt: skip
    answers = [await Chat(world).send(text) for text in asks]
    for answer in answers:
        assert "Export fails" not in answer and "cache" not in answer and "new" not in answer.lower().split()
    assert len({normalise(a) for a in answers}) == 1, answers  # right pair, wrong pair, missing ticket: alike
    assert "we have sent a code" in answers[0]


async def test_attack_close_reopen_and_add_with_number_and_address_change_nothing(world: World) -> None:
    """Attack 10.1: the same pair used to close, reopen (by adding to a solved ticket) or add text."""
    number = world.ticket
    pair = f'"ticket_id": "{number}", "email": "{ANNA}"'
    close = Chat(world)
    said = await close.send(f"/close_ticket{{{pair}}}")
    said += await close.send("/affirm")
    add = Chat(world)
    said += await add.send(f"/update_ticket{{{pair}}}")
    said += await add.send("Please also delete my account")
    said += await add.send("/affirm")
    assert ticket_state(world.db, number) == ("new", 2)
    with world.db.session() as s:
        CrmServices(s, SYSTEM).tickets.update(s.execute(select(Ticket.id)).scalar_one(), {"status": "solved"})
    reopen = Chat(world)
    said += await reopen.send(f"/update_ticket{{{pair}}}")
    said += await reopen.send("It is broken again")
    said += await reopen.send("/affirm")
    assert ticket_state(world.db, number) == ("solved", 2)
    assert "Export fails" not in said


async def test_attack_unsubscribe_export_and_erasure_for_a_known_address(world: World) -> None:
    """Attack 10.7: anyone could withdraw anyone's marketing consent; export/erasure need the same proof."""
    said = await Chat(world).send(f'/unsubscribe{{"email": "{ANNA}"}}')
    said += await Chat(world).send('/unsubscribe{"email": "nobody@example.com"}')
    access = Chat(world)
    said += await access.send(f'/gdpr_access{{"email": "{ANNA}"}}')
    assert not any(r.get("custom") for r in access.replies)
    erasure = Chat(world)
    said += await erasure.send(f'/gdpr_erasure{{"email": "{ANNA}"}}')
    said += await erasure.send("/affirm")
    assert "Schmidt" not in said
    with world.db.session() as s:
        crm = CrmServices(s, SYSTEM)
        anna = crm.contacts.by_email(ANNA)
        assert anna is not None and crm.gdpr.has_consent(anna.id, "newsletter")
        assert s.execute(select(GdprRequest)).scalars().all() == []


# --- the proof ----------------------------------------------------------------------------------------
async def test_code_mailed_by_smtp_unlocks_the_ticket_once(world: World) -> None:
    chat = Chat(world)
    asked = await chat.send(f'/ticket_status{{"ticket_id": "{world.ticket}", "email": "{ANNA}"}}')
    assert "If ticket #1000 belongs to anna@example.com" in asked
    code = await world.inbox.next_code()
    mail = world.inbox.messages[-1]
    assert mail["To"] == ANNA and mail["From"].endswith("<support@crm.example>")
    answer = await chat.send(code)
    assert "Export fails" in answer and "clear your browser cache" in answer
    # the proof lasts: her other requests in this conversation need no new code
    assert "Export fails" in await chat.send("/ticket_status")
    # single use: the same code in another conversation proves nothing
    thief = Chat(world)
    await thief.send(f'/ticket_status{{"ticket_id": "{world.ticket}", "email": "{ANNA}"}}')
    await world.inbox.next_code()  # a new code went to Anna, not to the thief
    stolen = await thief.send(code)
    assert "Export fails" not in stolen and "isn't right" in stolen
    await asyncio.wait_for(world.client.app[OUTBOX_KEY].settled(), 10)
    with world.db.session() as s:
        rows = s.execute(select(OutboxMessage).where(OutboxMessage.channel == "email")).scalars().all()
        assert rows and all(r.sent_at is not None and "code" not in r.payload for r in rows)  # wiped once sent
        hashes = [g.code_hash for g in s.execute(select(ConversationGrant)).scalars() if g.code_hash]
        assert all(code not in h for h in hashes)
        audit = s.execute(select(AuditEntry).where(AuditEntry.action.like("grant.%"))).scalars().all()
        actions = {a.action for a in audit}
        assert {"grant.code_sent", "grant.verified", "grant.failed"} <= actions
        assert all(code not in str(a.payload) and "anna@" not in str(a.payload) for a in audit)


async def test_a_ticket_this_chat_opened_needs_no_code_but_nobody_else_gets_it(world: World) -> None:
    chat = Chat(world)
    await chat.send("I can't log in since this morning")
    await chat.send("new.person@example.com")
    opened = await chat.send("/affirm")
    assert "#1001" in opened
    answer = await chat.send("what's the status of my ticket")
    assert "#1001" in answer and "log in" in answer
    other = Chat(world)
    said = await other.send('/ticket_status{"ticket_id": "1001", "email": "new.person@example.com"}')
    assert "log in" not in said and "we have sent a code" in said


# --- the rules, at the service ------------------------------------------------------------------------
class Clock:
    def __init__(self) -> None:
        self.now = datetime(2026, 3, 1, 9, 0, tzinfo=UTC)

    def __call__(self) -> datetime:
        return self.now


def _service(s: Any, clock: Clock, **policy: Any) -> GrantService:
    return GrantService(s, Actor.customer(None), policy=GrantPolicy(**policy), clock=clock)


def _code(s: Any) -> str:
    row = s.execute(select(OutboxMessage).order_by(OutboxMessage.id.desc())).scalars().first()
    return str(row.payload["code"])


def test_codes_expire_lock_after_five_tries_and_proofs_lapse_when_idle(db: Database) -> None:
    seed(db)
    clock = Clock()
    with db.session() as s:
        g = _service(s, clock)
        assert g.issue_code("web:a", ANNA, ticket_number=1000).status == "sent"
        clock.now += timedelta(minutes=10, seconds=1)
        assert g.verify_code("web:a", _code(s)).status == "expired"
        g.issue_code("web:b", ANNA, ticket_number=1000)
        right = _code(s)
        wrong = "000000" if right != "000000" else "111111"
        assert [g.verify_code("web:b", wrong).status for _ in range(5)] == ["wrong"] * 4 + ["locked"]
        assert g.verify_code("web:b", right).status == "expired"  # locked: even the right code is dead
        g.issue_code("web:c", ANNA, ticket_number=1000)
        assert g.verify_code("web:c", _code(s)).verified
        ticket = s.execute(select(Ticket)).scalars().first()
        assert g.proven_contact("web:c") is not None and g.may_act_on("web:c", ticket)
        assert not g.may_act_on("web:d", ticket)
        clock.now += timedelta(minutes=29)
        assert g.proven_contact("web:c") is not None  # used: the idle time starts again
        clock.now += timedelta(minutes=31)
        assert g.proven_contact("web:c") is None and not g.may_act_on("web:c", ticket)


def test_codes_are_rate_limited_per_conversation_and_per_contact(db: Database) -> None:
    seed(db)
    clock = Clock()
    with db.session() as s:
        g = _service(s, clock)
        assert [g.issue_code("web:a", "nobody@example.com").status for _ in range(4)] == ["sent"] * 3 + ["limited"]
        for conversation in ("web:1", "web:2", "web:3", "web:4"):
            assert g.issue_code(conversation, ANNA).status == "sent"  # the same answer every time ...
        mailed = s.execute(select(OutboxMessage)).scalars().all()
        assert len(mailed) == 3  # ... but her mailbox got three codes in the hour, not four
        clock.now += timedelta(hours=1, seconds=1)
        assert g.issue_code("web:a", "nobody@example.com").status == "sent"


def test_an_unsigned_conversation_is_granted_nothing(db: Database) -> None:
    seed(db)
    with db.session() as s:
        g = _service(s, Clock())
        ticket = s.execute(select(Ticket)).scalars().first()
        g.record_created_ticket(None, ticket.id, ticket.requester_contact_id)
        assert g.issue_code(None, ANNA).status == "unavailable"
        assert g.verify_code(None, "123456").status == "unavailable"
        assert g.proven_contact(None) is None and not g.may_act_on(None, ticket)
        assert s.execute(select(ConversationGrant)).scalars().all() == []


def test_idle_timeout_comes_from_the_settings(db: Database) -> None:
    settings = Settings.from_env({"CRM_CUSTOMER_PROOF_IDLE_SECONDS": "90"}, database_url=db.url)
    try:
        build_app(settings, db=db)
        assert grants.current_policy().idle == timedelta(seconds=90)
    finally:
        grants.configure(idle_seconds=int(GrantPolicy().idle.total_seconds()))


async def test_without_smtp_the_code_is_given_up_and_logged_without_the_code(
    db: Database, caplog: pytest.LogCaptureFixture
) -> None:
    seed(db)
    with db.session() as s:
        _service(s, Clock(), code_ttl=timedelta(days=36500)).issue_code("web:a", ANNA)
        code = _code(s)
    outbox = EmailOutbox(db, None, from_addr="support@crm.example")
    caplog.set_level(logging.INFO)
    outbox.start()
    try:
        outbox.wake()
        await asyncio.wait_for(outbox.settled(), 10)
    finally:
        await outbox.stop()
    assert "could not be sent" in caplog.text and code not in caplog.text
    with db.session() as s:
        [row] = s.execute(select(OutboxMessage)).scalars().all()
        assert row.sent_at is None and row.next_attempt_at is None and row.last_error == "no_smtp_relay"
        assert "code" not in row.payload


async def test_a_code_mail_survives_a_relay_outage_and_is_sent_once(db: Database) -> None:
    seed(db)
    clock = Clock()
    with db.session() as s:
        _service(s, clock).issue_code("web:a", ANNA)
    probe = socket.socket()
    probe.bind(("127.0.0.1", 0))
    port = probe.getsockname()[1]
    probe.close()  # nothing listens there yet: the relay is down
    relay = SmtpSettings(host="127.0.0.1", port=port, start_tls=False, timeout=5)
    outbox = EmailOutbox(db, relay, from_addr="support@crm.example", clock=clock)
    assert await outbox.deliver_due() == 0.0  # tried (and failed): look again
    wait = await outbox.deliver_due()
    assert wait is not None and wait > 0  # nothing due until the backoff is over
    with db.session() as s:
        [row] = s.execute(select(OutboxMessage)).scalars().all()
        assert row.sent_at is None and row.last_error and "code" in row.payload  # kept for the retry
    box = Inbox()
    server = await asyncio.get_running_loop().create_server(lambda: SMTP(box), host="127.0.0.1", port=port)
    try:
        clock.now += timedelta(minutes=1)
        await outbox.deliver_due()
        assert await outbox.deliver_due() is None  # nothing left: sent exactly once
    finally:
        server.close()
        await server.wait_closed()
    assert len(box.messages) == 1 and box.messages[0]["To"] == ANNA
    with db.session() as s:
        [row] = s.execute(select(OutboxMessage)).scalars().all()
        assert row.sent_at is not None and "code" not in row.payload


async def test_attack_hand_over_with_number_and_address_does_not_join_the_ticket(world: World) -> None:
    """Asking for a person with someone's ticket number and address used to relay the chat into their ticket."""
    chat = Chat(world)
    said = await chat.send(f'/request_human{{"ticket_id": "{world.ticket}", "email": "{ANNA}"}}')
    assert f"#{world.ticket}" not in said
    assert ticket_state(world.db, world.ticket) == ("new", 2)
