"""Activities and tasks."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import ColumnElement, select

from crm_store.models import Activity, Contact, Deal, Organization, Task, User, utcnow
from crm_store.schemas import ActivityIn, ActivityPatch, TaskIn, TaskPatch
from crm_store.services.base import Page, Service, changes, parse_input
from crm_store.services.errors import ValidationFailed


class ActivityService(Service):
    """Activities; "own" is the author (policy: crm_store/policy.yml)."""

    entity = "activity"
    owner_attr = "user_id"

    def create(self, data: dict[str, Any] | ActivityIn) -> Activity:
        self.require("create")
        inp = parse_input(ActivityIn, data)
        if inp.contact_id is None and inp.organization_id is None and inp.deal_id is None:
            raise ValidationFailed("an activity needs a contact, organization or deal", "contact_id")
        self.ensure_exists(Contact, inp.contact_id, "contact_id")
        self.ensure_exists(Organization, inp.organization_id, "organization_id")
        self.ensure_exists(Deal, inp.deal_id, "deal_id")
        values = inp.model_dump()
        values["occurred_at"] = values["occurred_at"] or utcnow()
        if values["organization_id"] is None and inp.contact_id is not None:
            values["organization_id"] = self.session.get(Contact, inp.contact_id).organization_id  # type: ignore[union-attr]
        act = Activity(**values, user_id=self.actor.id if self.actor.kind == "user" else None)
        self.session.add(act)
        self.session.flush()
        self.check_write(act, "create")
        if act.deal_id is not None:
            deal = self.session.get(Deal, act.deal_id)
            if deal is not None and (deal.last_activity_at is None or deal.last_activity_at < act.occurred_at):
                deal.last_activity_at = act.occurred_at
        self.audit("create", act.id, inp.model_dump(mode="json"))
        return act

    def update(self, activity_id: int, data: dict[str, Any]) -> Activity:
        self.require("update")
        act = self.get_or_404(Activity, activity_id)
        self.check_write(act, detail="only the author or a manager may edit an activity")
        diff = changes(act, parse_input(ActivityPatch, data).model_dump(exclude_unset=True))
        if diff:
            self.audit("update", act.id, {"changes": {k: [str(a), str(b)] for k, (a, b) in diff.items()}})
        return act

    def get(self, activity_id: int) -> Activity:
        return self.check_read(self.get_or_404(Activity, activity_id))

    def list(self, *, contact_id: int | None = None, organization_id: int | None = None,
             deal_id: int | None = None, user_id: int | None = None, type: str | None = None,
             since: datetime | None = None, until: datetime | None = None,
             limit: int = 50, offset: int = 0) -> Page:
        stmt = self.scoped(select(Activity), Activity).order_by(Activity.occurred_at.desc(), Activity.id.desc())
        for col, val in ((Activity.contact_id, contact_id), (Activity.organization_id, organization_id),
                         (Activity.deal_id, deal_id), (Activity.user_id, user_id), (Activity.type, type)):
            if val is not None:
                stmt = stmt.where(col == val)
        if since is not None:
            stmt = stmt.where(Activity.occurred_at >= since)
        if until is not None:
            stmt = stmt.where(Activity.occurred_at < until)
        page = self.paginate(stmt, limit=limit, offset=offset)
        filters = {"contact_id": contact_id, "organization_id": organization_id, "deal_id": deal_id,
                   "user_id": user_id, "type": type, "since": since, "until": until,
                   "limit": limit, "offset": offset}
        self.audit_read("list", filters, len(page.items))
        return page

    def recent_for_contact(self, contact_id: int, limit: int = 20) -> list[Activity]:
        self.require_staff()
        stmt = (self.scoped(select(Activity), Activity).where(Activity.contact_id == contact_id)
                .order_by(Activity.occurred_at.desc(), Activity.id.desc()).limit(limit))
        items = list(self.session.execute(stmt).scalars())
        self.audit_read("list", {"contact_id": contact_id, "limit": limit}, len(items))
        return items


class TaskService(Service):
    """Tasks; "own" is the assignee, and an unassigned task is everybody's own (policy.yml)."""

    entity = "task"
    owner_attr = "assignee_id"

    def _own_clause(self, model: type[Any]) -> ColumnElement[bool]:
        return super()._own_clause(model) | Task.assignee_id.is_(None)

    def create(self, data: dict[str, Any] | TaskIn) -> Task:
        self.require("create")
        inp = parse_input(TaskIn, data)
        self.ensure_exists(Contact, inp.contact_id, "contact_id")
        self.ensure_exists(Organization, inp.organization_id, "organization_id")
        self.ensure_exists(Deal, inp.deal_id, "deal_id")
        self.ensure_exists(User, inp.assignee_id, "assignee_id")
        values = inp.model_dump()
        if values["assignee_id"] is None and self.actor.kind == "user":
            values["assignee_id"] = self.actor.id
        task = Task(**values)
        self.session.add(task)
        self.session.flush()
        self.check_write(task, "create")
        self.audit("create", task.id, inp.model_dump(mode="json"))
        return task

    def update(self, task_id: int, data: dict[str, Any]) -> Task:
        self.require("update")
        task = self.get_or_404(Task, task_id)
        self.check_write(task, detail="only the assignee or a manager may change this task")
        values = parse_input(TaskPatch, data).model_dump(exclude_unset=True)
        self.ensure_exists(User, values.get("assignee_id"), "assignee_id")
        if values.get("status") == "done" and task.status != "done":
            task.completed_at = utcnow()
        diff = changes(task, values)
        if diff:
            self.audit("update", task.id, {"changes": {k: [str(a), str(b)] for k, (a, b) in diff.items()}})
        return task

    def get(self, task_id: int) -> Task:
        return self.check_read(self.get_or_404(Task, task_id))

    def list(self, *, contact_id: int | None = None, assignee_id: int | None = None,
             status: str | None = None, due_before: datetime | None = None,
             limit: int = 50, offset: int = 0) -> Page:
        stmt = self.scoped(select(Task), Task).order_by(Task.due_at.is_(None), Task.due_at, Task.id)
        for col, val in ((Task.contact_id, contact_id), (Task.assignee_id, assignee_id), (Task.status, status)):
            if val is not None:
                stmt = stmt.where(col == val)
        if due_before is not None:
            stmt = stmt.where(Task.due_at < due_before)
        page = self.paginate(stmt, limit=limit, offset=offset)
        filters = {"contact_id": contact_id, "assignee_id": assignee_id, "status": status,
                   "due_before": due_before, "limit": limit, "offset": offset}
        self.audit_read("list", filters, len(page.items))
        return page
