"""The service layer: the only way into the store. Every write checks the role and is audit-logged.

    with db.session() as session:
        crm = CrmServices(session, actor)
        contact = crm.contacts.create({"first_name": "Anna", "last_name": "Schmidt"})
"""

from __future__ import annotations

from functools import cached_property

from sqlalchemy.orm import Session

from crm_store.services.activities import ActivityService, TaskService
from crm_store.services.actor import Actor
from crm_store.services.consent import ConsentService
from crm_store.services.contacts import ContactService, OrganizationService
from crm_store.services.deals import DealService
from crm_store.services.gdpr import GdprService
from crm_store.services.grants import GrantService
from crm_store.services.knowledge import KnowledgeService
from crm_store.services.links import LinkService
from crm_store.services.quarantine import QuarantineService
from crm_store.services.reports import ReportService
from crm_store.services.retention import RetentionService
from crm_store.services.tickets import SlaPolicy, TicketService
from crm_store.services.users import UserService


class CrmServices:
    def __init__(self, session: Session, actor: Actor, *, sla: SlaPolicy | None = None) -> None:
        self.session = session
        self.actor = actor
        self._sla = sla

    @cached_property
    def organizations(self) -> OrganizationService:
        return OrganizationService(self.session, self.actor)

    @cached_property
    def contacts(self) -> ContactService:
        return ContactService(self.session, self.actor)

    @cached_property
    def activities(self) -> ActivityService:
        return ActivityService(self.session, self.actor)

    @cached_property
    def tasks(self) -> TaskService:
        return TaskService(self.session, self.actor)

    @cached_property
    def deals(self) -> DealService:
        return DealService(self.session, self.actor)

    @cached_property
    def tickets(self) -> TicketService:
        return TicketService(self.session, self.actor, self._sla)

    @cached_property
    def users(self) -> UserService:
        return UserService(self.session, self.actor)

    @cached_property
    def links(self) -> LinkService:
        return LinkService(self.session, self.actor)

    @cached_property
    def knowledge(self) -> KnowledgeService:
        return KnowledgeService(self.session, self.actor)

    @cached_property
    def reports(self) -> ReportService:
        return ReportService(self.session, self.actor)

    @cached_property
    def gdpr(self) -> GdprService:
        return GdprService(self.session, self.actor)

    @cached_property
    def grants(self) -> GrantService:
        """What an anonymous chat proved (a code sent to the address, a ticket it opened): crm_store/services/grants.py."""
        return GrantService(self.session, self.actor)

    @cached_property
    def quarantine(self) -> QuarantineService:
        """Inbound mail set aside after repeated failures: crm_store/services/quarantine.py."""
        return QuarantineService(self.session, self.actor)

    @cached_property
    def consent(self) -> ConsentService:
        """Append-only consent history, double opt-in, one-click withdrawal: crm_store/services/consent.py."""
        return ConsentService(self.session, self.actor)

    @cached_property
    def retention(self) -> RetentionService:
        return RetentionService(self.session, self.actor)


__all__ = ["Actor", "CrmServices", "SlaPolicy"]
