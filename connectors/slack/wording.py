"""What the Slack connector itself says to people (the assistant's own replies come from the domain)."""

from __future__ import annotations

_TEXTS: dict[str, dict[str, str]] = {
    "unknown_user": {
        "en": "Sorry, I can only help people who have a CRM account. Please ask your CRM administrator "
        "to add you with the e-mail address you use in Slack.",
        "de": "Entschuldigung, ich kann nur Personen mit einem CRM-Zugang helfen. Bitte lass dich von "
        "deiner CRM-Administration mit der E-Mail-Adresse anlegen, die du in Slack verwendest.",
    },
    "starting": {
        "en": "I'm just starting up; please try again in a moment.",
        "de": "Ich starte gerade; bitte versuch es gleich noch einmal.",
    },
    "failed": {
        "en": "Sorry, that failed (ref {ref}).",
        "de": "Entschuldigung, das hat nicht geklappt (Ref. {ref}).",
    },
    "chosen": {
        "en": "✔ {title}",
        "de": "✔ {title}",
    },
}


def say(key: str, lang: str = "en", **values: str) -> str:
    texts = _TEXTS[key]
    return texts.get(lang, texts["en"]).format(**values)
