"""Small user-facing labels, English and German side by side (full sentences live in domain.yml)."""

from __future__ import annotations

LABELS: dict[str, dict[str, str]] = {
    "call": {"en": "call", "de": "Anruf"},
    "meeting": {"en": "meeting", "de": "Termin"},
    "email": {"en": "email", "de": "E-Mail"},
    "visit": {"en": "visit", "de": "Besuch"},
    "note": {"en": "note", "de": "Notiz"},
    "lead": {"en": "lead", "de": "Lead"},
    "qualified": {"en": "qualified", "de": "qualifiziert"},
    "proposal": {"en": "proposal", "de": "Angebot"},
    "negotiation": {"en": "negotiation", "de": "Verhandlung"},
    "won": {"en": "won", "de": "gewonnen"},
    "lost": {"en": "lost", "de": "verloren"},
    "new": {"en": "new", "de": "neu"},
    "open": {"en": "open", "de": "offen"},
    "pending": {"en": "waiting for you", "de": "wartet auf Ihre Antwort"},
    "solved": {"en": "solved", "de": "gelöst"},
    "closed": {"en": "closed", "de": "geschlossen"},
    "low": {"en": "low", "de": "niedrig"},
    "normal": {"en": "normal", "de": "normal"},
    "high": {"en": "high", "de": "hoch"},
    "urgent": {"en": "urgent", "de": "dringend"},
}


def label(key: str | None, lang: str) -> str:
    if not key:
        return ""
    entry = LABELS.get(key)
    if entry is None:
        return key
    return entry.get(lang) or entry["en"]
