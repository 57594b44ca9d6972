"""Cross-validation of the NLU pipeline, reported like ``rasa test nlu``.

Intents: accuracy and macro-F1 (overall and per language), per-intent precision/recall/F1,
a confusion matrix and the misclassified examples. Entities: exact-span precision/recall/F1
per entity type, over the pipeline's merged output (rules, dates and NER together).
"""

from __future__ import annotations

import json
import sys
import time
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

import numpy as np
from sklearn.metrics import accuracy_score, classification_report, confusion_matrix, f1_score
from sklearn.model_selection import StratifiedKFold
from tqdm import tqdm

from nlu.embedder import Embedder
from nlu.intent_classifier import ClassifierConfig
from nlu.pipeline import NLUPipeline
from nlu.training_data import TrainingData, TrainingExample
from nlu.types import Entity, ParseResult

# Held-out data is written against a fixed "now" so relative dates are checkable.
REFERENCE_NOW = datetime.fromisoformat("2026-03-04T10:00:00+01:00")


class CachedEmbedder:
    """Wraps an embedder and remembers vectors, so folds do not re-encode the same texts."""

    def __init__(self, inner: Embedder) -> None:
        self.inner = inner
        self.name = inner.name
        self.dimension = inner.dimension
        self._cache: dict[str, np.ndarray] = {}

    def encode(self, texts: Sequence[str]) -> np.ndarray:
        missing = list(dict.fromkeys(t for t in texts if t not in self._cache))
        if missing:
            for text, row in zip(missing, self.inner.encode(missing), strict=True):
                self._cache[text] = row
        if not texts:
            return np.zeros((0, self.dimension), dtype=np.float32)
        return np.vstack([self._cache[t] for t in texts])


@dataclass(slots=True)
class Prediction:
    example: TrainingExample
    result: ParseResult


@dataclass(slots=True)
class EvaluationReport:
    predictions: list[Prediction] = field(default_factory=list)
    train_seconds: float = 0.0
    folds: int = 0

    @property
    def y_true(self) -> list[str]:
        return [p.example.intent for p in self.predictions]

    @property
    def y_pred(self) -> list[str]:
        return [p.result.intent.name for p in self.predictions]

    def intent_summary(self) -> dict[str, Any]:
        out: dict[str, Any] = {"all": _scores(self.y_true, self.y_pred)}
        for lang in sorted({p.example.language for p in self.predictions}):
            sub = [p for p in self.predictions if p.example.language == lang]
            out[lang] = _scores([p.example.intent for p in sub], [p.result.intent.name for p in sub])
        return out

    def intent_report(self) -> dict[str, Any]:
        report: dict[str, Any] = classification_report(
            self.y_true, self.y_pred, output_dict=True, zero_division=0
        )
        return report

    def entity_report(self, types: Sequence[str] | None = None) -> dict[str, dict[str, float]]:
        return entity_scores(
            [p.example.entities for p in self.predictions],
            [p.result.entities for p in self.predictions],
            types,
        )

    def entity_value_report(self, types: Sequence[str] | None = None) -> dict[str, dict[str, float]]:
        return entity_value_accuracy(
            [p.example.entities for p in self.predictions],
            [p.result.entities for p in self.predictions],
            types,
            texts=[p.example.text for p in self.predictions],
        )

    def entity_value_errors(
        self, types: Sequence[str] = ("person", "organization", "job_title")
    ) -> list[dict[str, Any]]:
        """Annotated names whose value was not extracted, with what was extracted instead."""
        out: list[dict[str, Any]] = []
        for p in self.predictions:
            found = [(e.entity, normalise_value(e.value)) for e in p.result.entities]
            for gold in p.example.entities:
                if gold.entity in types and (gold.entity, normalise_value(gold.value)) not in found:
                    extracted = [str(e.value) for e in p.result.entities if e.entity == gold.entity]
                    out.append(
                        {
                            "text": p.example.text,
                            "entity": gold.entity,
                            "expected": gold.value,
                            "got": extracted,
                        }
                    )
        return out

    def errors(self) -> list[dict[str, Any]]:
        return [
            {
                "text": p.example.text,
                "language": p.example.language,
                "intent": p.example.intent,
                "predicted": p.result.intent.name,
                "confidence": round(p.result.intent.confidence, 4),
            }
            for p in self.predictions
            if p.example.intent != p.result.intent.name
        ]

    def write(self, out_dir: Path) -> None:
        out_dir.mkdir(parents=True, exist_ok=True)
        (out_dir / "intent_summary.json").write_text(json.dumps(self.intent_summary(), indent=2))
        (out_dir / "intent_report.json").write_text(json.dumps(self.intent_report(), indent=2))
        (out_dir / "entity_report.json").write_text(json.dumps(self.entity_report(), indent=2))
        (out_dir / "intent_errors.json").write_text(json.dumps(self.errors(), indent=2, ensure_ascii=False))
        plot_confusion_matrix(self.y_true, self.y_pred, out_dir / "intent_confusion_matrix.png")


