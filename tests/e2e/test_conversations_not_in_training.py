"""The conversation suites are written apart from the training data: none of their sentences is a training example."""

from __future__ import annotations

import re
from pathlib import Path

from nlu.training_data import load_training_data
from tests.e2e import test_conversations_customers, test_conversations_staff
from tests.e2e.conversations import sentences

ROOT = Path(__file__).resolve().parents[2]
SUITES = (test_conversations_staff.CONVERSATIONS, test_conversations_customers.CONVERSATIONS)


def _norm(text: str) -> str:
    return re.sub(r"\s+", " ", re.sub(r"[^\w\s]", " ", text.lower())).strip()


def test_at_least_sixty_conversations() -> None:
    assert sum(len(s) for s in SUITES) >= 60


def test_no_conversation_sentence_is_in_the_training_data() -> None:
    examples = {_norm(ex.text) for ex in load_training_data(ROOT / "training_data").examples}
    said = {_norm(s) for suite in SUITES for s in sentences(suite)}
    # one-word replies ("yes", "ja", "cancel") are how everyone answers; whole sentences must be our own
    overlap = sorted(s for s in said if len(s.split()) >= 3 and s in examples)
    assert not overlap, f"conversation sentences found in training_data/: {overlap}"
