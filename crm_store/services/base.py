"""Shared plumbing of the services: session, actor, audit, role checks, lookups, pagination."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any, ClassVar, TypeVar

from pydantic import BaseModel
from pydantic import ValidationError as PydanticValidationError
from sqlalchemy import ColumnElement, Select, false, func, select, true
from sqlalchemy.orm import Session

from crm_store import serialize
from crm_store.models import Base, Contact, User
from crm_store.services import audit
from crm_store.services.actor import Actor
from crm_store.services.errors import FieldError, NotFound, PermissionDenied, ValidationFailed
from crm_store.services.policy import ENTITY_RESOURCE, Op, Scope, policy

M = TypeVar("M", bound=Base)
S = TypeVar("S", bound=BaseModel)

STAFF = ("admin", "manager", "rep", "agent")
MAX_PAGE = 500
# filter values that are not personal data: kept in the audit entry of a list; any other filter is
# recorded by name only ("q": "<given>"), so the log says what was searched for, never whom
_PLAIN_FILTERS = frozenset({
    "limit", "offset", "stage", "status", "queue", "type", "role", "open_only", "currency", "since", "until",
    "close_from", "close_to", "due_before", "period", "stalled_days", "format", "kind", "language",
})
SERIALIZERS: dict[str, Callable[[Any], dict[str, Any]]] = {
    "organization": serialize.organization,
    "contact": serialize.contact,
    "activity": serialize.activity,
    "task": serialize.task,
    "deal": serialize.deal,
    "ticket": serialize.ticket,
    "ticket_message": serialize.thread_message,
    "user": serialize.user,
    "knowledge_article": serialize.article,
}


@dataclass(frozen=True)
class Page:
    items: list[Any]
    total: int


def parse_input(schema: type[S], data: dict[str, Any] | S) -> S:
    """Validate raw input; a pydantic error becomes ValidationFailed naming each field at fault."""
    if isinstance(data, schema):
        return data
    try:
        return schema.model_validate(data)
    except PydanticValidationError as exc:
        errors = []
        for err in exc.errors():
            loc = ".".join(str(p) for p in err["loc"]) or "body"
            msg = "unknown field" if err["type"] == "extra_forbidden" else err["msg"]
            errors.append(FieldError(loc, msg.removeprefix("Value error, ")))
        raise ValidationFailed(errors) from None


class Service:
    """Base of the services. Besides the session and actor it applies the access policy
    (crm_store/policy.yml): ``read_scope``/``scoped`` filter lists, ``check_read``/``check_write`` guard
    one record, ``view`` serialises with only the readable fields, ``audit_read`` logs bulk reads.

    Subclasses say how a record relates to an actor: ``owner_attr`` (own/team for staff) and
    ``customer_attr`` (own for a customer); they override ``_own_clause``/``_team_clause`` when
    "own" or "team" means something else for them."""

    entity: str = ""
    owner_attr: ClassVar[str | None] = "owner_id"
    customer_attr: ClassVar[str | None] = None
    restricted_attr: ClassVar[str | None] = None  # set: records with it set are Art. 18 restricted

    def __init__(self, session: Session, actor: Actor) -> None:
        self.session = session
        self.actor = actor

    # --- permissions -------------------------------------------------------------------------------
    def require_role(self, *roles: str) -> None:
        if not self.actor.has_role(*roles):
            raise PermissionDenied(f"your role may not do this ({self.entity})")

    def require_staff(self) -> None:
        self.require_role(*STAFF)

    def require_self_or_staff(self, contact_id: int) -> None:
        """A customer acts only on their own contact (anything else does not exist for them); staff may."""
        if self.actor.kind == "customer":
            if self.actor.id != contact_id:
                raise NotFound(f"contact {contact_id} does not exist")
            return
        self.require_role(*STAFF)

    def contact_or_404(self, contact_id: int) -> Contact:
        contact = self.session.get(Contact, contact_id)
        if contact is None:
            raise NotFound(f"contact {contact_id} does not exist")
        return contact

    # --- the access policy ---------------------------------------------------------------------------
    @property
    def resource(self) -> str:
        return ENTITY_RESOURCE.get(self.entity, self.entity)

    def scope(self, op: Op, resource: str | None = None) -> Scope:
        return policy().scope(self.actor, resource or self.resource, op)

    def require(self, op: Op, resource: str | None = None) -> Scope:
        """The actor's scope for ``op``; PermissionDenied when it is none."""
        scope = self.scope(op, resource)
        if scope == "none":
            raise PermissionDenied(f"your role may not do this ({self.entity})")
        return scope

    def read_scope(self) -> Scope:
        return self.require("read")

    def _own_clause(self, model: type[Any]) -> ColumnElement[bool]:
        if self.actor.kind == "customer":
            if self.customer_attr is None or self.actor.id is None:
                return false()
            return getattr(model, self.customer_attr) == self.actor.id  # type: ignore[no-any-return]
        if self.owner_attr is None or self.actor.id is None:
            return false()
        return getattr(model, self.owner_attr) == self.actor.id  # type: ignore[no-any-return]

    def _team_clause(self, model: type[Any]) -> ColumnElement[bool]:
        """Default: the owner is in the actor's team (a user without a team: only their own)."""
        own = self._own_clause(model)
        if self.actor.kind != "user" or self.actor.team_id is None or self.owner_attr is None:
            return own
        team = select(User.id).where(User.team_id == self.actor.team_id)
        return own | getattr(model, self.owner_attr).in_(team)  # type: ignore[no-any-return]

    def scope_clause(self, model: type[Any], scope: Scope) -> ColumnElement[bool]:
        if scope == "all":
            return true()
        if scope == "team":
            return self._team_clause(model)
        if scope == "own":
            return self._own_clause(model)
        return false()

    def hides_restricted(self) -> bool:
        """Whether Art. 18 restricted records are hidden from this actor: the one place that decides
        (policy.yml ``restricted``); lists, searches, single reads and writes all follow it."""
        return self.restricted_attr is not None and not policy().sees_restricted(self.actor, self.resource)

    def restriction_clause(self, model: type[Any]) -> ColumnElement[bool]:
        """Only unrestricted records, unless the actor may see restricted ones."""
        if not self.hides_restricted():
            return true()
        return getattr(model, str(self.restricted_attr)).is_(None)  # type: ignore[no-any-return]

    def scoped(self, stmt: Select[Any], model: type[Any], op: Op = "read") -> Select[Any]:
        """``stmt`` restricted to the records the actor may ``op`` (PermissionDenied for none)."""
        scope = self.require(op)
        if self.hides_restricted():
            stmt = stmt.where(self.restriction_clause(model))
        return stmt if scope == "all" else stmt.where(self.scope_clause(model, scope))

    def in_scope(self, obj: Any, scope: Scope) -> bool:
        """Whether one loaded record is inside ``scope`` (the same rule as ``scope_clause``, in SQL) and,
        for an actor that may not see them, not restricted."""
        if scope == "none":
            return False
        if self.hides_restricted() and getattr(obj, str(self.restricted_attr), None) is not None:
            return False
        if scope == "all":
            return True
        model = type(obj)
        pk = model.id
        stmt = select(pk).where(pk == obj.id, self.scope_clause(model, scope))
        with self.session.no_autoflush:
            return self.session.execute(stmt).first() is not None

    def check_read(self, obj: M, what: str | None = None) -> M:
        """``obj`` when the actor may read it; a record outside the read scope does not exist (404)."""
        scope = self.read_scope()
        if not self.in_scope(obj, scope):
            raise NotFound(f"{what or self.entity} {obj.id} does not exist")  # type: ignore[attr-defined]
        return obj

    def check_write(self, obj: Any, op: Op = "update", *, detail: str | None = None) -> None:
        """A record outside the write scope: 404 when it is also unreadable, else 403."""
        scope = self.require(op)
        if self.in_scope(obj, scope):  # "all" too, unless the record is restricted and hidden from the actor
            return
        if self.actor.kind == "customer" or not self.in_scope(obj, self.scope("read")):
            raise NotFound(f"{self.entity} {obj.id} does not exist")
        raise PermissionDenied(detail or f"your role may only change {scope} records ({self.entity})")

    def page_limit(self, limit: int) -> int:
        """The page size the actor gets: the request, capped by the policy's max_page for the role."""
        return max(1, min(int(limit), policy().max_page(self.actor, self.resource, MAX_PAGE)))

    def readable_fields(self) -> frozenset[str] | None:
        return policy().fields(self.actor, self.resource)

    def require_filterable(self, filters: dict[str, Any]) -> None:
        """Filtering on a field one may not read would reveal it by trial: refused (403)."""
        fields = self.readable_fields()
        if fields is None:
            return
        hidden = [k for k, v in filters.items() if v is not None and k.endswith("_id") and k not in fields]
        if hidden:
            raise PermissionDenied(f"your role may not filter on {', '.join(sorted(hidden))}")

    def view(self, obj: Any, entity: str | None = None) -> dict[str, Any]:
        """The record (of this service's entity, or ``entity``) as JSON-ready data with only the fields
        the actor may read. REST serialises through here; chat replies should too."""
        entity = entity or self.entity
        data = SERIALIZERS[entity](obj)
        fields = policy().fields(self.actor, ENTITY_RESOURCE.get(entity, entity))
        return data if fields is None else {k: v for k, v in data.items() if k in fields}

    def audit_read(self, action: str, filters: dict[str, Any], rows: int, *, entity_id: object = None,
                   **extra: Any) -> None:
        """One audit entry per bulk read (list, search, report, export): who, what, which filters, how
        many rows - never the rows, and personal filter values only as "<given>". The system actor's
        internal reads are not logged (they would flood the chain during imports and triage)."""
        if self.actor.kind == "system":
            return
        self.audit(action, entity_id, {"filters": audit_filters(filters), "rows": rows, **extra})

    def audit_export(self, fmt: str, rows: int, *, by: str | None = None) -> None:
        """An export of this resource (``crm-assistant export``): always audited, the CLI's system actor
        too; ``by`` is the operating-system account that ran it."""
        self.audit("export", None, {"format": fmt, "rows": rows, "by": by})

    # --- helpers -----------------------------------------------------------------------------------
    def get_or_404(self, model: type[M], record_id: int, what: str | None = None) -> M:
        obj = self.session.get(model, record_id)
        if obj is None:
            raise NotFound(f"{what or model.__name__.lower()} {record_id} does not exist")
        return obj

    def ensure_exists(self, model: type[M], record_id: int | None, field_name: str) -> None:
        if record_id is not None and self.session.get(model, record_id) is None:
            raise ValidationFailed(f"no {model.__name__.lower()} with id {record_id}", field_name)

    def audit(self, action: str, entity_id: object, payload: dict[str, Any] | None = None,
              entity: str | None = None) -> None:
        audit.record(self.session, self.actor, action, entity or self.entity, entity_id, payload)

    def paginate(self, stmt: Select[Any], *, limit: int = 50, offset: int = 0) -> Page:
        limit = self.page_limit(limit)
        offset = max(0, int(offset))
        items = list(self.session.execute(stmt.limit(limit).offset(offset)).scalars().unique())
        if len(items) < limit and (items or offset == 0):  # a short page is the last one: no count needed
            return Page(items, offset + len(items))
        total = self.session.execute(select(func.count()).select_from(stmt.order_by(None).subquery())).scalar_one()
        return Page(items, total)


def _plain(value: Any) -> Any:
    if isinstance(value, date | datetime):
        return value.isoformat()
    if isinstance(value, tuple | list):
        return [_plain(v) for v in value]
    return value


def audit_filters(filters: dict[str, Any]) -> dict[str, Any]:
    """The filters of a read for its audit entry: ids and enums as given, anything else by name only."""
    out: dict[str, Any] = {}
    for key, value in filters.items():
        if value is None or value is False:
            continue
        if key in _PLAIN_FILTERS or key.endswith("_id"):
            out[key] = _plain(value)
        else:
            out[key] = "<given>"
    return out


def changes(obj: Any, values: dict[str, Any]) -> dict[str, list[Any]]:
    """Apply ``values`` to ``obj``; return {field: [old, new]} for what really changed (for the audit)."""
    diff: dict[str, list[Any]] = {}
    for key, new in values.items():
        old = getattr(obj, key)
        if old != new:
            setattr(obj, key, new)
            diff[key] = [old, new]
    return diff
