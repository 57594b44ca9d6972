"""Inbound e-mail triage: queue, priority and language (contract §3).

The pipeline for one mail:

1. ``detect_automatic`` (headers, then phrases): bounces, out-of-office and bulk mail go to
   ``auto_reply`` with priority ``low`` without asking a model.
2. Features from the subject and the new text (quotes and signature removed): a sentence embedding
   (long text in chunks, the first chunk weighted double) next to TF-IDF character n-grams.
3. One logistic regression per head (queue, priority); a few reliable priority cues
   ("production down", "Datenverlust", ...) add probability to their class instead of overriding it.
4. Language from ``detect_language``.

Only the scikit-learn parts are saved; the encoder is injected again on ``load``.
"""

from __future__ import annotations

import re
import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import joblib
import numpy as np
import yaml
from scipy import sparse
from sklearn.feature_extraction.text import TfidfVectorizer
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import FeatureUnion

from nlu.email_autoreply import detect_automatic, is_no_reply_address
from nlu.email_text import ParsedMail, parse_mail_dict
from nlu.embedder import Embedder
from nlu.gloss_de import encoder_text
from nlu.language import detect_language
from nlu.types import PRIORITIES, QUEUES

FORMAT_VERSION = 2  # 2: German mail embedded through the gloss (nlu.gloss_de)
CHUNK_CHARS = 600  # ~128 word pieces: what the encoder reads before it truncates
MAX_CHUNKS = 4
EMBEDDING_WEIGHT = 1.0  # scales the dense block against the (L2-normalised) TF-IDF block
CUE_WEIGHT = 0.75  # probability mass the strongest matching priority cue adds before renormalising
NO_TICKET_QUEUES = frozenset({"auto_reply", "spam"})

TrainingEmail = tuple[ParsedMail, str, str, str]  # mail, queue, priority, language
LanguageDetector = Callable[[str], str]

# Phrases that mean the same priority whoever writes them; the model still has its say.
PRIORITY_CUES: dict[str, re.Pattern[str]] = {
    "urgent": re.compile(
        r"production (?:is )?down|\bdown in production|complete(?:ly)? (?:down|standstill|outage)|"
        r"security (?:incident|breach)|data (?:loss|breach)|\bdata leak|lost (?:all )?(?:our )?data|"
        r"systemausfall|produktionsausfall|komplett ausgefallen|totalausfall|stillstand|"
        r"sicherheitsvorfall|datenverlust|datenpanne|datenleck|unbefugte[rn]? zugriff",
        re.IGNORECASE,
    ),
    "high": re.compile(
        r"\bescalat|\blocked out\b|can(?:no|')t (?:log ?in|work|access)|nobody can|"
        r"\bblocked\b|\blawyer\b|chargeback|legal action|final (?:notice|reminder)|"
        r"eskalation|gesperrt|kommen? nicht (?:mehr )?(?:rein|weiter)|anwalt|inkasso|fristsetzung|"
        r"letzte frist|außerordentlich|fristlos",
        re.IGNORECASE,
    ),
}


@dataclass(frozen=True, slots=True)
class EmailLabel:
    queue: str
    priority: str
    language: str
    confidence: float  # probability of ``queue``
    queue_ranking: list[tuple[str, float]] = field(default_factory=list)
    automatic: str | None = None  # ``detect_automatic``'s verdict
    priority_confidence: float = 1.0

    def to_dict(self) -> dict[str, Any]:
        return {
            "queue": self.queue,
            "priority": self.priority,
            "language": self.language,
            "confidence": round(self.confidence, 4),
            "queue_ranking": [{"name": q, "confidence": round(p, 4)} for q, p in self.queue_ranking],
            "automatic": self.automatic,
        }


