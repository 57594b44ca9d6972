"""The REST API over the real store (SQLite and PostgreSQL), through aiohttp's test client."""

from __future__ import annotations

import asyncio
import json
import re
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

import pytest
from aiohttp import web
from aiohttp.test_utils import TestClient, TestServer
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from assistant.server import DB_KEY, SETTINGS_KEY, build_app
from assistant.settings import Settings
from crm_store.db import Database
from crm_store.models import Deal
from crm_store.services import Actor, CrmServices

MAX_BODY = 20_000
AClient = Callable[[web.Application], Awaitable[TestClient]]


def issue_token(db: Database, *, email: str, role: str, team: str | None = None) -> str:
    with db.session() as s:
        users = CrmServices(s, Actor.system("test")).users
        team_id = users.create_team(team).id if team else None
        user = users.create(
            {"email": email, "name": email.split("@")[0].title(), "role": role, "team_id": team_id}
        )
        return users.issue_token(user.id)


def team_of(db: Database, name: str) -> int:
    from sqlalchemy import select

    from crm_store.models import Team

    with db.session() as s:
        return s.execute(select(Team.id).where(Team.name == name)).scalar_one()


@dataclass
class Api:
    client: TestClient
    db: Database
    token: str  # an admin's

    async def call(
        self, method: str, path: str, body: Any = None, *, token: str | None = None, raw: bytes | None = None
    ) -> tuple[int, Any, Any]:
        headers = {"Authorization": f"Bearer {token or self.token}"}
        data = raw if raw is not None else (json.dumps(body) if body is not None else None)
        if data is not None:
            headers["Content-Type"] = "application/json"
        async with self.client.request(method, path, data=data, headers=headers) as resp:
            text = await resp.text()
            payload = json.loads(text) if text else None
            if resp.status >= 400:
                assert resp.content_type == "application/problem+json", text
                assert payload["status"] == resp.status
            return resp.status, payload, resp.headers

    async def create(
        self, resource: str, body: dict[str, Any], *, token: str | None = None
    ) -> dict[str, Any]:
        status, record, _ = await self.call("POST", f"/api/v1/{resource}", body, token=token)
        assert status == 201, record
        return record


@pytest.fixture
async def api(db: Database, aiohttp_client: AClient) -> Api:
    app = build_app(Settings(database_url=db.url, max_body_bytes=MAX_BODY), db=db)
    client = await aiohttp_client(app)
    return Api(client, db, issue_token(db, email="admin@x.example", role="admin"))


# --- CRUD ------------------------------------------------------------------------------------------

CRUD = [
    (
        "organizations",
        {"name": "Acme", "domain": "Acme.example", "industry": "Manufacturing"},
        {"industry": "Software"},
        {"domain": "acme.example"},
    ),
    (
        "contacts",
        {
            "first_name": "Anna",
            "last_name": "Schmidt",
            "email": "Anna@Acme.example",
            "phone": "0170 5550199",
            "job_title": "CTO",
        },
        {"job_title": "CEO"},
        {"email": "anna@acme.example", "phone": "+491705550199"},
    ),
    (
        "activities",
        {
            "type": "call",
            "contact_id": "<contact>",
            "summary": "wants a quote by Friday",
            "occurred_at": "2026-03-02T10:00:00+01:00",
        },
        {"summary": "wants a quote by Monday"},
        {"type": "call", "user_id": 1},
    ),
    (
        "tasks",
        {"title": "Send Acme the proposal", "due_at": "2026-03-09T09:00:00+01:00", "contact_id": "<contact>"},
        {"status": "done"},
        {"status": "open"},
    ),
    (
        "deals",
        {
            "name": "Initech",
            "amount": 40000,
            "currency": "eur",
            "stage": "proposal",
            "expected_close_date": "2027-03-31",
        },
        {"stage": "negotiation"},
        {"currency": "EUR", "probability": 50},
    ),
    (
        "tickets",
        {
            "subject": "Login fails",
            "description": "since this morning",
            "priority": "high",
            "queue": "account",
            "requester_contact_id": "<contact>",
        },
        {"status": "open"},
        {"status": "new", "number": 1000},
    ),
    (
        "users",
        {"email": "Rep@X.example", "name": "Rita Rep", "role": "rep"},
        {"name": "Rita Renamed"},
        {"email": "rep@x.example"},
    ),
]


