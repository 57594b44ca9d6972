from __future__ import annotations

from pathlib import Path

import pytest

from nlu.gazetteer import InMemoryGazetteer
from nlu.ner import EntityRecognizer
from nlu.training_data import load_training_data

FIXTURE = Path(__file__).parents[1] / "fixtures" / "nlu"


@pytest.fixture(scope="module")
def recognizer() -> EntityRecognizer:
    return EntityRecognizer().train(load_training_data(FIXTURE).examples, epochs=15)


def _found(recognizer: EntityRecognizer, text: str, lang: str) -> set[tuple[str, str]]:
    return {(e.entity, e.value) for e in recognizer.extract(text, lang)}


def test_finds_persons_and_organisations_it_was_trained_on(recognizer: EntityRecognizer) -> None:
    found = _found(recognizer, "log a call with Jane Roe from Globex", "en")
    assert ("person", "Jane Roe") in found
    assert ("organization", "Globex") in found
    german = _found(recognizer, "hab grad mit Anna Schmidt von der Acme telefoniert", "de")
    assert ("person", "Anna Schmidt") in german


def test_offsets_and_extractor(recognizer: EntityRecognizer) -> None:
    text = "add Jane Roe, CTO at Initech"
    for entity in recognizer.extract(text, "en"):
        assert text[entity.start : entity.end] == entity.value
        assert entity.extractor == "ner"


def test_unknown_language_falls_back_and_odd_input_is_fine(recognizer: EntityRecognizer) -> None:
    assert isinstance(recognizer.extract("ciao Anna Schmidt", "it"), list)
    assert recognizer.extract("", "en") == []
    assert recognizer.extract_batch(["🙂", "x" * 20000], ["en", "de"])[0] == []


def test_save_and_load(recognizer: EntityRecognizer, tmp_path: Path) -> None:
    recognizer.save(tmp_path)
    loaded = EntityRecognizer.load(tmp_path)
    text = "log a call with Jane Roe from Globex"
    assert loaded.extract(text, "en") == recognizer.extract(text, "en")


@pytest.fixture
def gazetteer() -> InMemoryGazetteer:
    return InMemoryGazetteer(
        [
            ("person", "Jürgen Müller"),
            ("person", "Björn Weiß"),
            ("organization", "Initech"),
            ("person", "Ann Lee"),
        ]
    )


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("called juergen mueller today", "Jürgen Müller"),
        ("called Jurgen Muller today", "Jürgen Müller"),
        ("meeting with bjoern weiss", "Björn Weiß"),
        ("send the quote to Inittech", "Initech"),  # typo
    ],
)
def test_gazetteer_finds_oddly_written_names(gazetteer: InMemoryGazetteer, text: str, expected: str) -> None:
    (entity,) = gazetteer.find(text)
    assert entity.value == expected
    assert entity.extractor == "gazetteer"
    assert entity.text == text[entity.start : entity.end]
    assert 0.85 <= (entity.confidence or 0) <= 1.0


def test_gazetteer_ignores_short_words_and_unknown_names(gazetteer: InMemoryGazetteer) -> None:
    assert gazetteer.find("an apple and a pear from Globex") == []
    assert gazetteer.find("") == []


def test_function_words_are_not_names(recognizer: EntityRecognizer) -> None:
    for text in ("How does the pipeline look", "Please delete all my data", "Any news on ticket #4711?"):
        assert not [e for e in recognizer.extract(text, "en") if e.entity == "person"], text


def test_worker_processes_train_the_same_models_as_one_process() -> None:
    from nlu.ner import _balanced, _train_in_processes, train_spacy_ner

    by_lang: dict[str, list] = {}
    for ex in load_training_data(FIXTURE).examples:
        by_lang.setdefault(ex.language, []).append(ex)
    by_lang = {lang: _balanced(items, 0) for lang, items in by_lang.items()}
    parallel = _train_in_processes(by_lang, epochs=2, seed=0)
    assert set(parallel) == set(by_lang)
    here = train_spacy_ner("en", by_lang["en"], epochs=2, seed=0)
    text = "log a call with Jane Roe from Globex"
    assert [(e.label_, e.text) for e in parallel["en"](text).ents] == [
        (e.label_, e.text) for e in here(text).ents
    ]


def test_a_failing_worker_falls_back_to_training_here(monkeypatch: pytest.MonkeyPatch) -> None:
    from nlu import ner

    examples = [ex for ex in load_training_data(FIXTURE).examples if ex.language == "en"]
    monkeypatch.setattr(ner.sys, "executable", "/bin/false")  # every worker exits 1 at once
    models = ner._train_in_processes({"en": ner._balanced(examples, 0)}, epochs=1, seed=0)
    assert set(models) == {"en"} and "ner" in models["en"].pipe_names
