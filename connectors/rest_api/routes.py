"""``/api/v1/<resource>``: list, get, create, update (PATCH; PUT is accepted as a patch too).

Each request: bearer token checked, input checked, then ONE transaction in a worker thread
(the store is synchronous) that authenticates the token and calls the service as that user.
The services decide what a role may do; errors leave through the problem middleware.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any, Literal, TypeVar

from aiohttp import hdrs, web

from connectors.rest_api.auth import actor_for_token, bearer_token
from connectors.rest_api.gdpr_requests import install_gdpr_requests
from connectors.rest_api.inputs import nulls_refused, parse_id, parse_query, read_json_object
from connectors.rest_api.links import install_links
from connectors.rest_api.openapi import openapi_handler
from connectors.rest_api.problems import ProblemError, invalid_body
from connectors.rest_api.resources import RESOURCES, Child, Resource
from crm_store.db import Database
from crm_store.services import CrmServices

T = TypeVar("T")
PREFIX = "/api/v1"
OPENAPI_PATH = "/api/openapi.json"

Kind = Literal["list", "get", "create", "update", "replace", "children"]
Handler = Callable[[web.Request], Any]


@dataclass(frozen=True)
class Operation:
    """One route of the API; the OpenAPI document is generated from these and the router."""

    kind: Kind
    resource: Resource
    child: Child | None = None  # kind "children": the collection below one record

    @property
    def method(self) -> str:
        return {
            "list": hdrs.METH_GET,
            "get": hdrs.METH_GET,
            "children": hdrs.METH_GET,
            "create": hdrs.METH_POST,
            "update": hdrs.METH_PATCH,
            "replace": hdrs.METH_PUT,
        }[self.kind]

    @property
    def path(self) -> str:
        base = f"{PREFIX}/{self.resource.name}"
        if self.child is not None:
            return f"{base}/{{id}}/{self.child.name}"
        return base if self.kind in ("list", "create") else base + "/{id}"

    @property
    def name(self) -> str:
        if self.child is not None:
            return f"{self.resource.name}.{self.child.name}.list"
        return f"{self.resource.name}.{self.kind}"


def operations(resources: Sequence[Resource] = RESOURCES) -> list[Operation]:
    """Every operation of the API (the router, the OpenAPI document and the access matrix use this)."""
    kinds: tuple[Kind, ...] = ("list", "create", "get", "update", "replace")
    ops = [Operation(kind, res) for res in resources for kind in kinds]
    ops += [Operation("children", res, child) for res in resources for child in res.children]
    return ops


def _view(res: Resource, crm: CrmServices, method: str, *args: Any) -> dict[str, Any]:
    """Call ``method`` of the resource's service; the record comes back with the fields the caller may read."""
    service = res.service(crm)
    return service.view(getattr(service, method)(*args))


def _dumps(data: Any) -> str:
    return json.dumps(data, ensure_ascii=False, default=str)


def _json(data: Any, *, status: int = 200, headers: dict[str, str] | None = None) -> web.Response:
    return web.json_response(data, status=status, headers=headers, dumps=_dumps)


class RestApi:
    """The CRM REST API over one store. ``install(app)`` adds its routes and the OpenAPI document."""

    def __init__(self, db: Database, resources: Sequence[Resource] = RESOURCES) -> None:
        self.db = db
        self.operations = operations(resources)

    def install(self, app: web.Application) -> None:
        for op in self.operations:
            path = op.path.replace("{id}", r"{id:\d+}")
            app.router.add_route(op.method, path, self._handler(op), name=op.name)
        app.router.add_get(OPENAPI_PATH, openapi_handler(self.operations), name="openapi")
        install_links(app, self.db)  # /me/link-code, /account-links: Slack/Teams account linking
        install_gdpr_requests(app, self.db)  # /gdpr/requests: the data-subject request queue

    # --- one transaction per request, off the event loop --------------------------------------------
    async def _in_store(self, request: web.Request, work: Callable[[CrmServices], T]) -> T:
        token = bearer_token(request)
        return await asyncio.to_thread(self._transaction, token, work)

    def _transaction(self, token: str, work: Callable[[CrmServices], T]) -> T:
        with self.db.session() as session:
            return work(CrmServices(session, actor_for_token(session, token)))

    # --- handlers ------------------------------------------------------------------------------------
    def _handler(self, op: Operation) -> Handler:
        res = op.resource
        if op.kind == "list":

            async def list_(request: web.Request) -> web.Response:
                bearer_token(request)
                filters = parse_query(res.query, request.query).model_dump(exclude_none=True)

                def work(crm: CrmServices) -> dict[str, Any]:
                    service = res.service(crm)
                    page = service.list(**filters)
                    return {"items": [service.view(item) for item in page.items], "total": page.total}

                return _json(await self._in_store(request, work))

            return list_

        if op.kind == "get":

            async def get(request: web.Request) -> web.Response:
                record_id = parse_id(request.match_info["id"], res.singular)
                return _json(await self._in_store(request, lambda crm: _view(res, crm, "get", record_id)))

            return get

        if op.kind == "children":
            child = op.child
            assert child is not None

            async def children(request: web.Request) -> web.Response:
                record_id = parse_id(request.match_info["id"], res.singular)

                def work(crm: CrmServices) -> dict[str, Any]:
                    service = res.service(crm)
                    items = child.list(service, record_id)
                    return {"items": [service.view(i, child.entity) for i in items], "total": len(items)}

                return _json(await self._in_store(request, work))

            return children

        if op.kind == "create":

            async def create(request: web.Request) -> web.Response:
                bearer_token(request)
                data = await read_json_object(request)
                record = await self._in_store(request, lambda crm: _view(res, crm, "create", data))
                location = f"{PREFIX}/{res.name}/{record['id']}"
                return _json(record, status=201, headers={hdrs.LOCATION: location})

            return create

        async def update(request: web.Request) -> web.Response:
            record_id = parse_id(request.match_info["id"], res.singular)
            bearer_token(request)
            data = await read_json_object(request)
            if nulls := list(nulls_refused(data, res.create_schema)):
                raise ProblemError(invalid_body(nulls))
            return _json(await self._in_store(request, lambda crm: _view(res, crm, "update", record_id, data)))

        return update