@pytest.mark.parametrize(("resource", "body", "patch", "normalised"), CRUD, ids=[c[0] for c in CRUD])
async def test_crud(api: Api, resource: str, body: dict, patch: dict, normalised: dict) -> None:
    if "<contact>" in body.values():
        contact = await api.create("contacts", {"first_name": "Bob", "last_name": "Stone"})
        body = {k: contact["id"] if v == "<contact>" else v for k, v in body.items()}

    status, created, headers = await api.call("POST", f"/api/v1/{resource}", body)
    assert status == 201, created
    assert isinstance(created["id"], int) and headers["Location"] == f"/api/v1/{resource}/{created['id']}"
    assert {k: created[k] for k in normalised} == normalised

    status, fetched, _ = await api.call("GET", headers["Location"])
    assert status == 200 and fetched["id"] == created["id"]

    status, changed, _ = await api.call("PATCH", headers["Location"], patch)
    assert status == 200 and {k: changed[k] for k in patch} == patch

    status, listed, _ = await api.call("GET", f"/api/v1/{resource}")
    assert status == 200 and set(listed) == {"items", "total"}
    assert created["id"] in [item["id"] for item in listed["items"]]

    status, missing, _ = await api.call("GET", f"/api/v1/{resource}/{created['id'] + 1000}")
    assert status == 404 and missing["type"] == "/problems/not-found"


async def test_put_is_a_patch(api: Api) -> None:
    contact = await api.create("contacts", {"first_name": "Anna", "last_name": "Schmidt", "job_title": "CTO"})
    status, changed, _ = await api.call("PUT", f"/api/v1/contacts/{contact['id']}", {"job_title": "CEO"})
    assert status == 200 and (changed["first_name"], changed["job_title"]) == ("Anna", "CEO")


# --- filters, pagination, search -------------------------------------------------------------------


async def test_filters_and_pagination(api: Api) -> None:
    acme = await api.create("organizations", {"name": "Acme"})
    globex = await api.create("organizations", {"name": "Globex"})
    rep = issue_token(api.db, email="rep@x.example", role="rep")
    stages = ["lead", "proposal", "proposal", "won", "proposal"]
    deals = [
        await api.create(
            "deals",
            {
                "name": f"D{i}",
                "stage": stage,
                "amount": 1000 * i,
                "organization_id": (acme if i % 2 else globex)["id"],
            },
            token=rep if i < 2 else None,
        )
        for i, stage in enumerate(stages)
    ]
    ids = [d["id"] for d in deals]

    _, page, _ = await api.call("GET", "/api/v1/deals?stage=proposal")
    assert page["total"] == 3 and {d["id"] for d in page["items"]} == {ids[1], ids[2], ids[4]}
    _, page, _ = await api.call("GET", f"/api/v1/deals?owner_id={deals[0]['owner_id']}")
    assert {d["id"] for d in page["items"]} == {ids[0], ids[1]}
    _, page, _ = await api.call("GET", f"/api/v1/deals?organization_id={acme['id']}&stage=proposal")
    assert {d["id"] for d in page["items"]} == {ids[1]}

    _, all_deals, _ = await api.call("GET", "/api/v1/deals")
    _, page, _ = await api.call("GET", "/api/v1/deals?limit=2&offset=2")
    assert page["total"] == 5 and [d["id"] for d in page["items"]] == [
        d["id"] for d in all_deals["items"][2:4]
    ]
    _, page, _ = await api.call("GET", "/api/v1/deals?limit=2&offset=4")
    assert len(page["items"]) == 1 and page["total"] == 5

    anna = await api.create(
        "contacts", {"first_name": "Anna", "last_name": "A", "organization_id": acme["id"]}
    )
    await api.create("contacts", {"first_name": "Gina", "last_name": "G", "organization_id": globex["id"]})
    _, page, _ = await api.call("GET", f"/api/v1/contacts?organization_id={acme['id']}")
    assert [c["id"] for c in page["items"]] == [anna["id"]] and page["total"] == 1

    await api.create("activities", {"type": "call", "contact_id": anna["id"]})
    await api.create("activities", {"type": "note", "organization_id": globex["id"]})
    _, page, _ = await api.call("GET", f"/api/v1/activities?contact_id={anna['id']}")
    assert [a["type"] for a in page["items"]] == ["call"]
    _, page, _ = await api.call("GET", f"/api/v1/activities?organization_id={acme['id']}")
    assert page["total"] == 1  # inherited from the contact

    task = await api.create("tasks", {"title": "Call back", "contact_id": anna["id"]})
    await api.create("tasks", {"title": "Done already", "status": "done"})
    _, page, _ = await api.call("GET", "/api/v1/tasks?status=open")
    assert [t["id"] for t in page["items"]] == [task["id"]]
    _, page, _ = await api.call(
        "GET", f"/api/v1/tasks?assignee_id={task['assignee_id']}&contact_id={anna['id']}"
    )
    assert page["total"] == 1

    await api.create(
        "tickets", {"subject": "Invoice wrong", "queue": "billing", "requester_contact_id": anna["id"]}
    )
    await api.create("tickets", {"subject": "Cannot log in", "queue": "account"})
    _, page, _ = await api.call("GET", "/api/v1/tickets?queue=billing")
    assert [t["subject"] for t in page["items"]] == ["Invoice wrong"]
    _, page, _ = await api.call("GET", f"/api/v1/tickets?requester_contact_id={anna['id']}&status=new")
    assert page["total"] == 1


