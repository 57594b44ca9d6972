"""Rasa 3.x ``domain.yml``: slots with mappings, forms, responses (per language), actions."""

from __future__ import annotations

import random
import string
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml


@dataclass(frozen=True)
class SlotMapping:
    type: str  # from_entity / from_text / from_intent / custom
    entity: str | None = None
    intent: list[str] | None = None
    not_intent: list[str] | None = None
    value: Any = None
    conditions: list[dict[str, Any]] = field(default_factory=list)


@dataclass(frozen=True)
class Slot:
    name: str
    type: str
    mappings: list[SlotMapping]
    initial_value: Any = None


@dataclass
class Domain:
    intents: list[str]
    entities: list[str]
    slots: dict[str, Slot]
    forms: dict[str, list[str]]
    responses: dict[str, list[dict[str, Any]]]
    actions: list[str]
    raw: dict[str, Any]

    @classmethod
    def load(cls, path: Path) -> Domain:
        """A domain file, or a directory of them merged like Rasa does (lists extend, mappings update)."""
        raw = _load_merged(path)
        slots: dict[str, Slot] = {}
        for name, spec in (raw.get("slots") or {}).items():
            maps = []
            for m in spec.get("mappings") or []:
                intent = m.get("intent")
                not_intent = m.get("not_intent")
                maps.append(SlotMapping(
                    type=m["type"], entity=m.get("entity"),
                    intent=[intent] if isinstance(intent, str) else intent,
                    not_intent=[not_intent] if isinstance(not_intent, str) else not_intent,
                    value=m.get("value"), conditions=m.get("conditions") or [],
                ))
            slots[name] = Slot(name, spec.get("type", "any"), maps, spec.get("initial_value"))
        slots.setdefault("requested_slot", Slot("requested_slot", "any", [SlotMapping("custom")]))
        forms = {name: list((spec or {}).get("required_slots") or []) for name, spec in (raw.get("forms") or {}).items()}
        return cls(
            intents=list(raw.get("intents") or []), entities=list(raw.get("entities") or []), slots=slots,
            forms=forms, responses=dict(raw.get("responses") or {}), actions=list(raw.get("actions") or []),
            raw=raw,
        )

    def as_dict(self) -> dict[str, Any]:
        """The dict that Rasa-SDK actions receive as ``domain``."""
        out = dict(self.raw)
        out["forms"] = {name: {"required_slots": req} for name, req in self.forms.items()}
        return out

    def initial_slots(self) -> dict[str, Any]:
        return {name: s.initial_value for name, s in self.slots.items()}

    def render(self, response: str, slots: dict[str, Any], /, *, rng: random.Random | None = None,
               **kwargs: Any) -> dict[str, Any] | None:
        """Pick the response variant whose conditions match the slots; fill ``{placeholders}``."""
        variants = self.responses.get(response)
        if not variants:
            return None
        matching = [v for v in variants if v.get("condition") and _conditions_match(v["condition"], slots)]
        if not matching:
            matching = [v for v in variants if not v.get("condition")]
        if not matching:
            return None
        chosen = (rng or random).choice(matching) if len(matching) > 1 else matching[0]
        values = {**{k: v for k, v in slots.items() if v is not None}, **kwargs}
        out: dict[str, Any] = {}
        if chosen.get("text") is not None:
            out["text"] = _fill(str(chosen["text"]), values)
        if chosen.get("buttons"):
            out["buttons"] = [{"title": _fill(b["title"], values), "payload": b["payload"]} for b in chosen["buttons"]]
        for key in ("image", "custom", "attachment"):
            if chosen.get(key) is not None:
                out[key] = chosen[key]
        return out


def _load_merged(path: Path) -> dict[str, Any]:
    files = sorted(path.glob("*.yml")) + sorted(path.glob("*.yaml")) if path.is_dir() else [path]
    merged: dict[str, Any] = {}
    for file in files:
        part = yaml.safe_load(file.read_text(encoding="utf-8")) or {}
        for key, value in part.items():
            if isinstance(value, list):
                merged.setdefault(key, [])
                merged[key] += [v for v in value if v not in merged[key]]
            elif isinstance(value, dict):
                merged.setdefault(key, {}).update(value)
            else:
                merged[key] = value
    return merged


class _SafeDict(dict[str, Any]):
    def __missing__(self, key: str) -> str:
        return ""


def _fill(template: str, values: dict[str, Any]) -> str:
    names = {f[1] for f in string.Formatter().parse(template) if f[1]}
    safe = _SafeDict({n: values.get(n, "") for n in names})
    return template.format_map(safe).replace("  ", " ").replace(" !", "!").strip()


def _conditions_match(conditions: list[dict[str, Any]], slots: dict[str, Any]) -> bool:
    return all(c.get("type") != "slot" or slots.get(c["name"]) == c.get("value") for c in conditions)
