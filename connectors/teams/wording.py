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
    "not_linked": {
        "en": "Your Teams account is not linked to a CRM account yet. An admin can approve request "
        "#{request}, or link it yourself: sign in to the CRM with your API token, get a code with "
        '`POST /api/v1/me/link-code` (`{{"channel": "teams"}}`) and send me `link <code>` here.',
        "de": "Dein Teams-Konto ist noch nicht mit einem CRM-Zugang verknüpft. Die CRM-Administration kann "
        "Anfrage #{request} freigeben, oder du verknüpfst es selbst: melde dich mit deinem API-Token am "
        'CRM an, hol dir einen Code mit `POST /api/v1/me/link-code` (`{{"channel": "teams"}}`) und '
        "schick mir hier `verknüpfen <Code>`.",
    },
    "link_linked": {
        "en": "Done: this Teams account is now linked to your CRM account.",
        "de": "Erledigt: Dieses Teams-Konto ist jetzt mit deinem CRM-Zugang verknüpft.",
    },
    "link_already": {
        "en": "This Teams account is already linked to a CRM account.",
        "de": "Dieses Teams-Konto ist bereits mit einem CRM-Zugang verknüpft.",
    },
    "link_bad_code": {
        "en": "That code is not valid or has expired. Get a new one and try again.",
        "de": "Dieser Code ist ungültig oder abgelaufen. Hol dir einen neuen und versuch es noch einmal.",
    },
    "link_inactive": {
        "en": "That code is not valid or has expired. Get a new one and try again.",
        "de": "Dieser Code ist ungültig oder abgelaufen. Hol dir einen neuen und versuch es noch einmal.",
    },
    "link_locked": {
        "en": "Too many wrong codes. An admin can still approve request #{request}.",
        "de": "Zu viele falsche Codes. Die CRM-Administration kann Anfrage #{request} weiterhin freigeben.",
    },
    "link_taken": {
        "en": "Your CRM account is already linked to another Teams account. Ask an admin to unlink it first.",
        "de": "Dein CRM-Zugang ist bereits mit einem anderen Teams-Konto verknüpft. Bitte die "
        "CRM-Administration, diese Verknüpfung zuerst aufzuheben.",
    },
    "answered_privately": {
        "en": "I've sent you my answer in our personal chat.",
        "de": "Ich habe dir in unserem persönlichen Chat geantwortet.",
    },
    "ask_privately": {
        "en": "I only answer CRM questions in a personal chat; please write to me there.",
        "de": "CRM-Fragen beantworte ich nur im persönlichen Chat; bitte schreib mir dort.",
    },
    "already_done": {
        "en": "This was already done.",
        "de": "Das ist bereits erledigt.",
    },
    "not_understood": {
        "en": "I can't act on that button.",
        "de": "Mit dieser Schaltfläche kann ich nichts anfangen.",
    },
    "see_chat": {
        "en": "Please see my message in our chat first.",
        "de": "Bitte lies zuerst meine Nachricht in unserem Chat.",
    },
    "log_title": {"en": "Log to CRM", "de": "Im CRM erfassen"},
    "log_button": {"en": "Log", "de": "Erfassen"},
    "log_nothing": {
        "en": "There is no text in this message to log.",
        "de": "Diese Nachricht enthält keinen Text zum Erfassen.",
    },
    "log_no_contact": {
        "en": "I found no CRM contact named in this message. Mention the person by name and try again.",
        "de": "In dieser Nachricht habe ich keinen CRM-Kontakt gefunden. Nenn die Person beim Namen und "
        "versuch es noch einmal.",
    },
    "log_refused": {
        "en": "That could not be logged (the contact is gone or not yours to change).",
        "de": "Das konnte nicht erfasst werden (der Kontakt existiert nicht mehr oder du darfst ihn nicht ändern).",
    },
    "log_done": {"en": "Logged: {kind} with {contact}.", "de": "Erfasst: {kind} mit {contact}."},
    "fact_organization": {"en": "Organisation", "de": "Organisation"},
    "fact_stage": {"en": "Stage", "de": "Phase"},
    "fact_amount": {"en": "Amount", "de": "Betrag"},
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
