"""API tokens expire and can be revoked; chat-account links and roles cannot be set through PATCH /users.

Every attack runs over HTTP against the real app (``build_app``) on SQLite and PostgreSQL.
"""

from __future__ import annotations

import json
from collections.abc import Awaitable, Callable
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from aiohttp import web
from aiohttp.test_utils import TestClient
from click.testing import CliRunner
from sqlalchemy import select

from assistant.cli.main import cli
from assistant.server import build_app
from assistant.settings import Settings
from crm_store.db import Database
from crm_store.models import ApiToken, AuditEntry, User, utcnow
from crm_store.services import Actor, CrmServices
from crm_store.services.errors import PermissionDenied, ValidationFailed
from crm_store.services.users import LINK_FIELDS, LINK_ONLY, authenticate, hash_token

AClient = Callable[[web.Application], Awaitable[TestClient]]


def new_user(db: Database, email: str, role: str, *, team: str | None = None) -> int:
    with db.session() as s:
        users = CrmServices(s, Actor.system("test")).users
        team_id = users.create_team(team).id if team else None
        return users.create({"email": email, "name": email.split("@")[0].title(), "role": role,
                             "team_id": team_id}).id


def token_for(db: Database, user_id: int, **kwargs: Any) -> str:
    with db.session() as s:
        return CrmServices(s, Actor.system("test")).users.issue_token(user_id, **kwargs)


def token_row(db: Database, token: str) -> ApiToken:
    with db.session() as s:
        return s.execute(select(ApiToken).where(ApiToken.token_hash == hash_token(token))).scalar_one()


@pytest.fixture
async def client(db: Database, aiohttp_client: AClient) -> TestClient:
    return await aiohttp_client(build_app(Settings(database_url=db.url), db=db))


async def call(client: TestClient, method: str, path: str, token: str, body: Any = None) -> tuple[int, Any]:
    headers = {"Authorization": f"Bearer {token}", "Content-Type": "application/json"}
    data = json.dumps(body) if body is not None else None
    async with client.request(method, path, data=data, headers=headers) as resp:
        text = await resp.text()
        return resp.status, json.loads(text) if text else None


# --- expiry, revocation, inactive users, last_used_at ------------------------------------------------

async def test_attack_an_expired_token_is_refused(db: Database, client: TestClient) -> None:
    """Attack: use a token after its expiry. Before the fix tokens never expired (200)."""
    uid = new_user(db, "admin@x.example", "admin")
    expired = token_for(db, uid, days=1, now=utcnow() - timedelta(days=1, seconds=1))
    fresh = token_for(db, uid, days=1)
    assert (await call(client, "GET", "/api/v1/users", fresh))[0] == 200
    status, problem = await call(client, "GET", "/api/v1/users", expired)
    assert status == 401, problem
    assert "expired" in problem["detail"]


async def test_attack_a_revoked_token_is_refused_on_the_next_request(db: Database, client: TestClient) -> None:
    """Attack: keep using a token after an admin revoked it. The REST API has no token cache, so the very
    next request (well within the 5 s bound) is refused; the same for all tokens of a user."""
    uid = new_user(db, "admin@x.example", "admin")
    token, other = token_for(db, uid), token_for(db, uid, name="zapier")
    assert (await call(client, "GET", "/api/v1/users", token))[0] == 200
    with db.session() as s:
        CrmServices(s, Actor.system("test")).users.revoke_token(token[:10])
    assert (await call(client, "GET", "/api/v1/users", token))[0] == 401
    assert (await call(client, "GET", "/api/v1/users", other))[0] == 200
    with db.session() as s:
        assert CrmServices(s, Actor.system("test")).users.revoke_all_tokens(uid) == 1
    assert (await call(client, "GET", "/api/v1/users", other))[0] == 401


async def test_attack_a_deactivated_users_token_is_refused(db: Database, client: TestClient) -> None:
    admin = token_for(db, new_user(db, "admin@x.example", "admin"))
    rep_id = new_user(db, "rep@x.example", "rep")
    rep = token_for(db, rep_id)
    assert (await call(client, "GET", "/api/v1/contacts", rep))[0] == 200
    assert (await call(client, "PATCH", f"/api/v1/users/{rep_id}", admin, {"is_active": False}))[0] == 200
    assert (await call(client, "GET", "/api/v1/contacts", rep))[0] == 401


async def test_last_used_at_is_noted_at_most_once_a_minute(db: Database, client: TestClient) -> None:
    uid = new_user(db, "admin@x.example", "admin")
    token = token_for(db, uid)
    assert token_row(db, token).last_used_at is None
    before = utcnow()
    assert (await call(client, "GET", "/api/v1/users", token))[0] == 200
    first = token_row(db, token).last_used_at
    assert first is not None and first >= before - timedelta(seconds=1)
    # with an injected clock: 30 s later nothing is written, 61 s later it is
    for later, expected in ((30, first), (61, first + timedelta(seconds=61))):
        with db.session() as s:
            assert authenticate(s, token, now=first + timedelta(seconds=later)) is not None
        assert token_row(db, token).last_used_at == expected


