from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from nlu.training_data import TrainingDataError, data_hash, load_training_data, parse_annotated

FIXTURE = Path(__file__).parents[1] / "fixtures" / "nlu"


def test_markup_is_stripped_and_offsets_point_at_the_surface_text() -> None:
    text, entities = parse_annotated(
        "just [called](activity_type) [Anna Schmidt](person) at [Acme](organization)"
    )
    assert text == "just called Anna Schmidt at Acme"
    assert [(e.entity, text[e.start : e.end]) for e in entities] == [
        ("activity_type", "called"),
        ("person", "Anna Schmidt"),
        ("organization", "Acme"),
    ]
    assert entities[1].value == "Anna Schmidt"


@pytest.mark.parametrize(
    "annotated",
    [
        'hab mit ihr [telefoniert](activity_type){"value": "call"}',
        'hab mit ihr [telefoniert]{"entity": "activity_type", "value": "call"}',
        "hab mit ihr [telefoniert](activity_type:call)",
    ],
)
def test_synonym_value_becomes_the_entity_value(annotated: str) -> None:
    text, entities = parse_annotated(annotated)
    assert text == "hab mit ihr telefoniert"
    (entity,) = entities
    assert (entity.entity, entity.value, entity.text) == ("activity_type", "call", "telefoniert")
    assert text[entity.start : entity.end] == "telefoniert"


def test_plain_brackets_without_annotation_stay() -> None:
    text, entities = parse_annotated("see [draft] for [Bob](person)")
    assert text == "see [draft] for Bob"
    assert [(e.start, e.end) for e in entities] == [(16, 19)]


def test_fixture_folder_loads_both_languages_with_synonyms_regexes_lookups() -> None:
    data = load_training_data(FIXTURE)
    assert {ex.language for ex in data.examples} == {"en", "de"}
    assert "greet" in data.intents and "out_of_scope" in data.intents
    assert data.synonyms["en"]["rang"] == "call"
    assert data.synonyms["de"]["anruf"] == "call"
    assert data.synonyms["de"]["telefoniert"] == "call"  # from the inline {"value": ...}
    assert data.regexes["ticket_id"] == [r"\#\d{3,6}"]
    assert data.lookups["en"]["organization"] == ["Acme", "Initech"]
    german = next(ex for ex in data.examples if ex.text.startswith("hab grad mit Anna"))
    assert german.language == "de" and german.intent == "log_activity"
    for ex in data.examples:
        for ent in ex.entities:
            assert 0 <= ent.start < ent.end <= len(ex.text)


def test_content_hash_is_stable_and_changes_with_the_data(tmp_path: Path) -> None:
    copy = tmp_path / "nlu"
    shutil.copytree(FIXTURE, copy)
    first = data_hash(copy)
    assert first == data_hash(copy) == load_training_data(copy).content_hash
    greet = copy / "en" / "intents.yml"
    greet.write_text(greet.read_text(encoding="utf-8") + "\n", encoding="utf-8")
    assert data_hash(copy) != first


def test_missing_or_broken_data_raises_a_clear_error(tmp_path: Path) -> None:
    with pytest.raises(TrainingDataError):
        load_training_data(tmp_path)
    (tmp_path / "en").mkdir()
    (tmp_path / "en" / "bad.yml").write_text("nlu: [\n", encoding="utf-8")
    with pytest.raises(TrainingDataError):
        load_training_data(tmp_path)
