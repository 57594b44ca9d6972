"""The role x endpoint x foreign-record matrix, generated from crm_store/policy.yml, over HTTP.

Attack: every role tries every ``/api/v1`` operation (enumerated from ``routes.operations()``, so a new
endpoint is covered, and one missing from the policy fails the test) on records that are not its own:
a team mate's, another team's, fields it may not see, another customer's ticket with a ``cus_`` token.
Expected outcomes come from the policy (own/team/all/none); the test fails on any foreign read or write
the policy does not allow, on any hidden field that leaks, and on any allowed operation that does not
work. Before the policy (issue 10 item 6) agents read deals and contacts' job titles, custom fields and
all e-mails, reps could page through every contact 500 at a time, and nothing was audited.
"""

from __future__ import annotations

import json
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

import pytest
from aiohttp import web
from aiohttp.test_utils import TestClient
from sqlalchemy import func, select

from assistant.server import build_app
from assistant.settings import Settings
from connectors import customer_auth
from connectors.rest_api.routes import Operation, operations
from crm_store import models
from crm_store.db import Database
from crm_store.models import AuditEntry
from crm_store.services import Actor, CrmServices
from crm_store.services.errors import NotFound, PermissionDenied
from crm_store.services.policy import Scope, policy

AClient = Callable[[web.Application], Awaitable[TestClient]]
SECRET = "matrix-test-secret-0123456789abcdef"
SYSTEM = Actor.system("test")

# the model behind each resource, how a record relates to its owner, and the field a PATCH changes
MODELS: dict[str, type[Any]] = {
    "organizations": models.Organization,
    "contacts": models.Contact,
    "activities": models.Activity,
    "tasks": models.Task,
    "deals": models.Deal,
    "tickets": models.Ticket,
    "users": models.User,
}
PATCH_FIELD = {
    "organizations": "industry",
    "contacts": "job_title",
    "activities": "summary",
    "tasks": "title",
    "deals": "name",
    "tickets": "subject",
    "users": "name",
}
OWNERS = ("rep_n", "rep_n2", "agent_n", "rep_s")  # whose records exist: mine (rep), team mates', the south's
ACTORS = ("admin", "manager", "rep_n", "agent_n", "customer")  # one per role


@dataclass
class World:
    """Two teams with one record per resource and owner; tokens per actor."""

    users: dict[str, int] = field(default_factory=dict)
    teams: dict[str, int | None] = field(default_factory=dict)  # user key -> team id
    tokens: dict[str, str] = field(default_factory=dict)
    records: dict[str, dict[str, int]] = field(default_factory=dict)  # resource -> owner key -> id
    contacts: dict[str, int] = field(default_factory=dict)  # owner key -> contact id
    customer_contact: int = 0


def build_world(db: Database) -> World:
    w = World()
    with db.session() as s:
        crm = CrmServices(s, SYSTEM)
        north, south = crm.users.create_team("North").id, crm.users.create_team("South").id
        for key, role, team in (
            ("admin", "admin", None),
            ("manager", "manager", north),
            ("rep_n", "rep", north),
            ("rep_n2", "rep", north),
            ("agent_n", "agent", north),
            ("rep_s", "rep", south),
        ):
            user = crm.users.create({"email": f"{key}@x.example", "name": key, "role": role, "team_id": team})
            w.users[key], w.teams[key] = user.id, team
            w.tokens[key] = crm.users.issue_token(user.id)
        w.records = {name: {} for name in MODELS}
        for owner in OWNERS:
            uid, team = w.users[owner], w.teams[owner]
            org = crm.organizations.create({"name": f"Org of {owner}", "owner_id": uid})
            contact = crm.contacts.create({
                "first_name": "C", "last_name": owner, "email": f"c.{owner}@customer.example",
                "phone": "+49 170 5550100", "job_title": "CFO", "organization_id": org.id, "owner_id": uid,
                "custom_fields": {"shoe_size": 42},
            })
            deal = crm.deals.create({"name": f"Deal of {owner}", "amount": 1000, "owner_id": uid,
                                     "contact_id": contact.id})
            task = crm.tasks.create({"title": f"Task of {owner}", "assignee_id": uid})
            ticket = crm.tickets.create({"subject": f"Ticket of {owner}", "description": "help",
                                         "requester_contact_id": contact.id, "assignee_id": uid,
                                         "team_id": team})
            crm.tickets.add_message(ticket.id, "we are on it", direction="outbound")
            crm.tickets.add_message(ticket.id, "internal: customer is grumpy", direction="internal")
            activity = crm.activities.create({"type": "call", "contact_id": contact.id, "summary": "called"})
            activity.user_id = uid  # written by the owner
            w.contacts[owner] = contact.id
            for name, rec in (("organizations", org), ("contacts", contact), ("deals", deal), ("tasks", task),
                              ("tickets", ticket), ("activities", activity)):
                w.records[name][owner] = rec.id
            w.records["users"][owner] = uid
        w.customer_contact = w.contacts["rep_n"]  # the customer is rep_n's contact
    customer_token = customer_auth.issue(w.customer_contact, SECRET)
    w.tokens["customer"] = customer_token
    return w