def _scores(y_true: Sequence[str], y_pred: Sequence[str]) -> dict[str, float]:
    return {
        "accuracy": round(float(accuracy_score(y_true, y_pred)), 4),
        "macro_f1": round(float(f1_score(y_true, y_pred, average="macro", zero_division=0)), 4),
        "n": len(y_true),
    }


def entity_scores(
    gold: Sequence[Sequence[Entity]],
    predicted: Sequence[Sequence[Entity]],
    types: Sequence[str] | None = None,
) -> dict[str, dict[str, float]]:
    """Exact-span (start, end, type) precision / recall / F1 per entity type, plus ``micro``."""
    tp: Counter[str] = Counter()
    fp: Counter[str] = Counter()
    fn: Counter[str] = Counter()
    for gold_ents, pred_ents in zip(gold, predicted, strict=True):
        g = {(e.entity, e.start, e.end) for e in gold_ents}
        p = {(e.entity, e.start, e.end) for e in pred_ents}
        for name, *_ in g & p:
            tp[name] += 1
        for name, *_ in p - g:
            fp[name] += 1
        for name, *_ in g - p:
            fn[name] += 1
    names = sorted(set(types) if types else set(tp) | set(fn) | set(fp))
    report = {name: _prf(tp[name], fp[name], fn[name]) for name in names}
    report["micro"] = _prf(sum(tp[n] for n in names), sum(fp[n] for n in names), sum(fn[n] for n in names))
    return report


def normalise_value(value: object) -> str:
    """What "the same value" means for value accuracy: case and whitespace do not count."""
    return " ".join(str(value).split()).casefold()


def entity_value_accuracy(
    gold: Sequence[Sequence[Entity]],
    predicted: Sequence[Sequence[Entity]],
    types: Sequence[str] | None = None,
    texts: Sequence[str] | None = None,
) -> dict[str, dict[str, float]]:
    """Per entity type: the share of annotated entities whose value was extracted (same type, value equal
    after ``normalise_value``; each extracted entity counts once), plus ``overall`` over all types.
    Offsets do not matter: "[Acme GmbH](organization)" is found when any ``organization`` reads "acme gmbh".
    An annotation without a normalised value (``[next friday](time)``, ``[+49 170 5550199](phone)``)
    is found by an extracted entity of its type with that surface text (``texts`` gives the surfaces)."""
    hits: Counter[str] = Counter()
    total: Counter[str] = Counter()
    spurious: Counter[str] = Counter()
    for i, (gold_ents, pred_ents) in enumerate(zip(gold, predicted, strict=True)):
        text = texts[i] if texts is not None else None
        pool = [
            (e.entity, normalise_value(e.value), normalise_value(text[e.start : e.end]) if text else None)
            for e in pred_ents
            if not types or e.entity in types
        ]
        for ent in gold_ents:
            if types and ent.entity not in types:
                continue
            total[ent.entity] += 1
            value = normalise_value(ent.value)
            as_written = text is not None and value == normalise_value(text[ent.start : ent.end])
            match = next((p for p in pool if p[0] == ent.entity and p[1] == value), None)
            if match is None and as_written:
                match = next((p for p in pool if p[0] == ent.entity and p[2] == value), None)
            if match is not None:
                pool.remove(match)
                hits[ent.entity] += 1
        for name, *_ in pool:
            spurious[name] += 1
    names = sorted(set(types) if types else set(total))
    report = {
        name: {
            "accuracy": round(hits[name] / total[name], 4) if total[name] else 0.0,
            "correct": hits[name],
            "n": total[name],
            "spurious": spurious[name],
        }
        for name in names
    }
    n = sum(total[name] for name in names)
    correct = sum(hits[name] for name in names)
    report["overall"] = {
        "accuracy": round(correct / n, 4) if n else 0.0,
        "correct": correct,
        "n": n,
        "spurious": sum(spurious[name] for name in names),
    }
    return report


