"""What the Slack connector itself says to people (the assistant's own replies come from the domain)."""

from __future__ import annotations

_TEXTS: dict[str, dict[str, str]] = {
    "unknown_user": {
        "en": "Sorry, I can only help people who have a CRM account. Please ask your CRM administrator "
        "to add you with the e-mail address you use in Slack.",
        "de": "Entschuldigung, ich kann nur Personen mit einem CRM-Zugang helfen. Bitte lass dich von "
        "deiner CRM-Administration mit der E-Mail-Adresse anlegen, die du in Slack verwendest.",
    },
    "not_linked": {
        "en": "Your Slack account is not linked to a CRM account yet. An admin can approve request "
        "#{request}, or link it yourself: sign in to the CRM with your API token, get a code with "
        "`POST /api/v1/me/link-code` (`{{\"channel\": \"slack\"}}`) and send me `link <code>` here.",
        "de": "Dein Slack-Konto ist noch nicht mit einem CRM-Zugang verknüpft. Die CRM-Administration kann "
        "Anfrage #{request} freigeben, oder du verknüpfst es selbst: melde dich mit deinem API-Token am "
        "CRM an, hol dir einen Code mit `POST /api/v1/me/link-code` (`{{\"channel\": \"slack\"}}`) und "
        "schick mir hier `verknüpfen <Code>`.",
    },
    "not_linked_short": {
        "en": "Your Slack account is not linked to a CRM account yet. Send me a direct message to link it.",
        "de": "Dein Slack-Konto ist noch nicht mit einem CRM-Zugang verknüpft. Schreib mir direkt, um es "
        "zu verknüpfen.",
    },
    "not_linked_home": {
        "en": "Your Slack account is not linked to a CRM account yet. Send me a direct message to link it.",
        "de": "Dein Slack-Konto ist noch nicht mit einem CRM-Zugang verknüpft. Schreib mir direkt, um es "
        "zu verknüpfen.",
    },
    "link_linked": {
        "en": "Done: this Slack account is now linked to your CRM account.",
        "de": "Erledigt: Dieses Slack-Konto ist jetzt mit deinem CRM-Zugang verknüpft.",
    },
    "link_already": {
        "en": "This Slack account is already linked to a CRM account.",
        "de": "Dieses Slack-Konto ist bereits mit einem CRM-Zugang verknüpft.",
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
        "en": "Your CRM account is already linked to another Slack account. Ask an admin to unlink it first.",
        "de": "Dein CRM-Zugang ist bereits mit einem anderen Slack-Konto verknüpft. Bitte die "
        "CRM-Administration, diese Verknüpfung zuerst aufzuheben.",
    },
    "answered_privately": {
        "en": "I've answered you privately (only you can see it).",
        "de": "Ich habe dir privat geantwortet (nur du siehst es).",
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