@pytest.mark.parametrize("query", ["Mueller", "muller", "MÜLLER", "jürgen müller", "Juergen"])
async def test_contact_search_forgives_umlauts(api: Api, query: str) -> None:
    mueller = await api.create(
        "contacts", {"first_name": "Jürgen", "last_name": "Müller", "email": "jm@m.example"}
    )
    await api.create("contacts", {"first_name": "Anna", "last_name": "Schmidt"})
    status, page, _ = await api.call("GET", f"/api/v1/contacts?q={query}")
    assert status == 200 and page["items"][0]["id"] == mueller["id"]


async def test_organization_search(api: Api) -> None:
    org = await api.create("organizations", {"name": "Müller GmbH"})
    await api.create("organizations", {"name": "Globex Ltd."})
    _, page, _ = await api.call("GET", "/api/v1/organizations?q=mueller")
    assert [o["id"] for o in page["items"]] == [org["id"]]


# --- who may do what --------------------------------------------------------------------------------


async def test_requests_without_a_valid_token_are_401(api: Api) -> None:
    async with api.client.get("/api/v1/contacts") as resp:
        assert resp.status == 401 and resp.headers["WWW-Authenticate"].startswith("Bearer")
        assert (await resp.json(content_type=None))["type"] == "/problems/unauthorized"
    for header in ("Bearer crm_not-a-real-token", "Basic YWRtaW46YWRtaW4=", "Bearer "):
        async with api.client.post(
            "/api/v1/contacts", json={"last_name": "X"}, headers={"Authorization": header}
        ) as resp:
            assert resp.status == 401 and "Bearer" in resp.headers["WWW-Authenticate"]
    _, page, _ = await api.call("GET", "/api/v1/contacts")
    assert page["total"] == 0  # nothing was written by the refused POSTs