def test_authenticate_honours_expiry_with_an_injected_clock(db: Database) -> None:
    uid = new_user(db, "admin@x.example", "admin")
    issued = utcnow()
    token = token_for(db, uid, days=90, now=issued)
    never = token_for(db, uid, days=0, now=issued)
    assert token_row(db, never).expires_at is None
    with db.session() as s:
        assert authenticate(s, token, now=issued + timedelta(days=89, hours=23)) is not None
        assert authenticate(s, token, now=issued + timedelta(days=90)) is None
        assert authenticate(s, never, now=issued + timedelta(days=3650)) is not None
        assert authenticate(s, "crm_\u00e9\u00e9", now=issued) is None


def test_a_user_revokes_only_their_own_tokens(db: Database) -> None:
    admin_id, rep_id, other_id = (new_user(db, f"{r}@x.example", r) for r in ("admin", "rep", "agent"))
    theirs = token_for(db, other_id)
    with db.session() as s:
        rep = CrmServices(s, Actor(kind="user", id=rep_id, role="rep")).users
        with pytest.raises(PermissionDenied):
            rep.issue_token(other_id)
        with pytest.raises(PermissionDenied):
            rep.tokens(other_id)
        with pytest.raises(PermissionDenied):
            rep.revoke_all_tokens(other_id)
    with db.session() as s:
        rep = CrmServices(s, Actor(kind="user", id=rep_id, role="rep")).users
        with pytest.raises(Exception, match="no active token"):
            rep.revoke_token(theirs[:10])
    with db.session() as s:
        customer = CrmServices(s, Actor.customer(admin_id)).users
        with pytest.raises(PermissionDenied):
            customer.revoke_token(theirs[:10])
    assert token_row(db, theirs).revoked_at is None


# --- the CLI ------------------------------------------------------------------------------------------

def test_cli_issues_lists_and_revokes_tokens_and_audits_each(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'crm.db'}"
    runner = CliRunner()

    def run(*args: str) -> str:
        result = runner.invoke(cli, [*args, "--db", url])
        assert result.exit_code == 0, result.output
        return result.output

    out = run("users", "create", "--email", "a@x.example", "--name", "A", "--role", "admin", "--token",
              "--token-days", "0")
    service = out.strip().splitlines()[-1]
    issued = run("users", "issue-token", "--email", "a@x.example", "--name", "zapier", "--days", "30")
    assert "expires in 30 days" in issued
    secret = issued.strip().splitlines()[-1]
    listing = run("users", "tokens", "--email", "a@x.example")
    assert secret[:10] in listing and service[:10] in listing and "never" in listing
    assert secret not in listing and service not in listing  # the secret is shown once only
    assert "revoked token" in run("users", "revoke-token", "--prefix", secret[:10])
    assert "revoked 1 token" in run("users", "revoke-token", "--email", "a@x.example", "--all")
    listing = run("users", "tokens", "--email", "a@x.example")
    assert listing.count("revoked") == 3  # the header and both rows
    bad = runner.invoke(cli, ["users", "revoke-token", "--email", "a@x.example", "--db", url])
    assert bad.exit_code == 2
    db = Database(url)
    try:
        with db.session() as s:
            actions = [a for (a,) in s.execute(select(AuditEntry.action).order_by(AuditEntry.id))]
            assert actions.count("issue_token") == 2 and actions.count("revoke_token") == 2
            assert all(t.expires_at is None for t in s.execute(select(ApiToken)).scalars()
                       if t.prefix == service[:10])
    finally:
        db.dispose()


# --- PATCH /api/v1/users/{id}: what a user may change ---------------------------------------------------

@pytest.mark.parametrize("field", LINK_FIELDS)
async def test_attack_link_own_chat_account_through_patch(db: Database, client: TestClient, field: str) -> None:
    """Attack: a rep (or even an admin) binds a Slack/Teams account to a CRM user by PATCHing the user.
    Before the fix a rep could set ``slack_user_id``/``teams_user_id`` on themselves (200)."""
    rep_id = new_user(db, "rep@x.example", "rep")
    rep = token_for(db, rep_id)
    admin = token_for(db, new_user(db, "admin@x.example", "admin"))
    for token in (rep, admin):
        status, problem = await call(client, "PATCH", f"/api/v1/users/{rep_id}", token, {field: "U0ATTACK"})
        assert status == 422, problem
        assert problem["errors"] == [{"field": field, "message": LINK_ONLY}]
    status, problem = await call(client, "POST", "/api/v1/users", admin,
                                 {"email": "new@x.example", "name": "New", "role": "rep", field: "U0ATTACK"})
    assert status == 422 and problem["errors"][0]["field"] == field
    with db.session() as s:
        user = s.get(User, rep_id)
        assert user is not None
        assert (user.slack_user_id, user.teams_user_id, user.slack_team_id, user.teams_tenant_id) == (None,) * 4


