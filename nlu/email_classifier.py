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

import itertools
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

from nlu.email_autoreply import automatic_evidence, is_no_reply_address
from nlu.email_priority import apply_cues, priority_cues
from nlu.email_quotes import clean_subject, strip_signature, subject_kind
from nlu.email_text import ParsedMail, parse_mail, parse_mail_dict
from nlu.embedder import Embedder
from nlu.gloss_de import encoder_text
from nlu.language import detect_language
from nlu.types import PRIORITIES, QUEUES

FORMAT_VERSION = 3  # 2: German mail embedded through the gloss; 3: calibrated confidences, new text only
CHUNK_CHARS = 600  # ~128 word pieces: what the encoder reads before it truncates
MAX_CHUNKS = 4
EMBEDDING_WEIGHT = 1.0  # scales the dense block against the (L2-normalised) TF-IDF block
CALIBRATION_FOLDS = 5  # cross-validated scores the confidence calibration (Platt) is fitted on
REPLY_SUBJECT_MIN_WORDS = 8  # a reply with at least this many words of its own is judged without its subject
NO_TICKET_QUEUES = frozenset({"auto_reply", "spam"})

TrainingEmail = tuple[ParsedMail, str, str, str]  # mail, queue, priority, language
LanguageDetector = Callable[[str], str]


@dataclass(frozen=True, slots=True)
class EmailLabel:
    queue: str
    priority: str
    language: str
    confidence: float  # calibrated probability that ``queue`` is right
    queue_ranking: list[tuple[str, float]] = field(default_factory=list)  # the model's own probabilities
    automatic: str | None = None  # ``detect_automatic``'s verdict
    priority_confidence: float = 1.0  # calibrated probability that ``priority`` is right
    evidence: str | None = None  # for ``automatic``: "header" (may be dropped) or "content" (may not)
    reasons: tuple[str, ...] = ()  # what moved the priority and how the text was read, for the explanation

    def to_dict(self) -> dict[str, Any]:
        return {
            "queue": self.queue,
            "priority": self.priority,
            "language": self.language,
            "confidence": round(self.confidence, 4),
            "queue_ranking": [{"name": q, "confidence": round(p, 4)} for q, p in self.queue_ranking],
            "automatic": self.automatic,
            "evidence": self.evidence,
            "priority_confidence": round(self.priority_confidence, 4),
            "reasons": list(self.reasons),
        }