def role_of(actor: str) -> str:
    return {"admin": "admin", "manager": "manager", "rep_n": "rep", "agent_n": "agent"}.get(actor, "customer")


def policy_actor(w: World, actor: str) -> Actor:
    if actor == "customer":
        return Actor.customer(w.customer_contact)
    return Actor(kind="user", id=w.users[actor], role=role_of(actor), team_id=w.teams[actor])


def relation(w: World, actor: str, resource: str, owner: str) -> str:
    """own / team / foreign: how the record of ``owner`` relates to ``actor``."""
    if actor == "customer":
        mine = owner == "rep_n" and resource in ("tickets", "ticket_messages", "contacts")  # their ticket, their contact
        return "own" if mine else "foreign"
    if owner == actor:
        return "own"
    if w.teams[actor] is not None and w.teams[actor] == w.teams[owner]:
        return "team"
    return "foreign"


def allows(scope: Scope, rel: str) -> bool:
    return scope == "all" or (scope == "team" and rel in ("own", "team")) or (scope == "own" and rel == "own")


@dataclass
class Tally:
    cases: int = 0
    allowed: int = 0
    refused: int = 0
    failures: list[str] = field(default_factory=list)
    per_role: dict[str, int] = field(default_factory=dict)

    def case(self, actor: str, ok: bool, allowed: bool, what: str) -> None:
        self.cases += 1
        self.per_role[actor] = self.per_role.get(actor, 0) + 1
        if allowed:
            self.allowed += 1
        else:
            self.refused += 1
        if not ok:
            self.failures.append(f"{actor}: {what}")


