"""Out-of-scope detection: similarity to the training sentences, threshold chosen on a validation split."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import numpy as np

from nlu.embedder import HashingEmbedder
from nlu.intent_classifier import OUT_OF_SCOPE, ClassifierConfig, IntentClassifier, choose_oos_threshold
from nlu.training_data import load_training_data

FIXTURE = Path(__file__).parents[1] / "fixtures" / "nlu"
EMBEDDER = HashingEmbedder()


def test_threshold_keeps_in_scope_accuracy_and_maximises_oos_recall() -> None:
    labels = np.array(["a", "a", "b", "b", "oos", "oos"])
    predicted = np.array(["a", "a", "b", "a", "a", "b"])
    scores = np.array([0.9, 0.8, 0.7, 0.3, 0.2, 0.75])
    # no drop allowed: only the lowest scores (one oos) may go; rejecting the 0.75 oos costs the right 0.7 "b"
    assert choose_oos_threshold(scores, predicted, labels, oos_label="oos", max_drop=0.0) == 0.3
    # a drop of one in four allowed: both oos go
    assert choose_oos_threshold(scores, predicted, labels, oos_label="oos", max_drop=0.25) == 0.8


def test_similarity_makes_unfamiliar_questions_less_in_scope() -> None:
    data = load_training_data(FIXTURE)
    texts = [ex.text for ex in data.examples]
    labels = [ex.intent for ex in data.examples]
    config = replace(ClassifierConfig(), oos_similarity_weight=1.0, fallback_threshold=0.0)
    clf = IntentClassifier(config).fit(texts, labels, EMBEDDER.encode(texts), tune_threshold=False)
    known, unknown = texts[0], "qwxz vbnm plokij uhygtf"
    embeddings = EMBEDDER.encode([known, unknown])
    probs = clf.predict_proba([known, unknown], embeddings)
    plain = IntentClassifier(replace(config, oos_similarity_weight=0.0))
    plain._knn_ref = clf._knn_ref
    scores = clf.in_scope_scores(probs, embeddings)
    assert scores[0] - probs[0].max() > scores[1] - probs[1].max()  # the known sentence gains more
    assert np.allclose(plain.in_scope_scores(probs, embeddings), probs.max(axis=1))
    clf.threshold = float((scores[0] + scores[1]) / 2)
    ranked = clf.rank([known, unknown], embeddings)
    assert ranked[0][0].name != OUT_OF_SCOPE and ranked[1][0].name == OUT_OF_SCOPE
