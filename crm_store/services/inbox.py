"""The agent inbox's reads: ticket views (team, queue, assignee, status) sorted by SLA, and one ticket's
page (thread, requester, organisation, recent activities, open deals, triage decision), each within the
actor's policy scope and audited like any other bulk read.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Literal

from sqlalchemy import case, select

from crm_store.models import Contact, Conversation, Organization, Team, Ticket, TicketMessage, User, utcnow
from crm_store.services.activities import ActivityService
from crm_store.services.base import Page, Service
from crm_store.services.contacts import ContactService, OrganizationService
from crm_store.services.deals import DealService
from crm_store.services.errors import NotFound, PermissionDenied
from crm_store.services.live_chat import conversation_of
from crm_store.services.tickets import TicketService

OPEN = ("new", "open", "pending")
View = Literal["mine", "team", "unassigned", "all", "handover"]
VIEWS: tuple[str, ...] = ("mine", "team", "unassigned", "handover", "all")
SOON_SECONDS = 3600  # an SLA due within the hour is highlighted


@dataclass(frozen=True)
class Sla:
    """The SLA clock that matters now: first response until answered, then resolution."""

    kind: str  # "first_response" / "resolution" / "" (none running)
    due_at: datetime | None
    seconds_left: int | None

    @property
    def breached(self) -> bool:
        return self.seconds_left is not None and self.seconds_left < 0

    @property
    def soon(self) -> bool:
        return self.seconds_left is not None and 0 <= self.seconds_left < SOON_SECONDS


def sla_of(ticket: Ticket, now: datetime | None = None) -> Sla:
    now = now or utcnow()
    if ticket.status not in OPEN:
        return Sla("", None, None)
    if ticket.first_responded_at is None and ticket.first_response_due_at is not None:
        due, kind = ticket.first_response_due_at, "first_response"
    elif ticket.resolution_due_at is not None:
        due, kind = ticket.resolution_due_at, "resolution"
    else:
        return Sla("", None, None)
    return Sla(kind, due, int((due - now).total_seconds()))


@dataclass
class TicketPage:
    ticket: Ticket
    messages: list[TicketMessage]
    contact: dict[str, Any] | None = None
    organization: Organization | None = None
    activities: list[Any] = field(default_factory=list)
    deals: list[Any] | None = None  # None: the role may not read deals
    assignee: User | None = None
    team: Team | None = None
    authors: dict[int, str] = field(default_factory=dict)  # user id -> name, for the thread
    conversation: Conversation | None = None  # the live chat handed over with this ticket (paused: agent's)
    may_update: bool = False


class InboxService(Service):
    entity = "ticket"
    owner_attr = "assignee_id"
    customer_attr = "requester_contact_id"

    def __init__(self, session: Any, actor: Any) -> None:
        super().__init__(session, actor)
        self.tickets = TicketService(session, actor)

    def views(
        self,
        *,
        view: str = "mine",
        status: str | None = None,
        queue: str | None = None,
        team_id: int | None = None,
        assignee_id: int | None = None,
        limit: int = 100,
        offset: int = 0,
    ) -> Page:
        """A view of the inbox, most urgent first: breached and nearest SLA due at the top."""
        if self.actor.kind != "user":
            raise PermissionDenied("the inbox is for staff")
        stmt = self.tickets.scoped(select(Ticket), Ticket)
        if status == "open_all" or status is None:
            stmt = stmt.where(Ticket.status.in_(OPEN))
        elif status != "any":
            stmt = stmt.where(Ticket.status == status)
        if view == "mine":
            stmt = stmt.where(Ticket.assignee_id == self.actor.id)
        elif view == "team":
            stmt = (
                stmt.where(Ticket.team_id == self.actor.team_id)
                if self.actor.team_id
                else stmt.where(Ticket.assignee_id == self.actor.id)
            )
        elif view == "unassigned":
            stmt = stmt.where(Ticket.assignee_id.is_(None))
        elif view == "handover":
            stmt = stmt.where(Ticket.needs_human.is_(True))
        for col, val in ((Ticket.queue, queue), (Ticket.team_id, team_id), (Ticket.assignee_id, assignee_id)):
            if val is not None:
                stmt = stmt.where(col == val)
        due = case(
            (Ticket.first_responded_at.is_(None), Ticket.first_response_due_at),
            else_=Ticket.resolution_due_at,
        )
        stmt = stmt.order_by(due.is_(None), due, Ticket.id.desc())
        page = self.paginate(stmt, limit=limit, offset=offset)
        self.audit_read(
            "inbox",
            {
                "view": view,
                "status": status,
                "queue": queue,
                "team_id": team_id,
                "assignee_id": assignee_id,
                "limit": limit,
                "offset": offset,
            },
            len(page.items),
        )
        return page

    def page(self, ticket_id: int) -> TicketPage:
        """Everything the ticket page shows, each part within the actor's own read scope."""
        ticket = self.tickets.get(ticket_id)
        messages = self.tickets.messages(ticket.id)
        out = TicketPage(ticket=ticket, messages=messages)
        out.may_update = self.scope("update") != "none" and self.tickets.in_scope(
            ticket, self.scope("update")
        )
        user_ids = {m.author_user_id for m in messages if m.author_user_id} | {ticket.assignee_id or 0}
        out.authors = dict(
            self.session.execute(select(User.id, User.name).where(User.id.in_(user_ids))).all()
        )
        out.assignee = self.session.get(User, ticket.assignee_id) if ticket.assignee_id else None
        out.team = self.session.get(Team, ticket.team_id) if ticket.team_id else None
        out.conversation = conversation_of(self.session, ticket.id)
        if ticket.requester_contact_id is not None:
            contacts = ContactService(self.session, self.actor)
            try:
                contact: Contact = contacts.get(ticket.requester_contact_id)
                out.contact = contacts.view(contact)
            except (NotFound, PermissionDenied):
                contact = None  # type: ignore[assignment]
            if contact is not None:
                activities = ActivityService(self.session, self.actor)
                try:
                    out.activities = activities.recent_for_contact(contact.id, limit=5)
                except PermissionDenied:
                    out.activities = []
                if contact.organization_id is not None:
                    try:
                        out.organization = OrganizationService(self.session, self.actor).get(
                            contact.organization_id
                        )
                    except (NotFound, PermissionDenied):
                        out.organization = None
                deals = DealService(self.session, self.actor)
                if deals.scope("read") != "none":
                    org = contact.organization_id
                    found = (
                        deals.list(organization_id=org, limit=10)
                        if org
                        else deals.list(contact_id=contact.id, limit=10)
                    ).items
                    out.deals = [d for d in found if d.stage not in ("won", "lost")]
        return out

    def agents(self) -> list[User]:
        """Who a ticket may be assigned to: active agents, managers and admins."""
        return list(
            self.session.execute(
                select(User)
                .where(User.is_active.is_(True), User.role.in_(("agent", "manager", "admin")))
                .order_by(User.name)
            ).scalars()
        )

    def teams(self) -> list[Team]:
        return list(self.session.execute(select(Team).order_by(Team.name)).scalars())


