"""The agent inbox over real HTTP against the real app and store (SQLite and PostgreSQL): sign-in, session,
CSRF, views, the ticket page, replies by threaded e-mail through the outbox to a loopback aiosmtpd, notes,
field changes, the REST endpoint, and the attacks each of those must refuse."""

from __future__ import annotations

import asyncio
import email.policy
import re
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from email import message_from_bytes
from email.message import EmailMessage, Message
from pathlib import Path

import pytest
from aiohttp import web
from aiohttp.test_utils import TestClient
from aiosmtpd.smtp import SMTP, Envelope, Session
from sqlalchemy import select

from assistant.server import build_app
from assistant.settings import Settings
from connectors import agent_inbox
from connectors.email.ack import SmtpSettings
from connectors.email.outbox import EmailOutbox
from connectors.email.routing import Router
from connectors.email.triage import TriageService
from crm_store.db import Database
from crm_store.models import AgentSession, AuditEntry, OutboxMessage, Ticket, TicketMessage
from crm_store.services import Actor, CrmServices
from crm_store.services.agent_sessions import AgentSessionService
from nlu.email_classifier import EmailClassifier, load_training_emails
from nlu.embedder import HashingEmbedder

ROOT = Path(__file__).resolve().parents[2]
AClient = Callable[[web.Application], Awaitable[TestClient]]
SECRET = "inbox-test-secret-0123456789abcdef"
CSRF = re.compile(r'name="csrf" value="([^"]+)"')


@pytest.fixture(scope="session")
def mail_classifier() -> EmailClassifier:
    training = load_training_emails(ROOT / "training_data" / "emails")
    return EmailClassifier(HashingEmbedder()).fit(
        [t[0] for t in training], [t[1] for t in training], [t[2] for t in training]
    )


def german_mail(message_id: str = "<rechnung-1@kunde.example>") -> bytes:
    mail = EmailMessage()
    mail["From"] = "Jonas Weber <jonas.weber@kunde.example>"
    mail["To"] = "support@example-crm.com"
    mail["Subject"] = "Rechnung falsch"
    mail["Message-ID"] = message_id
    mail["Date"] = "Mon, 07 Dec 2026 09:00:00 +0100"
    mail.set_content(
        "Guten Tag,\n\nunsere Rechnung 2026-113 weist einen falschen Betrag aus. Bitte korrigieren "
        "Sie die Rechnung.\n\nMit freundlichen Grüßen\nJonas Weber"
    )
    mail.add_attachment(
        b"%PDF-1.4 fake", maintype="application", subtype="pdf", filename="rechnung-2026-113.pdf"
    )
    return bytes(mail)


@dataclass
class World:
    db: Database
    client: TestClient
    tokens: dict[str, str]
    users: dict[str, int]
    ticket_id: int
    number: int


@pytest.fixture
async def world(db: Database, aiohttp_client: AClient, mail_classifier: EmailClassifier) -> World:
    tokens, users = {}, {}
    with db.session() as s:
        crm = CrmServices(s, Actor.system("test"))
        billing = crm.users.create_team("Billing")
        for role in ("agent", "rep", "admin"):
            user = crm.users.create(
                {
                    "email": f"{role}@example-crm.com",
                    "name": f"{role.title()} Person",
                    "role": role,
                    "team_id": billing.id,
                    "language": "de" if role == "agent" else "en",
                }
            )
            tokens[role] = crm.users.issue_token(user.id)
            users[role] = user.id
        s.flush()
    triage = TriageService(db, mail_classifier, routing=Router.from_yaml())
    result = triage.process(german_mail())
    assert result.action == "created", result
    with db.session() as s:
        ticket = s.execute(select(Ticket).where(Ticket.number == result.ticket_number)).scalar_one()
        ticket.assignee_id = users["agent"]
        ticket_id, number = ticket.id, ticket.number
    settings = Settings(database_url=db.url, secret_key=SECRET, mail_from="support@example-crm.com")
    client = await aiohttp_client(build_app(settings, db=db, extra=[agent_inbox.install]))
    return World(db, client, tokens, users, ticket_id, number)