class EmailClassifier:
    """Queue and priority heads over embeddings + character n-grams; see the module docstring."""

    def __init__(self, embedder: Embedder, *, language_detector: LanguageDetector | None = None) -> None:
        self.embedder = embedder
        self.detect_language: LanguageDetector = language_detector or _detect_language
        self._tfidf: FeatureUnion | None = None
        self._queue_model: LogisticRegression | None = None
        self._priority_model: LogisticRegression | None = None
        self._calibration: dict[str, tuple[float, float]] = {}  # head -> Platt (slope, intercept)

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
        calibrate: bool = True,
    ) -> EmailClassifier:
        """Train both heads. ``embeddings`` (from ``embed``) may be passed to skip encoding again.

        With ``calibrate`` the confidences are calibrated (Platt scaling of the top probability
        against being right, fitted on ``CALIBRATION_FOLDS``-fold cross-validated predictions).
        """
        if not (len(mails) == len(queues) == len(priorities)) or not mails:
            raise ValueError("fit needs the same, non-zero number of mails, queues and priorities")
        _check_labels(queues, QUEUES, "queue")
        _check_labels(priorities, PRIORITIES, "priority")
        dense = self.embed(mails) if embeddings is None else embeddings
        texts = [_model_text(m) for m in mails]
        self._tfidf, self._queue_model, self._priority_model = _fit_heads(texts, dense, queues, priorities)
        self._calibration = {}
        if calibrate:
            self._calibration = _calibrate(mails, texts, dense, list(queues), list(priorities))
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
        automatic = [automatic_evidence(m) for m in mails]
        todo = [i for i, (verdict, _) in enumerate(automatic) if verdict is None]
        labels: dict[int, EmailLabel] = {}
        for i, (verdict, evidence) in enumerate(automatic):
            if verdict is not None:
                labels[i] = EmailLabel(
                    queue="auto_reply",
                    priority="low",
                    language=self._language(mails[i]),
                    confidence=1.0,
                    queue_ranking=[("auto_reply", 1.0)],
                    automatic=verdict,
                    evidence=evidence,
                    reasons=(f"automatic mail ({verdict}) by {evidence}",),
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
        queue, top = ranking[0]
        priority_names = [str(c) for c in self._priority_model.classes_]
        cues = priority_cues(cue_text(mail))
        adjusted = apply_cues(cues, dict(zip(priority_names, priority_probs, strict=True)))
        priority, priority_top = max(adjusted.items(), key=lambda x: x[1])
        reasons = [f"priority cue: {cue.reason} ({cue.level})" for cue in cues]
        if subject_kind(mail.subject) == "reply" and not _subject_counts(mail):
            reasons.append("reply: judged on the new text, not the quoted subject")
        if queue in NO_TICKET_QUEUES:
            priority, priority_top = "low", 1.0
        return EmailLabel(
            queue=queue,
            priority=priority,
            language=self._language(mail),
            confidence=self.calibrated("queue", top),
            queue_ranking=ranking,
            automatic=None,
            priority_confidence=self.calibrated("priority", float(priority_top)),
            reasons=tuple(reasons),
        )

    def calibrated(self, head: str, top: float) -> float:
        """P(right) for a top probability ``top`` of ``head`` ("queue"/"priority"); ``top`` uncalibrated."""
        if head not in self._calibration:
            return float(top)
        slope, intercept = self._calibration[head]
        return float(1.0 / (1.0 + np.exp(-(slope * _logit(top) + intercept))))

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
            "calibration": self._calibration,
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
        classifier._calibration = dict(state.get("calibration") or {})
        return classifier


def apply_priority_cues(text: str, probs: Mapping[str, float]) -> dict[str, float]:
    """``probs`` moved by the priority cues of ``text`` (``nlu.email_priority``), renormalised."""
    return apply_cues(priority_cues(text), probs)


def _fit_heads(
    texts: Sequence[str], dense: np.ndarray, queues: Sequence[str], priorities: Sequence[str]
) -> tuple[FeatureUnion, LogisticRegression, LogisticRegression]:
    tfidf = _ngram_features()
    features = _combine(dense, tfidf.fit_transform(texts))
    return tfidf, _logreg().fit(features, list(queues)), _logreg().fit(features, list(priorities))


def _calibrate(
    mails: Sequence[ParsedMail],
    texts: Sequence[str],
    dense: np.ndarray,
    queues: list[str],
    priorities: list[str],
) -> dict[str, tuple[float, float]]:
    """Platt scaling per head, fitted on cross-validated top probabilities (cues applied) vs. right/wrong."""
    from sklearn.model_selection import StratifiedKFold

    counts = {q: queues.count(q) for q in set(queues)}
    folds = min(CALIBRATION_FOLDS, min(counts.values()))
    if folds < 2 or len(set(queues)) < 2:
        return {}
    tops: dict[str, list[float]] = {"queue": [], "priority": []}
    right: dict[str, list[int]] = {"queue": [], "priority": []}
    splitter = StratifiedKFold(n_splits=folds, shuffle=True, random_state=0)
    for train_idx, test_idx in splitter.split(dense, queues):
        if len({priorities[i] for i in train_idx}) < 2:
            continue
        tfidf, queue_model, priority_model = _fit_heads(
            [texts[i] for i in train_idx], dense[train_idx],
            [queues[i] for i in train_idx], [priorities[i] for i in train_idx],
        )  # fmt: skip
        features = _combine(dense[test_idx], tfidf.transform([texts[i] for i in test_idx]))
        queue_probs = queue_model.predict_proba(features)
        priority_probs = priority_model.predict_proba(features)
        names = [str(c) for c in priority_model.classes_]
        for row, i in enumerate(test_idx):
            best = int(np.argmax(queue_probs[row]))
            tops["queue"].append(float(queue_probs[row][best]))
            right["queue"].append(int(str(queue_model.classes_[best]) == queues[i]))
            adjusted = apply_cues(
                priority_cues(cue_text(mails[i])), dict(zip(names, priority_probs[row], strict=True))
            )
            name, top = max(adjusted.items(), key=lambda x: x[1])
            tops["priority"].append(float(top))
            right["priority"].append(int(name == priorities[i]))
    out: dict[str, tuple[float, float]] = {}
    for head in ("queue", "priority"):
        if len(set(right[head])) < 2:
            continue
        x = np.array([[_logit(t)] for t in tops[head]])
        platt = LogisticRegression(C=1.0).fit(x, right[head])
        out[head] = (float(platt.coef_[0][0]), float(platt.intercept_[0]))
    return out


def _logit(p: float) -> float:
    p = min(max(float(p), 1e-6), 1 - 1e-6)
    return float(np.log(p / (1 - p)))


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


def load_labelled_mails(path: Path) -> list[TrainingEmail]:
    """A labelled mail set in either format:

    * a folder of ``*.yml`` (the training-data format, ``load_training_emails``);
    * a folder with one RFC 5322 ``.eml`` file per mail and ``labels.csv`` with the columns
      ``file,queue,priority,language`` (``file`` relative to the folder), or the ``labels.csv`` itself.
    """
    import csv

    labels = path if path.is_file() else path / "labels.csv"
    if not labels.is_file():
        return load_training_emails(path)
    folder = labels.parent
    out: list[TrainingEmail] = []
    with labels.open(encoding="utf-8", newline="") as handle:
        reader = csv.DictReader(handle)
        missing = {"file", "queue", "priority"} - set(reader.fieldnames or [])
        if missing:
            raise ValueError(f"{labels}: missing column(s) {', '.join(sorted(missing))}")
        for number, row in enumerate(reader, start=2):
            queue, priority = (row.get("queue") or "").strip(), (row.get("priority") or "").strip()
            if queue not in QUEUES or priority not in PRIORITIES:
                raise ValueError(f"{labels} line {number}: unknown queue {queue!r} or priority {priority!r}")
            mail = parse_mail((folder / row["file"].strip()).read_bytes())
            out.append((mail, queue, priority, (row.get("language") or "").strip()))
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
    heldout = load_labelled_mails(heldout_dir)
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
            calibrate=False,  # accuracy only; the calibration is judged on the held-out mails
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
        "heldout_labels": held_labels,  # EmailLabel objects: for the caller, not for JSON
    }
    result["heldout"]["errors"] = [
        {
            "subject": t[0].subject,
            "queue": t[1],
            "predicted": label.queue,
            "confidence": round(label.confidence, 3),
            "priority": t[2],
            "predicted_priority": label.priority,
        }
        for t, label in zip(heldout, held_labels, strict=True)
        if label.queue != t[1] or label.priority != t[2]
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
    queue_true, queue_pred = [t[1] for t in truth], [label.queue for label in labels]
    prio_true, prio_pred = [t[2] for t in truth], [label.priority for label in labels]
    return {
        "queue": pair(queue_true, queue_pred),
        "priority": pair(prio_true, prio_pred),
        "language_accuracy": round(sum(a == b for a, b in languages) / max(1, len(languages)), 4),
        "queue_confusion": confusion(queue_true, queue_pred, QUEUES),
        "priority_confusion": confusion(prio_true, prio_pred, PRIORITIES),
        "queue_calibration": calibration(
            [label.confidence for label in labels],
            [a == b for a, b in zip(queue_true, queue_pred, strict=True)],
        ),
        "priority_calibration": calibration(
            [label.priority_confidence for label in labels],
            [a == b for a, b in zip(prio_true, prio_pred, strict=True)],
        ),
    }


def confusion(truth: Sequence[str], predicted: Sequence[str], names: Sequence[str]) -> dict[str, Any]:
    """``{"labels": [...], "rows": [[...]]}``: rows are the true label, columns the predicted one."""
    index = {name: i for i, name in enumerate(names)}
    rows = [[0] * len(names) for _ in names]
    for t, p in zip(truth, predicted, strict=True):
        if t in index and p in index:
            rows[index[t]][index[p]] += 1
    return {"labels": list(names), "rows": rows}


def calibration(confidences: Sequence[float], right: Sequence[bool], bins: int = 5) -> dict[str, Any]:
    """Expected calibration error, Brier score and per-bin (count, mean confidence, accuracy)."""
    if not confidences:
        return {"ece": None, "brier": None, "bins": []}
    conf = np.clip(np.asarray(confidences, dtype=float), 0.0, 1.0)
    hit = np.asarray(right, dtype=float)
    edges = np.linspace(0.0, 1.0, bins + 1)
    table: list[dict[str, Any]] = []
    ece = 0.0
    for lo, hi in itertools.pairwise(edges):
        mask = (conf >= lo) & ((conf < hi) if hi < 1.0 else (conf <= hi))
        if not mask.any():
            continue
        mean_conf, accuracy = float(conf[mask].mean()), float(hit[mask].mean())
        ece += mask.sum() / len(conf) * abs(mean_conf - accuracy)
        table.append(
            {"range": f"{lo:.1f}-{hi:.1f}", "n": int(mask.sum()), "confidence": round(mean_conf, 3),
             "accuracy": round(accuracy, 3)}
        )  # fmt: skip
    return {"ece": round(float(ece), 4), "brier": round(float(((conf - hit) ** 2).mean()), 4), "bins": table}


# --- features ----------------------------------------------------------------------------------


def own_text(mail: ParsedMail) -> str:
    """What the sender wrote now, without closing and signature; a forward adds the forwarded body."""
    body = strip_signature(mail.new_text) or mail.new_text
    kind = subject_kind(mail.subject)
    # a forward is about what it forwards; a short reply about its own words, not the quote
    if mail.forwarded_text and (kind == "forward" or (kind == "new" and len(body.split()) < 4)):
        body = f"{body}\n{strip_signature(mail.forwarded_text)}".strip()
    return body


def _subject_counts(mail: ParsedMail) -> bool:
    """A reply's subject belongs to the mail it answers: it counts only when the new text is short."""
    return subject_kind(mail.subject) != "reply" or len(own_text(mail).split()) < REPLY_SUBJECT_MIN_WORDS


def cue_text(mail: ParsedMail) -> str:
    """The text priority cues are read from: the subject (when it counts) and the sender's own text."""
    subject = clean_subject(mail.subject) if _subject_counts(mail) else ""
    return f"{subject}\n{own_text(mail)}".strip()


def _model_text(mail: ParsedMail) -> str:
    """Subject (unless a reply's, see ``_subject_counts``) and what the sender wrote now."""
    sender = "noreply " if is_no_reply_address(mail.from_addr) else ""
    return f"{sender}{cue_text(mail)}".strip()


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
