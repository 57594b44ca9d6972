"""Which language a message is written in (ISO 639-1), with sensible fallbacks for short texts.

lingua decides when the text carries enough signal; greetings, yes/no, names, numbers and emoji do
not, so they fall back to a small word list, then to the user's known language (``hint``), then to
``default``. Mixed chat ("den Call loggen") is decided by the function words it contains.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from functools import lru_cache

from lingua import IsoCode639_1, Language, LanguageDetector, LanguageDetectorBuilder

# The languages we answer in, plus the neighbours most often confused with them. Each language costs
# ~30 MB of lingua models in the server (9 languages: +290 MB RSS; these 5: +150 MB); on the training
# examples these 5 misjudge fewer texts than the 9 did (138 vs 177 of 4021) and low-accuracy mode twice
# as many (385), so the set stays small instead.
DEFAULT_LANGUAGES: tuple[str, ...] = ("en", "de", "fr", "es", "it")
CONFIDENT = 0.6  # lingua's relative confidence above which we trust it without further evidence

_SHORT_WORDS: dict[str, str] = {
    "hi": "en", "hello": "en", "hey": "en", "yes": "en", "yeah": "en", "yep": "en", "no": "en",
    "nope": "en", "thanks": "en", "thank you": "en", "thx": "en", "bye": "en", "cheers": "en",
    "help": "en", "sure": "en", "please": "en", "cancel": "en", "stop": "en",
    "hallo": "de", "moin": "de", "servus": "de", "grüezi": "de", "ja": "de", "jo": "de", "nein": "de",
    "nö": "de", "danke": "de", "danke schön": "de", "dankeschön": "de", "tschüss": "de",
    "tschüs": "de", "bitte": "de", "hilfe": "de", "abbrechen": "de", "genau": "de", "gerne": "de",
    "guten morgen": "de", "guten tag": "de", "gute nacht": "de", "alles klar": "de",
}  # fmt: skip
_FUNCTION_WORDS: dict[str, frozenset[str]] = {
    "de": frozenset(
        [
            "der",
            "die",
            "das",
            "den",
            "dem",
            "des",
            "ein",
            "eine",
            "einen",
            "einem",
            "und",
            "oder",
            "nicht",
            "ist",
            "sind",
            "war",
            "mit",
            "für",
            "von",
            "bei",
            "ich",
            "du",
            "er",
            "sie",
            "wir",
            "ihr",
            "mir",
            "mich",
            "dir",
            "uns",
            "auf",
            "aus",
            "nach",
            "wie",
            "was",
            "wer",
            "wann",
            "wo",
            "bitte",
            "noch",
            "schon",
            "auch",
            "mal",
            "kein",
            "keine",
            "zum",
            "zur",
            "im",
            "am",
            "um",
            "hab",
            "habe",
            "hat",
            "haben",
            "neuer",
            "neue",
            "neues",
            "heute",
            "morgen",
        ]
    ),
    "en": frozenset(
        [
            "the",
            "a",
            "an",
            "and",
            "or",
            "not",
            "is",
            "are",
            "was",
            "were",
            "with",
            "for",
            "from",
            "at",
            "of",
            "to",
            "in",
            "on",
            "i",
            "you",
            "he",
            "she",
            "we",
            "they",
            "me",
            "my",
            "your",
            "our",
            "what",
            "who",
            "when",
            "where",
            "how",
            "please",
            "did",
            "do",
            "does",
            "have",
            "has",
            "had",
            "just",
            "can",
            "will",
        ]
    ),
}
_LETTERS = re.compile(r"[^\W\d_]+")
_NOISE = re.compile(r"\S+@\S+|https?://\S+|[#+]?\d[\d\s.,:/-]*")


class LanguageIdentifier:
    """A lingua detector restricted to ``languages`` (ISO 639-1 codes), built on first use."""

    def __init__(self, languages: Iterable[str] = DEFAULT_LANGUAGES, *, preload: bool = True) -> None:
        self.languages = tuple(languages)
        self._preload = preload
        self._detector: LanguageDetector | None = None

    @property
    def detector(self) -> LanguageDetector:
        if self._detector is None:
            codes = [Language.from_iso_code_639_1(getattr(IsoCode639_1, c.upper())) for c in self.languages]
            builder = LanguageDetectorBuilder.from_languages(*codes)
            if self._preload:
                builder = builder.with_preloaded_language_models()
            self._detector = builder.build()
        return self._detector

    def confidences(self, text: str) -> dict[str, float]:
        values = self.detector.compute_language_confidence_values(text)
        return {v.language.iso_code_639_1.name.lower(): v.value for v in values}

    def detect(self, text: str, *, default: str = "en", hint: str | None = None) -> str:
        fallback = hint or default
        cleaned = _NOISE.sub(" ", text)
        words = [w.lower() for w in _LETTERS.findall(cleaned)]
        if not words:
            return fallback
        phrase = " ".join(words)
        if phrase in _SHORT_WORDS:
            return _SHORT_WORDS[phrase]
        votes = {lang: sum(w in vocab for w in words) for lang, vocab in _FUNCTION_WORDS.items()}
        if sum(len(w) for w in words) < 4:
            return fallback
        scores = self.confidences(" ".join(words))
        best = max(scores, key=scores.__getitem__)
        if scores[best] >= CONFIDENT and len(words) >= 2:
            return best
        ranked = sorted(votes, key=votes.__getitem__, reverse=True)
        if votes[ranked[0]] > votes[ranked[1]]:
            return ranked[0]
        if hint and scores.get(hint, 0.0) > 0.0:
            return hint
        return best if scores[best] >= CONFIDENT else fallback


_default_identifier = LanguageIdentifier()


def configure(languages: Iterable[str], *, preload: bool = True) -> None:
    """Restrict detection to other languages (ISO 639-1); the detector is rebuilt on next use."""
    global _default_identifier
    _default_identifier = LanguageIdentifier(languages, preload=preload)
    _cached_detect.cache_clear()


@lru_cache(maxsize=4096)
def _cached_detect(text: str, default: str, hint: str | None) -> str:
    return _default_identifier.detect(text, default=default, hint=hint)


def detect_language(text: str, *, default: str = "en", hint: str | None = None) -> str:
    """The ISO 639-1 code of ``text``; ``hint`` (the user's known language), else ``default``, when unsure."""
    return _cached_detect(text, default, hint)
