"""A tiny stand-in NLU for dialogue tests: exact texts map to parses; anything else is out of scope.

Button payloads (``/intent{...}``) never reach it. Tests that need real understanding use the trained model.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any


@dataclass
class _Parse:
    data: dict[str, Any]

    def to_dict(self) -> dict[str, Any]:
        return self.data


class ScriptedNLU:
    def __init__(self, script: dict[str, tuple[str, list[dict[str, Any]]]] | None = None, language: str = "en") -> None:
        self.script = script or {}
        self.language = language
        self.calls: list[str] = []

    def parse_batch(self, texts: list[str], **_kw: Any) -> list[_Parse]:
        out = []
        for text in texts:
            self.calls.append(text)
            intent, entities = self.script.get(text, ("out_of_scope", []))
            ents = [{"start": 0, "end": 0, "extractor": "scripted", **e} for e in entities]
            out.append(_Parse({"text": text, "intent": {"name": intent, "confidence": 0.99},
                               "intent_ranking": [{"name": intent, "confidence": 0.99}], "entities": ents,
                               "language": self.language}))
        return out
