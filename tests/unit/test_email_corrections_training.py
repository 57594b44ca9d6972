"""``train_with_corrections``: a model trained with agents' corrections is used only when it scores no worse."""

from __future__ import annotations

import json
from pathlib import Path

import yaml

from connectors.email.model import (
    ACTIVE_FILE,
    CLASSIFIER_SUBDIR,
    load_or_train_classifier,
    train_with_corrections,
)
from nlu.email_classifier import TrainingEmail, load_labelled_mails
from nlu.embedder import HashingEmbedder

ROOT = Path(__file__).resolve().parents[2]
TRAINING = ROOT / "training_data" / "emails"
HELDOUT = ROOT / "bench" / "data" / "emails_heldout"


def small_training_set(folder: Path) -> Path:
    """Every fourth training mail of each queue: enough for the mechanics, quick to fit."""
    folder.mkdir()
    for path in sorted(TRAINING.glob("*.yml")):
        document = yaml.safe_load(path.read_text(encoding="utf-8"))
        document["emails"] = document["emails"][::4]
        (folder / path.name).write_text(yaml.safe_dump(document, allow_unicode=True), encoding="utf-8")
    return folder


def test_corrections_that_help_are_used_and_poisoned_ones_are_not(tmp_path: Path) -> None:
    data = small_training_set(tmp_path / "emails")
    models = tmp_path / "models"
    embedder = HashingEmbedder()
    heldout: list[TrainingEmail] = load_labelled_mails(HELDOUT)

    # poisoned: the held-out mails themselves, every one labelled "other"/"low" -> scores worse, not used
    poisoned = [(mail, "other", "low", language) for mail, _, _, language in heldout]
    outcome = train_with_corrections(models, data, embedder, poisoned, HELDOUT)
    assert not outcome.used and outcome.corrections == len(poisoned)
    assert sum(outcome.new.values()) < sum(outcome.old.values())
    assert not (models / CLASSIFIER_SUBDIR / ACTIVE_FILE).exists()

    # corrections agreeing with what people decided: no worse on the held-out mails -> used from now on
    outcome = train_with_corrections(models, data, embedder, heldout, HELDOUT)
    assert outcome.used
    pointer = json.loads((models / CLASSIFIER_SUBDIR / ACTIVE_FILE).read_text())
    assert pointer["corrections"] == len(heldout) and pointer["new"] == outcome.new
    active = load_or_train_classifier(models, data, embedder)
    mail, queue, _, _ = heldout[0]
    assert active.predict(mail).queue == queue

    # new training data: the corrections model was trained on the old data and is no longer used
    (data / "extra.yml").write_text(
        yaml.safe_dump({"emails": [{"queue": "other", "priority": "low", "language": "en",
                                    "headers": {"Subject": "hello"}, "body": "just saying hello"}]}),
        encoding="utf-8",
    )  # fmt: skip
    assert load_or_train_classifier(models, data, embedder) is not None
    assert (models / CLASSIFIER_SUBDIR / ACTIVE_FILE).exists()  # kept on disk, but not matching this data
