"""Load Rasa 3.x NLU YAML into plain dataclasses.

Supported annotation forms inside an example::

    [Anna Schmidt](person)
    [telefoniert](activity_type){"value": "call"}
    [telefoniert]{"entity": "activity_type", "value": "call"}
    [telefoniert](activity_type:call)          # Rasa 2 shorthand

The language of a file is the name of the nearest folder called like a language code
(``training_data/nlu/de/greet.yml`` -> ``de``), or a ``_de`` suffix of the file name
(``bench/data/nlu_heldout_de.yml``).
"""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from nlu.types import Entity

LANGUAGES: tuple[str, ...] = ("en", "de")
ANNOTATION_EXTRACTOR = "annotation"

_ANNOTATION = re.compile(
    r"\[(?P<text>[^\]\n]+?)\]"
    r"(?:\((?P<entity>[^)\n]+)\))?"
    r"(?P<json>\{[^{}\n]*\})?"
)
_LANG_SUFFIX = re.compile(r"_(?P<lang>[a-z]{2})$")


class TrainingDataError(ValueError):
    """The NLU data cannot be read (bad YAML, unknown structure)."""


@dataclass(frozen=True, slots=True)
class TrainingExample:
    text: str
    intent: str
    entities: list[Entity] = field(default_factory=list)
    language: str = "en"


@dataclass(slots=True)
class TrainingData:
    examples: list[TrainingExample] = field(default_factory=list)
    # language -> lower-cased surface form -> normalised value
    synonyms: dict[str, dict[str, str]] = field(default_factory=dict)
    # regex name -> patterns (all languages)
    regexes: dict[str, list[str]] = field(default_factory=dict)
    # language -> lookup name -> elements
    lookups: dict[str, dict[str, list[str]]] = field(default_factory=dict)
    content_hash: str = ""

    @property
    def intents(self) -> list[str]:
        return sorted({ex.intent for ex in self.examples})

    def for_language(self, language: str) -> list[TrainingExample]:
        return [ex for ex in self.examples if ex.language == language]

    def merge(self, other: TrainingData) -> None:
        self.examples.extend(other.examples)
        for lang, table in other.synonyms.items():
            self.synonyms.setdefault(lang, {}).update(table)
        for name, patterns in other.regexes.items():
            self.regexes.setdefault(name, []).extend(patterns)
        for lang, tables in other.lookups.items():
            for name, elements in tables.items():
                self.lookups.setdefault(lang, {}).setdefault(name, []).extend(elements)


def parse_annotated(text: str) -> tuple[str, list[Entity]]:
    """Strip entity markup from one example; return the plain text and its entities."""
    plain: list[str] = []
    entities: list[Entity] = []
    pos = 0
    length = 0
    for match in _ANNOTATION.finditer(text):
        if match.group("entity") is None and match.group("json") is None:
            continue
        meta: dict[str, Any] = {}
        if match.group("json"):
            try:
                meta = json.loads(match.group("json"))
            except json.JSONDecodeError as exc:
                raise TrainingDataError(f"bad entity JSON in {text!r}: {exc}") from exc
        name = match.group("entity") or str(meta.get("entity", ""))
        value: str | None = None
        if ":" in name:
            name, value = name.split(":", 1)
        if not name:
            continue
        before = text[pos : match.start()]
        plain.append(before)
        length += len(before)
        surface = match.group("text")
        start = length
        plain.append(surface)
        length += len(surface)
        value = str(meta.get("value", value if value is not None else surface))
        entities.append(
            Entity(
                entity=name.strip(),
                value=value,
                start=start,
                end=length,
                extractor=ANNOTATION_EXTRACTOR,
                text=surface,
            )
        )
        pos = match.end()
    plain.append(text[pos:])
    return "".join(plain), entities


def _example_lines(block: Any) -> Iterator[str]:
    if isinstance(block, str):
        for line in block.splitlines():
            line = line.strip()
            if line.startswith("- "):
                yield line[2:].strip()
            elif line == "-":
                continue
    elif isinstance(block, list):
        for item in block:
            if isinstance(item, str):
                yield item.strip()
            elif isinstance(item, dict) and "text" in item:
                yield str(item["text"]).strip()


def language_of(path: Path, default: str = "en") -> str:
    match = _LANG_SUFFIX.search(path.stem)
    if match and match.group("lang") in LANGUAGES:
        return match.group("lang")
    for parent in path.parents:
        if parent.name in LANGUAGES:
            return parent.name
    return default


def load_file(path: Path, language: str | None = None) -> TrainingData:
    """Read one Rasa NLU YAML file."""
    lang = language or language_of(path)
    try:
        doc = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
    except yaml.YAMLError as exc:
        raise TrainingDataError(f"{path}: {exc}") from exc
    data = TrainingData()
    items = doc.get("nlu", []) if isinstance(doc, dict) else []
    for item in items or []:
        if not isinstance(item, dict):
            continue
        lines = list(_example_lines(item.get("examples")))
        if "intent" in item:
            intent = str(item["intent"])
            for line in lines:
                text, entities = parse_annotated(line)
                if text.strip():
                    data.examples.append(TrainingExample(text, intent, entities, lang))
        elif "synonym" in item:
            table = data.synonyms.setdefault(lang, {})
            value = str(item["synonym"])
            for line in lines:
                table[line.lower()] = value
        elif "regex" in item:
            data.regexes.setdefault(str(item["regex"]), []).extend(lines)
        elif "lookup" in item:
            data.lookups.setdefault(lang, {}).setdefault(str(item["lookup"]), []).extend(lines)
    # Entity values given inline ({"value": ...}) act as synonyms too, like in Rasa.
    for ex in data.examples:
        for ent in ex.entities:
            if ent.text is not None and ent.value != ent.text:
                data.synonyms.setdefault(lang, {}).setdefault(ent.text.lower(), str(ent.value))
    return data


def nlu_files(data_dir: Path) -> list[Path]:
    """The YAML files of a data folder (``training_data`` or ``training_data/nlu``)."""
    root = data_dir / "nlu" if (data_dir / "nlu").is_dir() else data_dir
    if root.is_file():
        return [root]
    return sorted(p for p in root.rglob("*") if p.suffix in (".yml", ".yaml") and p.is_file())


def content_hash(paths: Iterable[Path], root: Path) -> str:
    """The data's hash; the German gloss's fingerprint is in it, since the encoder reads German through it."""
    from nlu.gloss_de import fingerprint

    digest = hashlib.sha256(fingerprint().encode())
    for path in sorted(paths):
        rel = path.relative_to(root) if path.is_relative_to(root) else path
        digest.update(str(rel).encode())
        digest.update(b"\0")
        digest.update(path.read_bytes())
        digest.update(b"\0")
    return digest.hexdigest()


def data_hash(data_dir: Path) -> str:
    return content_hash(nlu_files(data_dir), data_dir)


def load_training_data(data_dir: Path | str) -> TrainingData:
    """Load every NLU YAML file below ``data_dir``; raises if there is none."""
    root = Path(data_dir)
    files = nlu_files(root)
    if not files:
        raise TrainingDataError(f"no NLU YAML files under {root}")
    data = TrainingData()
    for path in files:
        data.merge(load_file(path))
    data.content_hash = content_hash(files, root)
    return data