@pytest.mark.parametrize("body", [
    {"role": "admin"}, {"is_active": False}, {"team_id": "<team>"}, {"name": "Me", "role": "manager"},
])
async def test_attack_rep_escalates_own_user(db: Database, client: TestClient, body: dict[str, Any]) -> None:
    """Attack: a rep makes themselves admin/manager, moves to another team or toggles is_active."""
    rep_id = new_user(db, "rep@x.example", "rep")
    new_user(db, "boss@x.example", "manager", team="Sales")
    rep = token_for(db, rep_id)
    with db.session() as s:
        team_id = s.execute(select(User.team_id).where(User.email == "boss@x.example")).scalar_one()
    body = {k: team_id if v == "<team>" else v for k, v in body.items()}
    status, _ = await call(client, "PATCH", f"/api/v1/users/{rep_id}", rep, body)
    assert status == 403
    status, _ = await call(client, "PUT", f"/api/v1/users/{rep_id}", rep, body)
    assert status == 403
    with db.session() as s:
        user = s.get(User, rep_id)
        assert user is not None and (user.role, user.team_id, user.is_active, user.name) == ("rep", None, True, "Rep")


async def test_attack_staff_edits_another_user(db: Database, client: TestClient) -> None:
    """Attack: a manager or agent renames, demotes or deactivates someone else, or changes their e-mail."""
    victim = new_user(db, "victim@x.example", "admin")
    for role in ("manager", "agent", "rep"):
        token = token_for(db, new_user(db, f"{role}@x.example", role))
        for body in ({"name": "Pwned"}, {"role": "rep"}, {"is_active": False}, {"is_available": False}):
            status, _ = await call(client, "PATCH", f"/api/v1/users/{victim}", token, body)
            assert status == 403, (role, body)
        status, problem = await call(client, "PATCH", f"/api/v1/users/{victim}", token, {"email": "me@evil.example"})
        assert status == 422 and problem["errors"][0]["field"] == "email"  # e-mail is not changeable at all
    with db.session() as s:
        user = s.get(User, victim)
        assert user is not None and (user.name, user.role, user.is_active) == ("Victim", "admin", True)


async def test_a_user_still_changes_their_own_settings(db: Database, client: TestClient) -> None:
    rep_id = new_user(db, "rep@x.example", "rep")
    rep = token_for(db, rep_id)
    body = {"name": "Rita", "language": "de", "timezone": "Europe/Vienna", "is_available": False}
    status, user = await call(client, "PATCH", f"/api/v1/users/{rep_id}", rep, body)
    assert status == 200 and {k: user[k] for k in body} == body
    status, problem = await call(client, "PATCH", f"/api/v1/users/{rep_id}", rep, {"timezone": "Mars/Olympus"})
    assert status == 422 and problem["errors"][0]["field"] == "timezone"
    status, problem = await call(client, "PATCH", f"/api/v1/users/{rep_id}", rep, {"name": None})
    assert status == 422 and problem["errors"][0]["field"] == "name"


def test_the_service_refuses_link_fields_even_for_the_system(db: Database) -> None:
    uid = new_user(db, "rep@x.example", "rep")
    with db.session() as s, pytest.raises(ValidationFailed) as err:
        CrmServices(s, Actor.system("test")).users.update(uid, {"slack_user_id": "U1", "name": "X"})
    assert err.value.field == "slack_user_id"


async def test_an_admin_cannot_lock_themselves_out(db: Database, client: TestClient) -> None:
    """Found by the API fuzzer: an admin's PATCH of their own user to a lower role or inactive locked every
    later request out (and could remove the last admin). Another admin still can."""
    me = new_user(db, "admin@x.example", "admin")
    token = token_for(db, me)
    for body, field in (({"role": "rep"}, "role"), ({"is_active": False}, "is_active")):
        status, problem = await call(client, "PATCH", f"/api/v1/users/{me}", token, body)
        assert status == 422 and problem["errors"][0]["field"] == field
    assert (await call(client, "PATCH", f"/api/v1/users/{me}", token, {"role": "admin", "name": "Ada"}))[0] == 200
    other = token_for(db, new_user(db, "second@x.example", "admin"))
    assert (await call(client, "PATCH", f"/api/v1/users/{me}", other, {"role": "manager"}))[0] == 200
