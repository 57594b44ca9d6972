"""Problem details and the input checks that produce them: pure functions, no server, no store."""

from __future__ import annotations

import json

import pytest
from aiohttp import web
from multidict import MultiDict

from connectors.rest_api import problems
from connectors.rest_api.inputs import MAX_ID, decode_json, parse_id, parse_query, unstorable
from connectors.rest_api.problems import ProblemError
from connectors.rest_api.resources import DealQuery
from crm_store.services.errors import Conflict, FieldError, NotFound, PermissionDenied, ValidationFailed


def test_validation_failure_names_every_field() -> None:
    exc = ValidationFailed(
        [FieldError("email", "not a valid e-mail address"), FieldError("phone", "too short")]
    )
    body = problems.from_crm_error(exc).to_dict()
    assert body["status"] == 422 and body["type"] == "/problems/validation-failed"
    assert body["errors"] == [
        {"field": "email", "message": "not a valid e-mail address"},
        {"field": "phone", "message": "too short"},
    ]
    assert "email" in body["detail"] and "phone" in body["detail"]


def test_conflict_carries_the_existing_id() -> None:
    body = problems.from_crm_error(
        Conflict("a contact with e-mail a@b.example exists", existing_id=7, field_name="email")
    ).to_dict()
    assert (body["status"], body["existing_id"], body["errors"][0]["field"]) == (409, 7, "email")


@pytest.mark.parametrize(
    ("exc", "status", "type_"),
    [
        (NotFound("deal 3 does not exist"), 404, "/problems/not-found"),
        (PermissionDenied("your role may not do this (deal)"), 403, "/problems/forbidden"),
    ],
)
def test_store_errors_keep_their_status(exc: Exception, status: int, type_: str) -> None:
    body = problems.from_crm_error(exc).to_dict()  # type: ignore[arg-type]
    assert (body["status"], body["type"], body["detail"]) == (status, type_, str(exc))
    assert "errors" not in body


def test_response_is_problem_json() -> None:
    response = problems.unauthorized(token_given=True).response()
    assert response.status == 401
    assert response.content_type == "application/problem+json"
    assert response.headers["WWW-Authenticate"] == 'Bearer realm="crm-assistant", error="invalid_token"'
    assert response.text is not None and json.loads(response.text)["title"] == "Unauthorized"
    assert "error=" not in problems.unauthorized(token_given=False).headers["WWW-Authenticate"]


def test_internal_error_shows_only_a_reference() -> None:
    body = problems.internal_error("7f3a9c01").to_dict()
    assert body == {
        "type": "/problems/internal-error",
        "title": "Internal server error",
        "status": 500,
        "detail": "Sorry, that failed (ref 7f3a9c01).",
        "reference": "7f3a9c01",
    }


def test_http_exceptions_keep_their_headers_but_not_their_body_type() -> None:
    exc = web.HTTPMethodNotAllowed("DELETE", ["GET", "PATCH"])
    problem = problems.from_http_exception(exc, method="DELETE", path="/api/v1/contacts/1")
    assert problem.status == 405 and problem.headers["Allow"] == "GET,PATCH"
    assert "Content-Type" not in problem.headers
    assert "DELETE" in problem.detail and "GET,PATCH" in problem.detail
    too_large = problems.from_http_exception(
        web.HTTPRequestEntityTooLarge(100, 250), method="POST", path="/x"
    )
    assert too_large.status == 413 and "100" in too_large.detail


@pytest.mark.parametrize(
    "raw",
    [
        b"",
        b"  ",
        b"{",
        b"{'a': 1}",
        b'{"a": NaN}',
        b'{"a": 1e999}',
        b"\xff\xfe{",
        b'{"a": -Infinity}',
        b"[" * 100_000,
    ],
)
def test_malformed_json_is_a_bad_request(raw: bytes) -> None:
    with pytest.raises(ProblemError) as exc:
        decode_json(raw)
    assert exc.value.problem.status == 400


def test_json_that_decodes() -> None:
    assert decode_json('{"name": "Müller", "amount": 1.5}'.encode()) == {"name": "Müller", "amount": 1.5}


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"first_name": "A\x00B"}, "first_name"),
        ({"first_name": "\ud800"}, "first_name"),
        ({"organization_id": MAX_ID + 1}, "organization_id"),
        ({"custom_fields": {"size": 2**64}}, "custom_fields.size"),
        ({"tags": ["ok", "bad\x00"]}, "tags.1"),
        ({"custom_fields": {"k\x00": 1}}, "custom_fields"),
    ],
)
def test_values_the_database_would_refuse_are_named(body: dict, field: str) -> None:
    assert [e.field for e in unstorable(body)] == [field]


def test_storable_values_pass_and_deep_nesting_does_not() -> None:
    assert (
        list(unstorable({"organization_id": MAX_ID, "amount": 2**40, "custom_fields": {"a": [1, "x"]}})) == []
    )
    deep: dict = {}
    node = deep
    for _ in range(200):
        node["n"] = {}
        node = node["n"]
    assert [e.message for e in unstorable(deep)] == ["is nested more than 32 levels deep"]


@pytest.mark.parametrize(
    ("query", "names"),
    [
        ({"limit": "abc"}, ["limit"]),
        ({"stage": "maybe"}, ["stage"]),
        ({"owner_id": "x", "offset": "-1"}, ["owner_id", "offset"]),
        ({"close_from": "yesterday"}, ["close_from"]),
        ({"stages": "won"}, ["stages"]),
        ({"limit": "501"}, ["limit"]),
    ],
)
def test_bad_query_parameters_are_named(query: dict[str, str], names: list[str]) -> None:
    with pytest.raises(ProblemError) as exc:
        parse_query(DealQuery, MultiDict(query))
    problem = exc.value.problem
    assert problem.status == 400 and sorted(e.field for e in problem.errors) == sorted(names)


def test_repeated_query_parameter_is_refused_and_good_ones_parse() -> None:
    with pytest.raises(ProblemError) as exc:
        parse_query(DealQuery, MultiDict([("stage", "won"), ("stage", "lost")]))
    assert exc.value.problem.errors[0].field == "stage"
    query = parse_query(DealQuery, MultiDict({"stage": "won", "owner_id": "3", "close_from": "2026-03-01"}))
    assert (query.stage, query.owner_id, str(query.close_from), query.limit) == ("won", 3, "2026-03-01", 50)


@pytest.mark.parametrize("raw", ["0", "abc", "99999999999", "1" * 5000, str(MAX_ID + 1)])
def test_impossible_ids_are_not_found(raw: str) -> None:
    with pytest.raises(ProblemError) as exc:
        parse_id(raw, "contact")
    assert exc.value.problem.status == 404


def test_possible_id_parses() -> None:
    assert parse_id("42", "contact") == 42
