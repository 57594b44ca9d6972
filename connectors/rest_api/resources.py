"""The resource table of ``/api/v1/``: one row per collection, read by the routes and the OpenAPI document.

Input schemas are the store's own (crm_store.schemas); each list has a query model here whose
fields are exactly the filters the service's ``list`` accepts, plus ``limit`` and ``offset``.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import date, datetime
from typing import Annotated, Any, Literal, Protocol

from pydantic import AwareDatetime, BaseModel, ConfigDict, Field, StringConstraints

from connectors.rest_api.inputs import MAX_ID
from crm_store import schemas, serialize
from crm_store.services import CrmServices
from crm_store.services.base import MAX_PAGE, Page

Id = Annotated[int, Field(ge=1, le=MAX_ID)]
Text = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=200)]


class CrudService(Protocol):
    def create(self, data: dict[str, Any]) -> Any: ...

    def update(self, record_id: int, data: dict[str, Any], /) -> Any: ...

    def get(self, record_id: int, /) -> Any: ...

    def list(self, *args: Any, **kwargs: Any) -> Page: ...

    def view(self, obj: Any, entity: str | None = None) -> dict[str, Any]: ...


class ListQuery(BaseModel):
    model_config = ConfigDict(extra="forbid")

    limit: int = Field(default=50, ge=1, le=MAX_PAGE, description="page size")
    offset: int = Field(default=0, ge=0, le=MAX_ID, description="items to skip")


class OrganizationQuery(ListQuery):
    q: Text | None = Field(default=None, description="name search, forgiving about case and umlauts")
    domain: Text | None = None
    industry: Text | None = None
    parent_id: Id | None = None


class ContactQuery(ListQuery):
    q: Text | None = Field(default=None, description="name or e-mail search (case, umlauts, transliteration)")
    organization_id: Id | None = None
    email: Text | None = None
    owner_id: Id | None = None


class ActivityQuery(ListQuery):
    contact_id: Id | None = None
    organization_id: Id | None = None
    deal_id: Id | None = None
    user_id: Id | None = None
    type: schemas.ActivityType | None = None
    since: AwareDatetime | None = Field(
        default=None, description="occurred at or after (ISO 8601 with offset)"
    )
    until: AwareDatetime | None = Field(default=None, description="occurred before (ISO 8601 with offset)")


class TaskQuery(ListQuery):
    contact_id: Id | None = None
    assignee_id: Id | None = None
    status: schemas.TaskStatus | None = None
    due_before: AwareDatetime | None = None


class DealQuery(ListQuery):
    stage: schemas.Stage | None = None
    owner_id: Id | None = None
    organization_id: Id | None = None
    contact_id: Id | None = None
    close_from: date | None = Field(default=None, description="expected close on or after")
    close_to: date | None = Field(default=None, description="expected close before")


class TicketQuery(ListQuery):
    status: schemas.TicketStatus | None = None
    queue: schemas.Queue | None = None
    requester_contact_id: Id | None = None
    assignee_id: Id | None = None
    open_only: bool = False


class UserQuery(ListQuery):
    role: schemas.Role | None = None
    team_id: Id | None = None


class TicketMessageOut(BaseModel):
    """One message of a ticket's thread as ``GET /tickets/{id}/messages`` answers it (contract §5)."""

    id: int
    ticket_id: int
    direction: Literal["inbound", "outbound", "note"]
    channel: str
    body: str
    author_contact_id: int | None
    author_user_id: int | None
    created_at: datetime


@dataclass(frozen=True)
class Child:
    """A collection below one record: ``/api/v1/<resource>/{id}/<name>`` (read: a list of all of it)."""

    name: str  # the URL segment
    entity: str  # the service entity of its items: their serialiser and policy fields
    list: Callable[[Any, int], list[Any]]  # (the parent's service, the parent's id) -> the items
    schema: type[BaseModel]  # one item, for the OpenAPI document
    summary: str


@dataclass(frozen=True)
class Resource:
    name: str  # the URL segment: /api/v1/<name>
    singular: str
    service: Callable[[CrmServices], CrudService]
    serialize: Callable[[Any], dict[str, Any]]
    create_schema: type[BaseModel]
    patch_schema: type[BaseModel]
    query: type[ListQuery]
    children: tuple[Child, ...] = ()

    @property
    def title(self) -> str:
        return self.singular.title()


RESOURCES: tuple[Resource, ...] = (
    Resource(
        "organizations",
        "organization",
        lambda crm: crm.organizations,
        serialize.organization,
        schemas.OrganizationIn,
        schemas.OrganizationPatch,
        OrganizationQuery,
    ),
    Resource(
        "contacts",
        "contact",
        lambda crm: crm.contacts,
        serialize.contact,
        schemas.ContactIn,
        schemas.ContactPatch,
        ContactQuery,
    ),
    Resource(
        "activities",
        "activity",
        lambda crm: crm.activities,
        serialize.activity,
        schemas.ActivityIn,
        schemas.ActivityPatch,
        ActivityQuery,
    ),
    Resource(
        "tasks", "task", lambda crm: crm.tasks, serialize.task, schemas.TaskIn, schemas.TaskPatch, TaskQuery
    ),
    Resource(
        "deals", "deal", lambda crm: crm.deals, serialize.deal, schemas.DealIn, schemas.DealPatch, DealQuery
    ),
    Resource(
        "tickets",
        "ticket",
        lambda crm: crm.tickets,
        serialize.ticket,
        schemas.TicketIn,
        schemas.TicketPatch,
        TicketQuery,
        children=(
            Child(
                "messages",
                "ticket_message",
                lambda service, ticket_id: service.messages(ticket_id),
                TicketMessageOut,
                "The ticket's thread, oldest first (internal notes as direction 'note', staff only)",
            ),
        ),
    ),
    Resource(
        "users", "user", lambda crm: crm.users, serialize.user, schemas.UserIn, schemas.UserPatch, UserQuery
    ),
)
