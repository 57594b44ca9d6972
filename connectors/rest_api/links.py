"""Account links over REST: a signed-in user's one-time code, and the admins' queue of link requests.

    POST   /api/v1/me/link-code              {"channel": "slack"|"teams"} -> 201 {"code", "expires_at", ...}
    GET    /api/v1/me/links                  the caller's own Slack/Teams links
    GET    /api/v1/account-links             ?status=pending|approved|...|all&channel=  (admins)
    POST   /api/v1/account-links/{id}/approve  {"user_id": N}? (default: the suggested user)  (admins)
    POST   /api/v1/account-links/{id}/reject                                                 (admins)
    DELETE /api/v1/users/{id}/links/{channel}  unlink (admins, or the user for themselves)

The code proves the CRM side (the bearer token); typing ``link <code>`` to the bot proves the chat side
(Slack's signature, the Bot Framework token). Rules, limits and the audit live in
``crm_store.services.links``; this module only converts HTTP.
"""

from __future__ import annotations

from typing import Any, Literal

from aiohttp import web
from pydantic import BaseModel, ConfigDict, Field

from connectors.rest_api.auth import bearer_token
from connectors.rest_api.inputs import parse_id, parse_query, read_json_object
from connectors.rest_api.openapi import STATIC_OPERATIONS
from connectors.rest_api.plain_routes import PREFIX, StoreRoutes, describe, json_response, parse_body
from connectors.rest_api.problems import ProblemError, invalid_body
from crm_store.db import Database
from crm_store.services import CrmServices
from crm_store.services.errors import FieldError
from crm_store.services.links import serialize_link


class CodeIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    channel: Literal["slack", "teams"]


class ApproveIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    user_id: int | None = Field(default=None, ge=1, le=2**31 - 1)


class LinksQuery(BaseModel):
    model_config = ConfigDict(extra="forbid")
    status: Literal["pending", "approved", "rejected", "verified", "revoked", "expired", "issued", "all"] = (
        "pending"
    )
    channel: Literal["slack", "teams"] | None = None
    limit: int = Field(default=50, ge=1, le=500)
    offset: int = Field(default=0, ge=0, le=2**31 - 1)


class LinkRoutes(StoreRoutes):
    def install(self, app: web.Application) -> None:
        app.router.add_post(f"{PREFIX}/me/link-code", self.link_code, name="me.link_code")
        app.router.add_get(f"{PREFIX}/me/links", self.my_links, name="me.links")
        app.router.add_get(f"{PREFIX}/account-links", self.list_links, name="account_links.list")
        app.router.add_post(f"{PREFIX}/account-links/{{id:\\d+}}/approve", self.approve,
                            name="account_links.approve")
        app.router.add_post(f"{PREFIX}/account-links/{{id:\\d+}}/reject", self.reject,
                            name="account_links.reject")
        app.router.add_delete(f"{PREFIX}/users/{{id:\\d+}}/links/{{channel}}", self.unlink,
                              name="users.unlink")

    async def link_code(self, request: web.Request) -> web.Response:
        bearer_token(request)
        inp: CodeIn = parse_body(CodeIn, await read_json_object(request))

        def work(crm: CrmServices) -> dict[str, Any]:
            code, expires_at = crm.links.issue_code(inp.channel)
            return {
                "code": code,
                "channel": inp.channel,
                "expires_at": expires_at.isoformat(),
                "send": f"link {code}",
            }

        return json_response(await self.in_store(request, work), status=201)

    async def my_links(self, request: web.Request) -> web.Response:
        bearer_token(request)
        return json_response(await self.in_store(request, lambda crm: crm.links.links_of(int(crm.actor.id or 0))))

    async def list_links(self, request: web.Request) -> web.Response:
        bearer_token(request)
        query = parse_query(LinksQuery, request.query)

        def work(crm: CrmServices) -> dict[str, Any]:
            page = crm.links.list(status=None if query.status == "all" else query.status, channel=query.channel,
                                  limit=query.limit, offset=query.offset)
            return {"items": [serialize_link(link) for link in page.items], "total": page.total}

        return json_response(await self.in_store(request, work))

    async def approve(self, request: web.Request) -> web.Response:
        link_id = parse_id(request.match_info["id"], "account link")
        bearer_token(request)
        raw = await read_json_object(request) if (await request.read()).strip() else {}  # body optional
        inp: ApproveIn = parse_body(ApproveIn, raw)

        def work(crm: CrmServices) -> dict[str, Any]:
            crm.links.approve(link_id, inp.user_id)
            return serialize_link(crm.links.get(link_id))

        return json_response(await self.in_store(request, work))

    async def reject(self, request: web.Request) -> web.Response:
        link_id = parse_id(request.match_info["id"], "account link")
        bearer_token(request)
        return json_response(await self.in_store(request, lambda crm: serialize_link(crm.links.reject(link_id))))

    async def unlink(self, request: web.Request) -> web.Response:
        user_id = parse_id(request.match_info["id"], "user")
        channel = request.match_info["channel"]
        if channel not in ("slack", "teams"):
            raise ProblemError(invalid_body([FieldError("channel", "must be slack or teams")]))
        bearer_token(request)
        await self.in_store(request, lambda crm: crm.links.unlink(user_id, channel) and None)
        return web.Response(status=204)


# --- the OpenAPI description (the document lists every /api/v1 route; these register themselves) -----------


def _operation(op_id: str, summary: str, ok: str, **kw: Any) -> dict[str, Any]:
    return describe(op_id, summary, ok, tag="account links", body_required=op_id != "account_links.approve", **kw)


OPERATIONS: dict[str, dict[str, Any]] = {
    "me.link_code": _operation("me.link_code", "A one-time code to link a Slack/Teams account", "201",
                               body=CodeIn, errors=("401", "403", "422")),
    "me.links": _operation("me.links", "The caller's Slack/Teams links", "200", errors=("401", "403")),
    "account_links.list": _operation("account_links.list", "Account link requests (admins)", "200",
                                     query=LinksQuery, errors=("401", "403")),
    "account_links.approve": _operation("account_links.approve", "Approve a link request (admins)", "200",
                                        body=ApproveIn, path=("id",)),
    "account_links.reject": _operation("account_links.reject", "Reject a link request (admins)", "200",
                                       path=("id",)),
    "users.unlink": _operation("users.unlink", "Remove a user's Slack or Teams link", "204",
                               path=("id", "channel")),
}
STATIC_OPERATIONS.update(OPERATIONS)


def install_links(app: web.Application, db: Database) -> None:
    LinkRoutes(db).install(app)
