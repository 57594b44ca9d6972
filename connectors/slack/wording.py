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
    "undeliverable": {
        "en": "Sorry, I could not deliver one of my messages to you here (ref {ref}). Please try again; "
        "if it keeps happening, tell your CRM administrator the reference.",
        "de": "Entschuldigung, eine meiner Nachrichten konnte ich dir hier nicht zustellen (Ref. {ref}). "
        "Bitte versuch es noch einmal; wenn es wieder passiert, nenne deiner CRM-Administration die Referenz.",
    },
    # -- the "Log to CRM" message shortcut --
    "log_confirm": {
        "en": "Log this message as a *{kind}* with *{contact}*?",
        "de": "Diese Nachricht als *{kind}* bei *{contact}* eintragen?",
    },
    "log_choose": {
        "en": "Which contact should I log this message to (as a *{kind}*)?",
        "de": "Bei welchem Kontakt soll ich diese Nachricht eintragen (als *{kind}*)?",
    },
    "log_none": {
        "en": "I couldn't tell which contact this message is about. Mention the contact's full name or "
        "e-mail address in the message, or log it by typing e.g. `/crm log a note for Jane Roe`.",
        "de": "Ich konnte nicht erkennen, um welchen Kontakt es geht. Nenne den vollen Namen oder die "
        "E-Mail-Adresse des Kontakts in der Nachricht, oder trag es ein mit z. B. "
        "`/crm Notiz für Jana Roth eintragen`.",
    },
    "log_empty": {
        "en": "This message has no text I could log.",
        "de": "Diese Nachricht hat keinen Text, den ich eintragen könnte.",
    },
    "log_button": {"en": "Log to {contact}", "de": "Bei {contact} eintragen"},
    "cancel": {"en": "Cancel", "de": "Abbrechen"},
    "log_done": {
        "en": "✔ Logged as a {kind} with {contact}.",
        "de": "✔ Als {kind} bei {contact} eingetragen.",
    },
    "log_already": {
        "en": "This was already logged as a {kind} with {contact}.",
        "de": "Das ist schon als {kind} bei {contact} eingetragen.",
    },
    "log_cancelled": {"en": "Not logged.", "de": "Nicht eingetragen."},
    "log_expired": {
        "en": "That request has expired; please use *Log to CRM* on the message again.",
        "de": "Diese Anfrage ist abgelaufen; bitte nutze *Log to CRM* noch einmal für die Nachricht.",
    },
    "not_allowed": {
        "en": "Sorry, your CRM role does not allow that.",
        "de": "Entschuldigung, deine CRM-Rolle erlaubt das nicht.",
    },
    # -- the weekly pipeline digest --
    "digest_title": {"en": "Pipeline, week {week}", "de": "Pipeline, KW {week}"},
    "digest_summary": {
        "en": "*{open_count}* open deals worth *{open_total}* (weighted *{weighted}*); won so far: *{won}*.",
        "de": "*{open_count}* offene Deals über *{open_total}* (gewichtet *{weighted}*); bisher gewonnen: "
        "*{won}*.",
    },
    "digest_closing": {"en": "*Closing this month*", "de": "*Abschluss diesen Monat*"},
    "digest_stalled": {
        "en": "*No activity for {days} days*",
        "de": "*Seit {days} Tagen ohne Aktivität*",
    },
    "digest_chart": {"en": "Pipeline by stage", "de": "Pipeline nach Phase"},
    "stage": {"en": "Stage", "de": "Phase"},
    "deals": {"en": "Deals", "de": "Deals"},
    "total": {"en": "Total", "de": "Summe"},
    "weighted": {"en": "Weighted", "de": "Gewichtet"},
}


def say(key: str, lang: str = "en", **values: str) -> str:
    texts = _TEXTS[key]
    return texts.get(lang, texts["en"]).format(**values)
