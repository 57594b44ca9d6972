"""OpenAPI 3.1 for ``/api/openapi.json``, generated from the router and the resource table.

Paths come from the routes actually mounted (so the document cannot drift from the router);
bodies and parameters from the pydantic input schemas and query models (``model_json_schema``).
"""

from __future__ import annotations

import copy
from collections.abc import Iterable, Sequence
from importlib import metadata
from typing import TYPE_CHECKING, Any

from aiohttp import web
from pydantic import BaseModel

from connectors.rest_api.inputs import not_nullable

if TYPE_CHECKING:
    from connectors.rest_api.routes import Operation

REF = "#/components/schemas/{model}"
PROBLEM_JSON = "application/problem+json"

# status -> (component name, description)
PROBLEMS: dict[int, tuple[str, str]] = {
    400: ("BadRequest", "Malformed JSON, or a query parameter of the wrong type or unknown"),
    401: ("Unauthorized", "No or an invalid bearer token (see WWW-Authenticate)"),
    403: ("Forbidden", "The user's role may not do this"),
    404: ("NotFound", "No such record"),
    409: ("Conflict", "A record with this unique value exists; existing_id names it"),
    413: ("TooLarge", "The request body is larger than the server accepts"),
    422: ("Invalid", "The body is not an object, has unknown fields or invalid values; errors name them"),
    503: ("Unavailable", "The store cannot be reached; nothing was changed"),
}
ERRORS_BY_KIND: dict[str, tuple[int, ...]] = {
    "list": (400, 401, 403, 503),
    "get": (401, 403, 404, 503),
    "create": (400, 401, 403, 409, 413, 422, 503),
    "update": (400, 401, 403, 404, 409, 413, 422, 503),
    "replace": (400, 401, 403, 404, 409, 413, 422, 503),
    "children": (401, 403, 404, 503),
}

PROBLEM_SCHEMA: dict[str, Any] = {
    "type": "object",
    "description": "RFC 9457 problem details",
    "required": ["type", "title", "status"],
    "properties": {
        "type": {"type": "string", "format": "uri-reference"},
        "title": {"type": "string"},
        "status": {"type": "integer"},
        "detail": {"type": "string"},
        "errors": {
            "type": "array",
            "items": {
                "type": "object",
                "required": ["field", "message"],
                "properties": {"field": {"type": "string"}, "message": {"type": "string"}},
            },
        },
        "existing_id": {"type": ["integer", "null"], "description": "409: the record that already exists"},
        "reference": {"type": "string", "description": "500: quote it when reporting the error"},
    },
}

HEALTH_OPERATION: dict[str, Any] = {
    "operationId": "health",
    "summary": "Whether the service can reach its store",
    "tags": ["service"],
    "security": [],
    "responses": {
        "200": {
            "description": "The store answers; with a chat assistant, its state (warming up, ready, failed)",
            "content": {
                "application/json": {
                    "schema": {
                        "type": "object",
                        "properties": {
                            "status": {"enum": ["ok", "warming_up", "degraded"]},
                            "database": {"const": "ok"},
                            "assistant": {
                                "type": "object",
                                "properties": {
                                    "state": {"enum": ["warming_up", "ready", "failed"]},
                                    "phase": {"type": "string"},
                                    "progress": {"type": "number"},
                                    "eta_seconds": {"type": "integer"},
                                    "elapsed_seconds": {"type": "integer"},
                                },
                            },
                        },
                    }
                }
            },
        },
        "503": {
            "description": "The store cannot be reached",
            "content": {
                "application/json": {
                    "schema": {
                        "type": "object",
                        "properties": {"status": {"type": "string"}, "database": {"type": "string"}},
                    }
                }
            },
        },
    },
}

OPENAPI_OPERATION: dict[str, Any] = {
    "operationId": "openapi",
    "summary": "This document",
    "tags": ["service"],
    "security": [],
    "responses": {
        "200": {
            "description": "OpenAPI 3.1 document",
            "content": {"application/json": {"schema": {"type": "object"}}},
        }
    },
}
STATIC_OPERATIONS = {"health": HEALTH_OPERATION, "openapi": OPENAPI_OPERATION}


