
import pytest
from hypothesis import given
from hypothesis import strategies as st

from nlu.language import DEFAULT_LANGUAGES, LanguageIdentifier, detect_language


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("Just called Anna Schmidt from Acme, she wants a quote by Friday", "en"),
        ("Ruf Anna nächsten Dienstag um 10 Uhr an", "de"),
        ("Wie sieht die Pipeline dieses Quartal aus?", "de"),
        ("How does the pipeline look this quarter?", "en"),
        ("Bitte lösche alle meine Daten", "de"),
        ("den Call loggen", "de"),
        ("log the call with Bob", "en"),
        ("danke", "de"),
        ("Hallo", "de"),
        ("thanks", "en"),
        ("Bonjour, je voudrais supprimer toutes mes données personnelles", "fr"),
    ],
)
def test_detects_language(text: str, expected: str) -> None:
    assert detect_language(text) == expected


@pytest.mark.parametrize("text", ["ok", "Anna Schmidt", "🙂👍", "12345", "+49 170 5550199", "", "   ", "?!"])
def test_short_or_ambiguous_text_falls_back(text: str) -> None:
    assert detect_language(text, hint="de") == "de"
    assert detect_language(text, hint="en") == "en"
    assert detect_language(text) == "en"
    assert detect_language(text, default="de") == "de"


def test_clear_text_overrides_hint() -> None:
    assert detect_language("Please delete all my data from your systems", hint="de") == "en"


def test_default_set_is_small() -> None:
    # every language adds ~30 MB of lingua models to the server
    assert {"en", "de"} <= set(DEFAULT_LANGUAGES)
    assert len(DEFAULT_LANGUAGES) <= 5


def test_restricted_language_set() -> None:
    identifier = LanguageIdentifier(["en", "de"], preload=False)
    assert identifier.detect("Bonjour, je voudrais supprimer toutes mes données") in ("en", "de")
    assert set(identifier.confidences("Guten Tag, wie geht es Ihnen?")) == {"en", "de"}


@given(st.text(max_size=80))
def test_random_text_never_raises(text: str) -> None:
    assert detect_language(text) in DEFAULT_LANGUAGES
