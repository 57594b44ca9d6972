"""The access policy (crm_store/policy.yml): role x resource x operation -> scope, plus readable fields.

Loaded and checked once (an unknown role, resource, operation or scope in the file is an error at start,
not a silent "allow"). The services ask it; nothing else decides who sees what, so every channel gets
the same answer. The ``system`` actor (mail triage, importer, SLA, CLI) is internal machinery: all.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path
from typing import Any, Literal

import yaml

from crm_store.services.actor import Actor

Scope = Literal["none", "own", "team", "all"]
Op = Literal["read", "create", "update"]

POLICY_FILE = Path(__file__).resolve().parent.parent / "policy.yml"
SCOPES: tuple[Scope, ...] = ("none", "own", "team", "all")
OPS: tuple[Op, ...] = ("read", "create", "update")
ROLES = ("admin", "manager", "rep", "agent", "customer")
RESOURCES = (
    "organizations",
    "contacts",
    "activities",
    "tasks",
    "deals",
    "tickets",
    "ticket_messages",
    "reports",
    "knowledge",
    "users",
)
# a service's ``entity`` (the audit name) -> its policy resource
ENTITY_RESOURCE = {
    "organization": "organizations",
    "contact": "contacts",
    "activity": "activities",
    "task": "tasks",
    "deal": "deals",
    "ticket": "tickets",
    "ticket_message": "ticket_messages",
    "report": "reports",
    "knowledge_article": "knowledge",
    "user": "users",
}
_RULE_KEYS = {*OPS, "fields", "max_page", "notes", "restricted"}


@dataclass(frozen=True)
class Rule:
    """One role's rights on one resource."""

    scopes: dict[str, Scope] = field(default_factory=dict)
    fields: frozenset[str] | None = None  # None: every field
    max_page: int | None = None
    notes: bool = False
    restricted: bool = False  # contacts: sees contacts under an Art. 18 restriction (others: hidden)


ALL = Rule(scopes=dict.fromkeys(OPS, "all"), notes=True, restricted=True)
NOTHING = Rule()


class PolicyError(ValueError):
    """The policy file is malformed; the message names the place."""


def _parse_rule(where: str, raw: Any) -> Rule:
    if not isinstance(raw, dict):
        raise PolicyError(f"{where}: expected a mapping")
    unknown = set(raw) - _RULE_KEYS
    if unknown:
        raise PolicyError(f"{where}: unknown keys {sorted(unknown)}")
    scopes: dict[str, Scope] = {}
    for op in OPS:
        value = raw.get(op, "none")
        if value not in SCOPES:
            raise PolicyError(f"{where}.{op}: {value!r} is not one of {', '.join(SCOPES)}")
        scopes[op] = value
    fields_raw = raw.get("fields", "all")
    fields = None if fields_raw == "all" else frozenset(str(f) for f in fields_raw) | {"id"}
    max_page = raw.get("max_page")
    if max_page is not None and (not isinstance(max_page, int) or max_page < 1):
        raise PolicyError(f"{where}.max_page: a positive integer")
    return Rule(
        scopes=scopes,
        fields=fields,
        max_page=max_page,
        notes=bool(raw.get("notes", False)),
        restricted=bool(raw.get("restricted", False)),
    )


class Policy:
    """Answers ``can``, ``scope``, ``fields`` for an actor; built from the parsed YAML document."""

    def __init__(self, document: dict[str, Any]) -> None:
        roles = document.get("roles") or {}
        self.rules: dict[str, dict[str, Rule]] = {}
        for role, resources in roles.items():
            if role not in ROLES:
                raise PolicyError(f"roles.{role}: unknown role")
            for resource, raw in (resources or {}).items():
                if resource not in RESOURCES:
                    raise PolicyError(f"roles.{role}.{resource}: unknown resource")
                self.rules.setdefault(role, {})[resource] = _parse_rule(f"roles.{role}.{resource}", raw)
        self.api: dict[str, tuple[str, Op]] = {}
        for name, target in (document.get("api") or {}).items():
            resource, _, op = str(target).partition(".")
            if resource not in RESOURCES or op not in OPS:
                raise PolicyError(f"api.{name}: {target!r} is not <resource>.<read|create|update>")
            self.api[name] = (resource, op)  # type: ignore[assignment]

    # --- questions ------------------------------------------------------------------------------------
    @staticmethod
    def role_of(actor: Actor) -> str | None:
        """The policy role of an actor; None for the system (which may do everything)."""
        if actor.kind == "system":
            return None
        if actor.kind == "customer":
            return "customer"
        return actor.role

    def rule(self, actor: Actor, resource: str) -> Rule:
        role = self.role_of(actor)
        if role is None:
            return ALL
        if actor.kind == "customer" and actor.id is None:
            return NOTHING  # an anonymous customer owns nothing
        return self.rules.get(role, {}).get(resource, NOTHING)

    def scope(self, actor: Actor, resource: str, op: str) -> Scope:
        return self.rule(actor, resource).scopes.get(op, "none")

    def can(self, actor: Actor, resource: str, op: str) -> bool:
        return self.scope(actor, resource, op) != "none"

    def fields(self, actor: Actor, resource: str) -> frozenset[str] | None:
        """The fields the actor may read; None means every field."""
        return self.rule(actor, resource).fields

    def max_page(self, actor: Actor, resource: str, default: int) -> int:
        cap = self.rule(actor, resource).max_page
        return default if cap is None else min(cap, default)

    def notes(self, actor: Actor) -> bool:
        return self.rule(actor, "ticket_messages").notes

    def sees_restricted(self, actor: Actor, resource: str) -> bool:
        """Whether the actor may see records of people whose processing is restricted (Art. 18)."""
        return self.rule(actor, resource).restricted

    def operation(self, name: str) -> tuple[str, Op] | None:
        """What a REST operation (``contacts.list``) is in the policy: (resource, op), None if unlisted."""
        return self.api.get(name)


@lru_cache(maxsize=4)
def load(path: Path = POLICY_FILE) -> Policy:
    """The policy, read and checked once per process."""
    with path.open(encoding="utf-8") as fh:
        return Policy(yaml.safe_load(fh) or {})


def policy() -> Policy:
    return load()