async def sign_in(client: TestClient, token: str) -> str:
    """Sign in through the login form; the CSRF token of the new session."""
    async with client.get("/agent/login") as resp:
        assert resp.status == 200
        pre = CSRF.search(await resp.text())
    assert pre is not None
    async with client.post(
        "/agent/login", data={"csrf": pre.group(1), "token": token}, allow_redirects=False
    ) as resp:
        assert resp.status == 303 and resp.headers["Location"] == "/agent/", await resp.text()
        cookie = resp.cookies["crm_agent"]
        assert cookie["httponly"] and cookie["samesite"] == "Lax" and cookie["path"] == "/agent"
    async with client.get("/agent/?view=all") as resp:
        assert resp.status == 200
        found = CSRF.search(await resp.text())
    assert found is not None
    return found.group(1)


async def test_agent_signs_in_finds_the_mail_ticket_and_sees_why_it_is_there(world: World) -> None:
    await sign_in(world.client, world.tokens["agent"])
    async with world.client.get("/agent/?view=mine") as resp:
        html = await resp.text()
        assert resp.headers["Content-Security-Policy"].startswith("default-src 'self'")
        assert resp.headers["X-Frame-Options"] == "DENY"
    assert "Rechnung falsch" in html and f"/agent/tickets/{world.ticket_id}" in html
    assert "Meine" in html  # the agent's UI language is German
    async with world.client.get(f"/agent/tickets/{world.ticket_id}") as resp:
        page = await resp.text()
    assert resp.status == 200
    assert "unsere Rechnung 2026-113" in page and "rechnung-2026-113.pdf" in page  # thread + attachment name
    assert "Warum es hier ist (Triage)" in page and "billing" in page and "Deutsch" in page
    assert re.search(r"Passende Routing-Regeln</dt><dd>#\d", page), "the matched routing rule is shown"
    assert "jonas.weber@kunde.example" in page


async def test_reply_goes_out_as_a_threaded_mail_in_the_customers_language(world: World) -> None:
    csrf = await sign_in(world.client, world.tokens["agent"])
    async with world.client.post(
        f"/agent/tickets/{world.ticket_id}/messages",
        allow_redirects=False,
        data={
            "csrf": csrf,
            "kind": "outbound",
            "body": "Guten Tag Herr Weber,\n\nwir haben die Rechnung korrigiert.",
        },
    ) as resp:
        assert resp.status == 303, await resp.text()
    received = await deliver(world.db)
    assert len(received) == 1
    mail = received[0]
    assert mail["To"] == "jonas.weber@kunde.example"
    assert mail["Subject"] == f"[#{world.number}] Re: Rechnung falsch"
    assert mail["In-Reply-To"] == "<rechnung-1@kunde.example>"
    assert "<rechnung-1@kunde.example>" in mail["References"]
    assert mail["Content-Language"] == "de"
    text = mail.get_payload(decode=True).decode()
    assert "wir haben die Rechnung korrigiert" in text and "lassen [#" in text
    with world.db.session() as s:
        ticket = s.get(Ticket, world.ticket_id)
        assert ticket.first_responded_at is not None and ticket.status == "open"
        sent = s.execute(
            select(TicketMessage).where(
                TicketMessage.ticket_id == world.ticket_id, TicketMessage.direction == "outbound"
            )
        ).scalar_one()
        assert (
            f"<{sent.message_id}>" == mail["Message-ID"]
        )  # the customer's answer threads back by In-Reply-To
        row = s.execute(select(OutboxMessage).where(OutboxMessage.channel == "email")).scalar_one()
        assert row.sent_at is not None
    # delivered once: a second pass sends nothing again
    assert await deliver(world.db) == []


async def test_a_note_stays_internal(world: World) -> None:
    csrf = await sign_in(world.client, world.tokens["agent"])
    async with world.client.post(
        f"/agent/tickets/{world.ticket_id}/messages",
        headers={"HX-Request": "true"},
        data={"csrf": csrf, "kind": "note", "body": "Kunde hat Altvertrag"},
    ) as resp:
        assert resp.status == 200
        assert "Kunde hat Altvertrag" in await resp.text()
    with world.db.session() as s:
        assert s.execute(select(OutboxMessage)).first() is None
        contact_id = s.get(Ticket, world.ticket_id).requester_contact_id
        customer = CrmServices(s, Actor.customer(contact_id))
        assert all("Altvertrag" not in m.body for m in customer.tickets.messages(world.ticket_id))


