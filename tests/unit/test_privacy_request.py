"""The cues that tell a restriction (Art. 18) or an objection (Art. 21) from the privacy intent they were
classified as. Sentences written for this test, not taken from training_data/."""

from __future__ import annotations

import pytest

from nlu.privacy_request import requested_right


@pytest.mark.parametrize(
    "text",
    [
        "Please restrict the processing of my data until you have checked my complaint",
        "could you restrict use of my personal data for now",
        "Limit the processing of my details, my address is disputed",
        "Stop using my data but don't delete it yet",
        "block my data please, I am in a legal dispute with you",
        "Bitte schränken Sie die Verarbeitung meiner Daten ein",
        "Ich verlange die Einschränkung der Verarbeitung nach Art. 18",
        "Sperren Sie bitte meine Daten, bis das geklärt ist",
        "Meine Daten sperren, nicht löschen!",
        "Bitte meine Daten nicht mehr verwenden, aber nicht löschen",
    ],
)
def test_restriction(text: str) -> None:
    assert requested_right(text) == "restriction"


@pytest.mark.parametrize(
    "text",
    [
        "I object to you processing my data for marketing and profiling",
        "I hereby object to the use of my data",
        "I want to lodge an objection against the profiling",
        "Ich widerspreche der Verarbeitung meiner Daten zu Werbezwecken",
        "Hiermit lege ich Widerspruch gegen die Nutzung meiner Daten ein",
        "widerspruch gegen werbung",
    ],
)
def test_objection(text: str) -> None:
    assert requested_right(text) == "objection"


@pytest.mark.parametrize(
    "text",
    [
        "Please delete all my data",
        "What data do you have about me?",
        "Stop sending me newsletters",
        "Löschen Sie bitte alles über mich",
        "Abmelden vom Newsletter bitte",
        "I have no objections, go ahead",  # no right named: "object" must be a verb or "objection to"
        "",
    ],
)
def test_other_privacy_messages_keep_their_intent(text: str) -> None:
    assert requested_right(text) is None