class Matrix:
    def __init__(self, client: TestClient, db: Database, world: World, rest_customers: bool) -> None:
        self.client, self.db, self.w = client, db, world
        self.rest_customers = rest_customers
        self.tally = Tally()
        self.marker = 0

    async def call(self, actor: str, method: str, path: str, body: Any = None) -> tuple[int, Any]:
        headers = {"Authorization": f"Bearer {self.w.tokens[actor]}"}
        data = json.dumps(body) if body is not None else None
        if data is not None:
            headers["Content-Type"] = "application/json"
        async with self.client.request(method, path, data=data, headers=headers) as resp:
            text = await resp.text()
            assert resp.status < 500, (method, path, text)
            return resp.status, json.loads(text) if text else None

    def expect(self, actor: str, resource: str, op: str, owner: str | None, rel: str | None = None
               ) -> tuple[bool, Scope]:
        """Whether the policy lets ``actor`` ``op`` the record of ``owner`` (or of relation ``rel``)."""
        scope = policy().scope(policy_actor(self.w, actor), resource, op)
        if actor == "customer" and not self.rest_customers:
            return False, "none"
        if rel is None:
            rel = "foreign" if owner is None else relation(self.w, actor, resource, owner)
        return allows(scope, rel), scope

    def fields_ok(self, actor: str, resource: str, record: dict[str, Any]) -> bool:
        fields = policy().fields(policy_actor(self.w, actor), resource)
        return fields is None or set(record) <= fields

    def refused_status(self, actor: str, resource: str, readable: bool) -> set[int]:
        if actor == "customer" and not self.rest_customers:
            return {401}
        return {403} if readable else {403, 404}

    def next_marker(self) -> str:
        self.marker += 1
        return f"matrix-{self.marker}"

    # --- reads ---------------------------------------------------------------------------------------
    async def list_(self, actor: str, op: Operation, resource: str) -> None:
        status, page = await self.call(actor, "GET", f"{op.path}?limit=500")
        may_read = self.expect(actor, resource, "read", "rep_s")[1] != "none"
        if not may_read or (actor == "customer" and not self.rest_customers):
            self.tally.case(actor, status in self.refused_status(actor, resource, False), False,
                            f"{op.name} answered {status}, expected a refusal")
            return
        if status != 200:
            self.tally.case(actor, False, True, f"{op.name} answered {status}")
            return
        seen = {item["id"] for item in page["items"]}
        for owner, rid in self.w.records[resource].items():
            allowed, _ = self.expect(actor, resource, "read", owner)
            self.tally.case(actor, (rid in seen) == allowed, allowed,
                            f"{op.name}: {owner}'s record {'missing' if allowed else 'listed (foreign read)'}")
        leaks = [item for item in page["items"] if not self.fields_ok(actor, resource, item)]
        self.tally.case(actor, not leaks, True, f"{op.name}: hidden fields listed {leaks[:1]}")
        cap = policy().max_page(policy_actor(self.w, actor), resource, 500)
        self.tally.case(actor, len(page["items"]) <= cap, True, f"{op.name}: page larger than {cap}")

    async def get(self, actor: str, op: Operation, resource: str) -> None:
        for owner, rid in self.w.records[resource].items():
            allowed, _ = self.expect(actor, resource, "read", owner)
            status, body = await self.call(actor, "GET", op.path.replace("{id}", str(rid)))
            if allowed:
                ok = status == 200 and self.fields_ok(actor, resource, body)
            else:
                ok = status in self.refused_status(actor, resource, False)
            self.tally.case(actor, ok, allowed, f"{op.name} of {owner}'s record answered {status}: {body}")

    async def children(self, actor: str, op: Operation, resource: str) -> None:
        assert op.child is not None
        sub = op.child.entity + "s"  # ticket_message -> ticket_messages
        notes = policy().notes(policy_actor(self.w, actor))
        for owner, rid in self.w.records[resource].items():
            allowed, _ = self.expect(actor, resource, "read", owner)
            allowed = allowed and self.expect(actor, sub, "read", owner)[0]
            status, body = await self.call(actor, "GET", op.path.replace("{id}", str(rid)))
            if allowed:
                directions = [m["direction"] for m in body["items"]] if status == 200 else []
                ok = status == 200 and ("note" in directions) == notes and "internal" not in directions
            else:
                ok = status in self.refused_status(actor, resource, False)
            self.tally.case(actor, ok, allowed, f"{op.name} of {owner}'s ticket answered {status}")

    # --- writes --------------------------------------------------------------------------------------
    def stored(self, resource: str, rid: int) -> Any:
        with self.db.session() as s:
            return getattr(s.get(MODELS[resource], rid), PATCH_FIELD[resource])

    async def update(self, actor: str, op: Operation, resource: str) -> None:
        for owner, rid in self.w.records[resource].items():
            allowed, _ = self.expect(actor, resource, "update", owner)
            readable, _ = self.expect(actor, resource, "read", owner)
            marker = self.next_marker()
            status, body = await self.call(
                actor, op.method, op.path.replace("{id}", str(rid)), {PATCH_FIELD[resource]: marker}
            )
            written = self.stored(resource, rid) == marker
            if allowed:
                ok = status == 200 and written
            else:
                ok = status in self.refused_status(actor, resource, readable) and not written
            self.tally.case(actor, ok, allowed, f"{op.name} of {owner}'s record answered {status}: {body}")

    def create_body(self, resource: str, owner: str, marker: str) -> tuple[dict[str, Any], str]:
        """A new record owned by ``owner``; the owner whose relation decides (activities: the author)."""
        uid, team = self.w.users[owner], self.w.teams[owner]
        contact = self.w.contacts[owner]
        return {
            "organizations": ({"name": marker, "owner_id": uid}, owner),
            "contacts": ({"last_name": marker, "owner_id": uid}, owner),
            "activities": ({"type": "note", "summary": marker, "contact_id": contact}, "self"),
            "tasks": ({"title": marker, "assignee_id": uid}, owner),
            "deals": ({"name": marker, "owner_id": uid}, owner),
            "tickets": ({"subject": marker, "assignee_id": uid, "team_id": team,
                         "requester_contact_id": contact}, owner),
            "users": ({"email": f"{marker}@x.example", "name": marker, "role": "rep", "team_id": team}, "new"),
        }[resource]

    def created(self, resource: str, marker: str) -> int:
        model = MODELS[resource]
        with self.db.session() as s:
            name = {"contacts": "last_name", "organizations": "name"}.get(resource, PATCH_FIELD[resource])
            col = getattr(model, name)
            return int(s.execute(select(func.count()).select_from(model).where(col == marker)).scalar_one())

    async def create(self, actor: str, op: Operation, resource: str) -> None:
        for owner in ("rep_n2", "rep_s"):  # a team mate's and another team's record
            marker = self.next_marker()
            body, decider = self.create_body(resource, owner, marker)
            # an activity is the author's own; a new user is nobody's own
            rel = {"self": "own", "new": "foreign"}.get(decider) or relation(self.w, actor, resource, owner)
            allowed, _ = self.expect(actor, resource, "create", owner, rel)
            status, answer = await self.call(actor, "POST", op.path, body)
            n = self.created(resource, marker)
            if allowed:
                ok = status == 201 and n == 1
            else:
                ok = status in self.refused_status(actor, resource, False) and n == 0
            self.tally.case(actor, ok, allowed, f"{op.name} for {owner} answered {status}: {answer}")