class EmailClassifier:
    """Queue and priority heads over embeddings + character n-grams; see the module docstring."""

    def __init__(self, embedder: Embedder, *, language_detector: LanguageDetector | None = None) -> None:
        self.embedder = embedder
        self.detect_language: LanguageDetector = language_detector or _detect_language
        self._tfidf: FeatureUnion | None = None
        self._queue_model: LogisticRegression | None = None
        self._priority_model: LogisticRegression | None = None

    @property
    def is_trained(self) -> bool:
        return self._queue_model is not None

    # --- training --------------------------------------------------------------------------

    def fit(
        self,
        mails: Sequence[ParsedMail],
        queues: Sequence[str],
        priorities: Sequence[str],
        *,
        embeddings: np.ndarray | None = None,
    ) -> EmailClassifier:
        """Train both heads. ``embeddings`` (from ``embed``) may be passed to skip encoding again."""
        if not (len(mails) == len(queues) == len(priorities)) or not mails:
            raise ValueError("fit needs the same, non-zero number of mails, queues and priorities")
        _check_labels(queues, QUEUES, "queue")
        _check_labels(priorities, PRIORITIES, "priority")
        dense = self.embed(mails) if embeddings is None else embeddings
        self._tfidf = _ngram_features()
        tfidf = self._tfidf.fit_transform([_model_text(m) for m in mails])
        features = _combine(dense, tfidf)
        self._queue_model = _logreg().fit(features, list(queues))
        self._priority_model = _logreg().fit(features, list(priorities))
        return self

    def embed(self, mails: Sequence[ParsedMail]) -> np.ndarray:
        """One unit-length vector per mail: chunk embeddings averaged, the first chunk twice."""
        chunked = [_chunks(m) for m in mails]
        # The English-only encoder reads German mail through the word-by-word gloss (nlu.gloss_de).
        languages = [self._language(m) for m in mails]
        flat = [
            encoder_text(c, lang) for chunks, lang in zip(chunked, languages, strict=True) for c in chunks
        ]
        vectors = self.embedder.encode(flat) if flat else np.zeros((0, 0), dtype=np.float32)
        rows: list[np.ndarray] = []
        offset = 0
        for chunks in chunked:
            block = vectors[offset : offset + len(chunks)]
            offset += len(chunks)
            weights = np.ones(len(chunks), dtype=np.float32)
            weights[0] = 2.0
            mean = (block * weights[:, None]).sum(axis=0)
            rows.append(mean / max(float(np.linalg.norm(mean)), 1e-12))
        return np.vstack(rows).astype(np.float32)

    # --- prediction ------------------------------------------------------------------------

    def predict(self, mail: ParsedMail) -> EmailLabel:
        return self.predict_many([mail])[0]

    def predict_many(
        self, mails: Sequence[ParsedMail], *, embeddings: np.ndarray | None = None
    ) -> list[EmailLabel]:
        """Labels for several mails; the encoder runs once over all of them."""
        if self._queue_model is None or self._priority_model is None or self._tfidf is None:
            raise RuntimeError("EmailClassifier is not trained; call fit() or load() first")
        automatic = [detect_automatic(m) for m in mails]
        todo = [i for i, verdict in enumerate(automatic) if verdict is None]
        labels: dict[int, EmailLabel] = {}
        for i, verdict in enumerate(automatic):
            if verdict is not None:
                labels[i] = EmailLabel(
                    queue="auto_reply",
                    priority="low",
                    language=self._language(mails[i]),
                    confidence=1.0,
                    queue_ranking=[("auto_reply", 1.0)],
                    automatic=verdict,
                )
        if todo:
            subset = [mails[i] for i in todo]
            dense = self.embed(subset) if embeddings is None else embeddings[todo]
            features = _combine(dense, self._tfidf.transform([_model_text(m) for m in subset]))
            queue_probs = self._queue_model.predict_proba(features)
            priority_probs = self._priority_model.predict_proba(features)
            for row, i in enumerate(todo):
                labels[i] = self._label(mails[i], queue_probs[row], priority_probs[row])
        return [labels[i] for i in range(len(mails))]

    def _label(self, mail: ParsedMail, queue_probs: np.ndarray, priority_probs: np.ndarray) -> EmailLabel:
        assert self._queue_model is not None and self._priority_model is not None
        queue_names = [str(c) for c in self._queue_model.classes_]
        ranking = sorted(zip(queue_names, (float(p) for p in queue_probs), strict=True), key=lambda x: -x[1])
        queue, confidence = ranking[0]
        priority_names = [str(c) for c in self._priority_model.classes_]
        adjusted = apply_priority_cues(
            _model_text(mail), dict(zip(priority_names, priority_probs, strict=True))
        )
        priority, priority_confidence = max(adjusted.items(), key=lambda x: x[1])
        if queue in NO_TICKET_QUEUES:
            priority, priority_confidence = "low", 1.0
        return EmailLabel(
            queue=queue,
            priority=priority,
            language=self._language(mail),
            confidence=confidence,
            queue_ranking=ranking,
            automatic=None,
            priority_confidence=float(priority_confidence),
        )

    def _language(self, mail: ParsedMail) -> str:
        return self.detect_language(f"{mail.subject}\n{mail.new_text or mail.text}"[:2000])

    # --- persistence -----------------------------------------------------------------------

    def save(self, path: Path) -> None:
        """Write the trained scikit-learn parts (not the encoder) to ``path``."""
        if not self.is_trained:
            raise RuntimeError("nothing to save: the classifier is not trained")
        path.parent.mkdir(parents=True, exist_ok=True)
        state = {
            "format": FORMAT_VERSION,
            "embedder": getattr(self.embedder, "name", ""),
            "dimension": int(self._queue_model.n_features_in_ - _ngram_count(self._tfidf)),  # type: ignore[union-attr,arg-type]
            "tfidf": self._tfidf,
            "queue_model": self._queue_model,
            "priority_model": self._priority_model,
        }
        joblib.dump(state, path)

    @classmethod
    def load(
        cls, path: Path, embedder: Embedder, *, language_detector: LanguageDetector | None = None
    ) -> EmailClassifier:
        """A classifier saved by ``save``; ``embedder`` must produce vectors of the saved size."""
        state = joblib.load(path)
        if not isinstance(state, dict) or state.get("format") != FORMAT_VERSION:
            raise ValueError(f"{path} is not an e-mail classifier of format {FORMAT_VERSION}")
        dimension = int(embedder.encode(["dimension probe"]).shape[1])
        if dimension != state["dimension"]:
            raise ValueError(
                f"{path} was trained with {state['embedder']!r} ({state['dimension']} dimensions); "
                f"the given embedder has {dimension}"
            )
        classifier = cls(embedder, language_detector=language_detector)
        classifier._tfidf = state["tfidf"]
        classifier._queue_model = state["queue_model"]
        classifier._priority_model = state["priority_model"]
        return classifier