def _version() -> str:
    try:
        return metadata.version("crm-assistant")
    except metadata.PackageNotFoundError:
        return "0.0.0"


def _model_schema(model: type[BaseModel], components: dict[str, Any]) -> dict[str, Any]:
    schema = model.model_json_schema(ref_template=REF)
    components.update(schema.pop("$defs", {}))
    return schema


def _record_schema(create: dict[str, Any], singular: str) -> dict[str, Any]:
    """What the API answers: the input's fields plus id and timestamps (and more; never fewer)."""
    props = copy.deepcopy(create.get("properties", {}))
    props = {"id": {"type": "integer", "minimum": 1}, **props}
    for stamp in ("created_at", "updated_at"):
        props.setdefault(stamp, {"type": "string", "format": "date-time"})
    return {
        "title": singular.title(),
        "type": "object",
        "required": ["id"],
        "properties": props,
        "additionalProperties": True,
    }


def _parameter(name: str, schema: dict[str, Any]) -> dict[str, Any]:
    options = schema.get("anyOf")
    if options:
        non_null = [o for o in options if o.get("type") != "null"]
        rest = {k: v for k, v in schema.items() if k != "anyOf"}
        schema = {**(non_null[0] if len(non_null) == 1 else {"anyOf": non_null}), **rest}
    param: dict[str, Any] = {"name": name, "in": "query", "required": False, "schema": schema}
    if "description" in schema:
        param["description"] = schema["description"]
    return param


def _problem_responses(statuses: Iterable[int]) -> dict[str, Any]:
    return {str(s): {"$ref": f"#/components/responses/{PROBLEMS[s][0]}"} for s in statuses}


def _operation(op: Operation, components: dict[str, Any]) -> dict[str, Any]:
    res = op.resource
    title = res.title
    out: dict[str, Any] = {"operationId": op.name.replace(".", "_"), "tags": [res.name]}
    if op.kind != "list" and op.kind != "create":
        out["parameters"] = [
            {"name": "id", "in": "path", "required": True, "schema": {"type": "integer", "minimum": 1}}
        ]
    record = {"$ref": REF.format(model=title)}
    if op.child is not None:
        item = op.child.schema.__name__
        out["summary"] = op.child.summary
        ok = {
            "200": {
                "description": f"All {op.child.name} of the {res.singular}",
                "content": {"application/json": {"schema": {"$ref": REF.format(model=f"{item}List")}}},
            }
        }
    elif op.kind == "list":
        query = _model_schema(res.query, components)
        out["summary"] = f"List {res.name} (filters, limit, offset)"
        out["parameters"] = [_parameter(n, s) for n, s in query.get("properties", {}).items()]
        ok = {
            "200": {
                "description": f"A page of {res.name}",
                "content": {"application/json": {"schema": {"$ref": REF.format(model=f"{title}List")}}},
            }
        }
    elif op.kind == "get":
        out["summary"] = f"One {res.singular}"
        ok = {
            "200": {"description": f"The {res.singular}", "content": {"application/json": {"schema": record}}}
        }
    elif op.kind == "create":
        out["summary"] = f"Create a {res.singular}"
        out["requestBody"] = {
            "required": True,
            "content": {
                "application/json": {"schema": {"$ref": REF.format(model=res.create_schema.__name__)}}
            },
        }
        ok = {
            "201": {
                "description": f"The new {res.singular}, whole, with its id",
                "headers": {"Location": {"schema": {"type": "string"}}},
                "content": {"application/json": {"schema": record}},
            }
        }
    else:
        verb = "Change" if op.kind == "update" else "Change (PUT is a patch too)"
        out["summary"] = f"{verb} fields of a {res.singular}; omitted fields stay"
        out["requestBody"] = {
            "required": True,
            "content": {
                "application/json": {"schema": {"$ref": REF.format(model=res.patch_schema.__name__)}}
            },
        }
        ok = {
            "200": {
                "description": f"The {res.singular} after the change",
                "content": {"application/json": {"schema": record}},
            }
        }
    out["responses"] = {**ok, **_problem_responses(ERRORS_BY_KIND[op.kind])}
    return out


