"""Rasa 3.x ``rules.yml``: which action answers an intent, and which action submits a finished form."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml


@dataclass
class RulePolicy:
    intent_actions: dict[str, str] = field(default_factory=dict)
    form_submits: dict[str, str] = field(default_factory=dict)

    @classmethod
    def load(cls, path: Path) -> RulePolicy:
        raw = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
        policy = cls()
        for rule in raw.get("rules") or []:
            steps: list[dict[str, Any]] = rule.get("steps") or []
            condition = rule.get("condition") or []
            loop = next((c["active_loop"] for c in condition if "active_loop" in c), None)
            if any("slot_was_set" in c for c in condition):
                continue  # yes/no for a pending write: the engine handles those before any rule
            if loop:
                # [action: form, active_loop: null, action: submit]
                submit = next((s["action"] for s in steps[2:] if "action" in s), None)
                if submit:
                    policy.form_submits[loop] = submit
                continue
            if len(steps) >= 2 and "intent" in steps[0] and "action" in steps[1]:
                policy.intent_actions[steps[0]["intent"]] = steps[1]["action"]
        return policy

    def action_for(self, intent: str) -> str | None:
        return self.intent_actions.get(intent)
