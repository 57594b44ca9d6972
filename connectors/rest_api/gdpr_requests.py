"""Data-subject requests over REST: the queue staff work, and carrying a request out.

    GET  /api/v1/gdpr/requests               ?status=open|all (admins, managers): by due date
    POST /api/v1/gdpr/requests               {"contact_id", "kind", "via"?, "identity"?, "note"?}: a request
                                             received by phone, letter or in person (staff; only an admin
                                             may vouch for the requester's identity with ``identity``)
    GET  /api/v1/gdpr/requests/{id}
    POST /api/v1/gdpr/requests/{id}/verify   {"method", "note"?}: how the identity was proven (admins)
    POST /api/v1/gdpr/requests/{id}/complete carry it out (admins): access -> the export; erasure -> the
                                             erasure report with its free-page steps; restriction,
                                             objection, rectification -> the request
    POST /api/v1/gdpr/requests/{id}/reject   {"note"} (admins)

Rules (roles, identity proof, legal holds, what erasure keeps) live in ``crm_store.services.gdpr``; an
erasure runs through ``crm_store.gdpr_requests``, as the CLI's does. This module only converts HTTP.
"""

from __future__ import annotations

import asyncio
from typing import Any, Literal

from aiohttp import web
from pydantic import BaseModel, ConfigDict, Field

from connectors.rest_api.auth import actor_for_token, bearer_token
from connectors.rest_api.inputs import parse_id, parse_query, read_json_object
from connectors.rest_api.openapi import STATIC_OPERATIONS
from connectors.rest_api.plain_routes import PREFIX, StoreRoutes, describe, json_response, parse_body
from crm_store.db import Database
from crm_store.gdpr_requests import carry_out
from crm_store.services import CrmServices
from crm_store.services.gdpr import request_row

Kind = Literal["access", "erasure", "restriction", "objection", "rectification"]
Method = Literal["customer_token", "code", "callback", "id_document", "in_person", "signed_letter", "staff"]


class RequestIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    contact_id: int = Field(ge=1, le=2**31 - 1)
    kind: Kind
    via: Literal["phone", "letter", "in_person", "mail", "staff"] = "staff"
    identity: Literal["callback", "id_document", "in_person", "signed_letter", "staff"] | None = None
    note: str | None = Field(default=None, max_length=2000)


class VerifyIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    method: Literal["callback", "id_document", "in_person", "signed_letter", "staff"]
    note: str | None = Field(default=None, max_length=2000)


class RejectIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    note: str = Field(min_length=1, max_length=2000)


class RequestsQuery(BaseModel):
    model_config = ConfigDict(extra="forbid")
    status: Literal["open", "all"] = "open"
    limit: int = Field(default=50, ge=1, le=500)
    offset: int = Field(default=0, ge=0, le=2**31 - 1)


BASE = f"{PREFIX}/gdpr/requests"


class GdprRoutes(StoreRoutes):
    def install(self, app: web.Application) -> None:
        app.router.add_get(BASE, self.list_requests, name="gdpr_requests.list")
        app.router.add_post(BASE, self.create, name="gdpr_requests.create")
        app.router.add_get(BASE + "/{id:\\d+}", self.get, name="gdpr_requests.get")
        app.router.add_post(BASE + "/{id:\\d+}/verify", self.verify, name="gdpr_requests.verify")
        app.router.add_post(BASE + "/{id:\\d+}/complete", self.complete, name="gdpr_requests.complete")
        app.router.add_post(BASE + "/{id:\\d+}/reject", self.reject, name="gdpr_requests.reject")

    async def list_requests(self, request: web.Request) -> web.Response:
        bearer_token(request)
        query: RequestsQuery = parse_query(RequestsQuery, request.query)

        def work(crm: CrmServices) -> dict[str, Any]:
            rows, total = crm.gdpr.list_requests(
                open_only=query.status == "open", limit=query.limit, offset=query.offset
            )
            return {"items": [request_row(r) for r in rows], "total": total}

        return json_response(await self.in_store(request, work))

    async def create(self, request: web.Request) -> web.Response:
        bearer_token(request)
        inp: RequestIn = parse_body(RequestIn, await read_json_object(request))

        def work(crm: CrmServices) -> dict[str, Any]:
            req = crm.gdpr.request(inp.contact_id, inp.kind, via=inp.via, note=inp.note, identity=inp.identity)
            return request_row(req)

        return json_response(await self.in_store(request, work), status=201)

    async def get(self, request: web.Request) -> web.Response:
        request_id = parse_id(request.match_info["id"], "GDPR request")
        bearer_token(request)
        return json_response(await self.in_store(request, lambda crm: request_row(crm.gdpr.get_request(request_id))))

    async def verify(self, request: web.Request) -> web.Response:
        request_id = parse_id(request.match_info["id"], "GDPR request")
        bearer_token(request)
        inp: VerifyIn = parse_body(VerifyIn, await read_json_object(request))
        return json_response(
            await self.in_store(request, lambda crm: request_row(crm.gdpr.verify_request(request_id, inp.method, inp.note)))
        )

    async def complete(self, request: web.Request) -> web.Response:
        request_id = parse_id(request.match_info["id"], "GDPR request")
        token = bearer_token(request)

        def run() -> dict[str, Any]:
            with self.db.session() as session:  # who asks (the token is checked like every request's)
                actor = actor_for_token(session, token)
            return carry_out(self.db, actor, request_id)

        return json_response(await asyncio.to_thread(run))

    async def reject(self, request: web.Request) -> web.Response:
        request_id = parse_id(request.match_info["id"], "GDPR request")
        bearer_token(request)
        inp: RejectIn = parse_body(RejectIn, await read_json_object(request))
        return json_response(
            await self.in_store(request, lambda crm: request_row(crm.gdpr.reject_request(request_id, inp.note)))
        )


def _operation(op_id: str, summary: str, ok: str, **kw: Any) -> dict[str, Any]:
    return describe(op_id, summary, ok, tag="data protection", **kw)


STATIC_OPERATIONS.update(
    {
        "gdpr_requests.list": _operation("gdpr_requests.list", "Open data-subject requests by due date", "200",
                                         query=RequestsQuery, errors=("401", "403")),
        "gdpr_requests.create": _operation("gdpr_requests.create", "Record a request received by phone, letter "
                                           "or in person", "201", body=RequestIn),
        "gdpr_requests.get": _operation("gdpr_requests.get", "One data-subject request", "200", path=("id",)),
        "gdpr_requests.verify": _operation("gdpr_requests.verify", "Record how the requester's identity was "
                                           "proven (admins)", "200", body=VerifyIn, path=("id",)),
        "gdpr_requests.complete": _operation("gdpr_requests.complete", "Carry out a verified request (admins): "
                                             "export, erasure, restriction, objection", "200", path=("id",)),
        "gdpr_requests.reject": _operation("gdpr_requests.reject", "Reject a request, with the reason (admins)",
                                           "200", body=RejectIn, path=("id",)),
    }
)


def install_gdpr_requests(app: web.Application, db: Database) -> None:
    GdprRoutes(db).install(app)
