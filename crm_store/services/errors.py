"""The store's error tree. Only these reach users; everything else is logged and answered generically.

    CrmError
    ├── ValidationFailed   422, names the field at fault
    ├── NotFound           404
    ├── Conflict           409, carries the existing record's id
    ├── PermissionDenied   403
    └── (crm_store.db.StoreUnavailable is separate: 503)
"""

from __future__ import annotations

from dataclasses import dataclass, field


class CrmError(Exception):
    status: int = 400
    title: str = "Bad request"

    def __init__(self, detail: str) -> None:
        super().__init__(detail)
        self.detail = detail


@dataclass
class FieldError:
    field: str
    message: str


class ValidationFailed(CrmError):
    status = 422
    title = "Validation failed"

    def __init__(self, errors: list[FieldError] | str, field_name: str | None = None) -> None:
        if isinstance(errors, str):
            errors = [FieldError(field_name or "", errors)]
        self.errors = errors
        super().__init__("; ".join(f"{e.field}: {e.message}" if e.field else e.message for e in errors))

    @property
    def field(self) -> str:
        return self.errors[0].field if self.errors else ""


class NotFound(CrmError):
    status = 404
    title = "Not found"


@dataclass
class _ConflictInfo:
    existing_id: int | None = None
    extra: dict[str, object] = field(default_factory=dict)


class Conflict(CrmError):
    status = 409
    title = "Conflict"

    def __init__(self, detail: str, *, existing_id: int | None = None, field_name: str | None = None) -> None:
        super().__init__(detail)
        self.existing_id = existing_id
        self.field = field_name


class PermissionDenied(CrmError):
    status = 403
    title = "Forbidden"
