"""Every word of the agent inbox, English and German side by side (the staff member's language decides)."""

from __future__ import annotations

LANGUAGES = ("en", "de")

TEXT: dict[str, dict[str, str]] = {
    "title": {"en": "Support inbox", "de": "Support-Posteingang"},
    "sign_in": {"en": "Sign in", "de": "Anmelden"},
    "sign_out": {"en": "Sign out", "de": "Abmelden"},
    "api_token": {"en": "Your API token", "de": "Ihr API-Token"},
    "token_hint": {
        "en": "crm_… from `crm-assistant users create --token`, or use a login link.",
        "de": "crm_… aus `crm-assistant users create --token`, oder einen Anmeldelink verwenden.",
    },
    "sign_in_failed": {
        "en": "That did not work. Check the token or ask for a new login link.",
        "de": "Das hat nicht geklappt. Bitte Token prüfen oder einen neuen Anmeldelink anfordern.",
    },
    "your_email": {"en": "Your work e-mail address", "de": "Ihre dienstliche E-Mail-Adresse"},
    "mail_link": {"en": "Mail me a sign-in link", "de": "Anmeldelink per E-Mail senden"},
    "link_mailed": {
        "en": "If that address belongs to a staff member, a sign-in link is on its way.",
        "de": "Wenn die Adresse zu einem Teammitglied gehört, ist ein Anmeldelink unterwegs.",
    },
    "link_title": {"en": "Sign in with your login link", "de": "Mit Ihrem Anmeldelink anmelden"},
    "link_hint": {
        "en": "The link works once and for 15 minutes.",
        "de": "Der Link gilt einmal und 15 Minuten lang.",
    },
    "view_mine": {"en": "Mine", "de": "Meine"},
    "view_team": {"en": "My team", "de": "Mein Team"},
    "view_unassigned": {"en": "Unassigned", "de": "Nicht zugewiesen"},
    "view_handover": {"en": "Live hand-over", "de": "Live-Übergabe"},
    "view_all": {"en": "All", "de": "Alle"},
    "status": {"en": "Status", "de": "Status"},
    "priority": {"en": "Priority", "de": "Priorität"},
    "queue": {"en": "Queue", "de": "Queue"},
    "team": {"en": "Team", "de": "Team"},
    "assignee": {"en": "Assignee", "de": "Zuständig"},
    "unassigned": {"en": "unassigned", "de": "nicht zugewiesen"},
    "any": {"en": "any", "de": "alle"},
    "open_all": {"en": "open (new, open, pending)", "de": "offen (neu, offen, wartend)"},
    "filter": {"en": "Filter", "de": "Filtern"},
    "subject": {"en": "Subject", "de": "Betreff"},
    "requester": {"en": "Customer", "de": "Kunde"},
    "sla": {"en": "SLA", "de": "SLA"},
    "sla_first_response": {"en": "first response", "de": "Erstantwort"},
    "sla_resolution": {"en": "resolution", "de": "Lösung"},
    "sla_left": {"en": "{time} left", "de": "noch {time}"},
    "sla_breached": {"en": "overdue by {time}", "de": "seit {time} überfällig"},
    "no_tickets": {"en": "Nothing here. Well done.", "de": "Hier ist nichts. Gut gemacht."},
    "thread": {"en": "Conversation", "de": "Verlauf"},
    "inbound": {"en": "Customer", "de": "Kunde"},
    "outbound": {"en": "Reply", "de": "Antwort"},
    "internal": {"en": "Internal note", "de": "Interne Notiz"},
    "automatic": {"en": "Sent automatically", "de": "Automatisch gesendet"},
    "attachments": {"en": "Attachments", "de": "Anhänge"},
    "reply": {"en": "Reply to customer", "de": "Dem Kunden antworten"},
    "note": {"en": "Internal note", "de": "Interne Notiz"},
    "send": {"en": "Send", "de": "Senden"},
    "send_hint": {
        "en": "Ctrl+Enter sends. Notes are never shown to the customer.",
        "de": "Strg+Enter sendet. Notizen sieht der Kunde nie.",
    },
    "reply_via_email": {
        "en": "Goes to {to} by e-mail, in {language}, threaded under [#{number}].",
        "de": "Geht per E-Mail an {to}, auf {language}, im Verlauf von [#{number}].",
    },
    "reply_via_chat": {
        "en": "Goes to the customer's live web chat.",
        "de": "Geht in den Live-Web-Chat des Kunden.",
    },
    "reply_stored": {
        "en": "This channel cannot be answered from here; the reply is kept on the ticket.",
        "de": "Dieser Kanal kann von hier nicht beantwortet werden; die Antwort bleibt am Ticket.",
    },
    "sent_email": {"en": "Reply queued for e-mail delivery.", "de": "Antwort zum E-Mail-Versand eingereiht."},
    "sent_chat": {"en": "Reply sent to the chat.", "de": "Antwort in den Chat gesendet."},
    "sent_note": {"en": "Note added.", "de": "Notiz hinzugefügt."},
    "saved": {"en": "Saved.", "de": "Gespeichert."},
    "save": {"en": "Save", "de": "Speichern"},
    "contact": {"en": "Contact", "de": "Kontakt"},
    "organization": {"en": "Organisation", "de": "Organisation"},
    "activities": {"en": "Recent activities", "de": "Letzte Aktivitäten"},
    "deals": {"en": "Open deals", "de": "Offene Deals"},
    "none": {"en": "none", "de": "keine"},
    "not_for_role": {"en": "not visible for your role", "de": "für Ihre Rolle nicht sichtbar"},
    "triage": {"en": "Why it is here (triage)", "de": "Warum es hier ist (Triage)"},
    "language": {"en": "Language", "de": "Sprache"},
    "confidence": {"en": "Confidence", "de": "Sicherheit"},
    "rules": {"en": "Routing rules that matched", "de": "Passende Routing-Regeln"},
    "classified_priority": {"en": "Priority as classified", "de": "Priorität laut Klassifikation"},
    "flags": {"en": "Flags", "de": "Hinweise"},
    "review_reason": {"en": "Needs review", "de": "Prüfen"},
    "no_triage": {
        "en": "Not from mail triage (opened in {channel}).",
        "de": "Nicht aus der Mail-Triage (eröffnet über {channel}).",
    },
    "live_chat": {"en": "Live chat", "de": "Live-Chat"},
    "chat_with_agent": {
        "en": "The customer is talking to you; the bot is paused.",
        "de": "Der Kunde spricht mit Ihnen; der Bot pausiert.",
    },
    "chat_with_bot": {"en": "The bot answers this chat.", "de": "Der Bot beantwortet diesen Chat."},
    "release": {"en": "Give back to the bot", "de": "An den Bot zurückgeben"},
    "released": {"en": "The bot answers again.", "de": "Der Bot antwortet wieder."},
    "suggestions": {"en": "Suggested replies", "de": "Antwortvorschläge"},
    "suggest_hint": {
        "en": "Insert, then edit before sending.",
        "de": "Einfügen, dann vor dem Senden bearbeiten.",
    },
    "insert": {"en": "Insert", "de": "Einfügen"},
    "kb_article": {"en": "Article", "de": "Artikel"},
    "earlier_answer": {"en": "Earlier answer (#{number})", "de": "Frühere Antwort (#{number})"},
    "no_suggestions": {"en": "No suggestions.", "de": "Keine Vorschläge."},
    "notified": {"en": "Notification", "de": "Benachrichtigung"},
    "keys": {
        "en": "Keys: j/k move, Enter opens, r reply, n note, g i inbox, / filter, ? help",
        "de": "Tasten: j/k bewegen, Enter öffnet, r antworten, n Notiz, g i Posteingang, / Filter, ? Hilfe",
    },
    "back": {"en": "Inbox", "de": "Posteingang"},
    "error": {"en": "Sorry, that failed (ref {ref}).", "de": "Das ist leider fehlgeschlagen (Ref. {ref})."},
    "forbidden": {"en": "Your role may not do this.", "de": "Ihre Rolle darf das nicht."},
    "not_found": {"en": "Not found.", "de": "Nicht gefunden."},
    "csrf": {
        "en": "The form expired; reload the page and try again.",
        "de": "Das Formular ist abgelaufen; bitte Seite neu laden und erneut versuchen.",
    },
    "created": {"en": "Opened", "de": "Eröffnet"},
    "delivery_failed": {"en": "not delivered", "de": "nicht zugestellt"},
}

