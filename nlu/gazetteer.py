"""Known names (contacts, organisations) found in text even when written oddly.

``NameGazetteer`` is the role. ``InMemoryGazetteer`` compares word windows of the text with the
known names after folding (``Müller`` ~ ``Mueller`` ~ ``muller``, ``Weiß`` ~ ``Weiss``) and accepts
fuzzy matches (typos) above a score; the comparison runs in rapidfuzz's C loop, so a store of tens of
thousands of names costs milliseconds. ``RefreshingGazetteer`` keeps one filled from a loader (the
store's contact and organisation names) and reloads it when it is older than ``max_age`` seconds;
the NLU pipeline uses it for every parse when one is set (``NLUPipeline.gazetteer``).
"""

from __future__ import annotations

import logging
import re
import threading
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Protocol

from rapidfuzz import fuzz, process
from unidecode import unidecode

from nlu.types import Entity

log = logging.getLogger(__name__)

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
        # per word count: every folded variant and the entry it belongs to
        self._choices: dict[int, tuple[list[str], list[_Entry]]] = {}
        for entity, name in names:
            self.add(entity, name)

    def add(self, entity: str, name: str) -> None:
        words = len(name.split())
        if not words:
            return
        entry = _Entry(entity, name, frozenset(fold_variants(name)), words)
        self._entries.append(entry)
        variants, owners = self._choices.setdefault(words, ([], []))
        for variant in entry.variants:
            variants.append(variant)
            owners.append(entry)

    def __len__(self) -> int:
        return len(self._entries)

    def find(self, text: str) -> list[Entity]:
        if not self._entries or not text:
            return []
        tokens = [(m.start(), m.end()) for m in _WORD.finditer(text[:5000])]
        candidates: list[Entity] = []
        for i in range(len(tokens)):
            for n, (variants, owners) in self._choices.items():
                if i + n > len(tokens):
                    continue
                start, end = tokens[i][0], tokens[i + n - 1][1]
                surface = text[start:end]
                best: tuple[float, _Entry] | None = None
                for window in fold_variants(surface):
                    found = process.extractOne(
                        window, variants, scorer=fuzz.ratio, score_cutoff=self.min_score
                    )
                    if found is not None and (best is None or found[1] > best[0]):
                        best = (found[1], owners[found[2]])
                if best is not None and _plausible(surface, best[1].name):
                    score, entry = best
                    candidates.append(
                        Entity(
                            entry.entity,
                            entry.name,
                            start,
                            end,
                            EXTRACTOR,
                            round(score / 100, 4),
                            text=surface,
                        )
                    )
        return _best_non_overlapping(candidates)


class RefreshingGazetteer:
    """An ``InMemoryGazetteer`` filled by ``load`` (pairs of entity type and name) and refilled when it is
    older than ``max_age`` seconds. A failing load keeps the names it had (and is logged)."""

    def __init__(
        self,
        load: Callable[[], Iterable[tuple[str, str]]],
        *,
        max_age: float = 300.0,
        min_score: float = 88.0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._load = load
        self.max_age = max_age
        self.min_score = min_score
        self._clock = clock
        self._current = InMemoryGazetteer(min_score=min_score)
        self._loaded_at: float | None = None
        self._lock = threading.Lock()

    def refresh(self) -> None:
        with self._lock:
            try:
                fresh = InMemoryGazetteer(self._load(), min_score=self.min_score)
            except Exception:
                log.exception("loading known names failed; keeping %d", len(self._current))
            else:
                self._current = fresh
            self._loaded_at = self._clock()

    def find(self, text: str) -> list[Entity]:
        if self._loaded_at is None or self._clock() - self._loaded_at > self.max_age:
            self.refresh()
        return self._current.find(text)


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
