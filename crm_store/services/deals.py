"""Deals: stage probabilities, stage history, team-scoped edit rights."""

from __future__ import annotations

from datetime import date
from typing import Any

from sqlalchemy import ColumnElement, select
from sqlalchemy.orm import selectinload

from crm_store.models import DEFAULT_PROBABILITY, Contact, Deal, DealStageChange, Organization, User, utcnow
from crm_store.schemas import DealIn, DealPatch
from crm_store.services.base import Page, Service, changes, parse_input
from crm_store.services.errors import NotFound
from crm_store.services.policy import Op

TEAM_ONLY = "a rep may only edit deals of their own team"


class DealService(Service):
    """Deals. Who may read and change which deals is the policy's deals rule (crm_store/policy.yml):
    own = the owner, team = the owner is in the actor's team; an unowned deal counts as the team's."""

    entity = "deal"

    def _team_clause(self, model: type[Any]) -> ColumnElement[bool]:
        return super()._team_clause(model) | Deal.owner_id.is_(None)

    def _check_edit(self, deal: Deal, op: Op = "update") -> None:
        self.check_write(deal, op, detail=TEAM_ONLY)

    def create(self, data: dict[str, Any] | DealIn) -> Deal:
        self.require("create")
        inp = parse_input(DealIn, data)
        self.ensure_exists(Organization, inp.organization_id, "organization_id")
        self.ensure_exists(Contact, inp.contact_id, "contact_id")
        self.ensure_exists(User, inp.owner_id, "owner_id")
        values = inp.model_dump()
        if values["probability"] is None:
            values["probability"] = DEFAULT_PROBABILITY[inp.stage]
        if values["owner_id"] is None and self.actor.kind == "user":
            values["owner_id"] = self.actor.id
        if values["organization_id"] is None and inp.contact_id is not None:
            values["organization_id"] = self.session.get(Contact, inp.contact_id).organization_id  # type: ignore[union-attr]
        deal = Deal(**values)
        if inp.stage in ("won", "lost"):
            deal.closed_at = utcnow()
        deal.history = [DealStageChange(from_stage=None, to_stage=inp.stage, changed_by_id=self.actor.id)]
        self.session.add(deal)
        self.session.flush()
        self._check_edit(deal, "create")
        self.audit("create", deal.id, inp.model_dump(mode="json"))
        return deal

    def update(self, deal_id: int, data: dict[str, Any] | DealPatch) -> Deal:
        deal = self._get(deal_id)
        self._check_edit(deal)
        inp = parse_input(DealPatch, data)
        values = inp.model_dump(exclude_unset=True)
        self.ensure_exists(User, values.get("owner_id"), "owner_id")
        self.ensure_exists(Organization, values.get("organization_id"), "organization_id")
        new_stage = values.get("stage")
        if new_stage and new_stage != deal.stage:
            deal.history.append(DealStageChange(from_stage=deal.stage, to_stage=new_stage,
                                                changed_by_id=self.actor.id))
            if "probability" not in values:
                values["probability"] = DEFAULT_PROBABILITY[new_stage]
            deal.closed_at = utcnow() if new_stage in ("won", "lost") else None
        diff = changes(deal, values)
        if "owner_id" in diff:
            self.session.flush()
            self._check_edit(deal)  # a rep cannot hand a deal to another team
        if diff:
            self.audit("update", deal.id, {"changes": {k: [str(a), str(b)] for k, (a, b) in diff.items()}})
        return deal

    def _get(self, deal_id: int) -> Deal:
        deal = self.session.execute(
            select(Deal).options(selectinload(Deal.history)).where(Deal.id == deal_id)
        ).scalar_one_or_none()
        if deal is None:
            raise NotFound(f"deal {deal_id} does not exist")
        return deal

    def get(self, deal_id: int) -> Deal:
        return self.check_read(self._get(deal_id))

    def list(self, *, stage: str | None = None, owner_id: int | None = None,
             organization_id: int | None = None, contact_id: int | None = None,
             close_from: date | None = None, close_to: date | None = None,
             limit: int = 50, offset: int = 0) -> Page:
        stmt = self.scoped(select(Deal), Deal).order_by(
            Deal.expected_close_date.is_(None), Deal.expected_close_date, Deal.id)
        for col, val in ((Deal.stage, stage), (Deal.owner_id, owner_id),
                         (Deal.organization_id, organization_id), (Deal.contact_id, contact_id)):
            if val is not None:
                stmt = stmt.where(col == val)
        if close_from is not None:
            stmt = stmt.where(Deal.expected_close_date >= close_from)
        if close_to is not None:
            stmt = stmt.where(Deal.expected_close_date < close_to)
        page = self.paginate(stmt, limit=limit, offset=offset)
        filters = {"stage": stage, "owner_id": owner_id, "organization_id": organization_id,
                   "contact_id": contact_id, "close_from": close_from, "close_to": close_to,
                   "limit": limit, "offset": offset}
        self.audit_read("list", filters, len(page.items))
        return page