def apply_priority_cues(text: str, probs: Mapping[str, float]) -> dict[str, float]:
    """Add ``CUE_WEIGHT`` to the highest priority whose cue occurs in ``text``, then renormalise."""
    adjusted = {name: float(p) for name, p in probs.items()}
    for name, pattern in PRIORITY_CUES.items():  # most severe first
        if name in adjusted and pattern.search(text):
            adjusted[name] += CUE_WEIGHT
            break
    total = sum(adjusted.values()) or 1.0
    return {name: p / total for name, p in adjusted.items()}


# --- training data -----------------------------------------------------------------------------


def load_training_emails(folder: Path) -> list[TrainingEmail]:
    """Every mail of ``folder/*.yml`` as ``(ParsedMail, queue, priority, language)``."""
    out: list[TrainingEmail] = []
    for path in sorted(folder.glob("*.yml")):
        document = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
        for number, entry in enumerate(document.get("emails") or [], start=1):
            where = f"{path.name} mail {number}"
            queue, priority = str(entry.get("queue", "")), str(entry.get("priority", ""))
            if queue not in QUEUES or priority not in PRIORITIES:
                raise ValueError(f"{where}: unknown queue {queue!r} or priority {priority!r}")
            headers = {str(k): str(v) for k, v in (entry.get("headers") or {}).items()}
            mail = parse_mail_dict(headers, str(entry.get("body", "")))
            out.append((mail, queue, priority, str(entry.get("language", ""))))
    return out


# --- evaluation --------------------------------------------------------------------------------