@pytest.fixture
async def matrix(db: Database, aiohttp_client: AClient) -> Matrix:
    world = build_world(db)
    app = build_app(Settings(database_url=db.url, secret_key=SECRET), db=db)
    client = await aiohttp_client(app)
    async with client.get("/api/v1/tickets", headers={"Authorization": f"Bearer {world.tokens['customer']}"}) as r:
        rest_customers = r.status != 401
    return Matrix(client, db, world, rest_customers)


def test_every_api_operation_is_in_the_policy() -> None:
    """A new endpoint without a policy row fails here (and so in the matrix below)."""
    missing = [op.name for op in operations() if policy().operation(op.name) is None]
    assert not missing, f"add these operations to crm_store/policy.yml (api:): {missing}"
    for op in operations():
        resource, _ = policy().operation(op.name)  # type: ignore[misc]
        assert resource in MODELS or resource == "ticket_messages", op.name


async def test_attack_role_endpoint_foreign_record_matrix(matrix: Matrix, capsys: pytest.CaptureFixture[str]) -> None:
    """Attack: every role x every /api/v1 operation x records of the own user, a team mate, another team
    and another customer. 0 foreign reads or writes beyond the policy; every allowed one works."""
    ops = operations()
    phases: tuple[tuple[str, ...], ...] = (("list", "get", "children"), ("update", "replace"), ("create",))
    for kinds in phases:
        for actor in ACTORS:
            for op in ops:
                if op.kind not in kinds:
                    continue
                mapped = policy().operation(op.name)
                assert mapped is not None, f"{op.name} is missing from crm_store/policy.yml"
                resource = mapped[0] if op.child is None else op.resource.name
                handler = {"list": matrix.list_, "get": matrix.get, "children": matrix.children,
                           "update": matrix.update, "replace": matrix.update, "create": matrix.create}[op.kind]
                await handler(actor, op, resource)
    t = matrix.tally
    with capsys.disabled():
        print(f"\naccess matrix: {t.cases} cases over {len(ops)} operations x {len(ACTORS)} roles "
              f"({t.allowed} allowed, {t.refused} refused), per role {t.per_role}, "
              f"customers over REST: {'yes' if matrix.rest_customers else 'no (401)'}; "
              f"{len(t.failures)} failures")
    assert not t.failures, "\n".join(t.failures[:30])
    assert t.cases > 300


async def test_attack_filter_on_a_hidden_field_is_refused(matrix: Matrix) -> None:
    """Attack: an agent cannot see contacts' owners, so filtering by owner (to learn them by trial) is 403."""
    status, _ = await matrix.call("agent_n", "GET", f"/api/v1/contacts?owner_id={matrix.w.users['rep_s']}")
    assert status == 403
    status, page = await matrix.call("rep_n", "GET", f"/api/v1/contacts?owner_id={matrix.w.users['rep_s']}")
    assert status == 200 and page["total"] == 1


async def test_bulk_reads_are_audited_without_values(matrix: Matrix) -> None:
    """Every list is one audit entry (who, what, filters by name, rows) with no personal values."""
    db = matrix.db
    with db.session() as s:
        before = s.execute(select(func.count()).select_from(AuditEntry)).scalar_one()
    status, page = await matrix.call("rep_n", "GET", "/api/v1/contacts?q=c.rep_s@customer.example&limit=500")
    assert status == 200
    status, _ = await matrix.call("manager", "GET", "/api/v1/deals?stage=lead")
    with db.session() as s:
        entries = s.execute(select(AuditEntry).order_by(AuditEntry.id)).scalars().all()[before:]
    assert [(e.actor, e.action, e.entity) for e in entries] == [
        (f"user:{matrix.w.users['rep_n']}", "list", "contact"),
        (f"user:{matrix.w.users['manager']}", "list", "deal"),
    ]
    contacts_entry = entries[0].payload
    assert contacts_entry == {"filters": {"q": "<given>", "limit": 500, "offset": 0}, "rows": len(page["items"])}
    assert "customer.example" not in json.dumps([e.payload for e in entries])


