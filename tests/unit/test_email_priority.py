"""Priority cues as customers write them (issue 17): urgency, its negation, impact, deadlines, repeats."""

from __future__ import annotations

import pytest

from nlu.email_priority import apply_cues, priority_cues

FLAT = {"low": 0.25, "normal": 0.25, "high": 0.25, "urgent": 0.25}


def top(text: str) -> str:
    adjusted = apply_cues(priority_cues(text), FLAT)
    return max(adjusted.items(), key=lambda x: x[1])[0]


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("Production is down since 6am, nothing works.", "urgent"),
        ("Seit 7:40 stehen bei uns die Bänder, die Schnittstelle ist ausgefallen.", "urgent"),
        ("We think we had a data breach, customer records were downloaded.", "urgent"),
        ("seit heute morgen können sich 40 Mitarbeiter nicht mehr einloggen", "high"),
        ("I'm locked out of my account and have client calls all afternoon.", "high"),
        ("Bitte dringend um Rückruf.", "high"),
        ("We need the duplicate refunded by Friday.", "high"),
        ("Ich muss das heute noch fertig bekommen.", "high"),
        ("This is the third time I'm writing about this.", "high"),
        ("Zum wiederholten Mal: die Rechnung ist falsch.", "high"),
        ("Otherwise we will cancel the contract.", "high"),
        ("Not urgent at all, just curious.", "low"),
        ("Kein Eilfall, bitte bei Gelegenheit ändern.", "low"),
        ("Keine Eile, sie fängt erst im Februar an.", "low"),
        ("Das ist nicht dringend.", "low"),
        ("Would be nice to have a dark mode. Just a suggestion.", "low"),
    ],
)
def test_cues_move_the_priority(text: str, expected: str) -> None:
    assert top(text) == expected


def test_negated_urgency_cancels_the_urgency_word() -> None:
    reasons = [cue.reason for cue in priority_cues("Not urgent, but please change the address.")]
    assert "urgency words" not in reasons and "says it is not urgent" in reasons


def test_many_people_blocked_adds_to_urgent_as_well() -> None:
    levels = {cue.level for cue in priority_cues("Nobody in the company can log in.")}
    assert levels == {"urgent", "high"}


def test_no_cue_leaves_the_model_alone() -> None:
    assert priority_cues("Please send me the manual for version 7.") == []
    assert apply_cues([], FLAT) == pytest.approx(FLAT)
