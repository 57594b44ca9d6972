"""What the Teams connector itself says to people (the assistant's own replies come from the domain)."""

from __future__ import annotations

_TEXTS: dict[str, dict[str, str]] = {
    "welcome": {
        "en": "Hi, I'm the CRM assistant. Tell me about a call or meeting, ask for a contact, your tasks or "
        "the pipeline, or type **help** to see what I can do.",
        "de": "Hallo, ich bin der CRM-Assistent. Erzähl mir von einem Anruf oder Termin, frag nach einem "
        "Kontakt, deinen Aufgaben oder der Pipeline, oder schreib **Hilfe**, um zu sehen, was ich kann.",
    },
    "unknown_user": {
        "en": "Sorry, I can only help people who have a CRM account. Please ask your CRM administrator "
        "to add you with the e-mail address you use in Microsoft Teams.",
        "de": "Entschuldigung, ich kann nur Personen mit einem CRM-Zugang helfen. Bitte lass dich von "
        "deiner CRM-Administration mit der E-Mail-Adresse anlegen, die du in Microsoft Teams verwendest.",
    },
    "starting": {
        "en": "I'm just starting up; please try again in a moment.",
        "de": "Ich starte gerade; bitte versuch es gleich noch einmal.",
    },
    "failed": {
        "en": "Sorry, that failed (ref {ref}).",
        "de": "Entschuldigung, das hat nicht geklappt (Ref. {ref}).",
    },
}


def language(locale: object) -> str:
    """``de`` for a German Teams locale (``de-DE``, ``de-AT``...), else ``en``."""
    return "de" if isinstance(locale, str) and locale.lower().startswith("de") else "en"


def say(key: str, lang: str = "en", **values: str) -> str:
    texts = _TEXTS[key]
    return texts.get(lang, texts["en"]).format(**values)
