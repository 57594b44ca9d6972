from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from nlu.email_classifier import (
    EmailClassifier,
    apply_priority_cues,
    load_training_emails,
)
from nlu.email_text import ParsedMail, parse_mail, parse_mail_dict
from nlu.embedder import Embedder, HashingEmbedder, get_embedder
from nlu.types import PRIORITIES, QUEUES

ROOT = Path(__file__).resolve().parents[2]
TRAINING = ROOT / "training_data" / "emails"
HELDOUT = ROOT / "bench" / "data" / "emails_heldout"
FIXTURES = ROOT / "tests" / "fixtures" / "mail"


def train(embedder: Embedder) -> EmailClassifier:
    data = load_training_emails(TRAINING)
    return EmailClassifier(embedder).fit([d[0] for d in data], [d[1] for d in data], [d[2] for d in data])


@pytest.fixture(scope="module")
def hashing_classifier() -> EmailClassifier:
    """Every third training mail and hashed n-grams: tests the mechanics, not the accuracy, in seconds."""
    data = load_training_emails(TRAINING)[::3]
    return EmailClassifier(HashingEmbedder()).fit(
        [d[0] for d in data], [d[1] for d in data], [d[2] for d in data]
    )


def unseen(
    subject: str, body: str, sender: str = "Kim Meyer <kim.meyer@meyer-werkstatt.example>"
) -> ParsedMail:
    return parse_mail_dict({"From": sender, "Subject": subject}, body)


def test_training_data_covers_the_contract() -> None:
    data = load_training_emails(TRAINING)
    by_queue = {q: [d for d in data if d[1] == q] for q in QUEUES}
    assert all(len(rows) >= 30 for rows in by_queue.values()), {q: len(r) for q, r in by_queue.items()}
    for queue, rows in by_queue.items():
        languages = [d[3] for d in rows]
        assert 0.4 <= languages.count("de") / len(rows) <= 0.6, queue
    priorities = [d[2] for d in data]
    assert all(priorities.count(p) >= 10 for p in PRIORITIES)
    bodies = [d[0].text for d in data]
    assert len(set(bodies)) == len(bodies)


def test_heldout_is_disjoint_from_training() -> None:
    train_texts = {d[0].text for d in load_training_emails(TRAINING)}
    heldout = load_training_emails(HELDOUT)
    assert len(heldout) == 10 * len(QUEUES)
    assert not train_texts & {d[0].text for d in heldout}


def test_unknown_labels_are_rejected(tmp_path: Path) -> None:
    (tmp_path / "x.yml").write_text(
        'version: "1"\nemails:\n- {queue: invoices, priority: normal, language: en, headers: {}, body: hi}\n'
    )
    with pytest.raises(ValueError, match="invoices"):
        load_training_emails(tmp_path)


def test_automatic_mail_skips_the_model(hashing_classifier: EmailClassifier) -> None:
    label = hashing_classifier.predict(parse_mail((FIXTURES / "dsn_bounce.eml").read_bytes()))
    assert (label.queue, label.priority, label.automatic, label.confidence) == (
        "auto_reply",
        "low",
        "bounce",
        1.0,
    )
    ooo = hashing_classifier.predict(parse_mail((FIXTURES / "ooo_no_headers.eml").read_bytes()))
    assert (ooo.queue, ooo.automatic, ooo.language) == ("auto_reply", "auto_reply", "de")


def test_label_shape(hashing_classifier: EmailClassifier) -> None:
    label = hashing_classifier.predict(parse_mail((FIXTURES / "windows1252.eml").read_bytes()))
    assert label.queue in QUEUES and label.priority in PRIORITIES
    assert label.language == "de"
    assert label.automatic is None
    assert label.queue_ranking[0][0] == label.queue
    # calibrated: a monotone function of the model's top probability, not the probability itself
    assert 0.0 < label.confidence < 1.0
    assert label.confidence == pytest.approx(
        hashing_classifier.calibrated("queue", label.queue_ranking[0][1])
    )
    assert sum(p for _, p in label.queue_ranking) == pytest.approx(1.0)
    assert set(label.to_dict()) >= {"queue", "priority", "language", "confidence"}