def _prf(tp: int, fp: int, fn: int) -> dict[str, float]:
    precision = tp / (tp + fp) if tp + fp else 0.0
    recall = tp / (tp + fn) if tp + fn else 0.0
    f1 = 2 * precision * recall / (precision + recall) if precision + recall else 0.0
    return {
        "precision": round(precision, 4),
        "recall": round(recall, 4),
        "f1": round(f1, 4),
        "support": tp + fn,
    }


def cross_validate(
    data: TrainingData,
    embedder: Embedder,
    *,
    folds: int = 5,
    seed: int = 0,
    ner_epochs: int = 12,
    classifier_config: ClassifierConfig | None = None,
    now: datetime = REFERENCE_NOW,
) -> EvaluationReport:
    """Stratified k-fold over intents; every example is predicted once by a model that never saw it."""
    examples = data.examples
    labels = [ex.intent for ex in examples]
    smallest = min(Counter(labels).values())
    n_splits = max(2, min(folds, smallest))
    cached = CachedEmbedder(embedder)
    cached.encode([ex.text for ex in examples])
    report = EvaluationReport(folds=n_splits)
    splitter = StratifiedKFold(n_splits=n_splits, shuffle=True, random_state=seed)
    splits = splitter.split(np.zeros(len(labels)), labels)
    # a bar on stderr while the folds train (minutes), only on a terminal
    for train_idx, test_idx in tqdm(splits, total=n_splits, desc="cross-validation", unit=" fold",
                                    file=sys.stderr, disable=None, leave=False):  # fmt: skip
        fold_data = TrainingData(
            examples=[examples[i] for i in train_idx],
            synonyms=data.synonyms,
            regexes=data.regexes,
            lookups=data.lookups,
        )
        pipeline = NLUPipeline(cached, classifier_config=classifier_config, ner_epochs=ner_epochs)
        started = time.perf_counter()
        pipeline.fit(fold_data)
        report.train_seconds += time.perf_counter() - started
        test = [examples[i] for i in test_idx]
        results = pipeline.parse_batch([ex.text for ex in test], langs=[ex.language for ex in test], now=now)
        report.predictions.extend(Prediction(ex, res) for ex, res in zip(test, results, strict=True))
    report.train_seconds /= n_splits
    return report


def evaluate_on(
    pipeline: NLUPipeline, examples: Sequence[TrainingExample], *, now: datetime = REFERENCE_NOW
) -> EvaluationReport:
    """Score a trained pipeline on held-out examples."""
    results = pipeline.parse_batch(
        [ex.text for ex in examples], langs=[ex.language for ex in examples], now=now
    )
    return EvaluationReport(
        predictions=[Prediction(ex, res) for ex, res in zip(examples, results, strict=True)]
    )


def plot_confusion_matrix(y_true: Sequence[str], y_pred: Sequence[str], path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    labels = sorted(set(y_true) | set(y_pred))
    matrix = confusion_matrix(y_true, y_pred, labels=labels)
    size = max(6.0, 0.35 * len(labels) + 2)
    fig, ax = plt.subplots(figsize=(size, size))
    ax.imshow(matrix, cmap="Blues")
    ax.set_xticks(range(len(labels)), labels, rotation=90, fontsize=7)
    ax.set_yticks(range(len(labels)), labels, fontsize=7)
    ax.set_xlabel("predicted")
    ax.set_ylabel("true")
    for (i, j), value in np.ndenumerate(matrix):
        if value:
            ax.text(
                j,
                i,
                str(value),
                ha="center",
                va="center",
                fontsize=6,
                color="white" if value > matrix.max() / 2 else "black",
            )
    ax.set_title("Intent confusion matrix")
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)
