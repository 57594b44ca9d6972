from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from nlu.embedder import HashingEmbedder
from nlu.intent_classifier import (
    OUT_OF_SCOPE,
    ClassifierConfig,
    IntentClassifier,
    choose_threshold,
    fold_text,
    ngram_text,
    tfidf_transform,
    word_features,
)
from nlu.training_data import load_training_data

FIXTURE = Path(__file__).parents[1] / "fixtures" / "nlu"
EMBEDDER = HashingEmbedder()


def _train(config: ClassifierConfig | None = None) -> IntentClassifier:
    data = load_training_data(FIXTURE)
    texts = [ex.text for ex in data.examples]
    return IntentClassifier(config).fit(texts, [ex.intent for ex in data.examples], EMBEDDER.encode(texts))


@pytest.fixture(scope="module")
def classifier() -> IntentClassifier:
    return _train()


def _rank(clf: IntentClassifier, text: str) -> list[tuple[str, float]]:
    return [(s.name, s.confidence) for s in clf.rank([text], EMBEDDER.encode([text]))[0]]


@pytest.mark.parametrize(
    ("text", "intent"),
    [
        ("hello there", "greet"),
        ("guten morgen zusammen", "greet"),
        ("bye, see you later", "goodbye"),
        ("how do I reset my password", "faq"),
        ("wie setze ich mein passwort zurück", "faq"),
        ("tell me a joke about cats", OUT_OF_SCOPE),
    ],
)
def test_learns_both_languages(classifier: IntentClassifier, text: str, intent: str) -> None:
    assert _rank(classifier, text)[0][0] == intent


def test_ranking_is_sorted_distinct_and_probabilities(classifier: IntentClassifier) -> None:
    ranking = _rank(classifier, "just called Anna at Acme")
    names = [name for name, _ in ranking]
    scores = [score for _, score in ranking]
    assert len(names) == len(set(names)) == min(10, len(classifier.classes))
    assert scores == sorted(scores, reverse=True)
    assert all(0.0 <= s <= 1.0 for s in scores)
    assert sum(scores) == pytest.approx(1.0, abs=1e-6)


def test_below_threshold_becomes_out_of_scope() -> None:
    strict = _train(ClassifierConfig(fallback_threshold=0.99999))
    name, confidence = _rank(strict, "hello there")[0]
    assert name == OUT_OF_SCOPE
    assert confidence >= 0.99999


def test_threshold_is_tuned_within_its_cap(classifier: IntentClassifier) -> None:
    assert 0.0 <= classifier.threshold <= classifier.config.threshold_cap
    assert classifier.temperature > 0


def test_choose_threshold_keeps_accuracy_and_catches_unsure_out_of_scope() -> None:
    classes = ["greet", OUT_OF_SCOPE]
    probs = np.array([[0.9, 0.1], [0.8, 0.2], [0.35, 0.3], [0.4, 0.2]])
    labels = np.array(["greet", "greet", OUT_OF_SCOPE, OUT_OF_SCOPE])
    threshold = choose_threshold(probs, labels, classes, cap=0.5)
    assert 0.4 < threshold <= 0.5
    assert choose_threshold(probs[:2], labels[:2], classes, cap=0.5) == 0.5  # nothing to lose


def test_save_and_load_give_the_same_predictions(classifier: IntentClassifier, tmp_path: Path) -> None:
    classifier.save(tmp_path / "intent.joblib")
    loaded = IntentClassifier.load(tmp_path / "intent.joblib")
    texts = ["hallo", "please add Jane Roe from Initech"]
    embeddings = EMBEDDER.encode(texts)
    np.testing.assert_allclose(
        loaded.predict_proba(texts, embeddings), classifier.predict_proba(texts, embeddings)
    )
    assert loaded.threshold == classifier.threshold


def test_logistic_regression_is_an_alternative_estimator() -> None:
    clf = _train(ClassifierConfig(estimator="logreg", C=10.0, fallback_threshold=0.0))
    assert _rank(clf, "hello there")[0][0] == "greet"


def test_word_features_share_stems_compound_heads_and_concepts() -> None:
    visit = word_features("Kundenbesuch bei Acme")
    assert "besuch" in visit and "xvisit" in visit
    assert "xvisit" in word_features("visited Acme yesterday")
    assert "xticket" in word_features("Any news on ticket #4711?")
    assert "x0000" in word_features("Any news on ticket #4711?")


def test_fast_tfidf_equals_sklearn(classifier: IntentClassifier) -> None:
    docs = [ngram_text(t) for t in ("hello there", "Kundenbesuch bei Müller GmbH", "")]
    assert classifier._char is not None
    fast = tfidf_transform(classifier._char, docs).toarray()
    assert np.allclose(fast, classifier._char.transform(docs).toarray())


def test_fold_text_spells_out_umlauts() -> None:
    assert fold_text("Grüß Müller") == "gruess mueller"
