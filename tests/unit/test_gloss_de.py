"""The German -> English gloss the sentence encoder reads: verb forms, separable verbs, compounds."""

from __future__ import annotations

import pytest

from nlu.gloss_de import encoder_text, gloss, gloss_word
from nlu.gloss_de_verbs import VERBS, join_separable, verb_forms


@pytest.mark.parametrize(
    ("german", "english"),
    [
        ("erfass", "record"),  # imperative
        ("erfasste", "record"),  # past
        ("erfasst", "recorded"),  # the hand-written entry wins over the generated form
        ("abgespeichert", "save"),  # participle of a separable verb
        ("anzurufen", "call"),  # zu-infinitive
        ("exportiert", "export"),  # -ieren: no ge-
        ("aktualisierst", "update"),
    ],
)
def test_conjugated_forms_are_found(german: str, english: str) -> None:
    assert gloss_word(german) == english


def test_a_separable_verb_is_joined_when_its_particle_closes_the_clause() -> None:
    assert gloss("Ruf Anna morgen an") == "call anna tomorrow"
    assert gloss("schlag bitte die Nummer von Herrn Maier nach.") == "look up please the number from mr maier ."
    assert gloss("leg einen neuen Kontakt an, danke") == "create a new contact , thanks"


def test_a_particle_inside_the_clause_stays_a_preposition() -> None:
    assert gloss("schreib eine Mail an Anna") == "write a email at anna"
    # the particle closes the clause, but no verb before it takes it: kept
    assert gloss("ich antworte dir an") == "i answer you at"


def test_join_separable_stops_at_the_clause_boundary() -> None:
    _, split = verb_forms()
    verbs, particles = join_separable(["ruf", ",", "das", "ist", "an"], split)
    assert verbs == {} and particles == set()


@pytest.mark.parametrize(
    ("compound", "english"),
    [
        ("monatsende", "month end"),  # a linker "s" beats "monat|sende"
        ("vertragsende", "contract end"),
        ("kundenbesuch", "customer visit"),
        ("benutzerrechten", "user rights"),
    ],
)
def test_compounds_split_at_the_likeliest_joint(compound: str, english: str) -> None:
    assert gloss_word(compound) == english


def test_unknown_words_pass_through_and_english_is_untouched() -> None:
    assert gloss("Frau Çelik von Brandl KG") == "ms çelik from brandl kg"
    assert encoder_text("Call Anna tomorrow", "en") == "Call Anna tomorrow"


def test_every_listed_verb_has_its_infinitive_in_the_lexicon() -> None:
    joined, _ = verb_forms()
    assert all(verb in joined for verb in VERBS)


def test_the_gloss_can_be_turned_off_for_a_multilingual_encoder(monkeypatch: pytest.MonkeyPatch) -> None:
    from nlu.gloss_de import fingerprint

    glossed = fingerprint()
    monkeypatch.setenv("CRM_GERMAN_GLOSS", "0")
    assert encoder_text("Ruf Anna morgen an", "de") == "Ruf Anna morgen an"
    assert fingerprint() != glossed  # so models trained with the gloss are retrained without it