async def test_field_changes_are_audited(world: World) -> None:
    csrf = await sign_in(world.client, world.tokens["agent"])
    async with world.client.post(
        f"/agent/tickets/{world.ticket_id}/fields",
        allow_redirects=False,
        data={
            "csrf": csrf,
            "status": "pending",
            "priority": "urgent",
            "queue": "billing",
            "assignee_id": str(world.users["admin"]),
            "team_id": "",
        },
    ) as resp:
        assert resp.status == 303
    with world.db.session() as s:
        ticket = s.get(Ticket, world.ticket_id)
        assert (ticket.status, ticket.priority, ticket.assignee_id) == (
            "pending",
            "urgent",
            world.users["admin"],
        )
        entry = s.execute(
            select(AuditEntry).where(
                AuditEntry.action == "update",
                AuditEntry.entity == "ticket",
                AuditEntry.actor == f"user:{world.users['agent']}",
            )
        ).scalar_one()
        assert entry.payload["changes"]["status"] == ["new", "pending"]


async def test_rest_endpoint_replies_like_the_page(world: World) -> None:
    path = f"/api/v1/tickets/{world.ticket_id}/messages"
    headers = {"Authorization": f"Bearer {world.tokens['agent']}"}
    async with world.client.post(
        path, json={"body": "Korrigiert.", "direction": "outbound"}, headers=headers
    ) as r:
        assert r.status == 201, await r.text()
        out = await r.json()
    assert (out["direction"], out["delivery"], out["channel"]) == ("outbound", "email", "email")
    async with world.client.post(path, json={"body": "intern", "direction": "note"}, headers=headers) as r:
        assert r.status == 201 and (await r.json())["direction"] == "note"
    async with world.client.post(path, json={"body": "", "direction": "shout"}, headers=headers) as r:
        problem = await r.json()
        assert r.status == 422 or r.status == 400, problem
        assert {e["field"] for e in problem["errors"]} >= {"body", "direction"}
    async with world.client.post(
        path, data=b"{not json", headers={**headers, "Content-Type": "application/json"}
    ) as r:
        assert r.status == 400
    async with world.client.post(path, json={"body": "x"}) as r:
        assert r.status == 401
    received = await deliver(world.db)
    assert [m["In-Reply-To"] for m in received] == ["<rechnung-1@kunde.example>"]


async def test_attack_rep_may_read_but_not_answer(world: World) -> None:
    """A rep reads tickets (policy) but may not update them: no reply, no note, no field change."""
    csrf = await sign_in(world.client, world.tokens["rep"])
    async with world.client.get(f"/agent/tickets/{world.ticket_id}") as resp:
        assert resp.status == 200
        assert 'id="composer"' not in await resp.text()
    async with world.client.post(
        f"/agent/tickets/{world.ticket_id}/messages", data={"csrf": csrf, "kind": "outbound", "body": "hi"}
    ) as resp:
        assert resp.status == 403
    async with world.client.post(
        f"/api/v1/tickets/{world.ticket_id}/messages",
        json={"body": "hi"},
        headers={"Authorization": f"Bearer {world.tokens['rep']}"},
    ) as resp:
        assert resp.status == 403
    with world.db.session() as s:
        assert s.execute(select(TicketMessage).where(TicketMessage.direction != "inbound")).first() is None
        assert s.execute(select(OutboxMessage)).first() is None


async def test_attack_forged_csrf_foreign_origin_and_no_session_write_nothing(world: World) -> None:
    csrf = await sign_in(world.client, world.tokens["agent"])
    path = f"/agent/tickets/{world.ticket_id}/messages"
    attempts: list[tuple[dict[str, str], dict[str, str]]] = [
        ({"kind": "outbound", "body": "no token"}, {}),
        ({"kind": "outbound", "body": "forged", "csrf": "0" * 64}, {}),
        ({"kind": "outbound", "body": "cross-site", "csrf": csrf}, {"Origin": "https://evil.example"}),
    ]
    for data, headers in attempts:
        async with world.client.post(path, data=data, headers=headers) as resp:
            assert resp.status == 403, data
    world.client.session.cookie_jar.clear()
    async with world.client.post(path, data={"kind": "outbound", "body": "anon", "csrf": csrf}) as resp:
        assert resp.status == 401
    async with world.client.get(f"/agent/tickets/{world.ticket_id}", allow_redirects=False) as resp:
        assert resp.status == 303 and resp.headers["Location"] == "/agent/login"
    with world.db.session() as s:
        assert s.execute(select(TicketMessage).where(TicketMessage.direction != "inbound")).first() is None