def _schemas(operations: Sequence[Operation]) -> dict[str, Any]:
    schemas: dict[str, Any] = {"Problem": PROBLEM_SCHEMA}
    for res in dict.fromkeys(op.resource for op in operations):
        create = _model_schema(res.create_schema, schemas)
        schemas[res.create_schema.__name__] = create
        schemas[res.patch_schema.__name__] = _without_null(
            _model_schema(res.patch_schema, schemas), not_nullable(res.create_schema)
        )
        schemas[res.title] = _record_schema(create, res.singular)
        schemas[f"{res.title}List"] = _list_schema(res.title)
        for child in res.children:
            name = child.schema.__name__
            schemas[name] = _model_schema(child.schema, schemas)
            schemas[f"{name}List"] = _list_schema(name)
    return schemas


def _without_null(schema: dict[str, Any], fields: frozenset[str]) -> dict[str, Any]:
    """A PATCH schema where ``fields`` may be omitted but not null (``inputs.nulls_refused`` enforces it)."""
    for name in fields & schema.get("properties", {}).keys():
        prop = schema["properties"][name]
        options = [o for o in prop.get("anyOf", ()) if o.get("type") != "null"]
        if "anyOf" in prop and len(options) < len(prop["anyOf"]):
            rest = {k: v for k, v in prop.items() if k not in ("anyOf", "default")}
            schema["properties"][name] = {**(options[0] if len(options) == 1 else {"anyOf": options}), **rest}
    return schema


def _list_schema(item: str) -> dict[str, Any]:
    return {
        "type": "object",
        "required": ["items", "total"],
        "properties": {
            "items": {"type": "array", "items": {"$ref": REF.format(model=item)}},
            "total": {"type": "integer", "minimum": 0},
        },
    }


def build_document(router: web.UrlDispatcher, operations: Sequence[Operation]) -> dict[str, Any]:
    """The OpenAPI document for every route of ``router`` that the API knows how to describe."""
    by_name = {op.name: op for op in operations}
    schemas = _schemas(operations)
    paths: dict[str, dict[str, Any]] = {}
    for route in router.routes():
        name = route.name or ""
        if route.method == "HEAD":
            continue  # implied by GET
        if name in by_name:
            operation = _operation(by_name[name], schemas)
        elif name in STATIC_OPERATIONS:
            operation = STATIC_OPERATIONS[name]
        else:
            continue  # other connectors' routes (webhooks) are described by their own platforms
        paths.setdefault(route.resource.canonical, {})[route.method.lower()] = operation  # type: ignore[union-attr]
    return {
        "openapi": "3.1.0",
        "info": {
            "title": "CRM assistant API",
            "version": _version(),
            "description": "The CRM REST API. Lists answer {items, total}; errors are RFC 9457 "
            "problem details; every call but /health needs 'Authorization: Bearer crm_...'.",
        },
        "jsonSchemaDialect": "https://spec.openapis.org/oas/3.1/dialect/base",
        "security": [{"bearerAuth": []}],
        "paths": paths,
        "components": {
            "schemas": schemas,
            "responses": {
                name: {
                    "description": desc,
                    "content": {PROBLEM_JSON: {"schema": {"$ref": REF.format(model="Problem")}}},
                }
                for name, desc in PROBLEMS.values()
            },
            "securitySchemes": {
                "bearerAuth": {
                    "type": "http",
                    "scheme": "bearer",
                    "description": "An API token from `crm-assistant users create --token`",
                }
            },
        },
    }


def openapi_handler(operations: Sequence[Operation]) -> Any:
    cache: dict[str, dict[str, Any]] = {}

    async def openapi(request: web.Request) -> web.Response:
        if "doc" not in cache:
            cache["doc"] = build_document(request.app.router, operations)
        return web.json_response(cache["doc"])

    return openapi
