"""Which language to answer in: the message's own, when it is clearly English or German.

    clear_language("hi")                        -> "en"   (a greeting or yes/no word says it)
    clear_language("Bitte löschen Sie alles")   -> "de"
    clear_language("Anna Schmidt")              -> None   (too short or too ambiguous: keep the conversation's)

The profile language is only the fallback for messages that do not tell (names, numbers, "ok").
"""

from __future__ import annotations

import re

from nlu.language import _FUNCTION_WORDS, _SHORT_WORDS, detect_language

ANSWERED = ("en", "de")
_WORDS = re.compile(r"[^\W\d_]+")
_NOISE = re.compile(r"\S+@\S+|https?://\S+")


def clear_language(text: str) -> str | None:
    """``"en"``/``"de"`` when the message itself says so; None when it is too short or mixed to tell."""
    if not text or text.startswith("/"):
        return None
    words = [w.lower() for w in _WORDS.findall(_NOISE.sub(" ", text))]
    if not words:
        return None
    phrase = " ".join(words)
    if phrase in _SHORT_WORDS:
        found = _SHORT_WORDS[phrase]
        return found if found in ANSWERED else None
    votes = {lang: sum(w in vocab for w in words) for lang, vocab in _FUNCTION_WORDS.items()}
    if len(words) < 3 and not any(votes.values()):
        return None  # a name, a company, "ok": nothing to go by
    detected = detect_language(text)
    other = "de" if detected == "en" else "en"
    # lingua's guess counts only with the language's own small words in the text ("blorp zibble frobnicate"
    # is nobody's language), and not when the other language has more of them
    if detected in ANSWERED and votes.get(detected, 0) >= 1 and votes.get(detected, 0) >= votes.get(other, 0):
        return detected
    return None
