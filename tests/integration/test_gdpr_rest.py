"""The data-subject request queue over REST (``/api/v1/gdpr/requests``) and the one erasure path it shares
with the CLI and the daily schedule (``crm_store.gdpr_requests``), on SQLite and PostgreSQL."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from sqlalchemy import insert, select, text

from assistant.server import build_app
from assistant.settings import Settings
from crm_store.db import Database
from crm_store.gdpr_requests import free_owed_pages
from crm_store.migrate import upgrade
from crm_store.models import Contact, GdprRequest
from crm_store.services import Actor, CrmServices
from crm_store.services.gdpr import due_date
from tests.integration.test_rest_api import MAX_BODY, AClient, Api, issue_token

MARKER = "Zebrafink-7Q3"


@pytest.fixture
async def api(db: Database, aiohttp_client: AClient) -> Api:
    app = build_app(Settings(database_url=db.url, max_body_bytes=MAX_BODY), db=db)
    return Api(await aiohttp_client(app), db, issue_token(db, email="dpo@x.example", role="admin"))


def _person(db: Database) -> int:
    with db.session() as s:
        crm = CrmServices(s, Actor.system("test"))
        c = crm.contacts.create({"first_name": "Greta", "last_name": "Zebrafink", "email": "greta@zf.example"})
        crm.activities.create({"type": "call", "contact_id": c.id, "summary": f"call about {MARKER}"})
        return c.id


async def test_staff_record_verify_and_erase_over_rest(api: Api) -> None:
    """A request received by phone: recorded by an agent, verified and carried out by an admin; the
    erasure report comes back with its free-page steps and the request remembers they ran."""
    person = _person(api.db)
    agent = issue_token(api.db, email="agent@x.example", role="agent")
    status, req, _ = await api.call("POST", "/api/v1/gdpr/requests",
                                    {"contact_id": person, "kind": "erasure", "via": "phone"}, token=agent)
    assert status == 201, req
    assert req["identity_verified_at"] is None and req["due_at"] is not None
    # unverified: nothing is erased
    status, problem, _ = await api.call("POST", f"/api/v1/gdpr/requests/{req['id']}/complete")
    assert status == 422 and "not verified" in problem["detail"]
    status, req, _ = await api.call("POST", f"/api/v1/gdpr/requests/{req['id']}/verify",
                                    {"method": "callback", "note": "called back on the stored number"})
    assert status == 200 and req["identity_method"] == "callback"
    status, listed, _ = await api.call("GET", "/api/v1/gdpr/requests")
    assert status == 200 and [r["id"] for r in listed["items"]] == [req["id"]] and listed["total"] == 1
    status, done, _ = await api.call("POST", f"/api/v1/gdpr/requests/{req['id']}/complete")
    assert status == 200, done
    assert done["request"]["status"] == "done"
    assert done["erasure"]["tables"]["activities"]["rows"] == 1
    assert done["erasure"]["free_pages"] and not done["erasure"]["free_pages"][0].startswith("not done")
    with api.db.session() as s:
        assert s.get(Contact, person).erased_at is not None  # type: ignore[union-attr]
        assert s.get(GdprRequest, req["id"]).pages_freed_at is not None  # type: ignore[union-attr]
        dumped = " ".join(str(r) for r in s.execute(text("SELECT summary FROM activities")).all())
        assert MARKER not in dumped
    status, _, _ = await api.call("POST", f"/api/v1/gdpr/requests/{req['id']}/complete")
    assert status == 422  # done is done: nothing runs twice


async def test_access_request_over_rest_returns_the_export(api: Api) -> None:
    person = _person(api.db)
    status, req, _ = await api.call("POST", "/api/v1/gdpr/requests",
                                    {"contact_id": person, "kind": "access", "identity": "id_document"})
    assert status == 201 and req["identity_method"] == "id_document"
    status, done, _ = await api.call("POST", f"/api/v1/gdpr/requests/{req['id']}/complete")
    assert status == 200
    assert done["export"]["contact"]["last_name"] == "Zebrafink"
    assert any(MARKER in a["summary"] for a in done["export"]["activities"])


async def test_restriction_and_rejection_over_rest(api: Api) -> None:
    person = _person(api.db)
    status, req, _ = await api.call("POST", "/api/v1/gdpr/requests",
                                    {"contact_id": person, "kind": "restriction", "identity": "signed_letter"})
    status, done, _ = await api.call("POST", f"/api/v1/gdpr/requests/{req['id']}/complete")
    assert status == 200 and done["request"]["status"] == "done"
    with api.db.session() as s:
        assert s.get(Contact, person).restricted_at is not None  # type: ignore[union-attr]
    status, req, _ = await api.call("POST", "/api/v1/gdpr/requests", {"contact_id": person, "kind": "access"})
    status, rejected, _ = await api.call("POST", f"/api/v1/gdpr/requests/{req['id']}/reject",
                                         {"note": "the caller could not answer the check questions"})
    assert status == 200 and rejected["status"] == "rejected"


@pytest.mark.parametrize("role", ["rep", "agent", "manager"])
async def test_attack_non_admins_cannot_vouch_or_carry_out(api: Api, role: str) -> None:
    """Attack: staff below admin vouch for an identity, verify a request or erase/export someone."""
    person = _person(api.db)
    token = issue_token(api.db, email=f"{role}@x.example", role=role)
    status, _, _ = await api.call("POST", "/api/v1/gdpr/requests",
                                  {"contact_id": person, "kind": "erasure", "identity": "callback"}, token=token)
    assert status == 403
    status, req, _ = await api.call("POST", "/api/v1/gdpr/requests",
                                    {"contact_id": person, "kind": "access", "identity": "id_document"})
    for path, body in ((f"/api/v1/gdpr/requests/{req['id']}/verify", {"method": "callback"}),
                       (f"/api/v1/gdpr/requests/{req['id']}/complete", None),
                       (f"/api/v1/gdpr/requests/{req['id']}/reject", {"note": "no"})):
        status, problem, _ = await api.call("POST", path, body, token=token)
        assert status == 403, (path, problem)
    with api.db.session() as s:
        assert s.get(GdprRequest, req["id"]).status == "pending"  # type: ignore[union-attr]


@pytest.mark.parametrize("role", ["rep", "agent"])
async def test_attack_the_request_queue_is_not_readable_below_manager(api: Api, role: str) -> None:
    person = _person(api.db)
    await api.call("POST", "/api/v1/gdpr/requests", {"contact_id": person, "kind": "access"})
    token = issue_token(api.db, email=f"{role}@x.example", role=role)
    assert (await api.call("GET", "/api/v1/gdpr/requests", token=token))[0] == 403
    assert (await api.call("GET", "/api/v1/gdpr/requests/1", token=token))[0] == 403


async def test_bad_bodies_are_problems_naming_the_field(api: Api) -> None:
    status, problem, _ = await api.call("POST", "/api/v1/gdpr/requests", {"contact_id": 1, "kind": "delete-all"})
    assert status == 422 and "kind" in str(problem)
    status, _, _ = await api.call("POST", "/api/v1/gdpr/requests", raw=b"{not json")
    assert status == 400
    status, _, _ = await api.call("POST", "/api/v1/gdpr/requests/999/complete")
    assert status == 404


def test_an_owed_free_page_step_is_finished_later(db: Database) -> None:
    """An erasure whose free-page step could not run (the SQLite file was busy) is owed; the next run of
    the schedule finishes it."""
    person = _person(db)
    with db.session() as s:
        crm = CrmServices(s, Actor.system("cli"))
        req = crm.gdpr.request_erasure(person, via="cli", identity="staff")
        crm.gdpr.confirm_erasure(req.id)
        req_id = req.id
    with db.session() as s:
        assert s.get(GdprRequest, req_id).pages_freed_at is None  # type: ignore[union-attr]
    steps = free_owed_pages(db)
    assert steps and not steps[0].startswith("not done")
    with db.session() as s:
        assert s.get(GdprRequest, req_id).pages_freed_at is not None  # type: ignore[union-attr]
    assert free_owed_pages(db) == []


def test_migration_gives_older_requests_their_due_date(tmp_path) -> None:  # type: ignore[no-untyped-def]
    """Requests recorded before due dates existed get receipt + one calendar month on upgrade."""
    db = Database(f"sqlite:///{tmp_path / 'old.db'}")
    upgrade(db, "0007")
    received = datetime(2026, 1, 31, 9, 0, tzinfo=UTC)
    with db.engine.begin() as conn:
        conn.execute(insert(GdprRequest.__table__).values(  # type: ignore[arg-type]
            kind="access", contact_id=None, status="pending", requested_at=received, requested_via="mail"))
    upgrade(db)
    with db.session() as s:
        req = s.execute(select(GdprRequest)).scalar_one()
        assert req.due_at == due_date(received) == datetime(2026, 2, 28, 9, 0, tzinfo=UTC)
        assert req.pages_freed_at is None
    db.dispose()
