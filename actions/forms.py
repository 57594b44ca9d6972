"""Small readers shared by the customer forms (tickets, verification): what was typed, what was refused."""

from __future__ import annotations

from typing import Any

from rasa_sdk import Tracker

from nlu.references import ticket_reference


def ticket_number(value: Any) -> int | None:
    """``"#1042"``, ``"1042"``, ``"ticket 1042"`` -> 1042; an invoice number, amount or date -> None."""
    return ticket_reference(value)


def latest_text(tracker: Tracker) -> str:
    return str((tracker.latest_message or {}).get("text") or "").strip()


def rejected_this_turn(tracker: Tracker, slot: str) -> bool:
    """Did the form's validator just refuse a value for ``slot`` (it set the slot back to None)?"""
    for event in reversed(tracker.events):
        if event.get("event") == "user":
            return False
        if event.get("event") == "slot" and event.get("name") == slot and event.get("value") is None:
            return True
    return False


def answer_to(tracker: Tracker, slot: str, *, payloads: bool = True) -> dict[str, Any]:
    """The free text answering our question for ``slot`` (the domain maps free text to it only in other
    forms); ``payloads=False`` ignores button payloads (``/intent{...}``)."""
    text = latest_text(tracker)
    if tracker.get_slot("requested_slot") != slot or tracker.get_slot(slot) or not text:
        return {}
    if not payloads and text.startswith("/"):
        return {}
    return {slot: text}