def test_save_and_load_round_trip(hashing_classifier: EmailClassifier, tmp_path: Path) -> None:
    path = tmp_path / "email" / "model.joblib"
    hashing_classifier.save(path)
    loaded = EmailClassifier.load(path, HashingEmbedder())
    mails = [d[0] for d in load_training_emails(HELDOUT)[::7]]
    assert [label.queue_ranking for label in loaded.predict_many(mails)] == [
        label.queue_ranking for label in hashing_classifier.predict_many(mails)
    ]
    with pytest.raises(ValueError, match="dimensions"):
        EmailClassifier.load(path, HashingEmbedder(dimension=64))


def test_untrained_classifier_refuses() -> None:
    with pytest.raises(RuntimeError):
        EmailClassifier(HashingEmbedder()).predict(unseen("x", "y"))


def test_priority_cues_add_to_the_model_instead_of_overriding() -> None:
    probs = {"low": 0.1, "normal": 0.7, "high": 0.1, "urgent": 0.1}
    cued = apply_priority_cues("Seit 6 Uhr Systemausfall, nichts geht", probs)
    assert max(cued, key=cued.__getitem__) == "urgent"
    assert sum(cued.values()) == pytest.approx(1.0)
    confident = apply_priority_cues(
        "data loss? no, just a question", {"low": 0.95, "normal": 0.03, "high": 0.01, "urgent": 0.01}
    )
    assert max(confident, key=confident.__getitem__) == "low"  # a cue alone does not beat a sure model
    assert apply_priority_cues("nothing special", probs) == pytest.approx(probs)


def test_embedding_chunks_long_mails(hashing_classifier: EmailClassifier) -> None:
    short = unseen("Rechnung", "Bitte Rechnung korrigieren.")
    long = unseen("Rechnung", "Bitte Rechnung korrigieren. " + "Weitere Details zur Buchung. " * 400)
    vectors = hashing_classifier.embed([short, long])
    assert vectors.shape[0] == 2
    assert np.allclose(np.linalg.norm(vectors, axis=1), 1.0, atol=1e-5)


UNSEEN: list[tuple[str, str, str, str]] = [
    (
        "Rechnung falsch",
        "Hallo, auf der Rechnung vom März wurden 30 statt 20 Lizenzen berechnet. Bitte korrigieren Sie das.",
        "billing",
        "de",
    ),
    (
        "Refund please",
        "You charged my card twice for the March invoice. Please refund the duplicate payment.",
        "billing",
        "en",
    ),
    (
        "Passwort vergessen",
        "Ich habe mein Passwort vergessen und die Mail zum Zurücksetzen kommt nicht an.",
        "account",
        "de",
    ),
    (
        "Angebot für 25 Lizenzen",
        "Wir interessieren uns für Ihr CRM und hätten gern ein Angebot für 25 Benutzer inklusive Schulung.",
        "sales",
        "de",
    ),
    (
        "Cancel our contract",
        "We would like to cancel our subscription at the end of the current term. Please confirm.",
        "cancellation",
        "en",
    ),
    (
        "Datenauskunft",
        "Gemäß Art. 15 DSGVO bitte ich um Auskunft über alle zu meiner Person gespeicherten Daten.",
        "privacy",
        "de",
    ),
    (
        "Your account will be suspended",
        "Verify your password within 24 hours here: http://secure-login-verify.top/account",
        "spam",
        "en",
    ),
    (
        "API error 500",
        "Since this morning every call to the orders endpoint returns HTTP 500 and our integration fails.",
        "technical",
        "en",
    ),
]


@pytest.mark.slow
def test_sentence_transformer_classifier_on_unseen_mails() -> None:
    classifier = train(get_embedder())
    labels = classifier.predict_many([unseen(s, b) for s, b, _, _ in UNSEEN])
    assert [(label.queue, label.language) for label in labels] == [(q, lang) for _, _, q, lang in UNSEEN]
    urgent = classifier.predict(
        unseen(
            "Production down", "Our whole production is down since 7am, nobody can work. Please call us now!"
        )
    )
    assert urgent.priority == "urgent"
    question = classifier.predict(
        unseen("Frage", "Kann man die Farbe der Oberfläche ändern? Nur eine Idee, eilt nicht.")
    )
    assert question.priority == "low"
