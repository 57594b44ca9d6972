"""The explicit list of actions (no subclass scanning): each module's ``actions(deps)`` returns instances."""

from __future__ import annotations

import importlib
from dataclasses import dataclass, field
from typing import Any

from rasa_sdk import Action

from actions.store_access import StoreAccess

# Order does not matter; every module listed here must exist and define ``actions(deps)``.
ACTION_MODULES: tuple[str, ...] = (
    "actions.general",
    "actions.activities",
    "actions.contacts",
    "actions.tasks",
    "actions.deals",
    "actions.reports",
    "actions.tickets",
    "actions.handover",
    "actions.faq",
    "actions.privacy",
    "actions.verification",
)


@dataclass
class ActionDeps:
    """Collaborators that actions receive in ``__init__`` (built once by the app)."""

    store: StoreAccess
    embedder: Any = None  # nlu.embedder.Embedder, for the knowledge-base search
    public_url: str = ""
    notifier: Any = None  # something with .notify(user_id, text) for hand-overs and escalations
    extra: dict[str, Any] = field(default_factory=dict)


def build_actions(deps: ActionDeps) -> list[Action]:
    found: list[Action] = []
    for name in ACTION_MODULES:
        module = importlib.import_module(name)
        found.extend(module.actions(deps))
    names = [a.name() for a in found]
    duplicates = {n for n in names if names.count(n) > 1}
    if duplicates:
        raise RuntimeError(f"actions registered twice: {sorted(duplicates)}")
    registry = {a.name(): a for a in found}
    for action in found:  # actions that continue another one (action_resume_pending) get the registry
        bind = getattr(action, "bind_registry", None)
        if bind is not None:
            bind(registry)
    return found
