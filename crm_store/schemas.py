"""Input schemas (separate from tables): validated, normalised, unknown fields refused."""

from __future__ import annotations

from datetime import date, datetime
from decimal import Decimal
from typing import Annotated, Any, Literal

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, field_validator

from crm_store.validation import normalise_currency, normalise_email, normalise_phone

Email = Annotated[str, AfterValidator(normalise_email)]
Phone = Annotated[str, AfterValidator(normalise_phone)]
Currency = Annotated[str, AfterValidator(normalise_currency)]
ActivityType = Literal["call", "meeting", "email", "visit", "note"]
Stage = Literal["lead", "qualified", "proposal", "negotiation", "won", "lost"]
Priority = Literal["low", "normal", "high", "urgent"]
TicketStatus = Literal["new", "open", "pending", "solved", "closed"]
Queue = Literal["billing", "technical", "account", "sales", "cancellation", "complaint", "privacy", "other"]
Role = Literal["admin", "manager", "rep", "agent"]
TaskStatus = Literal["open", "done", "cancelled"]
Name = Annotated[str, Field(min_length=1, max_length=200)]


class Schema(BaseModel):
    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)


def _aware(v: datetime | None) -> datetime | None:
    if v is not None and v.tzinfo is None:
        raise ValueError("needs a time zone offset, e.g. 2026-12-04T10:00:00+01:00")
    return v


class OrganizationIn(Schema):
    name: Name
    domain: str | None = Field(default=None, max_length=255, pattern=r"^[A-Za-z0-9.-]+\.[A-Za-z]{2,}$")
    industry: str | None = Field(default=None, max_length=120)
    segment: str | None = Field(default=None, max_length=60)
    vip: bool = False
    parent_id: int | None = None
    owner_id: int | None = None
    custom_fields: dict[str, Any] = Field(default_factory=dict)

    @field_validator("domain")
    @classmethod
    def _lower_domain(cls, v: str | None) -> str | None:
        return v.lower() if v else v


class OrganizationPatch(OrganizationIn):
    name: Name | None = None  # type: ignore[assignment]


class ContactIn(Schema):
    first_name: str = Field(default="", max_length=120)
    last_name: str = Field(default="", max_length=120)
    salutation: str | None = Field(default=None, max_length=40)
    email: Email | None = None
    emails: list[Email] = Field(default_factory=list, max_length=20)
    phone: Phone | None = None
    phones: list[Phone] = Field(default_factory=list, max_length=20)
    job_title: str | None = Field(default=None, max_length=200)
    language: str | None = Field(default=None, pattern=r"^[a-z]{2}$")
    organization_id: int | None = None
    owner_id: int | None = None
    tags: list[str] = Field(default_factory=list, max_length=50)
    custom_fields: dict[str, Any] = Field(default_factory=dict)


class ContactPatch(ContactIn):
    first_name: str | None = Field(default=None, max_length=120)  # type: ignore[assignment]
    last_name: str | None = Field(default=None, max_length=120)  # type: ignore[assignment]


class ActivityIn(Schema):
    type: ActivityType
    contact_id: int | None = None
    organization_id: int | None = None
    deal_id: int | None = None
    occurred_at: Annotated[datetime | None, AfterValidator(_aware)] = None
    summary: str = Field(default="", max_length=20000)
    outcome: str | None = Field(default=None, max_length=200)
    channel: str | None = Field(default=None, max_length=30)


class ActivityPatch(Schema):
    summary: str | None = Field(default=None, max_length=20000)
    outcome: str | None = Field(default=None, max_length=200)
    occurred_at: Annotated[datetime | None, AfterValidator(_aware)] = None


class TaskIn(Schema):
    title: str = Field(min_length=1, max_length=500)
    due_at: Annotated[datetime | None, AfterValidator(_aware)] = None
    contact_id: int | None = None
    organization_id: int | None = None
    deal_id: int | None = None
    assignee_id: int | None = None
    status: TaskStatus = "open"


class TaskPatch(Schema):
    title: str | None = Field(default=None, min_length=1, max_length=500)
    due_at: Annotated[datetime | None, AfterValidator(_aware)] = None
    assignee_id: int | None = None
    status: TaskStatus | None = None


class DealIn(Schema):
    name: Name
    organization_id: int | None = None
    contact_id: int | None = None
    owner_id: int | None = None
    amount: Decimal = Field(default=Decimal(0), ge=0, max_digits=14, decimal_places=2)
    currency: Currency = "EUR"
    stage: Stage = "lead"
    probability: int | None = Field(default=None, ge=0, le=100)
    expected_close_date: date | None = None


class DealPatch(Schema):
    name: Name | None = None
    organization_id: int | None = None
    contact_id: int | None = None
    owner_id: int | None = None
    amount: Decimal | None = Field(default=None, ge=0, max_digits=14, decimal_places=2)
    currency: Currency | None = None
    stage: Stage | None = None
    probability: int | None = Field(default=None, ge=0, le=100)
    expected_close_date: date | None = None


class TicketIn(Schema):
    subject: str = Field(min_length=1, max_length=500)
    description: str = Field(default="", max_length=100000)
    priority: Priority = "normal"
    queue: Queue = "other"
    language: str | None = Field(default=None, pattern=r"^[a-z]{2}$")
    requester_contact_id: int | None = None
    assignee_id: int | None = None
    team_id: int | None = None
    channel: str = Field(default="web", max_length=20)
    status: TicketStatus = "new"


class TicketPatch(Schema):
    subject: str | None = Field(default=None, min_length=1, max_length=500)
    status: TicketStatus | None = None
    priority: Priority | None = None
    queue: Queue | None = None
    assignee_id: int | None = None
    team_id: int | None = None


class UserIn(Schema):
    email: Email
    name: Name
    role: Role
    team_id: int | None = None
    language: Literal["en", "de"] = "en"
    timezone: str = "Europe/Berlin"
    languages_spoken: list[str] = Field(default_factory=list)
    slack_user_id: str | None = None
    teams_user_id: str | None = None


class UserPatch(Schema):
    name: Name | None = None
    role: Role | None = None
    team_id: int | None = None
    language: Literal["en", "de"] | None = None
    timezone: str | None = None
    is_active: bool | None = None
    is_available: bool | None = None
    slack_user_id: str | None = None
    teams_user_id: str | None = None
