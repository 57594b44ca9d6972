"""Records to JSON-ready dicts, with the contract's field names (shared/spec/contract.md §5)."""

from __future__ import annotations

from datetime import date, datetime
from decimal import Decimal
from typing import Any

from crm_store.models import (
    Activity,
    ConsentRecord,
    Contact,
    Deal,
    KnowledgeArticle,
    Organization,
    Task,
    Team,
    Ticket,
    TicketMessage,
    User,
)


def _v(value: Any) -> Any:
    if isinstance(value, datetime | date):
        return value.isoformat()
    if isinstance(value, Decimal):
        return float(value) if value % 1 else int(value)
    return value


def _cols(obj: Any, names: tuple[str, ...]) -> dict[str, Any]:
    return {n: _v(getattr(obj, n)) for n in names}


def organization(o: Organization) -> dict[str, Any]:
    return _cols(o, ("id", "name", "domain", "industry", "segment", "vip", "parent_id", "owner_id",
                     "custom_fields", "created_at", "updated_at"))


def contact(c: Contact) -> dict[str, Any]:
    out = _cols(c, ("id", "first_name", "last_name", "salutation", "job_title", "language",
                    "organization_id", "owner_id", "tags", "custom_fields", "created_at", "updated_at"))
    out["full_name"] = c.full_name
    out["email"] = c.email
    out["emails"] = [e.address for e in c.emails]
    out["phone"] = c.phone
    out["phones"] = [p.number for p in c.phones]
    out["organization_name"] = c.organization.name if c.organization else None
    return out


def activity(a: Activity) -> dict[str, Any]:
    return _cols(a, ("id", "type", "contact_id", "organization_id", "deal_id", "user_id", "occurred_at",
                     "summary", "outcome", "channel", "created_at"))


def task(t: Task) -> dict[str, Any]:
    return _cols(t, ("id", "title", "due_at", "status", "contact_id", "organization_id", "deal_id",
                     "assignee_id", "activity_id", "completed_at", "created_at", "updated_at"))


def deal(d: Deal) -> dict[str, Any]:
    out = _cols(d, ("id", "name", "organization_id", "contact_id", "owner_id", "amount", "currency",
                    "stage", "probability", "expected_close_date", "closed_at", "last_activity_at",
                    "created_at", "updated_at"))
    out["weighted_amount"] = _v((d.amount or Decimal(0)) * d.probability / 100)
    return out


def deal_with_history(d: Deal) -> dict[str, Any]:
    out = deal(d)
    out["stage_history"] = [
        {"from": h.from_stage, "to": h.to_stage, "at": _v(h.changed_at), "by": h.changed_by_id} for h in d.history
    ]
    return out


def ticket(t: Ticket) -> dict[str, Any]:
    return _cols(t, ("id", "number", "subject", "description", "status", "priority", "queue", "language",
                     "team_id", "assignee_id", "requester_contact_id", "organization_id", "channel",
                     "needs_human", "first_response_due_at", "resolution_due_at", "first_responded_at",
                     "solved_at", "created_at", "updated_at"))


def ticket_message(m: TicketMessage) -> dict[str, Any]:
    return _cols(m, ("id", "ticket_id", "message_id", "in_reply_to", "direction", "author_contact_id",
                     "author_user_id", "channel", "body", "created_at"))


def thread_message(m: TicketMessage) -> dict[str, Any]:
    """A message of ``/tickets/{id}/messages`` (contract §5): the stored ``internal`` is a ``note``."""
    out = _cols(m, ("id", "ticket_id", "direction", "channel", "body", "author_contact_id", "author_user_id",
                    "created_at"))
    if out["direction"] == "internal":
        out["direction"] = "note"
    return out


def user(u: User) -> dict[str, Any]:
    return _cols(u, ("id", "email", "name", "role", "team_id", "language", "timezone", "languages_spoken",
                     "slack_user_id", "teams_user_id", "is_active", "is_available", "created_at"))


def team(t: Team) -> dict[str, Any]:
    return _cols(t, ("id", "name", "lead_user_id", "timezone"))


def consent(c: ConsentRecord) -> dict[str, Any]:
    return _cols(c, ("id", "purpose", "channel", "granted", "recorded_at", "source", "legal_basis"))


def article(a: KnowledgeArticle) -> dict[str, Any]:
    return _cols(a, ("id", "language", "title", "body", "tags", "published", "updated_at"))