async def test_attack_paging_through_all_contacts_is_capped_for_non_admins(matrix: Matrix) -> None:
    """Attack: a rep asks for 500 contacts a page; non-admins get at most the policy's max_page."""
    with matrix.db.session() as s:
        crm = CrmServices(s, SYSTEM)
        for i in range(120):
            crm.contacts.create({"last_name": f"Bulk{i}", "email": f"bulk{i}@x.example"})
    status, page = await matrix.call("rep_n", "GET", "/api/v1/contacts?limit=500")
    assert status == 200 and len(page["items"]) == 100 and page["total"] == 124
    status, page = await matrix.call("admin", "GET", "/api/v1/contacts?limit=500")
    assert status == 200 and len(page["items"]) == 124


def test_attack_customer_reads_through_the_services(db: Database) -> None:
    """Attack, below REST (the chat's path): a customer reads another customer's ticket, thread, contact."""
    w = build_world(db)
    me = Actor.customer(w.customer_contact)
    mine, theirs = w.records["tickets"]["rep_n"], w.records["tickets"]["rep_s"]
    with db.session() as s:
        crm = CrmServices(s, me)
        with pytest.raises(NotFound):
            crm.tickets.get(theirs)
        with pytest.raises(NotFound):
            crm.tickets.messages(theirs)
        with pytest.raises(NotFound):
            crm.contacts.get(w.contacts["rep_s"])
        assert [t.id for t in crm.tickets.list().items] == [mine]
        thread = [crm.tickets.view(m, "ticket_message") for m in crm.tickets.messages(mine)]
        assert [m["direction"] for m in thread] == ["inbound", "outbound"]  # no internal note
        own = crm.contacts.view(crm.contacts.get(w.customer_contact))
        assert "job_title" not in own and "custom_fields" not in own and own["email"]
        with pytest.raises(PermissionDenied):
            crm.deals.list()
        anonymous = CrmServices(s, Actor.customer(None))
        assert anonymous.tickets.list().items == []
        with pytest.raises(NotFound):
            anonymous.tickets.get(mine)


def test_rep_pipeline_is_scoped_in_the_service(db: Database) -> None:
    """Attack: a rep asks the report service for the whole pipeline or a colleague's: own deals only."""
    w = build_world(db)
    rep = Actor(kind="user", id=w.users["rep_n"], role="rep", team_id=w.teams["rep_n"])
    with db.session() as s:
        crm = CrmServices(s, rep)
        report = crm.reports.pipeline()
        assert report.scope == "own" and report.open_count == 1
        assert {o["owner_id"] for o in report.by_owner} == {w.users["rep_n"]}
        with pytest.raises(PermissionDenied):
            crm.reports.pipeline(owner_id=w.users["rep_s"])
        with pytest.raises(PermissionDenied):
            crm.reports.pipeline(team_id=w.teams["rep_s"])
        manager = CrmServices(s, Actor(kind="user", id=w.users["manager"], role="manager"))
        assert manager.reports.pipeline().open_count == 4
        agent = CrmServices(s, Actor(kind="user", id=w.users["agent_n"], role="agent"))
        with pytest.raises(PermissionDenied):
            agent.reports.pipeline()


def test_the_export_command_is_audited(db: Database, tmp_path: Any) -> None:
    """``crm-assistant export`` is a bulk read: one audit entry with the row count and no values."""
    from click.testing import CliRunner

    from assistant.cli.main import cli

    build_world(db)
    result = CliRunner().invoke(cli, ["export", "contacts", "--db", db.url, "--out", str(tmp_path / "c.csv")])
    assert result.exit_code == 0, result.output
    with db.session() as s:
        entry = s.execute(select(AuditEntry).where(AuditEntry.action == "export")).scalar_one()
    assert (entry.actor, entry.entity, entry.payload["rows"], entry.payload["format"]) == (
        "system:cli", "contact", 4, "csv")
    assert "customer.example" not in json.dumps(entry.payload)


@pytest.mark.parametrize(
    ("document", "message"),
    [
        ({"roles": {"intern": {}}}, "unknown role"),
        ({"roles": {"rep": {"deals": {"read": "most"}}}}, "is not one of"),
        ({"roles": {"rep": {"pipelines": {"read": "all"}}}}, "unknown resource"),
        ({"roles": {"rep": {"deals": {"delete": "all"}}}}, "unknown keys"),
        ({"api": {"deals.list": "deals.browse"}}, "is not <resource>"),
    ],
)
def test_a_malformed_policy_is_refused_not_read_as_allow(document: dict[str, Any], message: str) -> None:
    from crm_store.services.policy import Policy, PolicyError

    with pytest.raises(PolicyError, match=message):
        Policy(document)