async def test_attack_wrong_token_forged_cookie_and_login_csrf(world: World) -> None:
    client = world.client
    async with client.get("/agent/login") as resp:
        pre = CSRF.search(await resp.text()).group(1)  # type: ignore[union-attr]
    async with client.post(
        "/agent/login", data={"csrf": pre, "token": "crm_not-a-token"}, allow_redirects=False
    ) as resp:
        assert resp.headers["Location"] == "/agent/login?failed=1"
    async with client.post(
        "/agent/login", data={"csrf": "guess", "token": world.tokens["agent"]}, allow_redirects=False
    ) as resp:
        assert resp.status == 403  # login CSRF: the form token must match the pre-session cookie
    client.session.cookie_jar.update_cookies({"crm_agent": "ags_forged"})
    async with client.get("/agent/", allow_redirects=False) as resp:
        assert resp.status == 303
    with world.db.session() as s:
        failed = s.execute(select(AuditEntry).where(AuditEntry.action == "sign_in_failed")).scalars().all()
        assert failed and all(world.tokens["agent"] not in str(e.payload) for e in failed)


async def test_one_time_login_link_works_once_and_sign_out_ends_the_session(world: World) -> None:
    with world.db.session() as s:
        link = AgentSessionService(s, Actor.system("test")).issue_login_link(world.users["agent"])
    client = world.client
    async with client.get(f"/agent/login/link?t={link}") as resp:  # a mail scanner's GET redeems nothing
        pre = CSRF.search(await resp.text()).group(1)  # type: ignore[union-attr]
        assert resp.headers["Referrer-Policy"] == "same-origin"
    async with client.post(
        "/agent/login/link", data={"csrf": pre, "link": link}, allow_redirects=False
    ) as resp:
        assert resp.status == 303 and resp.headers["Location"] == "/agent/"
    async with client.get("/agent/") as resp:
        html = await resp.text()
        csrf = CSRF.search(html).group(1)  # type: ignore[union-attr]
    async with client.post("/agent/logout", data={"csrf": csrf}, allow_redirects=False) as resp:
        assert resp.status == 303
    with world.db.session() as s:
        assert s.execute(select(AgentSession).where(AgentSession.revoked_at.is_not(None))).first() is not None
    async with client.get("/agent/login/link") as resp:
        pre = CSRF.search(await resp.text()).group(1)  # type: ignore[union-attr]
    async with client.post(
        "/agent/login/link", data={"csrf": pre, "link": link}, allow_redirects=False
    ) as resp:
        assert resp.headers["Location"] == "/agent/login?failed=1"  # used once


async def test_cookie_is_secure_behind_https(db: Database, aiohttp_client: AClient) -> None:
    with db.session() as s:
        crm = CrmServices(s, Actor.system("test"))
        user = crm.users.create({"email": "a@example-crm.com", "name": "A", "role": "agent"})
        token = crm.users.issue_token(user.id)
    settings = Settings(database_url=db.url, secret_key=SECRET, public_url="https://crm.example")
    client = await aiohttp_client(build_app(settings, db=db, extra=[agent_inbox.install]))
    async with client.get("/agent/login") as resp:
        pre = CSRF.search(await resp.text()).group(1)  # type: ignore[union-attr]
        assert resp.cookies["crm_agent_pre"]["secure"]
    # the jar keeps a Secure cookie off plain http, as a browser would: the test sends it itself
    async with client.post(
        "/agent/login",
        data={"csrf": pre, "token": token},
        allow_redirects=False,
        headers={"Cookie": f"crm_agent_pre={pre}"},
    ) as resp:
        assert resp.status == 303
        assert resp.cookies["crm_agent"]["secure"] and resp.cookies["crm_agent"]["httponly"]


# --- the customer's mail server ---------------------------------------------------------------------------------
@dataclass
class Mailbox:
    messages: list[Message] = field(default_factory=list)

    async def handle_DATA(self, server: SMTP, session: Session, envelope: Envelope) -> str:
        self.messages.append(
            message_from_bytes(envelope.original_content or b"", policy=email.policy.default)
        )
        return "250 OK"


