from __future__ import annotations

import json
from datetime import datetime
from pathlib import Path

import pytest

from nlu import model_store
from nlu.embedder import HashingEmbedder
from nlu.gazetteer import InMemoryGazetteer
from nlu.pipeline import NLUPipeline
from nlu.training_data import data_hash, load_training_data
from nlu.types import INTENTS

FIXTURE = Path(__file__).parents[1] / "fixtures" / "nlu"
NOW = datetime.fromisoformat("2026-03-04T10:00:00+01:00")


@pytest.fixture(scope="module")
def trained(tmp_path_factory: pytest.TempPathFactory) -> tuple[NLUPipeline, Path]:
    model_dir = tmp_path_factory.mktemp("models")
    pipeline = NLUPipeline(HashingEmbedder(), ner_epochs=8)
    pipeline.train(FIXTURE, model_dir, progress=False)
    return pipeline, model_dir


def test_parse_has_exactly_the_contract_shape(trained: tuple[NLUPipeline, Path]) -> None:
    pipeline, _ = trained
    out = json.loads(json.dumps(pipeline.parse("log a call with Jane Roe from Globex", now=NOW).to_dict()))
    assert set(out) == {"text", "intent", "intent_ranking", "entities", "language"}
    assert set(out["intent"]) == {"name", "confidence"}
    assert out["intent"] == out["intent_ranking"][0]
    assert out["intent"]["name"] in INTENTS
    assert 1 <= len(out["intent_ranking"]) <= 10
    assert len({r["name"] for r in out["intent_ranking"]}) == len(out["intent_ranking"])
    assert out["language"] in ("en", "de")
    for entity in out["entities"]:
        assert {"entity", "value", "start", "end", "extractor"} <= set(entity)
        assert set(entity) <= {"entity", "value", "start", "end", "extractor", "confidence_entity"}
        assert out["text"][entity["start"] : entity["end"]]


def test_language_hint_decides_when_the_text_does_not(trained: tuple[NLUPipeline, Path]) -> None:
    pipeline, _ = trained
    assert pipeline.parse("ok", lang="de").language == "de"
    assert pipeline.parse("ok", lang="en").language == "en"
    assert pipeline.parse("wie setze ich mein Passwort zurück?").language == "de"


@pytest.mark.parametrize(
    "text",
    [
        "",
        "   ",
        "🙂🙂🙂",
        "x" * 100_000,
        "\x00\x07hello\x1b[31m",
        "\ud800broken",
        "Hallo, can you add Jane Roe bitte?",
    ],
)
def test_bad_input_never_crashes(trained: tuple[NLUPipeline, Path], text: str) -> None:
    pipeline, _ = trained
    result = pipeline.parse(text, now=NOW)
    assert result.text == text
    json.dumps(result.to_dict())  # serialisable
    assert result.intent.name in INTENTS


@pytest.mark.parametrize("text", ["", "🙂🙂", "?!"])
def test_nothing_to_understand_is_out_of_scope(trained: tuple[NLUPipeline, Path], text: str) -> None:
    pipeline, _ = trained
    assert pipeline.parse(text).intent.name == "out_of_scope"


def test_batch_equals_single_parses(trained: tuple[NLUPipeline, Path]) -> None:
    pipeline, _ = trained
    texts = ["hello there", "wie setze ich mein passwort zurück?", "add Jane Roe, CTO at Initech"]
    batch = pipeline.parse_batch(texts, now=NOW)
    single = [pipeline.parse(t, now=NOW) for t in texts]
    assert [b.to_dict() for b in batch] == [s.to_dict() for s in single]
    assert pipeline.parse_batch([]) == []


def test_gazetteer_entities_are_merged(trained: tuple[NLUPipeline, Path]) -> None:
    pipeline, _ = trained
    gazetteer = InMemoryGazetteer([("person", "Jürgen Müller")])
    result = pipeline.parse("called juergen mueller today", now=NOW, gazetteer=gazetteer)
    person = result.first("person")
    assert person is not None
    assert (person.value, person.extractor, person.start, person.end) == ("Jürgen Müller", "gazetteer", 7, 22)


def test_saved_model_loads_and_answers_the_same(trained: tuple[NLUPipeline, Path]) -> None:
    pipeline, model_dir = trained
    meta = model_store.read_metadata(model_dir)
    assert meta is not None and meta.embedding_model == "hashing"
    assert model_store.is_current(model_dir, data_hash(FIXTURE))
    assert not model_store.is_current(model_dir, "something else")
    loaded = NLUPipeline.load(model_dir)
    text = "bye, see you tomorrow"
    assert loaded.parse(text, now=NOW).to_dict() == pipeline.parse(text, now=NOW).to_dict()


def test_load_without_model_fails_clearly(tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError):
        NLUPipeline.load(tmp_path)


def test_untrained_pipeline_refuses_to_parse() -> None:
    with pytest.raises(RuntimeError):
        NLUPipeline(HashingEmbedder()).parse("hello")


def test_fit_in_memory_matches_training_data_languages() -> None:
    pipeline = NLUPipeline(HashingEmbedder(), ner_epochs=2).fit(load_training_data(FIXTURE))
    assert pipeline.languages == ["de", "en"]
