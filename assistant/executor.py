"""Runs Rasa-SDK actions in-process through Rasa-SDK's own ``ActionExecutor``."""

from __future__ import annotations

import asyncio
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from rasa_sdk import Action
from rasa_sdk.executor import ActionExecutor


@dataclass
class ActionResult:
    events: list[dict[str, Any]]
    responses: list[dict[str, Any]]


class InProcessActionRunner:
    """The same action instances a Rasa-SDK action server would serve, called without HTTP."""

    def __init__(self, actions: Iterable[Action]) -> None:
        self._executor = ActionExecutor()
        self.names: set[str] = set()
        for action in actions:
            self._executor.register_action(action)
            self.names.add(action.name())

    def has(self, name: str) -> bool:
        return name in self.names

    def run(self, name: str, tracker: dict[str, Any], domain: dict[str, Any]) -> ActionResult:
        """Synchronous entry for the turn's worker thread: a private event loop per call."""
        call = {"next_action": name, "sender_id": tracker["sender_id"], "tracker": tracker, "domain": domain,
                "version": "3.6.0"}
        result = asyncio.run(self._executor.run(call))
        if result is None:
            return ActionResult([], [])
        return ActionResult(list(result.events), list(result.responses))
