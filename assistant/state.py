"""A conversation's state and the Rasa tracker dict built from it; events from actions change it."""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Any

MAX_EVENTS_IN_STATE = 60
# Slots that survive from one request to the next; the rest belong to a single request.
# The last_* slots are what "it", "her", "my ticket", "that deal" refer to for the rest of the conversation.
PERSISTENT_SLOTS = frozenset(
    {"language", "last_contact_id", "last_ticket_number", "last_deal_id", "last_organization_id", "email"}
)


@dataclass
class ConversationState:
    sender_id: str
    channel: str
    slots: dict[str, Any] = field(default_factory=dict)
    active_loop: str | None = None
    paused: bool = False
    events: list[dict[str, Any]] = field(default_factory=list)
    latest_message: dict[str, Any] = field(default_factory=dict)
    latest_action_name: str | None = None
    new_events: list[dict[str, Any]] = field(default_factory=list, repr=False)

    @classmethod
    def from_json(
        cls, sender_id: str, channel: str, data: dict[str, Any], initial_slots: dict[str, Any]
    ) -> ConversationState:
        slots = dict(initial_slots)
        slots.update(data.get("slots") or {})
        return cls(
            sender_id=sender_id,
            channel=channel,
            slots=slots,
            active_loop=data.get("active_loop"),
            paused=bool(data.get("paused")),
            events=list(data.get("events") or []),
            latest_message=data.get("latest_message") or {},
            latest_action_name=data.get("latest_action_name"),
        )

    def to_json(self) -> dict[str, Any]:
        return {
            "slots": {k: v for k, v in self.slots.items() if v is not None},
            "active_loop": self.active_loop,
            "paused": self.paused,
            "events": self.events[-MAX_EVENTS_IN_STATE:],
            "latest_message": self.latest_message,
            "latest_action_name": self.latest_action_name,
        }

    def tracker(self) -> dict[str, Any]:
        """The tracker dict that Rasa-SDK's ``Tracker.from_dict`` reads."""
        return {
            "sender_id": self.sender_id,
            "slots": dict(self.slots),
            "latest_message": self.latest_message,
            "events": list(self.events),
            "paused": self.paused,
            "followup_action": None,
            "active_loop": {"name": self.active_loop} if self.active_loop else {},
            "latest_action_name": self.latest_action_name,
        }

    # --- events ------------------------------------------------------------------------------------
    def record(self, event: dict[str, Any]) -> None:
        event.setdefault("timestamp", time.time())
        self.events.append(event)
        self.new_events.append(event)

    def set_slot(self, name: str, value: Any) -> None:
        self.slots[name] = value
        self.record({"event": "slot", "name": name, "value": value})

    def apply(self, event: dict[str, Any]) -> str | None:
        """Apply one Rasa event; returns a follow-up action name when the event asks for one."""
        kind = event.get("event")
        if kind == "slot":
            self.slots[event["name"]] = event.get("value")
        elif kind == "active_loop":
            self.active_loop = event.get("name")
            if not self.active_loop:
                self.slots["requested_slot"] = None
        elif kind == "reset_slots":
            keep = {k: v for k, v in self.slots.items() if k in PERSISTENT_SLOTS}
            self.slots = {k: None for k in self.slots} | keep
        elif kind == "pause":
            self.paused = True
        elif kind == "resume":
            self.paused = False
        elif kind == "restart":
            self.slots = {k: None for k in self.slots} | {"language": self.slots.get("language")}
            self.active_loop = None
        self.record(dict(event))
        return event.get("name") if kind == "followup" else None

    def clear_request_slots(self, domain_slots: list[str]) -> None:
        for name in domain_slots:
            if name not in PERSISTENT_SLOTS and self.slots.get(name) is not None:
                self.slots[name] = None
