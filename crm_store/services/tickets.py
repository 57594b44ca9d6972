"""Tickets: numbering, SLA due times, thread messages, status rules, customers see only their own."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any

from sqlalchemy import ColumnElement, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import selectinload

from crm_store.models import Contact, Counter, Team, Ticket, TicketMessage, User, utcnow
from crm_store.schemas import TicketIn, TicketPatch
from crm_store.services.base import Page, Service, changes, parse_input
from crm_store.services.errors import Conflict, NotFound, PermissionDenied, ValidationFailed
from crm_store.services.policy import policy

FIRST_TICKET_NUMBER = 1000
TICKET_ROLES = ("admin", "manager", "agent")
READ_ROLES = ("admin", "manager", "agent", "rep")


@dataclass(frozen=True)
class SlaPolicy:
    """First-response and resolution targets per priority (hours)."""

    first_response: dict[str, float] = field(
        default_factory=lambda: {"urgent": 1, "high": 4, "normal": 8, "low": 24})
    resolution: dict[str, float] = field(
        default_factory=lambda: {"urgent": 4, "high": 24, "normal": 72, "low": 168})


def next_number(session: Any, name: str = "ticket") -> int:
    """Gap-free, concurrency-safe: the counter row is updated (and so locked) before it is read."""
    result = session.execute(update(Counter).where(Counter.name == name).values(value=Counter.value + 1))
    if result.rowcount == 0:
        try:
            with session.begin_nested():  # the first number: another worker may be creating the row too
                session.add(Counter(name=name, value=FIRST_TICKET_NUMBER))
            return FIRST_TICKET_NUMBER
        except IntegrityError:  # it did (and committed): count on from its row
            session.execute(update(Counter).where(Counter.name == name).values(value=Counter.value + 1))
    return int(session.execute(select(Counter.value).where(Counter.name == name)).scalar_one())


class TicketService(Service):
    entity = "ticket"
    owner_attr = "assignee_id"  # policy "own" for staff; a customer's own tickets are those they requested
    customer_attr = "requester_contact_id"

    def __init__(self, session: Any, actor: Any, sla: SlaPolicy | None = None) -> None:
        super().__init__(session, actor)
        self.sla = sla or SlaPolicy()

    # --- access ------------------------------------------------------------------------------------
    def _team_clause(self, model: type[Any]) -> ColumnElement[bool]:
        """Policy "team" for tickets: the ticket's team is the actor's (or it is assigned to them)."""
        own = self._own_clause(model)
        if self.actor.kind != "user" or self.actor.team_id is None:
            return own
        return own | (Ticket.team_id == self.actor.team_id)

    def _visible(self, ticket: Ticket) -> None:
        """The policy's tickets.read scope; a ticket outside it does not exist (no hint either way)."""
        if self.actor.kind == "customer":
            if not self.in_scope(ticket, self.scope("read")):
                raise NotFound(f"ticket {ticket.number} does not exist")
            return
        self.check_read(ticket)

    def _load(self) -> Any:
        return select(Ticket).options(selectinload(Ticket.messages))

    def get(self, ticket_id: int) -> Ticket:
        ticket = self.session.execute(self._load().where(Ticket.id == ticket_id)).scalar_one_or_none()
        if ticket is None:
            raise NotFound(f"ticket {ticket_id} does not exist")
        self._visible(ticket)
        return ticket

    def by_number(self, number: int | str) -> Ticket:
        try:
            num = int(str(number).lstrip("#"))
        except ValueError:
            raise ValidationFailed("a ticket number is digits", "number") from None
        ticket = self.session.execute(self._load().where(Ticket.number == num)).scalar_one_or_none()
        if ticket is None:
            raise NotFound(f"ticket {num} does not exist")
        self._visible(ticket)
        return ticket

    # --- writes ------------------------------------------------------------------------------------
    def create(self, data: dict[str, Any] | TicketIn, *, message_id: str | None = None) -> Ticket:
        inp = parse_input(TicketIn, data)
        values = inp.model_dump()
        if self.actor.kind == "customer":
            if self.actor.id is None:
                raise PermissionDenied("tell us your e-mail address first")
            values.update(requester_contact_id=self.actor.id, assignee_id=None, team_id=None, status="new")
        elif self.actor.kind == "user":
            self.require_role(*READ_ROLES)
        self.ensure_exists(Contact, values["requester_contact_id"], "requester_contact_id")
        self.ensure_exists(User, values["assignee_id"], "assignee_id")
        self.ensure_exists(Team, values["team_id"], "team_id")
        now = utcnow()
        ticket = Ticket(**values, number=next_number(self.session))
        if ticket.requester_contact_id is not None:
            ticket.organization_id = self.session.get(Contact, ticket.requester_contact_id).organization_id  # type: ignore[union-attr]
        self._apply_sla(ticket, now)
        ticket.messages = [TicketMessage(
            direction="inbound" if self.actor.kind != "user" else "internal", body=inp.description,
            channel=inp.channel, message_id=message_id, author_contact_id=ticket.requester_contact_id,
            author_user_id=self.actor.id if self.actor.kind == "user" else None,
        )] if inp.description or message_id else []
        self.session.add(ticket)
        self.session.flush()
        self.audit("create", ticket.id, {"number": ticket.number, "queue": ticket.queue,
                                         "priority": ticket.priority, "channel": ticket.channel})
        return ticket

    def _apply_sla(self, ticket: Ticket, start: Any) -> None:
        ticket.first_response_due_at = start + timedelta(hours=self.sla.first_response[ticket.priority])
        ticket.resolution_due_at = start + timedelta(hours=self.sla.resolution[ticket.priority])

    def update(self, ticket_id: int, data: dict[str, Any] | TicketPatch) -> Ticket:
        ticket = self.get(ticket_id)
        if self.actor.kind == "customer":
            raise PermissionDenied("customers cannot change ticket fields")
        self.require_role(*TICKET_ROLES)
        values = parse_input(TicketPatch, data).model_dump(exclude_unset=True)
        self.ensure_exists(User, values.get("assignee_id"), "assignee_id")
        self.ensure_exists(Team, values.get("team_id"), "team_id")
        status = values.get("status")
        if status in ("solved", "closed") and ticket.solved_at is None:
            ticket.solved_at = utcnow()
        if status in ("new", "open", "pending"):
            ticket.solved_at = None
        old_queue, old_priority = ticket.queue, ticket.priority
        diff = changes(ticket, values)  # first: the audit sees every changed field, priority included
        if "priority" in diff:
            self._apply_sla(ticket, ticket.created_at)  # a new priority moves the SLA due times
        if diff:
            self.audit("update", ticket.id, {"changes": {k: [str(a), str(b)] for k, (a, b) in diff.items()}})
        if (ticket.queue, ticket.priority) != (old_queue, old_priority):  # an agent corrects the mail triage
            from crm_store.services.mail_triage import record_triage_correction

            record_triage_correction(
                self.session, self.actor, ticket, old_queue=old_queue, old_priority=old_priority
            )
        return ticket

    def add_message(self, ticket_id: int, body: str, *, channel: str = "web", message_id: str | None = None,
                    in_reply_to: str | None = None, direction: str | None = None,
                    author_contact_id: int | None = None, author_address: str | None = None,
                    recipients: list[str] | None = None) -> TicketMessage:
        """Append to the thread; a customer's message reopens a solved ticket; a Message-ID only once.

        ``author_contact_id``/``author_address``: who really wrote an inbound mail (whoever may join the
        thread, decided by ``mail_threads``); without them the requester is the author, as in the chat.
        """
        ticket = self.get(ticket_id)
        if message_id and self.session.execute(
            select(TicketMessage.id).where(TicketMessage.message_id == message_id)
        ).scalar() is not None:
            raise Conflict(f"message {message_id} is already on a ticket", field_name="message_id")
        if ticket.status == "closed" and self.actor.kind == "customer":
            raise ValidationFailed("this ticket is closed; please open a new one", "status")
        is_staff = self.actor.kind == "user"
        msg = TicketMessage(
            ticket_id=ticket.id, body=body, channel=channel, message_id=message_id, in_reply_to=in_reply_to,
            direction=direction or ("outbound" if is_staff else "inbound"),
            author_user_id=self.actor.id if is_staff else None,
            author_contact_id=None if is_staff else (
                author_contact_id if self.actor.kind == "system" and author_contact_id is not None
                else ticket.requester_contact_id),
            author_address=author_address, recipients=recipients,
        )
        self.session.add(msg)
        if not is_staff and ticket.status in ("solved", "pending"):
            ticket.status = "open"
            ticket.solved_at = None
        if is_staff and msg.direction == "outbound" and ticket.first_responded_at is None:
            ticket.first_responded_at = utcnow()
        self.session.flush()
        self.audit("message", ticket.id, {"message": msg.id, "direction": msg.direction, "channel": channel})
        return msg

    def close_by_customer(self, ticket_id: int) -> Ticket:
        ticket = self.get(ticket_id)
        if ticket.status != "closed":
            old = ticket.status
            ticket.status = "solved"
            ticket.solved_at = utcnow()
            self.audit("update", ticket.id, {"changes": {"status": [old, "solved"]}})
        return ticket

    def request_human(self, ticket_id: int) -> Ticket:
        ticket = self.get(ticket_id)
        if not ticket.needs_human:
            ticket.needs_human = True
            if ticket.priority == "low":
                ticket.priority = "normal"
            self.audit("handover", ticket.id, {"needs_human": True})
        return ticket

    def list(self, *, status: str | None = None, queue: str | None = None,
             requester_contact_id: int | None = None, assignee_id: int | None = None,
             open_only: bool = False, limit: int = 50, offset: int = 0) -> Page:
        if self.actor.kind == "customer" and self.scope("read") == "none":
            return Page([], 0)  # an anonymous customer has no tickets
        stmt = self.scoped(select(Ticket), Ticket).order_by(Ticket.id.desc())
        for col, val in ((Ticket.status, status), (Ticket.queue, queue),
                         (Ticket.requester_contact_id, requester_contact_id), (Ticket.assignee_id, assignee_id)):
            if val is not None:
                stmt = stmt.where(col == val)
        if open_only:
            stmt = stmt.where(Ticket.status.in_(("new", "open", "pending")))
        page = self.paginate(stmt, limit=limit, offset=offset)
        filters = {"status": status, "queue": queue, "requester_contact_id": requester_contact_id,
                   "assignee_id": assignee_id, "open_only": open_only, "limit": limit, "offset": offset}
        self.audit_read("list", filters, len(page.items))
        return page

    def messages(self, ticket_id: int) -> list[TicketMessage]:
        """The ticket's thread, oldest first, for whoever may read the ticket; internal notes only for
        roles whose policy includes them (staff), never for customers. The read is audited."""
        ticket = self.get(ticket_id)
        self.require("read", "ticket_messages")
        stmt = select(TicketMessage).where(TicketMessage.ticket_id == ticket.id)
        if not policy().notes(self.actor):
            stmt = stmt.where(TicketMessage.direction != "internal")
        items = list(self.session.execute(stmt.order_by(TicketMessage.created_at, TicketMessage.id)).scalars())
        self.audit_read("read_messages", {"ticket_id": ticket.id}, len(items), entity_id=ticket.id)
        return items

    def overdue(self, now: Any | None = None) -> list[Ticket]:
        now = now or utcnow()
        stmt = select(Ticket).where(
            Ticket.status.in_(("new", "open", "pending")), Ticket.escalated_at.is_(None),
            ((Ticket.first_responded_at.is_(None) & (Ticket.first_response_due_at < now))
             | (Ticket.resolution_due_at < now)),
        )
        return list(self.session.execute(stmt).scalars())

    # --- agent inbox (additive) --------------------------------------------------------------------
    def record_triage(self, ticket_id: int, decision: dict[str, Any]) -> None:
        """How mail triage decided about a ticket it opened (shown to agents beside the thread). Only the
        system (triage) writes it; it is audited with the ticket's creation, so no second entry."""
        if self.actor.kind != "system":
            raise PermissionDenied("only triage records its decision")
        ticket = self.get_or_404(Ticket, ticket_id, "ticket")
        ticket.triage = {k: v for k, v in decision.items() if v not in (None, "", [])}

    def record_attachments(self, message_id: int, names: list[str]) -> None:
        """The file names of a mail's attachments on its thread message (triage, system only)."""
        if self.actor.kind != "system":
            raise PermissionDenied("only triage records attachments")
        msg = self.get_or_404(TicketMessage, message_id, "message")
        msg.attachments = [str(n)[:200] for n in names][:50] or None
