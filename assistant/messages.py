"""What connectors hand to the core and get back: plain dataclasses, no transport details."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from crm_store.services.actor import Actor


@dataclass(frozen=True)
class IncomingMessage:
    channel: str  # "web", "slack", "teams", "terminal", "rest"
    sender_id: str  # the conversation id within the channel
    text: str
    speaker: Actor
    received_at: datetime | None = None
    metadata: dict[str, Any] = field(default_factory=dict)


def speaker_dict(actor: Actor) -> dict[str, Any]:
    return {"kind": actor.kind, "id": actor.id, "role": actor.role, "team_id": actor.team_id, "name": actor.name,
            "language": actor.language, "timezone": actor.timezone}


def actor_from_dict(data: dict[str, Any] | None) -> Actor:
    if not data:
        return Actor.customer(None)
    return Actor(kind=data.get("kind", "customer"), id=data.get("id"), role=data.get("role"),
                 team_id=data.get("team_id"), name=data.get("name") or "", language=data.get("language") or "en",
                 timezone=data.get("timezone") or "Europe/Berlin")
