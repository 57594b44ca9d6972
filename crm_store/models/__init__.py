"""All tables of the CRM store. Import from here; Alembic reads ``Base.metadata``."""

from crm_store.models.activities import ACTIVITY_TYPES, TASK_STATUSES, Activity, Task
from crm_store.models.base import Base, utcnow
from crm_store.models.compliance import (
    AuditEntry,
    ConsentConfirmation,
    ConsentRecord,
    Counter,
    GdprRequest,
    LegalHold,
    ProcessedEvent,
)
from crm_store.models.conversations import Conversation, ConversationEvent, ConversationGrant
from crm_store.models.deals import DEFAULT_PROBABILITY, OPEN_STAGES, STAGES, Deal, DealStageChange
from crm_store.models.outbox import OutboxMessage, QuarantinedMail, TeamsConversationRef
from crm_store.models.people import (
    RELATIONSHIP_KINDS,
    Contact,
    ContactEmail,
    ContactPhone,
    ContactRelationship,
    NameToken,
    Organization,
)
from crm_store.models.tickets import (
    PRIORITIES,
    QUEUES,
    TICKET_STATUSES,
    KnowledgeArticle,
    Ticket,
    TicketMessage,
)
from crm_store.models.users import ROLES, AccountLink, AgentSession, ApiToken, Team, User

__all__ = [
    "ACTIVITY_TYPES",
    "DEFAULT_PROBABILITY",
    "OPEN_STAGES",
    "PRIORITIES",
    "QUEUES",
    "RELATIONSHIP_KINDS",
    "ROLES",
    "STAGES",
    "TASK_STATUSES",
    "TICKET_STATUSES",
    "AccountLink",
    "Activity",
    "AgentSession",
    "ApiToken",
    "AuditEntry",
    "Base",
    "ConsentConfirmation",
    "ConsentRecord",
    "Contact",
    "ContactEmail",
    "ContactPhone",
    "ContactRelationship",
    "Conversation",
    "ConversationEvent",
    "ConversationGrant",
    "Counter",
    "Deal",
    "DealStageChange",
    "GdprRequest",
    "KnowledgeArticle",
    "LegalHold",
    "NameToken",
    "Organization",
    "OutboxMessage",
    "ProcessedEvent",
    "QuarantinedMail",
    "Task",
    "Team",
    "TeamsConversationRef",
    "Ticket",
    "TicketMessage",
    "User",
    "utcnow",
]