def evaluate_emails(
    train_dir: Path, heldout_dir: Path, *, embedder: Embedder | None = None, folds: int = 5, seed: int = 0
) -> dict[str, Any]:
    """Cross-validated scores on ``train_dir`` and scores on ``heldout_dir`` (never trained on).

    Returns ``{"cv": {...}, "heldout": {...}, "ms_per_mail": float, ...}`` with accuracy and macro-F1
    for queue and priority, language accuracy and the held-out confusions.
    """
    from sklearn.model_selection import StratifiedKFold

    if embedder is None:
        from nlu.embedder import get_embedder

        embedder = get_embedder()
    train = load_training_emails(train_dir)
    heldout = load_training_emails(heldout_dir)
    mails = [t[0] for t in train]
    queues = np.array([t[1] for t in train])
    priorities = np.array([t[2] for t in train])
    classifier = EmailClassifier(embedder)
    dense = classifier.embed(mails)

    predicted: list[EmailLabel | None] = [None] * len(train)
    splitter = StratifiedKFold(n_splits=folds, shuffle=True, random_state=seed)
    for train_idx, test_idx in splitter.split(dense, queues):
        fold = EmailClassifier(embedder, language_detector=classifier.detect_language)
        fold.fit(
            [mails[i] for i in train_idx],
            queues[train_idx],
            priorities[train_idx],
            embeddings=dense[train_idx],
        )
        for i, label in zip(
            test_idx, fold.predict_many([mails[i] for i in test_idx], embeddings=dense[test_idx]), strict=True
        ):
            predicted[i] = label
    cv = _scores(train, [p for p in predicted if p is not None])

    classifier.fit(mails, queues, priorities, embeddings=dense)
    started = time.perf_counter()
    held_labels = [classifier.predict(t[0]) for t in heldout]  # one by one: the real per-mail cost
    elapsed = time.perf_counter() - started
    result = {
        "train_mails": len(train),
        "heldout_mails": len(heldout),
        "cv": cv,
        "heldout": _scores(heldout, held_labels),
        "ms_per_mail": round(1000 * elapsed / max(1, len(heldout)), 2),
        "embedder": getattr(embedder, "name", type(embedder).__name__),
    }
    result["heldout"]["errors"] = [
        {
            "subject": t[0].subject,
            "queue": t[1],
            "predicted": label.queue,
            "confidence": round(label.confidence, 3),
        }
        for t, label in zip(heldout, held_labels, strict=True)
        if label.queue != t[1]
    ]
    return result


def _scores(truth: Sequence[TrainingEmail], labels: Sequence[EmailLabel]) -> dict[str, Any]:
    from sklearn.metrics import accuracy_score, f1_score

    def pair(y_true: list[str], y_pred: list[str]) -> dict[str, float]:
        return {
            "accuracy": round(float(accuracy_score(y_true, y_pred)), 4),
            "macro_f1": round(float(f1_score(y_true, y_pred, average="macro", zero_division=0)), 4),
        }

    languages = [(t[3], label.language) for t, label in zip(truth, labels, strict=True) if t[3]]
    return {
        "queue": pair([t[1] for t in truth], [label.queue for label in labels]),
        "priority": pair([t[2] for t in truth], [label.priority for label in labels]),
        "language_accuracy": round(sum(a == b for a, b in languages) / max(1, len(languages)), 4),
    }


# --- features ----------------------------------------------------------------------------------


def _model_text(mail: ParsedMail) -> str:
    """Subject and what the sender wrote now; a too-short new text falls back to the whole text."""
    body = mail.new_text if len(mail.new_text) >= 40 else mail.text
    sender = "noreply " if is_no_reply_address(mail.from_addr) else ""
    return f"{sender}{mail.subject}\n{body}".strip()


def _chunks(mail: ParsedMail) -> list[str]:
    text = _model_text(mail)
    chunks = [text[:CHUNK_CHARS]]
    rest = text[CHUNK_CHARS:]
    while rest.strip() and len(chunks) < MAX_CHUNKS:
        chunks.append(rest[:CHUNK_CHARS])
        rest = rest[CHUNK_CHARS:]
    return [c if c.strip() else "." for c in chunks]


def _combine(dense: np.ndarray, tfidf: sparse.spmatrix) -> sparse.csr_matrix:
    return sparse.hstack([sparse.csr_matrix(dense * EMBEDDING_WEIGHT), tfidf], format="csr")


def _ngram_features() -> FeatureUnion:
    """TF-IDF of character n-grams (robust to typos, German compounds) next to word uni/bigrams."""
    return FeatureUnion(
        [
            (
                "chars",
                TfidfVectorizer(
                    analyzer="char_wb", ngram_range=(2, 5), sublinear_tf=True, min_df=2, max_features=30_000
                ),
            ),
            ("words", TfidfVectorizer(analyzer="word", ngram_range=(1, 2), sublinear_tf=True)),
        ]
    )


def _ngram_count(union: FeatureUnion) -> int:
    return sum(len(vectorizer.vocabulary_) for _, vectorizer in union.transformer_list)


def _logreg() -> LogisticRegression:
    return LogisticRegression(C=20.0, max_iter=3000, class_weight="balanced")


def _check_labels(values: Iterable[str], allowed: Sequence[str], what: str) -> None:
    unknown = sorted(set(values) - set(allowed))
    if unknown:
        raise ValueError(f"unknown {what} label(s): {', '.join(unknown)}")


def _detect_language(text: str) -> str:
    return detect_language(text, default="en")