async def test_rep_cannot_change_another_teams_deal(api: Api) -> None:
    north = issue_token(api.db, email="north@x.example", role="rep", team="North")
    north2_id = team_of(api.db, "North")
    with api.db.session() as s:
        users = CrmServices(s, Actor.system("test")).users
        user = users.create({"email": "north2@x.example", "name": "N2", "role": "rep", "team_id": north2_id})
        north2 = users.issue_token(user.id)
    south = issue_token(api.db, email="south@x.example", role="rep", team="South")
    deal = await api.create("deals", {"name": "Northern deal", "amount": 1000}, token=north)

    status, _, _ = await api.call(
        "PATCH", f"/api/v1/deals/{deal['id']}", {"stage": "qualified"}, token=north2
    )
    assert status == 200
    status, problem, _ = await api.call(
        "PATCH", f"/api/v1/deals/{deal['id']}", {"stage": "lost"}, token=south
    )
    assert status == 403 and problem["type"] == "/problems/forbidden"
    with api.db.session() as s:
        assert s.get(Deal, deal["id"]).stage == "qualified"  # type: ignore[union-attr]


async def test_agents_sell_nothing_and_only_admins_create_users(api: Api) -> None:
    agent = issue_token(api.db, email="agent@x.example", role="agent")
    manager = issue_token(api.db, email="manager@x.example", role="manager")
    rep = issue_token(api.db, email="rep@x.example", role="rep")
    status, _, _ = await api.call("POST", "/api/v1/deals", {"name": "Agents sell nothing"}, token=agent)
    assert status == 403
    new_user = {"email": "new@x.example", "name": "New", "role": "admin"}
    for token in (rep, manager, agent):
        status, _, _ = await api.call("POST", "/api/v1/users", new_user, token=token)
        assert status == 403
    status, _, _ = await api.call("POST", "/api/v1/users", new_user)
    assert status == 201


# --- bad input --------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("resource", "body", "field"),
    [
        ("contacts", {"last_name": "X", "email": "not-an-email"}, "email"),
        ("contacts", {"last_name": "X", "phone": "12"}, "phone"),
        ("contacts", {"last_name": "X", "shoe_size": 42}, "shoe_size"),
        ("contacts", {"last_name": "X", "organization_id": 999}, "organization_id"),
        ("contacts", {"last_name": "X", "organization_id": 2**40}, "organization_id"),
        ("contacts", {"last_name": "X\x00"}, "last_name"),
        ("deals", {"name": "D", "currency": "XYZ"}, "currency"),
        ("deals", {"name": "D", "stage": "maybe"}, "stage"),
        ("deals", {"name": "D", "amount": "lots"}, "amount"),
        ("tasks", {"title": "T", "due_at": "2026-03-09T09:00:00"}, "due_at"),
        ("activities", {"type": "fax", "summary": "x"}, "type"),
    ],
)
async def test_invalid_values_are_422_naming_the_field(
    api: Api, resource: str, body: dict, field: str
) -> None:
    status, problem, _ = await api.call("POST", f"/api/v1/{resource}", body)
    assert status == 422, problem
    assert field in [e["field"] for e in problem["errors"]]


async def test_invalid_patch_is_422_and_changes_nothing(api: Api) -> None:
    deal = await api.create("deals", {"name": "D", "stage": "proposal"})
    status, problem, _ = await api.call(
        "PATCH", f"/api/v1/deals/{deal['id']}", {"stage": "won", "currency": "XX"}
    )
    assert status == 422 and [e["field"] for e in problem["errors"]] == ["currency"]
    _, again, _ = await api.call("GET", f"/api/v1/deals/{deal['id']}")
    assert again["stage"] == "proposal"


async def test_duplicate_contact_email_is_409_with_the_existing_id(api: Api) -> None:
    anna = await api.create(
        "contacts", {"first_name": "Anna", "last_name": "Schmidt", "email": "anna@acme.example"}
    )
    status, problem, _ = await api.call(
        "POST", "/api/v1/contacts", {"last_name": "Other", "email": "ANNA@acme.example"}
    )
    assert status == 409 and problem["existing_id"] == anna["id"] and problem["errors"][0]["field"] == "email"


