"""Request bodies and query strings, checked before anything reaches the store.

Bodies: valid JSON (else 400), an object (else 422), nothing the database would choke on
(NUL characters, lone surrogates, ids or integers out of range, absurd nesting: 422 naming the field).
The field-level rules (types, e-mail, currency, unknown fields) are the services' input schemas.
Query strings: validated by a pydantic model per resource; wrong types or unknown names give 400.
"""

from __future__ import annotations

import json
import math
from collections.abc import Iterator
from typing import Any, TypeVar, get_args

from aiohttp import web
from multidict import MultiMapping
from pydantic import BaseModel, ValidationError

from connectors.rest_api.problems import ProblemError, bad_request, invalid_body, invalid_query, not_found
from crm_store.services.errors import FieldError

Q = TypeVar("Q", bound=BaseModel)

MAX_ID = 2**31 - 1  # ids are INTEGER columns on PostgreSQL
MAX_INT = 2**63 - 1  # what SQLite and BIGINT can hold
MAX_DEPTH = 32


def _finite_float(text: str) -> float:
    value = float(text)
    if not math.isfinite(value):
        raise ValueError(f"number out of range: {text[:40]}")
    return value


def _reject_constant(name: str) -> Any:
    raise ValueError(f"{name} is not valid JSON")


def decode_json(raw: bytes) -> Any:
    """Strict JSON: no NaN/Infinity, no numbers that overflow a float; a 400 problem otherwise."""
    if not raw.strip():
        raise ProblemError(bad_request("the request body is empty; send a JSON object"))
    try:
        return json.loads(raw, parse_float=_finite_float, parse_constant=_reject_constant)
    except (ValueError, RecursionError):  # JSONDecodeError and UnicodeDecodeError are ValueErrors
        raise ProblemError(bad_request("the request body is not valid JSON")) from None


async def read_json_object(request: web.Request) -> dict[str, Any]:
    raw = await request.read()  # aiohttp raises 413 beyond the app's client_max_size
    data = decode_json(raw)
    if not isinstance(data, dict):
        raise ProblemError(invalid_body([FieldError("body", "must be a JSON object")]))
    errors = list(unstorable(data))
    if errors:
        raise ProblemError(invalid_body(errors))
    return data


def _is_id(key: str) -> bool:
    return key == "id" or key.endswith("_id")


def _text_error(text: str) -> str | None:
    if "\x00" in text:
        return "must not contain NUL characters"
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return "is not valid Unicode"
    return None


def unstorable(data: dict[str, Any]) -> Iterator[FieldError]:
    """Values no schema would reject but the database would; iterative, so deep nesting is safe."""
    stack: list[tuple[str, str, Any, int]] = [("", "", data, 0)]
    while stack:
        path, key, value, depth = stack.pop()
        where = path or "body"
        if depth > MAX_DEPTH:
            yield FieldError(where, f"is nested more than {MAX_DEPTH} levels deep")
            continue
        if isinstance(value, dict):
            for k, v in value.items():
                if (problem := _text_error(k)) is not None:
                    yield FieldError(where, f"has a key that {problem}")
                    continue
                stack.append((f"{path}.{k}" if path else k, k, v, depth + 1))
        elif isinstance(value, list):
            stack.extend((f"{where}.{i}", key, v, depth + 1) for i, v in enumerate(value))
        elif isinstance(value, str):
            if (problem := _text_error(value)) is not None:
                yield FieldError(where, problem)
        elif (
            isinstance(value, int)
            and not isinstance(value, bool)
            and (abs(value) > MAX_INT or (depth == 1 and _is_id(key) and value > MAX_ID))
        ):
            yield FieldError(where, "is out of range")


def not_nullable(create_schema: type[BaseModel]) -> frozenset[str]:
    """Fields a record always has: its create schema does not accept null for them. A PATCH schema
    makes every field optional (``X | None = None``), so null must be refused there explicitly."""
    names = []
    for name, info in create_schema.model_fields.items():
        annotation = info.annotation
        if annotation is not None and type(None) not in get_args(annotation) and annotation is not Any:
            names.append(name)
    return frozenset(names)


def nulls_refused(data: dict[str, Any], create_schema: type[BaseModel]) -> Iterator[FieldError]:
    """PATCH ``{"name": null}``: found by the API fuzzer, it reached the services as None (a 500)."""
    required = not_nullable(create_schema)
    for key, value in data.items():
        if value is None and key in required:
            yield FieldError(key, "must not be null; omit the field to leave it unchanged")


def parse_query(model: type[Q], query: MultiMapping[str]) -> Q:
    """Validate query parameters with ``model`` (extra=forbid); a 400 problem naming each bad one."""
    values: dict[str, str] = {}
    errors: list[FieldError] = []
    for name in dict.fromkeys(query.keys()):
        given = query.getall(name)
        if len(given) > 1:
            errors.append(FieldError(name, "given more than once"))
        elif (problem := _text_error(given[0])) is not None:
            errors.append(FieldError(name, problem))
        else:
            values[name] = given[0]
    if not errors:
        try:
            return model.model_validate(values)
        except ValidationError as exc:
            for err in exc.errors():
                name = ".".join(str(p) for p in err["loc"]) or "query"
                msg = "unknown query parameter" if err["type"] == "extra_forbidden" else err["msg"]
                errors.append(FieldError(name, msg.removeprefix("Value error, ")))
    raise ProblemError(invalid_query(errors))


def parse_id(raw: str, what: str) -> int:
    """A path id; anything that cannot be a stored id is simply not there (404)."""
    if not (raw.isascii() and raw.isdigit() and len(raw) <= 10) or not 1 <= int(raw) <= MAX_ID:
        raise ProblemError(not_found(f"{what} {raw[:20]}"))
    return int(raw)
