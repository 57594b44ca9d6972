"""Who is acting: a staff user with a role, a customer (contact) or the system itself."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

ActorKind = Literal["user", "customer", "system"]


@dataclass(frozen=True, slots=True)
class Actor:
    kind: ActorKind
    id: int | None = None
    role: str | None = None  # admin / manager / rep / agent for users
    team_id: int | None = None
    name: str = ""
    language: str = "en"
    timezone: str = "Europe/Berlin"

    @classmethod
    def system(cls, name: str = "system") -> Actor:
        return cls(kind="system", name=name)

    @classmethod
    def customer(cls, contact_id: int | None, *, language: str = "en") -> Actor:
        return cls(kind="customer", id=contact_id, language=language)

    @property
    def label(self) -> str:
        """Audit label: no personal data, only kind and id."""
        if self.kind == "system":
            return f"system:{self.name or 'system'}"
        return f"{self.kind}:{self.id if self.id is not None else 'anonymous'}"

    @property
    def is_admin(self) -> bool:
        return self.kind == "system" or (self.kind == "user" and self.role == "admin")

    def has_role(self, *roles: str) -> bool:
        return self.kind == "system" or (self.kind == "user" and self.role in roles)