@dataclass(frozen=True)
class EarlierAnswer:
    ticket_id: int
    number: int
    question: str
    answer: str


def answered_tickets(
    service: InboxService, *, language: str | None, exclude: int, limit: int = 300
) -> list[EarlierAnswer]:
    """Solved tickets (newest first) with their opening message and the first agent reply: the material for
    "earlier answers to similar tickets". Only tickets the actor may read; audited as one bulk read."""
    stmt = (
        service.tickets.scoped(select(Ticket), Ticket)
        .where(Ticket.status.in_(("solved", "closed")), Ticket.id != exclude)
        .order_by(Ticket.id.desc())
        .limit(limit)
    )
    if language:
        stmt = stmt.where(Ticket.language == language)
    tickets = list(service.session.execute(stmt).scalars())
    if not tickets:
        return []
    ids = [t.id for t in tickets]
    rows = service.session.execute(
        select(TicketMessage.ticket_id, TicketMessage.direction, TicketMessage.body)
        .where(TicketMessage.ticket_id.in_(ids), TicketMessage.direction.in_(("inbound", "outbound")))
        .order_by(TicketMessage.created_at, TicketMessage.id)
    ).all()
    first: dict[int, dict[str, str]] = {}
    for ticket_id, direction, body in rows:
        first.setdefault(ticket_id, {}).setdefault(direction, body or "")
    out = [
        EarlierAnswer(
            t.id, t.number, f"{t.subject}\n{first[t.id].get('inbound', '')}", first[t.id]["outbound"]
        )
        for t in tickets
        if t.id in first and first[t.id].get("outbound")
    ]
    service.audit_read("suggest_answers", {"language": language, "limit": limit}, len(out))
    return out
