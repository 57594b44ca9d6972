"""``GET /api/v1/tickets/{id}/messages``: a ticket's thread over HTTP, against the real app and store."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

import pytest
from aiohttp import web
from aiohttp.test_utils import TestClient
from sqlalchemy import select

from assistant.server import build_app
from assistant.settings import Settings
from connectors import customer_auth
from crm_store.db import Database
from crm_store.models import AuditEntry
from crm_store.services import Actor, CrmServices

AClient = Callable[[web.Application], Awaitable[TestClient]]
SECRET = "messages-test-secret-0123456789abcdef"


@pytest.fixture
async def thread(db: Database, aiohttp_client: AClient) -> dict[str, Any]:
    """A ticket with an inbound message, an agent's reply and an internal note; tokens per role."""
    with db.session() as s:
        crm = CrmServices(s, Actor.system("test"))
        tokens = {}
        for role in ("admin", "rep", "agent"):
            user = crm.users.create({"email": f"{role}@x.example", "name": role.title(), "role": role})
            tokens[role] = crm.users.issue_token(user.id)
        agent_id = user.id
        anna = crm.contacts.create({"first_name": "Anna", "last_name": "Schmidt", "email": "anna@a.example"})
        ticket = crm.tickets.create({"subject": "Login fails", "description": "since this morning",
                                     "requester_contact_id": anna.id, "channel": "email"})
        ticket_id, anna_id = ticket.id, anna.id
    with db.session() as s:
        agent = CrmServices(s, Actor(kind="user", id=agent_id, role="agent"))
        agent.tickets.add_message(ticket_id, "Please try resetting your password.", channel="email")
        agent.tickets.add_message(ticket_id, "Customer on the old SSO plan", direction="internal")
    app = build_app(Settings(database_url=db.url, secret_key=SECRET), db=db)
    client = await aiohttp_client(app)
    return {"client": client, "tokens": tokens, "ticket": ticket_id, "anna": anna_id, "agent": agent_id, "db": db}


async def _get(client: TestClient, path: str, token: str) -> tuple[int, Any]:
    async with client.get(path, headers={"Authorization": f"Bearer {token}"}) as resp:
        return resp.status, await resp.json(content_type=None)


async def test_staff_read_the_thread_oldest_first_with_notes(thread: dict[str, Any]) -> None:
    path = f"/api/v1/tickets/{thread['ticket']}/messages"
    for role in ("admin", "agent", "rep"):
        status, page = await _get(thread["client"], path, thread["tokens"][role])
        assert status == 200, page
        assert page["total"] == 3 == len(page["items"])
        first, reply, note = page["items"]
        assert (first["direction"], first["body"], first["author_contact_id"], first["author_user_id"]) == (
            "inbound", "since this morning", thread["anna"], None)
        assert (reply["direction"], reply["channel"], reply["author_user_id"]) == (
            "outbound", "email", thread["agent"])
        assert note["direction"] == "note" and note["body"] == "Customer on the old SSO plan"
        assert first["created_at"] <= reply["created_at"] <= note["created_at"]
        assert {"direction", "channel", "body", "author_contact_id", "author_user_id", "created_at"} <= set(first)


async def test_reading_a_thread_is_audited_without_its_text(thread: dict[str, Any]) -> None:
    await _get(thread["client"], f"/api/v1/tickets/{thread['ticket']}/messages", thread["tokens"]["rep"])
    with thread["db"].session() as s:
        entry = s.execute(select(AuditEntry).where(AuditEntry.action == "read_messages")).scalar_one()
        assert (entry.entity, entry.entity_id, entry.payload["rows"]) == ("ticket", str(thread["ticket"]), 3)
        assert "password" not in str(entry.payload)


async def test_attack_unknown_ticket_token_less_and_customer_tokens_read_nothing(thread: dict[str, Any]) -> None:
    """Attack: no token, a forged token, a customer's cus_ token (REST is for staff), a missing ticket."""
    client, path = thread["client"], f"/api/v1/tickets/{thread['ticket']}/messages"
    async with client.get(path) as resp:
        assert resp.status == 401
    cus = customer_auth.issue(thread["anna"], SECRET)
    for token in ("crm_forged", cus):
        status, body = await _get(client, path, token)
        assert status == 401 and "items" not in body
    status, body = await _get(client, "/api/v1/tickets/999999/messages", thread["tokens"]["admin"])
    assert status == 404 and body["type"] == "/problems/not-found"


async def test_customers_never_see_internal_notes(thread: dict[str, Any]) -> None:
    with thread["db"].session() as s:
        crm = CrmServices(s, Actor.customer(thread["anna"]))
        directions = [crm.tickets.view(m, "ticket_message")["direction"] for m in crm.tickets.messages(thread["ticket"])]
    assert directions == ["inbound", "outbound"]


async def test_openapi_lists_the_messages_endpoint(thread: dict[str, Any]) -> None:
    async with thread["client"].get("/api/openapi.json") as resp:
        doc = await resp.json()
    op = doc["paths"]["/api/v1/tickets/{id}/messages"]["get"]
    assert op["operationId"] == "tickets_messages_list" and "post" not in doc["paths"]["/api/v1/tickets/{id}/messages"]
    item = doc["components"]["schemas"]["TicketMessageOut"]
    assert item["properties"]["direction"]["enum"] == ["inbound", "outbound", "note"]
    assert op["responses"]["200"]["content"]["application/json"]["schema"] == {
        "$ref": "#/components/schemas/TicketMessageOutList"}
