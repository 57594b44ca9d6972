"""Shared plumbing of the services: session, actor, audit, role checks, lookups, pagination."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, TypeVar

from pydantic import BaseModel
from pydantic import ValidationError as PydanticValidationError
from sqlalchemy import Select, func, select
from sqlalchemy.orm import Session

from crm_store.models import Base
from crm_store.services import audit
from crm_store.services.actor import Actor
from crm_store.services.errors import FieldError, NotFound, PermissionDenied, ValidationFailed

M = TypeVar("M", bound=Base)
S = TypeVar("S", bound=BaseModel)

STAFF = ("admin", "manager", "rep", "agent")
MAX_PAGE = 500


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
    entity: str = ""

    def __init__(self, session: Session, actor: Actor) -> None:
        self.session = session
        self.actor = actor

    # --- permissions -------------------------------------------------------------------------------
    def require_role(self, *roles: str) -> None:
        if not self.actor.has_role(*roles):
            raise PermissionDenied(f"your role may not do this ({self.entity})")

    def require_staff(self) -> None:
        self.require_role(*STAFF)

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
        limit = max(1, min(int(limit), MAX_PAGE))
        offset = max(0, int(offset))
        items = list(self.session.execute(stmt.limit(limit).offset(offset)).scalars().unique())
        if len(items) < limit and (items or offset == 0):  # a short page is the last one: no count needed
            return Page(items, offset + len(items))
        total = self.session.execute(select(func.count()).select_from(stmt.order_by(None).subquery())).scalar_one()
        return Page(items, total)


def changes(obj: Any, values: dict[str, Any]) -> dict[str, list[Any]]:
    """Apply ``values`` to ``obj``; return {field: [old, new]} for what really changed (for the audit)."""
    diff: dict[str, list[Any]] = {}
    for key, new in values.items():
        old = getattr(obj, key)
        if old != new:
            setattr(obj, key, new)
            diff[key] = [old, new]
    return diff
