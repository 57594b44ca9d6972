from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
from click.testing import CliRunner

from assistant.cli.main import cli
from nlu.embedder import HashingEmbedder
from nlu.pipeline import NLUPipeline

FIXTURE = Path(__file__).parents[1] / "fixtures" / "nlu"
NOW = "2026-03-04T10:00:00+01:00"


@pytest.fixture(scope="module")
def model_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    target = tmp_path_factory.mktemp("models")
    NLUPipeline(HashingEmbedder(), ner_epochs=5).train(FIXTURE, target, progress=False)
    return target


def _lines(output: str) -> list[dict[str, object]]:
    return [json.loads(line) for line in output.splitlines() if line.strip()]


def test_parse_answers_each_line_and_survives_a_malformed_one(model_dir: Path) -> None:
    stdin = "\n".join(
        [
            json.dumps({"text": "hello there"}),
            "{not json",
            json.dumps({"lang": "de"}),
            json.dumps({"text": "wie setze ich mein passwort zurück?", "lang": "de"}),
        ]
    )
    result = CliRunner().invoke(
        cli, ["nlu", "parse", "--model", str(model_dir), "--now", NOW], input=stdin + "\n"
    )
    assert result.exit_code == 0, result.output
    first, bad, no_text, last = _lines(result.stdout)
    assert first["text"] == "hello there"
    assert first["intent"] == {"name": "greet", "confidence": first["intent"]["confidence"]}  # type: ignore[index]
    assert set(first) == {"text", "intent", "intent_ranking", "entities", "language"}
    assert bad["line"] == 2 and "error" in bad
    assert no_text["line"] == 3 and "text" in str(no_text["error"])
    assert last["language"] == "de"
    assert last["intent"]["name"] == "faq"  # type: ignore[index]


def test_parse_rejects_a_bad_now(model_dir: Path) -> None:
    result = CliRunner().invoke(
        cli, ["nlu", "parse", "--model", str(model_dir), "--now", "yesterday"], input=""
    )
    assert result.exit_code == 2
    assert "ISO 8601" in result.output


@pytest.mark.slow
def test_train_skips_when_the_data_is_unchanged(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CRM_EMBEDDING_BACKEND", "hashing")
    data = tmp_path / "data"
    shutil.copytree(FIXTURE, data)
    args = ["train", "--data", str(data), "--out", str(tmp_path / "models")]
    first = CliRunner().invoke(cli, args)
    assert first.exit_code == 0, first.output
    assert "Trained NLU model" in first.stdout
    second = CliRunner().invoke(cli, args)
    assert second.exit_code == 0
    assert "up to date" in second.stdout


def test_data_dir_defaults_to_the_project_training_data() -> None:
    from assistant.cli.nlu_cmds import DEFAULT_DATA_DIR
    from assistant.settings import PROJECT_DATA

    assert DEFAULT_DATA_DIR == PROJECT_DATA
    assert (PROJECT_DATA / "nlu").is_dir()
