"""Known names (contacts, organisations) found in text even when written oddly.

``NameGazetteer`` is the role; the store provides the real one. ``InMemoryGazetteer`` is its
twin for tests and for the pipeline's optional use: it compares word windows of the text with
the known names after folding (``Müller`` ~ ``Mueller`` ~ ``muller``, ``Weiß`` ~ ``Weiss``) and
accepts fuzzy matches (typos) above a score.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Protocol

from rapidfuzz import fuzz
from unidecode import unidecode

from nlu.types import Entity

EXTRACTOR = "gazetteer"
_WORD = re.compile(r"[^\W_][\w'’.&-]*", re.UNICODE)
_GERMAN = str.maketrans({"ä": "ae", "ö": "oe", "ü": "ue", "ß": "ss"})


class NameGazetteer(Protocol):
    def find(self, text: str) -> list[Entity]: ...


def fold_variants(text: str) -> set[str]:
    """Spellings that should compare equal: German transliteration and plain ASCII."""
    lowered = " ".join(text.lower().split()).strip(" .,;:!?")
    return {unidecode(lowered.translate(_GERMAN)), unidecode(lowered)}


@dataclass(frozen=True, slots=True)
class _Entry:
    entity: str
    name: str
    variants: frozenset[str]
    words: int


class InMemoryGazetteer:
    def __init__(self, names: Iterable[tuple[str, str]] = (), *, min_score: float = 88.0) -> None:
        """``names``: (entity type, canonical name) pairs, e.g. ``("person", "Jürgen Müller")``."""
        self.min_score = min_score
        self._entries: list[_Entry] = []
        for entity, name in names:
            self.add(entity, name)

    def add(self, entity: str, name: str) -> None:
        words = len(name.split())
        if words:
            self._entries.append(_Entry(entity, name, frozenset(fold_variants(name)), words))

    def __len__(self) -> int:
        return len(self._entries)

    def find(self, text: str) -> list[Entity]:
        if not self._entries or not text:
            return []
        tokens = [(m.start(), m.end()) for m in _WORD.finditer(text[:5000])]
        max_words = max(e.words for e in self._entries)
        candidates: list[Entity] = []
        for i in range(len(tokens)):
            for n in range(1, max_words + 1):
                if i + n > len(tokens):
                    break
                start, end = tokens[i][0], tokens[i + n - 1][1]
                window = fold_variants(text[start:end])
                for entry in self._entries:
                    if entry.words != n:
                        continue
                    score = max(fuzz.ratio(a, b) for a in window for b in entry.variants)
                    if score >= self.min_score and _plausible(text[start:end], entry.name):
                        candidates.append(
                            Entity(
                                entry.entity,
                                entry.name,
                                start,
                                end,
                                EXTRACTOR,
                                round(score / 100, 4),
                                text=text[start:end],
                            )
                        )
        return _best_non_overlapping(candidates)


def _plausible(surface: str, name: str) -> bool:
    """Short words must match exactly after folding: 'an' is not 'Ann'."""
    stripped = surface.strip(" .,;:!?")
    if len(stripped) < 4:
        return fold_variants(stripped) & fold_variants(name) != set()
    return True


def _best_non_overlapping(candidates: list[Entity]) -> list[Entity]:
    ranked = sorted(candidates, key=lambda e: (-(e.confidence or 0.0), -(e.end - e.start), e.start))
    chosen: list[Entity] = []
    for ent in ranked:
        if all(ent.end <= c.start or ent.start >= c.end for c in chosen):
            chosen.append(ent)
    return sorted(chosen, key=lambda e: e.start)
