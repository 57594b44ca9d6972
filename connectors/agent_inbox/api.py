"""``POST /api/v1/tickets/{id}/messages`` (contract §5): an agent's reply or internal note over the REST API,
the same service call as the inbox's reply form (``pages.send_reply``).

    POST /api/v1/tickets/42/messages   {"body": "Please try again now.", "direction": "outbound"}
    -> 201 {"id", "ticket_id", "direction", "channel", "body", "author_user_id", "created_at", "delivery"}

``delivery`` says where it went: ``email`` (queued in the outbox, threaded), ``web_chat``, ``note``, or
``stored`` (a channel we cannot answer on). Errors are the API's problem documents.
"""

from __future__ import annotations

import asyncio
import json
from typing import Any, Literal

from aiohttp import web
from pydantic import BaseModel, ConfigDict, Field

from connectors.rest_api.auth import actor_for_token, bearer_token
from connectors.rest_api.inputs import parse_id, read_json_object
from connectors.rest_api.openapi import STATIC_OPERATIONS
from connectors.rest_api.plain_routes import describe
from connectors.rest_api.problems import ProblemError, invalid_body
from crm_store import serialize
from crm_store.services import Actor
from crm_store.services.errors import FieldError

PATH = r"/api/v1/tickets/{id:\d+}/messages"


def _input(data: dict[str, Any]) -> tuple[str, str]:
    errors = [FieldError(key, "unknown field") for key in data if key not in ("body", "direction")]
    body, direction = data.get("body"), data.get("direction", "outbound")
    if not isinstance(body, str) or not body.strip():
        errors.append(FieldError("body", "a non-empty string"))
    if direction not in ("outbound", "note"):
        errors.append(FieldError("direction", '"outbound" or "note"'))
    if errors:
        raise ProblemError(invalid_body(errors))
    return str(body), str(direction)


async def post_message(request: web.Request) -> web.Response:
    from assistant.server import DB_KEY
    from connectors.agent_inbox.pages import send_reply

    token = bearer_token(request)
    ticket_id = parse_id(request.match_info["id"], "ticket")
    body, direction = _input(await read_json_object(request))
    db = request.app[DB_KEY]

    def who() -> Actor:
        with db.session() as session:
            return actor_for_token(session, token)

    actor = await asyncio.to_thread(who)
    delivery = await send_reply(request.app, actor, ticket_id, body, direction)
    out = {**serialize.thread_message(delivery.message), "delivery": delivery.via}
    return web.json_response(out, status=201, dumps=lambda d: json.dumps(d, default=str))


class MessageIn(BaseModel):
    """The body, for the OpenAPI document (the handler checks the same rules and names every bad field)."""

    model_config = ConfigDict(extra="forbid")
    body: str = Field(min_length=1, pattern=r"\S")
    direction: Literal["outbound", "note"] = "outbound"


STATIC_OPERATIONS["tickets.messages.create"] = describe(
    "tickets.messages.create",
    "An agent's reply (sent to the customer on the ticket's channel, e-mail threaded) or an internal note",
    "201",
    tag="tickets",
    body=MessageIn,
    path=("id",),
)


def add_api_routes(app: web.Application) -> None:
    app.router.add_post(PATH, post_message, name="tickets.messages.create")
