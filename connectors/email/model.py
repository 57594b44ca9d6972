"""The e-mail classifier for the triage: trained from ``training_data/emails`` once, then cached.

    classifier = load_or_train_classifier(model_dir, data_dir, embedder)

The cache file is named by a hash of the training data and the embedding model, so changed data
retrains by itself; only the scikit-learn parts are stored (``EmailClassifier.save``).
"""

from __future__ import annotations

import hashlib
import logging
from collections.abc import Callable
from pathlib import Path

from nlu.email_classifier import EmailClassifier, load_training_emails
from nlu.embedder import Embedder

log = logging.getLogger(__name__)

CLASSIFIER_SUBDIR = "email"


class ClassifierDataError(ValueError):
    """The e-mail training data is missing or unreadable."""


def classifier_data_hash(data_dir: Path, embedder: Embedder) -> str:
    from nlu.gloss_de import fingerprint  # German mail is embedded through the gloss

    digest = hashlib.sha256(getattr(embedder, "name", type(embedder).__name__).encode())
    digest.update(fingerprint().encode())
    for item in sorted(data_dir.glob("*.yml")):
        digest.update(item.name.encode())
        digest.update(item.read_bytes())
    return digest.hexdigest()[:16]


def load_or_train_classifier(
    model_dir: Path, data_dir: Path, embedder: Embedder, *, say: Callable[[str], object] | None = None
) -> EmailClassifier:
    """The cached classifier for this data and embedder, trained (and cached) when there is none."""
    tell = say or log.warning
    try:
        path = model_dir / CLASSIFIER_SUBDIR / f"classifier-{classifier_data_hash(data_dir, embedder)}.joblib"
    except OSError as exc:
        raise ClassifierDataError(f"cannot read e-mail training data in {data_dir}: {exc}") from exc
    if path.exists():
        try:
            return EmailClassifier.load(path, embedder)
        except (ValueError, OSError, EOFError):
            tell(f"Ignoring unreadable e-mail model {path}; retraining.")
    training = load_training_emails(data_dir)
    if not training:
        raise ClassifierDataError(f"no e-mail training data in {data_dir}")
    tell(f"Training the e-mail classifier from {len(training)} mails in {data_dir}...")
    classifier = EmailClassifier(embedder).fit(
        [t[0] for t in training], [t[1] for t in training], [t[2] for t in training]
    )
    tmp = path.with_suffix(".tmp")
    classifier.save(tmp)
    tmp.replace(path)
    return classifier


__all__ = ["CLASSIFIER_SUBDIR", "ClassifierDataError", "classifier_data_hash", "load_or_train_classifier"]
