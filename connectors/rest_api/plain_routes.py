"""What the hand-written ``/api/v1`` routes share (account links, GDPR requests): JSON in and out, one
transaction as the token's user in a worker thread, and their OpenAPI description.

The resource routes (``routes.py``) are generated from ``resources.py``; the routes that are commands on
one record (approve, verify, complete, ...) are written by hand and register their OpenAPI operation in
``STATIC_OPERATIONS`` through :func:`describe`, so the document and the schemathesis fuzz test see them.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Callable
from typing import Any, TypeVar

from aiohttp import web
from pydantic import BaseModel

from connectors.rest_api.auth import actor_for_token, bearer_token
from connectors.rest_api.problems import ProblemError, invalid_body
from crm_store.db import Database
from crm_store.services import CrmServices
from crm_store.services.base import parse_input
from crm_store.services.errors import ValidationFailed

T = TypeVar("T")
PREFIX = "/api/v1"


def json_response(data: Any, *, status: int = 200) -> web.Response:
    return web.json_response(data, status=status, dumps=lambda d: json.dumps(d, default=str))


def parse_body(schema: type[BaseModel], data: dict[str, Any]) -> Any:
    try:
        return parse_input(schema, data)
    except ValidationFailed as exc:
        raise ProblemError(invalid_body(exc.errors)) from None


class StoreRoutes:
    """Base of a group of hand-written routes: ``in_store`` runs ``work`` in one transaction as the bearer
    token's user (checked inside that transaction, so a revoked token fails there)."""

    def __init__(self, db: Database) -> None:
        self.db = db

    async def in_store(self, request: web.Request, work: Callable[[CrmServices], T]) -> T:
        token = bearer_token(request)

        def run() -> T:
            with self.db.session() as session:
                return work(CrmServices(session, actor_for_token(session, token)))

        return await asyncio.to_thread(run)


_PROBLEM = {"content": {"application/problem+json": {"schema": {"$ref": "#/components/schemas/Problem"}}}}
_OBJECT = {"content": {"application/json": {"schema": {"type": "object"}}}}


def describe(
    op_id: str,
    summary: str,
    ok: str,
    *,
    tag: str,
    body: type[BaseModel] | None = None,
    body_required: bool = True,
    path: tuple[str, ...] = (),
    query: type[BaseModel] | None = None,
    errors: tuple[str, ...] = ("401", "403", "404", "409", "422"),
) -> dict[str, Any]:
    """The OpenAPI operation of one hand-written route."""
    params: list[dict[str, Any]] = []
    if "id" in path:
        params.append({"name": "id", "in": "path", "required": True,
                       "schema": {"type": "integer", "minimum": 1, "maximum": 2**31 - 1}})
    if "channel" in path:
        params.append({"name": "channel", "in": "path", "required": True,
                       "schema": {"type": "string", "enum": ["slack", "teams"]}})
    if query is not None:
        for name, prop in query.model_json_schema()["properties"].items():
            params.append({"name": name, "in": "query", "required": False, "schema": prop})
    operation: dict[str, Any] = {
        "operationId": op_id,
        "summary": summary,
        "tags": [tag],
        "responses": {
            ok: {"description": summary, **_OBJECT} if ok != "204" else {"description": "Done"},
            **{code: {"description": "Problem", **_PROBLEM} for code in ("400", *errors)},
        },
    }
    if params:
        operation["parameters"] = params
    if body is not None:
        operation["requestBody"] = {
            "required": body_required,
            "content": {"application/json": {"schema": body.model_json_schema()}},
        }
    return operation
