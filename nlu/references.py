"""Is a number in a message a reference to a ticket, or something else (an invoice number, an amount, a date)?

    ticket_reference("#1042")                                   -> 1042
    ticket_reference("ticket 1042, anna@example.com")          -> 1042
    ticket_reference("1042")                                    -> 1042   (a bare number answers "which ticket?")
    ticket_reference("the invoice number is 2026-1188")         -> None
    ticket_reference("Rechnungsnummer 2026-1188, 49,90 €")      -> None

A number counts when it is written as a ticket reference (``#1042``, "ticket 1042", "Ticket Nr. 1042",
"Vorgang 1042"), or when the whole text is just that number. Numbers right after words for other documents
(invoice, order, customer number, Rechnung, Bestellung, Kundennummer ...), amounts, dates, phone numbers and
numbers with a dash or dot inside are never ticket references.
"""

from __future__ import annotations

import re

_TICKET_WORDS = r"(?:ticket|tickets|case|request|vorgang|anfrage|ticketnummer)"
_NUMBER_WORDS = r"(?:number|no\.?|nr\.?|nummer|#)"
# "#1042", "ticket 1042", "ticket no. 1042", "Ticket Nr. 1042", "ticketnummer 1042", "ticket number is #1042"
_REFERENCE = re.compile(
    rf"(?:(?<![\w#])#\s?(\d{{1,9}})(?![\w.,/-]?\d))"
    rf"|(?:\b{_TICKET_WORDS}\s*(?:{_NUMBER_WORDS}\s*)?(?:is\s+|lautet\s+|ist\s+)?#?\s?(\d{{1,9}})(?![\w.,/-]?\d))",
    re.IGNORECASE,
)
_BARE = re.compile(r"^\s*(?:#\s?)?(\d{1,9})\s*[.!?]?\s*$")


def ticket_reference(text: object) -> int | None:
    """The ticket number ``text`` refers to; None when it names no ticket (see the module docstring)."""
    value = str(text or "")
    bare = _BARE.match(value)
    if bare:
        return int(bare.group(1))
    for match in _REFERENCE.finditer(value):
        number = match.group(1) or match.group(2)
        if number:
            return int(number)
    return None


# "that deal", "the deal", "it" (EN); "den Deal", "diesen Deal", "ihn", "es" (DE): the deal just talked about
_DEAL_BACK = re.compile(
    r"\b(?:that|this|the|same)\s+(?:deal|opportunity|one)\b|\b(?:move|set|put|mark|change|update|push)\s+it\b"
    r"|\b(?:den|diesen|dem|dieser|das)\s+(?:deal|geschäft)\b|\b(?:schieb|setz|verschieb|änder)\w*\s+(?:ihn|es)\b",
    re.IGNORECASE,
)


def refers_to_last_deal(text: object) -> bool:
    """Does the message point back at a deal ("move that deal to negotiation", "setz ihn auf gewonnen")?"""
    return bool(_DEAL_BACK.search(str(text or "")))
