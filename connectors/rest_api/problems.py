"""RFC 9457 problem details: the one shape every error of the HTTP API takes.

    {"type": "/problems/validation-failed", "title": "Validation failed", "status": 422,
     "detail": "email: not a valid e-mail address", "errors": [{"field": "email", "message": "..."}]}

Handlers raise ``ProblemError(problem)``; the middleware turns it (and the store's error tree, and
aiohttp's HTTP exceptions) into a response. User-facing wording of the API lives here.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from aiohttp import hdrs, web

from crm_store.services.errors import Conflict, CrmError, FieldError, ValidationFailed

CONTENT_TYPE = "application/problem+json"
BLANK = "about:blank"  # RFC 9457 §4.2.1: no semantics beyond the HTTP status
TYPE_PREFIX = "/problems/"
BEARER_REALM = 'Bearer realm="crm-assistant"'


@dataclass(frozen=True)
class Problem:
    status: int
    title: str
    detail: str
    type: str = BLANK
    errors: tuple[FieldError, ...] = ()
    extra: Mapping[str, Any] = field(default_factory=dict)
    headers: Mapping[str, str] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        body: dict[str, Any] = {
            "type": self.type,
            "title": self.title,
            "status": self.status,
            "detail": self.detail,
        }
        if self.errors:
            body["errors"] = [{"field": e.field, "message": e.message} for e in self.errors]
        body.update(self.extra)
        return body

    def response(self) -> web.Response:
        return web.json_response(
            self.to_dict(),
            status=self.status,
            headers=dict(self.headers),
            content_type=CONTENT_TYPE,
            dumps=_dumps,
        )


class ProblemError(Exception):
    """Raised by handlers to answer with a problem; never reaches the client as anything else."""

    def __init__(self, problem: Problem) -> None:
        super().__init__(problem.detail)
        self.problem = problem


def _dumps(data: Any) -> str:
    return json.dumps(data, ensure_ascii=False, default=str)


def _type(slug: str) -> str:
    return TYPE_PREFIX + slug


# --- the store's error tree -----------------------------------------------------------------------
def from_crm_error(exc: CrmError) -> Problem:
    if isinstance(exc, ValidationFailed):
        return Problem(422, exc.title, exc.detail, _type("validation-failed"), tuple(exc.errors))
    if isinstance(exc, Conflict):
        errors = (FieldError(exc.field, exc.detail),) if exc.field else ()
        return Problem(
            409, exc.title, exc.detail, _type("conflict"), errors, {"existing_id": exc.existing_id}
        )
    slug = {403: "forbidden", 404: "not-found"}.get(exc.status, "bad-request")
    return Problem(exc.status, exc.title, exc.detail, _type(slug))


# --- the request itself -----------------------------------------------------------------------------
def bad_request(detail: str, errors: Iterable[FieldError] = ()) -> Problem:
    return Problem(400, "Bad request", detail, _type("bad-request"), tuple(errors))


def invalid_query(errors: Iterable[FieldError]) -> Problem:
    errors = tuple(errors)
    names = ", ".join(dict.fromkeys(e.field for e in errors))
    detail = "; ".join(f"{e.field}: {e.message}" for e in errors)
    return bad_request(f"invalid query parameter ({names}): {detail}", errors)


def invalid_body(errors: Iterable[FieldError]) -> Problem:
    return from_crm_error(ValidationFailed(list(errors)))


def unauthorized(*, token_given: bool) -> Problem:
    if token_given:
        return Problem(
            401,
            "Unauthorized",
            "the bearer token is invalid, expired or revoked, or its user is inactive",
            _type("unauthorized"),
            headers={hdrs.WWW_AUTHENTICATE: f'{BEARER_REALM}, error="invalid_token"'},
        )
    return Problem(
        401,
        "Unauthorized",
        "send an API token: 'Authorization: Bearer crm_...'",
        _type("unauthorized"),
        headers={hdrs.WWW_AUTHENTICATE: BEARER_REALM},
    )


def not_found(what: str) -> Problem:
    return Problem(404, "Not found", f"{what} does not exist", _type("not-found"))


# --- the server ---------------------------------------------------------------------------------------
def store_unavailable() -> Problem:
    return Problem(
        503,
        "Service unavailable",
        "the CRM store cannot be reached; nothing was changed, please retry shortly",
        _type("store-unavailable"),
        headers={hdrs.RETRY_AFTER: "5"},
    )


def internal_error(reference: str) -> Problem:
    return Problem(
        500,
        "Internal server error",
        f"Sorry, that failed (ref {reference}).",
        _type("internal-error"),
        extra={"reference": reference},
    )


def from_http_exception(exc: web.HTTPException, *, method: str, path: str) -> Problem:
    """aiohttp's own errors (no route, wrong method, body too large) in our shape, headers kept."""
    headers = {k: v for k, v in exc.headers.items() if k.lower() not in ("content-type", "content-length")}
    status = exc.status
    if status == 404:
        detail = f"there is no resource at {path}"
    elif status == 405:
        detail = f"{method} is not allowed here; use {exc.headers.get(hdrs.ALLOW, 'another method')}"
    elif status == 413:
        detail = f"the request body is too large ({(exc.text or '').strip()})"
    else:
        text = (exc.text or "").strip()
        detail = text if text and not text.startswith(f"{status}:") else exc.reason
    return Problem(status, exc.reason, detail, headers=headers)