STATUS_NAMES: dict[str, dict[str, str]] = {
    "new": {"en": "new", "de": "neu"},
    "open": {"en": "open", "de": "offen"},
    "pending": {"en": "pending", "de": "wartend"},
    "solved": {"en": "solved", "de": "gelöst"},
    "closed": {"en": "closed", "de": "geschlossen"},
}
PRIORITY_NAMES: dict[str, dict[str, str]] = {
    "low": {"en": "low", "de": "niedrig"},
    "normal": {"en": "normal", "de": "normal"},
    "high": {"en": "high", "de": "hoch"},
    "urgent": {"en": "urgent", "de": "dringend"},
}
LANGUAGE_NAMES: dict[str, dict[str, str]] = {
    "en": {"en": "English", "de": "Englisch"},
    "de": {"en": "German", "de": "Deutsch"},
}


def text(key: str, lang: str, /, **values: object) -> str:
    entry = TEXT[key]
    phrase = entry.get(lang) or entry["en"]
    return phrase.format(**values) if values else phrase


def name_of(table: dict[str, dict[str, str]], key: str | None, lang: str) -> str:
    if key is None:
        return ""
    entry = table.get(key)
    return (entry.get(lang) or entry["en"]) if entry else key


def duration(seconds: int, lang: str) -> str:
    """A short, human duration: "2 h 5 min", "3 d 4 h", "12 min" (both languages use these units)."""
    seconds = abs(int(seconds))
    days, rest = divmod(seconds, 86400)
    hours, rest = divmod(rest, 3600)
    minutes = rest // 60
    if days:
        return f"{days} d {hours} h"
    if hours:
        return f"{hours} h {minutes} min"
    return f"{minutes} min"
