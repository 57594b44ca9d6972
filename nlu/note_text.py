"""What a logged note says, without the command around it, and a follow-up task title a person would write.

    note_content("Log a call with Hannah Koch: discussed renewal, she wants a quote by next Friday")
        -> "Discussed renewal, she wants a quote by next Friday"
    note_content("Just had a call with Hannah Weber, discussed the renewal")  -> "Discussed the renewal"
    note_content("Hatte gerade ein Telefonat mit Jürgen Müller, er will ein Angebot bis Freitag", "de")
        -> "Er will ein Angebot bis Freitag"
    follow_up_title("Discussed renewal, she wants a quote by next Friday", "Hannah Koch")
        -> "Send Hannah Koch the quote"
    follow_up_title("Er will ein Angebot bis Freitag", "Jürgen Müller", "de")  -> "Jürgen Müller das Angebot schicken"

When nothing but the command is there ("log a call with Anna"), the whole text stays the note.
"""

from __future__ import annotations

import re

# The command part of a log request: who/what was logged, ending at a colon, comma, dash or "about"/"re".
_ACTIVITY = (
    r"(?:call|phone call|meeting|e-?mail|visit|note|chat|conversation|lunch|demo|anruf|telefonat|termin|treffen|"
    r"besprechung|besuch|notiz|gespräch|mail)"
)
_COMMAND_EN = re.compile(
    rf"^\s*(?:(?:please|pls|can you|could you)\s+)?(?:(?:just|i|we|i've|i have|we've|we have|had|have|got)\s+)*"
    rf"(?:log(?:ged)?|add|record|note|had|have|made|did|finished|got off)?\s*(?:a|an|the|my|our)?\s*"
    rf"(?:quick\s+|short\s+|good\s+|long\s+)?(?:{_ACTIVITY}s?|called|phoned|rang|met(?:\s+with)?|emailed|mailed|visited|"
    rf"spoke(?:\s+to|\s+with)?|talked(?:\s+to|\s+with)?)\b[^:,;\n–—-]*?(?:[:,;–—-]|\s+(?:about|re|regarding)\b)\s*",
    re.IGNORECASE,
)
_COMMAND_DE = re.compile(
    rf"^\s*(?:(?:bitte|kannst du)\s+)?(?:(?:hatte|hab|habe|hatten|gerade|grad|eben|soeben|heute|ich|wir)\s+)*"
    rf"(?:(?:ein(?:en|e)?|den|die|das|mein(?:en)?)\s+)?(?:kurzes?n?\s+|langes?n?\s+)?"
    rf"(?:{_ACTIVITY}|angerufen|telefoniert|getroffen|gemailt|besucht|gesprochen)\b"
    rf"[^:,;\n–—-]*?(?:[:,;–—-]|\s+(?:wegen|zu|zum|über)\b)\s*",
    re.IGNORECASE,
)
_HEAD = re.compile(
    rf"\b(?:{_ACTIVITY}s?|log\w*|called|met|emailed|visited|angerufen|telefoniert|getroffen|notier\w*)\b",
    re.IGNORECASE,
)
_LOG_WORDS = re.compile(r"\b(?:log|loggen|logge|eintragen|erfassen|notieren|festhalten)\b\s*[.!]?\s*$", re.I)
_TIME_TAIL = re.compile(
    r"\s+(?:by|until|before|on|bis|zum|am|spätestens)\s+.*$|\s+(?:next|this|nächste[nrs]?|diese[nrs]?)\s+\w+$",
    re.IGNORECASE,
)


def note_content(text: str, lang: str = "en") -> str:
    """The note without the request around it (see the module docstring)."""
    original = (text or "").strip()
    if not original:
        return original
    head, colon, tail = original.partition(":")
    if colon and len(head) <= 100 and _HEAD.search(head) and len(tail.split()) >= 2:
        rest = tail.strip()  # "Log a call with Hannah Koch: ...", "Notiz zu Jürgen Müller: ..."
    else:
        pattern = _COMMAND_DE if lang == "de" else _COMMAND_EN
        match = pattern.match(original) or (_COMMAND_EN if lang == "de" else _COMMAND_DE).match(original)
        rest = original[match.end() :].strip() if match else original
    rest = _LOG_WORDS.sub("", rest).strip(" ,;:-–—")
    if rest == original or len(rest.split()) < 2:  # nothing to strip, or only the command: keep it whole
        return original
    return rest[0].upper() + rest[1:]


# "she wants a quote by next Friday", "asked for the contract", "needs an offer", "send her the slides"
_WANTS_EN = re.compile(
    r"(?:\b(?:wants|needs|asked for|asks for|would like|requested|expects|is waiting for|waiting for)|'d like)\s+"
    r"(?:a|an|the|our|some)?\s*(?P<what>(?:updated\s+|new\s+|revised\s+|signed\s+)?[a-z][\w-]*(?:\s+(?!by\b|until\b|before\b|on\b|next\b|this\b)[a-z][\w-]*)?)",
    re.IGNORECASE,
)
_SEND_EN = re.compile(
    r"\bsend\s+(?:her|him|them)\s+(?:a|an|the)?\s*(?P<what>[a-z][\w-]*(?:\s+[a-z][\w-]*)?)", re.I
)
_CALLBACK_EN = re.compile(r"\b(?:call (?:her|him|them) back|callback|call back)\b", re.I)
_WANTS_DE = re.compile(
    r"\b(?:will|möchte|braucht|wünscht sich|wartet auf|erwartet|hätte gern|bittet um)\s+"
    r"(?P<art>ein|eine|einen|das|die|den|ein neues|eine neue|einen neuen)?\s*(?P<what>[A-ZÄÖÜ][\wäöüß-]*)",
)
_CALLBACK_DE = re.compile(r"\b(?:rückruf|zurückrufen|ruft? .* zurück)\b", re.I)
_DEFINITE = {
    "ein": "das",
    "eine": "die",
    "einen": "den",
    "das": "das",
    "die": "die",
    "den": "den",
    "ein neues": "das neue",
    "eine neue": "die neue",
    "einen neuen": "den neuen",
}


def follow_up_title(note: str, contact: str | None, lang: str = "en") -> str:
    """A task title for the follow-up the note asks for ("Send Hannah Koch the quote")."""
    who = (contact or "").strip()
    text = _TIME_TAIL.sub("", note or "")
    if lang == "de":
        if (m := _WANTS_DE.search(text)) and m.group("what"):
            article = _DEFINITE.get((m.group("art") or "das").lower(), "das")
            return (
                f"{who} {article} {m.group('what')} schicken".strip()
                if who
                else f"{article.capitalize()} {m.group('what')} schicken"
            )
        if _CALLBACK_DE.search(text):
            return f"{who} zurückrufen" if who else "Rückruf"
        return f"Bei {who} nachfassen" if who else "Nachfassen"
    if (m := _SEND_EN.search(text)) or (m := _WANTS_EN.search(text)):
        what = m.group("what").strip().lower()
        return f"Send {who} the {what}" if who else f"Send the {what}"
    if _CALLBACK_EN.search(text):
        return f"Call {who} back" if who else "Call back"
    return f"Follow up with {who}" if who else "Follow up"