@pytest.mark.parametrize(
    ("raw", "status"),
    [
        (b'{"last_name": "X",', 400),
        (b"", 400),
        (b'{"last_name": NaN}', 400),
        (b"\xff\xfe\x00", 400),
        (b'["last_name", "X"]', 422),
        (b'"just a string"', 422),
        (b"null", 422),
    ],
)
async def test_malformed_bodies(api: Api, raw: bytes, status: int) -> None:
    got, problem, _ = await api.call("POST", "/api/v1/contacts", raw=raw)
    assert got == status, problem
    _, page, _ = await api.call("GET", "/api/v1/contacts")
    assert page["total"] == 0


async def test_huge_body_is_413(api: Api) -> None:
    body = {"last_name": "X", "custom_fields": {"blob": "x" * (MAX_BODY * 3)}}
    status, problem, _ = await api.call("POST", "/api/v1/contacts", body)
    assert status == 413 and problem["title"] == "Request Entity Too Large"
    _, page, _ = await api.call("GET", "/api/v1/contacts")
    assert page["total"] == 0


@pytest.mark.parametrize(
    ("path", "param"),
    [
        ("/api/v1/contacts?limit=abc", "limit"),
        ("/api/v1/contacts?offset=-3", "offset"),
        ("/api/v1/contacts?organization_id=acme", "organization_id"),
        ("/api/v1/deals?stage=maybe", "stage"),
        ("/api/v1/deals?close_from=someday", "close_from"),
        ("/api/v1/tasks?status=pending", "status"),
        ("/api/v1/tickets?open_only=perhaps", "open_only"),
        ("/api/v1/activities?since=2026-03-01T00:00:00", "since"),
        ("/api/v1/contacts?shoe_size=42", "shoe_size"),
        ("/api/v1/contacts?q=%00", "q"),
        ("/api/v1/contacts?owner_id=99999999999999999999", "owner_id"),
    ],
)
async def test_bad_query_parameters_are_400_naming_them(api: Api, path: str, param: str) -> None:
    status, problem, _ = await api.call("GET", path)
    assert status == 400 and [e["field"] for e in problem["errors"]] == [param]
    assert param in problem["detail"]


@pytest.mark.parametrize(
    ("method", "path", "status"),
    [
        ("GET", "/api/v1/nothing", 404),
        ("GET", "/api/v1/contacts/abc", 404),
        ("GET", "/api/v1/contacts/99999999999999999999999", 404),
        ("PATCH", "/api/v1/contacts/12345", 404),
        ("DELETE", "/api/v1/contacts", 405),
        ("GET", "/no/such/page", 404),
    ],
)
async def test_unknown_routes_are_problems(api: Api, method: str, path: str, status: int) -> None:
    got, problem, headers = await api.call(method, path, {"last_name": "X"} if method == "PATCH" else None)
    assert got == status and problem["title"]
    if status == 405:
        assert "POST" in headers["Allow"]


async def test_unexpected_errors_are_500_with_a_reference_only(
    db: Database, aiohttp_client: AClient, caplog: pytest.LogCaptureFixture
) -> None:
    async def broken(request: web.Request) -> web.Response:
        raise RuntimeError("SELECT secret FROM customers -- internal detail")

    def install(app: web.Application) -> None:
        assert app[DB_KEY] is db and app[SETTINGS_KEY].max_body_bytes == MAX_BODY
        app.router.add_get("/broken", broken)

    client = await aiohttp_client(
        build_app(Settings(database_url=db.url, max_body_bytes=MAX_BODY), db=db, extra=[install])
    )
    async with client.get("/broken") as resp:
        text = await resp.text()
    assert resp.status == 500 and resp.content_type == "application/problem+json"
    body = json.loads(text)
    assert re.fullmatch(r"[0-9a-f]{8}", body["reference"]) and "secret" not in text
    assert body["reference"] in caplog.text and "RuntimeError" in caplog.text


# --- OpenAPI ----------------------------------------------------------------------------------------


def _refs(node: Any) -> list[str]:
    if isinstance(node, dict):
        return [v for k, v in node.items() if k == "$ref"] + [r for v in node.values() for r in _refs(v)]
    if isinstance(node, list):
        return [r for v in node for r in _refs(v)]
    return []


