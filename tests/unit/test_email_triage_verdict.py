"""No mail is dropped on a guess (issue 17), and the held-out format bench.triage reads."""

from __future__ import annotations

from pathlib import Path

import pytest

from connectors.email.routing import Router
from connectors.email.triage import verdict
from nlu.email_classifier import EmailLabel, calibration, confusion, load_labelled_mails

ROUTER = Router(review_below=0.5, drop_above=0.97)


def label(queue: str, confidence: float, **extra: object) -> EmailLabel:
    ranking = [
        (queue, confidence),
        ("technical", (1 - confidence) * 0.6),
        ("billing", (1 - confidence) * 0.4),
    ]
    return EmailLabel(
        queue=queue, priority="low", language="de", confidence=confidence, queue_ranking=ranking, **extra
    )  # type: ignore[arg-type]


def test_header_evidence_drops_at_any_confidence() -> None:
    decided = verdict(label("auto_reply", 1.0, automatic="auto_reply", evidence="header"), ROUTER)
    assert decided.drop and decided.review is None


def test_wording_alone_is_kept_as_a_ticket_for_a_person() -> None:
    decided = verdict(label("auto_reply", 1.0, automatic="auto_reply", evidence="content"), ROUTER)
    assert not decided.drop and decided.queue == "other"
    assert decided.review is not None and "no header says so" in decided.review


@pytest.mark.parametrize("queue", ["spam", "auto_reply"])
def test_the_model_alone_drops_only_when_very_sure(queue: str) -> None:
    assert verdict(label(queue, 0.99), ROUTER).drop
    unsure = verdict(label(queue, 0.23), ROUTER)  # the example: auto_reply at 0.23, no ticket
    assert not unsure.drop and unsure.queue == "technical" and unsure.review is not None


def test_low_confidence_goes_to_a_person_with_the_reason() -> None:
    decided = verdict(label("billing", 0.41), ROUTER)
    assert not decided.drop and decided.queue == "billing"
    assert decided.review is not None and "unsure of the queue" in decided.review
    assert verdict(label("billing", 0.8), ROUTER).review is None


def test_labels_csv_with_eml_files(tmp_path: Path) -> None:
    (tmp_path / "a.eml").write_bytes(b"From: a@b.de\r\nSubject: AW: Rechnung\r\n\r\nkomme nicht rein\r\n")
    (tmp_path / "labels.csv").write_text("file,queue,priority,language\na.eml,account,high,de\n")
    [(mail, queue, priority, language)] = load_labelled_mails(tmp_path)
    assert (mail.subject, queue, priority, language) == ("AW: Rechnung", "account", "high", "de")
    assert load_labelled_mails(tmp_path / "labels.csv")[0][1] == "account"
    (tmp_path / "labels.csv").write_text("file,queue,priority,language\na.eml,nonsense,high,de\n")
    with pytest.raises(ValueError, match="line 2"):
        load_labelled_mails(tmp_path)


def test_confusion_and_calibration_figures() -> None:
    matrix = confusion(["a", "a", "b"], ["a", "b", "b"], ["a", "b"])
    assert matrix == {"labels": ["a", "b"], "rows": [[1, 1], [0, 1]]}
    figures = calibration([0.9, 0.9, 0.3, 0.3], [True, True, False, True])
    assert figures["ece"] == pytest.approx(0.5 * 0.1 + 0.5 * 0.2)
    assert [b["n"] for b in figures["bins"]] == [2, 2]