async def deliver(db: Database) -> list[Message]:
    """Run the e-mail outbox once against a loopback aiosmtpd playing the customer's MX; what it received."""
    box = Mailbox()
    server = await asyncio.get_running_loop().create_server(lambda: SMTP(box), host="127.0.0.1", port=0)
    port = server.sockets[0].getsockname()[1]
    try:
        outbox = EmailOutbox(
            db,
            SmtpSettings(host="127.0.0.1", port=port, start_tls=False),
            from_addr="support@example-crm.com",
        )
        await outbox.deliver_due()
    finally:
        server.close()
        await server.wait_closed()
    return box.messages


async def test_release_gives_the_chat_back_to_the_bot_audited_and_only_for_whoever_may_update(
    world: World,
) -> None:
    from crm_store.models import Conversation

    with world.db.session() as s:
        conv = Conversation(
            channel="web",
            sender_id="customer:anonymous/0f3c9a7b2d4e6f8091a2b3c4d5e6f708",
            paused=True,
            state={"paused": True},
            ticket_id=world.ticket_id,
        )
        s.add(conv)
        s.get(Ticket, world.ticket_id).needs_human = True
    csrf = await sign_in(world.client, world.tokens["rep"])
    async with world.client.post(f"/agent/tickets/{world.ticket_id}/release", data={"csrf": csrf}) as resp:
        assert resp.status == 403  # a rep reads, but does not take chats from the bot
    world.client.session.cookie_jar.clear()
    csrf = await sign_in(world.client, world.tokens["agent"])
    async with world.client.get(f"/agent/tickets/{world.ticket_id}") as resp:
        assert 'id="release"' in await resp.text()
    async with world.client.post(
        f"/agent/tickets/{world.ticket_id}/release", data={"csrf": csrf}, allow_redirects=False
    ) as resp:
        assert resp.status == 303
    with world.db.session() as s:
        stored = s.execute(select(Conversation)).scalar_one()
        assert stored.paused is False and stored.state["paused"] is False
        assert s.get(Ticket, world.ticket_id).needs_human is False
        entry = s.execute(select(AuditEntry).where(AuditEntry.action == "release")).scalar_one()
        assert entry.actor == f"user:{world.users['agent']}"


async def test_mailed_login_link_reveals_nobody_is_limited_and_signs_in(
    db: Database, aiohttp_client: AClient
) -> None:
    """The "mail me a link" form answers the same for a stranger (attack: probing for staff addresses), mails
    at most 3 links an hour, points them at CRM_PUBLIC_URL (never the request's Host), and the link works."""
    with db.session() as s:
        crm = CrmServices(s, Actor.system("test"))
        crm.users.create({"email": "alex@example-crm.com", "name": "Alex", "role": "agent", "language": "de"})
    settings = Settings(database_url=db.url, secret_key=SECRET, public_url="http://inbox.example")
    client = await aiohttp_client(build_app(settings, db=db, extra=[agent_inbox.install]))

    async def ask(email: str) -> str:
        async with client.get("/agent/login") as resp:
            pre = CSRF.search(await resp.text()).group(1)  # type: ignore[union-attr]
        async with client.post(
            "/agent/login/mail",
            data={"csrf": pre, "email": email},
            headers={"Host": "evil.example"},
            allow_redirects=False,
        ) as resp:
            return resp.headers["Location"]

    assert await ask("nobody@example-crm.com") == await ask("alex@example-crm.com") == "/agent/login?mailed=1"
    for _ in range(4):
        await ask("ALEX@example-crm.com")
    with db.session() as s:
        rows = s.execute(select(OutboxMessage).where(OutboxMessage.channel == "email")).scalars().all()
        assert len(rows) == 3 and {r.target for r in rows} == {"alex@example-crm.com"}
        url = rows[0].payload["url"]
    assert url.startswith("http://inbox.example/agent/login/link?t=agl_")
    received = await deliver(db)
    assert len(received) == 3 and received[0]["Subject"] == "Ihr Anmeldelink für den Support-Posteingang"
    with db.session() as s:
        assert all(
            "url" not in r.payload for r in s.execute(select(OutboxMessage)).scalars()
        )  # wiped once sent
    link = url.split("t=", 1)[1]
    async with client.get("/agent/login/link") as resp:
        pre = CSRF.search(await resp.text()).group(1)  # type: ignore[union-attr]
    async with client.post(
        "/agent/login/link", data={"csrf": pre, "link": link}, allow_redirects=False
    ) as resp:
        assert resp.headers["Location"] == "/agent/"