async def test_openapi_describes_every_route(api: Api) -> None:
    async with api.client.get("/api/openapi.json") as resp:  # no token needed
        assert resp.status == 200
        doc = await resp.json()
    assert doc["openapi"].startswith("3.1") and doc["info"]["title"] and doc["info"]["version"]
    routes = [r for r in api.client.app.router.routes() if r.method != "HEAD"]  # type: ignore[union-attr]
    described = [
        r
        for r in routes
        if r.resource.canonical.startswith("/api/v1/")
        or r.resource.canonical in ("/health", "/api/openapi.json")
    ]
    # CRUD of 7 resources, a ticket's messages, 6 account-link routes (connectors/rest_api/links.py),
    # 6 GDPR request routes (connectors/rest_api/gdpr_requests.py), health, openapi
    assert len(described) == 7 * 5 + 1 + 6 + 6 + 2
    for route in described:
        operation = doc["paths"][route.resource.canonical][route.method.lower()]
        assert operation["responses"], route
    for ref in _refs(doc):
        section, name = ref.removeprefix("#/components/").split("/")
        assert name in doc["components"][section], ref
    schemas = doc["components"]["schemas"]
    assert {"ContactIn", "ContactPatch", "Contact", "ContactList", "DealIn", "Problem"} <= set(schemas)
    assert "organization_id" in schemas["ContactIn"]["properties"]
    bearer = doc["components"]["securitySchemes"]["bearerAuth"]
    assert (bearer["type"], bearer["scheme"], doc["security"]) == ("http", "bearer", [{"bearerAuth": []}])
    deals_list = doc["paths"]["/api/v1/deals"]["get"]
    stage = next(p for p in deals_list["parameters"] if p["name"] == "stage")
    assert stage["in"] == "query" and "negotiation" in stage["schema"]["enum"]
    create = doc["paths"]["/api/v1/contacts"]["post"]
    assert create["requestBody"]["content"]["application/json"]["schema"] == {
        "$ref": "#/components/schemas/ContactIn"
    }
    assert {"201", "401", "409", "413", "422", "503"} <= set(create["responses"])
    assert doc["paths"]["/health"]["get"]["security"] == []


# --- random bodies never break the server -----------------------------------------------------------

JSON = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False, allow_infinity=False) | st.text(),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=12), inner, max_size=4),
    max_leaves=12,
)
CONTACT_FIELDS = st.sampled_from(
    [
        "first_name",
        "last_name",
        "email",
        "emails",
        "phone",
        "phones",
        "job_title",
        "language",
        "organization_id",
        "owner_id",
        "tags",
        "custom_fields",
        "salutation",
    ]
)
BODIES = (
    st.dictionaries(CONTACT_FIELDS, JSON, max_size=6).map(json.dumps)
    | JSON.map(json.dumps)
    | st.binary(max_size=64).map(lambda b: b.decode("latin-1"))
)


def test_random_bodies_to_post_contacts_never_give_a_500(db: Database) -> None:
    token = issue_token(db, email="admin@x.example", role="admin")
    app = build_app(Settings(database_url=db.url, max_body_bytes=MAX_BODY), db=db)

    async def start() -> TestClient:
        client = TestClient(TestServer(app))
        await client.start_server()
        return client

    loop = asyncio.new_event_loop()
    client = loop.run_until_complete(start())
    statuses: set[int] = set()

    async def post(body: str) -> int:
        async with client.post(
            "/api/v1/contacts",
            data=body.encode("utf-8", "surrogatepass"),
            headers={"Authorization": f"Bearer {token}", "Content-Type": "application/json"},
        ) as resp:
            await resp.read()
            return resp.status

    @settings(max_examples=150, deadline=None, suppress_health_check=list(HealthCheck))
    @given(BODIES)
    def check(body: str) -> None:
        status = loop.run_until_complete(post(body))
        statuses.add(status)
        assert status < 500, body

    try:
        check()
    finally:
        loop.run_until_complete(client.close())
        loop.close()
    assert {400, 422} <= statuses
