"""Value types shared by every NLU component: what a parse returns.

The JSON shape follows Rasa's ``/model/parse`` answer (see ``shared/spec/contract.md`` §4).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

EntityValue = str | int | float | dict[str, Any]


@dataclass(frozen=True, slots=True)
class Entity:
    """One entity found in a text; ``start``/``end`` are character offsets into the text."""

    entity: str
    value: EntityValue
    start: int
    end: int
    extractor: str
    confidence: float | None = None
    text: str | None = None  # the surface form, when it differs from ``value``

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {
            "entity": self.entity,
            "value": self.value,
            "start": self.start,
            "end": self.end,
            "extractor": self.extractor,
        }
        if self.confidence is not None:
            out["confidence_entity"] = round(float(self.confidence), 4)
        return out


@dataclass(frozen=True, slots=True)
class IntentScore:
    name: str
    confidence: float

    def to_dict(self) -> dict[str, Any]:
        return {"name": self.name, "confidence": round(float(self.confidence), 4)}


@dataclass(frozen=True, slots=True)
class ParseResult:
    text: str
    intent: IntentScore
    intent_ranking: list[IntentScore] = field(default_factory=list)
    entities: list[Entity] = field(default_factory=list)
    language: str = "en"

    def to_dict(self) -> dict[str, Any]:
        return {
            "text": self.text,
            "intent": self.intent.to_dict(),
            "intent_ranking": [s.to_dict() for s in self.intent_ranking],
            "entities": [e.to_dict() for e in self.entities],
            "language": self.language,
        }

    def first(self, entity: str) -> Entity | None:
        return next((e for e in self.entities if e.entity == entity), None)

    def values(self, entity: str) -> list[EntityValue]:
        return [e.value for e in self.entities if e.entity == entity]


# The contract's names (shared/spec/contract.md §1-§3), one place for the whole code base.
INTENTS: tuple[str, ...] = (
    "log_activity", "create_contact", "update_contact", "find_contact", "contact_history",
    "create_task", "list_tasks", "create_deal", "update_deal", "pipeline_status", "activity_report",
    "report_issue", "ticket_status", "update_ticket", "close_ticket", "request_human", "faq",
    "gdpr_access", "gdpr_erasure", "unsubscribe",
    "greet", "goodbye", "thank", "affirm", "deny", "help", "cancel", "out_of_scope",
)
CUSTOMER_INTENTS: frozenset[str] = frozenset({
    "report_issue", "ticket_status", "update_ticket", "close_ticket", "request_human", "faq",
    "gdpr_access", "gdpr_erasure", "unsubscribe",
    "greet", "goodbye", "thank", "affirm", "deny", "help", "cancel", "out_of_scope",
})
ENTITY_TYPES: tuple[str, ...] = (
    "person", "organization", "activity_type", "time", "amount", "currency", "stage", "email",
    "phone", "ticket_id", "job_title", "priority",
)
ACTIVITY_TYPES: tuple[str, ...] = ("call", "meeting", "email", "visit", "note")
STAGES: tuple[str, ...] = ("lead", "qualified", "proposal", "negotiation", "won", "lost")
PRIORITIES: tuple[str, ...] = ("low", "normal", "high", "urgent")
QUEUES: tuple[str, ...] = (
    "billing", "technical", "account", "sales", "cancellation", "complaint", "privacy",
    "auto_reply", "spam", "other",
)
