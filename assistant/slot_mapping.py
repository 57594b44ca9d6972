"""Rasa 3 slot mappings applied to a user message (what Rasa's ``action_extract_slots`` does)."""

from __future__ import annotations

from typing import Any

from assistant.domain import Domain, SlotMapping
from assistant.state import ConversationState


def _conditions_ok(mapping: SlotMapping, state: ConversationState) -> bool:
    if not mapping.conditions:
        return True
    return any(
        c.get("active_loop") == state.active_loop
        and ("requested_slot" not in c or c["requested_slot"] == state.slots.get("requested_slot"))
        for c in mapping.conditions
    )


def _intent_ok(mapping: SlotMapping, intent: str) -> bool:
    if mapping.intent and intent not in mapping.intent:
        return False
    return not (mapping.not_intent and intent in mapping.not_intent)


def extract_slots(
    domain: Domain, state: ConversationState, message: dict[str, Any], *, free_text: bool = True
) -> dict[str, Any]:
    """Slot values this message provides, by the domain's mappings (first mapping that yields wins);
    ``free_text=False`` leaves out ``from_text`` mappings (what the message carries, not what it is)."""
    intent = (message.get("intent") or {}).get("name", "")
    entities: list[dict[str, Any]] = message.get("entities") or []
    text: str = message.get("text") or ""
    found: dict[str, Any] = {}
    for slot in domain.slots.values():
        for mapping in slot.mappings:
            if not _conditions_ok(mapping, state) or not _intent_ok(mapping, intent):
                continue
            value: Any = None
            if mapping.type == "from_entity" and mapping.entity:
                values = [e["value"] for e in entities if e.get("entity") == mapping.entity]
                if values:
                    value = values[0] if slot.type != "list" else values
            elif (
                mapping.type == "from_text"
                and free_text
                and mapping.conditions
                and text
                and not text.startswith("/")
            ):
                value = text
            elif mapping.type == "from_intent" and mapping.intent and intent in mapping.intent:
                value = mapping.value
            if value is not None:
                found[slot.name] = value
                break
    return found
