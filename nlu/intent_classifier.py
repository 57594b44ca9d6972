"""Intent classification: sentence embedding ⊕ TF-IDF n-grams -> linear model.

One model serves both languages. The default estimator is a linear SVM whose scores become
probabilities through a softmax with a temperature fitted on cross-validated scores (lowest
log-loss); a logistic regression is the alternative (``estimator="logreg"``; slower to train,
chosen for neither accuracy nor speed on our data, see bench/nlu.py). Predictions below a
confidence threshold, also tuned on cross-validation, become ``out_of_scope``, which is a
trained class as well.
"""

from __future__ import annotations

import contextlib
import itertools
import logging
import os
import re
from collections import Counter
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import joblib
import numpy as np
from scipy import sparse
from sklearn.feature_extraction.text import TfidfVectorizer
from sklearn.linear_model import LogisticRegression
from sklearn.model_selection import StratifiedKFold
from sklearn.svm import LinearSVC
from threadpoolctl import ThreadpoolController

from nlu.embedder import Embedder
from nlu.types import IntentScore

log = logging.getLogger(__name__)

OUT_OF_SCOPE = "out_of_scope"
RANKING_SIZE = 10
MAX_CHARS = 2000

_THREADPOOLS: ThreadpoolController | None = None


def single_threaded() -> Any:
    """A context limiting BLAS and OpenMP to one thread.

    The optimiser's many small BLAS/OpenMP calls are 30-50x slower when threads spin on a
    busy machine; one thread is faster for models of this size.
    """
    global _THREADPOOLS
    if _THREADPOOLS is None:
        _THREADPOOLS = ThreadpoolController()
    return _THREADPOOLS.limit(limits=1)


_FOLD = str.maketrans({"ä": "ae", "ö": "oe", "ü": "ue", "ß": "ss", "Ä": "Ae", "Ö": "Oe", "Ü": "Ue"})


def fold_text(text: str) -> str:
    """Lower-case and spell umlauts out (``Müller`` -> ``mueller``), as people type in a hurry."""
    return text.translate(_FOLD).lower()


# -- n-gram text normalisation -------------------------------------------------------------
# What the TF-IDF branches see: folded text with shapes for e-mails, URLs and digits, and, for the
# word branch, light stems, the heads of German compounds and language-independent concept tags,
# so "Kundenbesuch", "besucht" and "visited" share a feature. The encoder is English-only;
# these features carry most of the German signal.
_EMAIL = re.compile(r"\S+@\S+\.\w+")
_URL = re.compile(r"(?:https?://|www\.)\S+")
_DIGITS = re.compile(r"\d")
_WORD = re.compile(r"[^\W\d_]+(?:['’][^\W\d_]+)?|\d+|[#?€$£@]", re.UNICODE)

# Concept tags: prefixes of folded words (EN and DE). A word may carry several tags.
_CONCEPTS: dict[str, tuple[str, ...]] = {
    "xcall": ("call", "phone", "rang", "ring", "anruf", "angerufen", "telefon", "rueckruf", "zurueckgerufen"),
    "xmeet": ("meet", "met", "treff", "getroffen", "termin", "besprech", "zoom", "videocall", "videokonf"),
    "xmail": ("mail", "emailed", "e-mail", "gemailt", "schrieb", "geschrieben", "angeschrieben", "wrote"),
    "xvisit": ("visit", "besuch", "vorbeigeschaut", "vorbeigefahren", "vorbeigegangen"),
    "xnote": ("note", "notiz", "notier", "vermerk", "festhalten", "protokoll", "jot"),
    "xdeal": ("deal", "opportunit", "verkaufschance", "auftrag", "geschaeft", "abschluss", "sale"),
    "xstage": ("negotiat", "verhandl", "proposal", "angebot", "qualifi", "won", "gewonnen", "lost",
               "verloren", "stage", "phase"),
    "xmoney": ("eur", "euro", "usd", "dollar", "chf", "franken", "gbp", "pound", "€", "$", "£", "betrag",
               "amount", "volumen", "value", "wert", "umsatz", "revenue"),
    "xticket": ("ticket", "case", "anfrage", "meldung", "vorgang", "support"),
    "xtask": ("task", "aufgabe", "todo", "to-do", "remind", "erinner", "reminder", "wiedervorlage",
              "follow", "faellig", "due", "overdue", "ueberfaellig"),
    "xcontact": ("contact", "kontakt", "ansprechpartner", "person", "adress", "address", "visitenkarte"),
    "xdata": ("data", "daten", "datensatz", "information", "gespeichert", "stored", "speicher"),
    "xerase": ("delete", "erase", "remov", "loesch", "geloescht", "entfern", "tilg", "vergess", "forget"),
    "xmarketing": ("newsletter", "marketing", "werbung", "mailing", "unsubscrib", "abmeld", "abbestell",
                   "promo", "abonn", "subscri"),
    "xhuman": ("human", "mensch", "mitarbeiter", "agent", "operator", "somebody", "jemand", "real"),
    "xreport": ("report", "bericht", "auswert", "statist", "count", "anzahl", "wieviel", "how many"),
    "xpipeline": ("pipeline", "forecast", "prognose", "funnel", "trichter", "quartal", "quarter"),
    "xerror": ("error", "fehler", "broken", "kaputt", "crash", "abstuerz", "fail", "funktioniert",
               "working", "problem", "bug", "stoerung", "outage", "laedt", "load"),
    "xthank": ("thank", "thx", "danke", "dank", "merci", "cheers"),
    "xhelp": ("help", "hilf", "hilfe", "können", "koennen", "faehig", "capab", "funktionen"),
}  # fmt: skip
_CONCEPT_INDEX: dict[str, list[str]] = {}
for _tag, _prefixes in _CONCEPTS.items():
    for _prefix in _prefixes:
        _CONCEPT_INDEX.setdefault(_prefix, []).append(_tag)
_PREFIX_LENGTHS = sorted({len(p) for p in _CONCEPT_INDEX})
# Heads of German compounds worth their own feature ("Baustellenbesuch" -> "besuch").
_HEADS: tuple[str, ...] = (
    "besuch", "gespraech", "termin", "anruf", "telefonat", "meeting", "vorgang", "eintrag", "kontakt",
    "aufgabe", "ticket", "angebot", "auftrag", "bericht", "daten", "mail", "nachricht", "notiz",
    "firma", "kunde", "kunden", "problem", "fehler", "rechnung", "zugang", "passwort", "konto",
    "liste", "phase", "summe", "volumen", "umsatz", "erinnerung", "chance", "deal",
)  # fmt: skip


def _concepts(word: str) -> list[str]:
    tags: list[str] = []
    for n in _PREFIX_LENGTHS:
        if n > len(word):
            break
        tags.extend(t for t in _CONCEPT_INDEX.get(word[:n], ()) if t not in tags)
    return tags


def stem(word: str) -> str:
    """A light, CISTEM-like stemmer for folded German and English words (``besuchten`` -> ``besuch``)."""
    if len(word) <= 3 or not word.isalpha():
        return word
    if word.startswith("ge") and len(word) > 6:
        word = word[2:]
    while len(word) > 4:
        if len(word) > 5 and word[-2:] in ("em", "er", "nd", "es", "en"):
            word = word[:-2]
        elif word[-1] in "esnt":
            word = word[:-1]
        else:
            break
    return word


def ngram_text(text: str) -> str:
    """The char n-gram view: folded, with e-mails, URLs and digits reduced to shapes."""
    text = _URL.sub(" xurl ", text[:MAX_CHARS])
    text = _EMAIL.sub(" xemail ", text)
    return _DIGITS.sub("0", fold_text(text))


def word_features(text: str, *, concepts: bool = True) -> list[str]:
    """The word view: stem unigrams and bigrams, German compound heads and concept tags."""
    stems: list[str] = []
    extra: list[str] = []
    for match in _WORD.finditer(ngram_text(text)):
        word = match.group()
        if word.isdigit():
            stems.append("x" + "0" * min(len(word), 6))
            continue
        stems.append(stem(word))
        tags = _concepts(word) if concepts else []
        if len(word) > 7:
            head = next((h for h in _HEADS if word.endswith(h) and len(word) - len(h) >= 3), None)
            if head:
                extra.append(stem(head))
                if concepts and not tags:
                    tags = _concepts(head)
        extra.extend(tags)
    return stems + [f"{a} {b}" for a, b in itertools.pairwise(stems)] + extra


def word_features_plain(text: str) -> list[str]:
    return word_features(text, concepts=False)


@dataclass(frozen=True, slots=True)
class ClassifierConfig:
    estimator: str = "svm"  # "svm" (LinearSVC + temperature softmax) or "logreg"
    C: float = 0.5  # 3-fold CV: 0.5 > 1 > 2 on both languages
    char_ngrams: tuple[int, int] = (2, 5)
    char_min_df: int = 2
    word_ngrams: tuple[int, int] | None = (1, 2)
    embedding_weight: float = 1.0
    augment: bool = True
    max_iter: int = 2000
    # None: tune on cross-validation; a number: use as is.
    fallback_threshold: float | None = None
    threshold_cap: float = 0.5
    tuning_folds: int = 3
    temperature: float = 8.0  # used when not tuned
    # "normalised": n-grams over folded, shaped text plus stems, compound heads and concept tags
    # (see ``word_features``); "plain": raw lower-cased text.
    text_view: str = "normalised"
    concepts: bool = True
    class_weight: str | None = None  # None or "balanced"
    # The pipeline embeds German through nlu.gloss_de (3-fold CV de 0.801 -> 0.840, en 0.884 -> 0.895).
    encoder_gloss: bool = True
    # Nearest-neighbour features: per intent, the mean cosine similarity of the k most similar
    # training embeddings (leave-one-out while training). 3-fold CV: en 0.895 -> 0.902,
    # de 0.840 -> 0.850 (k=3, weight 1; k=5, weight 2 is slightly worse). 0 turns them off.
    knn_k: int = 3
    knn_weight: float = 1.0
    # The SVM's one-vs-rest problems are fitted on this many threads (liblinear releases the GIL);
    # 0: one per CPU, at most 4. The result does not depend on it (each class has its own seed).
    fit_threads: int = 0
    # Out-of-scope score: the top probability plus this weight times the mean cosine similarity of the
    # ``oos_k`` most similar training sentences of in-scope intents. A question unlike anything trained is
    # out of scope even when the softmax is confident. 0: the probability alone. CLINC150 validation split:
    # weight 1, k 3 keeps in-scope accuracy within 1 point and raises out-of-scope recall 0.63 -> 0.78
    # (bench/nlu.py --clinc150).
    oos_similarity_weight: float = 0.0
    oos_k: int = 3


class IntentClassifier:
    def __init__(self, config: ClassifierConfig | None = None) -> None:
        self.config = config or ClassifierConfig()
        self.threshold = self.config.fallback_threshold or 0.0
        self.temperature = self.config.temperature
        self.classes: list[str] = []
        self._char: TfidfVectorizer | None = None
        self._word: TfidfVectorizer | None = None
        self._model: LinearSVC | LogisticRegression | None = None
        self._knn_ref: np.ndarray | None = None  # training embeddings (n, dim)
        self._knn_labels: np.ndarray | None = None  # their intents as indices into _knn_names
        self._knn_names: list[str] = []

    # -- features -------------------------------------------------------------------------
    def _featurise(
        self, texts: Sequence[str], embeddings: np.ndarray, *, fit: bool = False
    ) -> sparse.csr_matrix:
        cfg = self.config
        normalised = cfg.text_view == "normalised"
        clipped = [ngram_text(t) if normalised else t[:MAX_CHARS] for t in texts]
        if fit:
            self._char = TfidfVectorizer(
                analyzer="char_wb",
                ngram_range=cfg.char_ngrams,
                sublinear_tf=True,
                lowercase=True,
                min_df=cfg.char_min_df if len(clipped) >= 200 else 1,
            )
            self._char.fit(clipped)
            if cfg.word_ngrams and normalised:
                self._word = TfidfVectorizer(
                    analyzer=word_features if cfg.concepts else word_features_plain,
                    sublinear_tf=True,
                )
                self._word.fit(texts)
            elif cfg.word_ngrams:
                self._word = TfidfVectorizer(
                    analyzer="word",
                    ngram_range=cfg.word_ngrams,
                    sublinear_tf=True,
                    lowercase=True,
                    token_pattern=r"(?u)\b\w+\b",
                )
                self._word.fit(clipped)
        assert self._char is not None
        # Small batches (a chat turn) skip sklearn's per-call validation: ~10x faster, same numbers.
        tfidf = tfidf_transform if len(texts) <= 16 else _sklearn_transform
        blocks: list[Any] = [tfidf(self._char, clipped)]
        if self._word is not None:
            blocks.append(tfidf(self._word, texts if normalised else clipped))
        if cfg.embedding_weight > 0 and embeddings.size:
            blocks.append(sparse.csr_matrix(embeddings * cfg.embedding_weight))
        if self._knn_ref is not None and embeddings.size:
            blocks.append(sparse.csr_matrix(self._knn_features(embeddings, leave_one_out=fit)))
        return sparse.hstack(blocks, format="csr")

    def _remember_neighbours(self, labels: Sequence[str], embeddings: np.ndarray) -> None:
        cfg = self.config
        if cfg.knn_k <= 0 or cfg.knn_weight <= 0 or not embeddings.size:
            self._knn_ref = self._knn_labels = None
            return
        self._knn_names = sorted(set(labels))
        index = {name: i for i, name in enumerate(self._knn_names)}
        self._knn_ref = np.asarray(embeddings, dtype=np.float32)
        self._knn_labels = np.array([index[label] for label in labels])

    def _knn_features(self, embeddings: np.ndarray, *, leave_one_out: bool) -> np.ndarray:
        """Per intent, the mean similarity of the ``knn_k`` nearest training examples (n, intents)."""
        assert self._knn_ref is not None and self._knn_labels is not None
        sims = np.asarray(embeddings, dtype=np.float32) @ self._knn_ref.T
        if leave_one_out:  # featurising the training set itself: nobody is their own neighbour
            np.fill_diagonal(sims, -1.0)
        out = np.zeros((len(embeddings), len(self._knn_names)), dtype=np.float64)
        for j in range(len(self._knn_names)):
            block = sims[:, self._knn_labels == j]
            k = min(self.config.knn_k, block.shape[1])
            if k:
                out[:, j] = np.partition(block, block.shape[1] - k, axis=1)[:, -k:].mean(axis=1)
        return out * self.config.knn_weight

    # -- training -------------------------------------------------------------------------
    def fit(
        self,
        texts: Sequence[str],
        labels: Sequence[str],
        embeddings: np.ndarray,
        *,
        tune_threshold: bool = True,
    ) -> IntentClassifier:
        texts, labels, embeddings = self._augment(list(texts), list(labels), embeddings)
        self._remember_neighbours(labels, embeddings)
        features = self._featurise(texts, embeddings, fit=True)
        with single_threaded():
            if self.config.estimator == "svm" and len(set(labels)) > 2:
                self._model = self._fit_svm_one_vs_rest(features, labels)
            else:
                self._model = self._estimator()
                self._model.fit(features, labels)
        self.classes = [str(c) for c in self._model.classes_]
        if self.config.fallback_threshold is not None:
            self.threshold = self.config.fallback_threshold
        if tune_threshold:
            self._tune(texts, labels, embeddings)
        return self

    def _fit_svm_one_vs_rest(self, features: sparse.csr_matrix, labels: Sequence[str]) -> LinearSVC:
        """LinearSVC's own one-vs-rest, one binary problem per class, fitted on several threads."""
        classes = sorted(set(labels))
        y = np.array(labels)
        threads = self.config.fit_threads or min(4, os.cpu_count() or 1)

        def one(name: str) -> tuple[np.ndarray, float, int]:
            binary = LinearSVC(
                C=self.config.C,
                max_iter=self.config.max_iter,
                class_weight=self.config.class_weight,
                random_state=0,
            )
            binary.fit(features, (y == name).astype(np.int8))
            return binary.coef_[0], float(binary.intercept_[0]), int(binary.n_iter_)

        with ThreadPoolExecutor(max_workers=threads) as pool:
            parts = list(pool.map(one, classes))
        model = self._estimator()
        model.coef_ = np.vstack([coef for coef, _, _ in parts])
        model.intercept_ = np.array([b for _, b, _ in parts])
        model.classes_ = np.array(classes)
        model.n_features_in_ = features.shape[1]
        model.n_iter_ = max(n for _, _, n in parts)
        return model  # type: ignore[return-value]

    def _estimator(self) -> LinearSVC | LogisticRegression:
        if self.config.estimator == "svm":
            return LinearSVC(
                C=self.config.C, max_iter=self.config.max_iter, class_weight=self.config.class_weight
            )
        if self.config.estimator == "logreg":
            return LogisticRegression(
                C=self.config.C, max_iter=self.config.max_iter, class_weight=self.config.class_weight
            )
        raise ValueError(f"unknown estimator {self.config.estimator!r}")

    def _augment(
        self, texts: list[str], labels: list[str], embeddings: np.ndarray
    ) -> tuple[list[str], list[str], np.ndarray]:
        if not self.config.augment or self.config.text_view == "normalised":  # already folded
            return texts, labels, embeddings
        # The n-gram vectorisers lower-case anyway: only umlaut spellings add anything.
        extra = [i for i, t in enumerate(texts) if fold_text(t) != t.lower()]
        if not extra:
            return texts, labels, embeddings
        # The folded copy shares the original's embedding: only the n-gram view changes.
        return (
            texts + [fold_text(texts[i]) for i in extra],
            labels + [labels[i] for i in extra],
            np.vstack([embeddings, embeddings[extra]]),
        )

    def _tune(self, texts: list[str], labels: list[str], embeddings: np.ndarray) -> None:
        """Fit the softmax temperature and the fallback threshold on cross-validated scores."""
        counts = Counter(labels)
        folds = min(self.config.tuning_folds, min(counts.values()))
        if folds < 2 or len(counts) < 2:
            return
        y = np.array(labels)
        scores = np.full((len(labels), len(self.classes)), -1e3 if self.config.estimator == "svm" else 0.0)
        fold_config = replace(self.config, augment=False, fallback_threshold=0.0)
        splitter = StratifiedKFold(n_splits=folds, shuffle=True, random_state=0)
        for train_idx, test_idx in splitter.split(texts, y):
            fold = IntentClassifier(fold_config)
            fold.fit(
                [texts[i] for i in train_idx],
                y[train_idx].tolist(),
                embeddings[train_idx],
                tune_threshold=False,
            )
            fold_scores = fold._raw_scores(
                fold._featurise([texts[i] for i in test_idx], embeddings[test_idx])
            )
            for j, name in enumerate(fold.classes):
                scores[np.ix_(test_idx, [self.classes.index(name)])] = fold_scores[:, [j]]
        if self.config.estimator == "svm":
            self.temperature = choose_temperature(scores, y, self.classes)
            probs = softmax(scores * self.temperature)
        else:
            probs = scores
        if self.config.fallback_threshold is None:
            self.threshold = choose_threshold(probs, y, self.classes, cap=self.config.threshold_cap)

    def _raw_scores(self, features: sparse.csr_matrix) -> np.ndarray:
        """SVM decision values (n, classes) or logistic-regression probabilities."""
        assert self._model is not None
        # Limiting thread pools costs about a millisecond: only worth it for big batches.
        with single_threaded() if features.shape[0] > 256 else contextlib.nullcontext():
            if isinstance(self._model, LogisticRegression):
                return np.asarray(self._model.predict_proba(features))
            if features.shape[0] <= 16:  # same as decision_function, without its validation cost
                decision = np.asarray(features @ self._model.coef_.T, dtype=np.float64)
                decision += self._model.intercept_
                decision = decision[:, 0] if decision.shape[1] == 1 else decision
            else:
                decision = np.asarray(self._model.decision_function(features), dtype=np.float64)
        if decision.ndim == 1:  # two classes
            decision = np.column_stack([-decision, decision])
        return decision

    # -- prediction -----------------------------------------------------------------------
    def predict_proba(self, texts: Sequence[str], embeddings: np.ndarray) -> np.ndarray:
        if self._model is None:
            raise RuntimeError("IntentClassifier is not trained")
        if not texts:
            return np.zeros((0, len(self.classes)))
        raw = self._raw_scores(self._featurise(texts, embeddings))
        if isinstance(self._model, LogisticRegression):
            return raw
        return softmax(raw * self.temperature)

    def rank(
        self, texts: Sequence[str], embeddings: np.ndarray, top: int = RANKING_SIZE
    ) -> list[list[IntentScore]]:
        """Per text: the top intents, best first; the first is ``out_of_scope`` when unsure."""
        out: list[list[IntentScore]] = []
        probs = self.predict_proba(texts, embeddings)
        scores = self.in_scope_scores(probs, embeddings)
        for row, score in zip(probs, scores, strict=True):
            order = np.argsort(-row)[:top]
            ranking = [IntentScore(self.classes[i], float(row[i])) for i in order]
            if ranking and score < self.threshold and ranking[0].name != OUT_OF_SCOPE:
                oos = next((s for s in ranking if s.name == OUT_OF_SCOPE), None)
                others = [s for s in ranking if s.name != OUT_OF_SCOPE]
                # Like Rasa's FallbackClassifier: out_of_scope goes first, with the
                # threshold as its confidence unless its own probability is higher.
                fallback = IntentScore(OUT_OF_SCOPE, max(self.threshold, oos.confidence if oos else 0.0))
                ranking = [fallback, *others][:top]
            out.append(ranking)
        return out

    def in_scope_scores(self, probs: np.ndarray, embeddings: np.ndarray) -> np.ndarray:
        """How in scope each text is: its top probability, plus (``oos_similarity_weight``) how similar it
        is to the closest in-scope training sentences. Below ``threshold`` the text is out of scope."""
        top = probs.max(axis=1) if probs.size else np.zeros(len(probs))
        weight = getattr(self.config, "oos_similarity_weight", 0.0)  # models saved before it existed
        if weight <= 0 or self._knn_ref is None or not embeddings.size:
            return top  # type: ignore[no-any-return]
        assert self._knn_labels is not None
        in_scope = np.array([name != OUT_OF_SCOPE and name != "oos" for name in self._knn_names])
        reference = self._knn_ref[in_scope[self._knn_labels]]
        sims = np.asarray(embeddings, dtype=np.float32) @ reference.T
        k = min(self.config.oos_k, sims.shape[1])
        nearest = np.partition(sims, sims.shape[1] - k, axis=1)[:, -k:].mean(axis=1)
        return top + weight * nearest  # type: ignore[no-any-return]

    # -- persistence ----------------------------------------------------------------------
    def save(self, path: Path) -> None:
        joblib.dump(
            {
                "config": self.config,
                "threshold": self.threshold,
                "temperature": self.temperature,
                "classes": self.classes,
                "char": self._char,
                "word": self._word,
                "model": self._model,
                "knn": (self._knn_ref, self._knn_labels, self._knn_names),
            },
            path,
        )

    @classmethod
    def load(cls, path: Path) -> IntentClassifier:
        state = joblib.load(path)
        clf = cls(state["config"])
        clf.threshold = state["threshold"]
        clf.temperature = state.get("temperature", clf.config.temperature)
        clf.classes = state["classes"]
        clf._char, clf._word, clf._model = state["char"], state["word"], state["model"]
        clf._knn_ref, clf._knn_labels, clf._knn_names = state.get("knn", (None, None, []))
        return clf


_ANALYZERS: dict[int, Any] = {}


def _sklearn_transform(vectorizer: TfidfVectorizer, docs: Sequence[str]) -> sparse.csr_matrix:
    return vectorizer.transform(docs)


def tfidf_transform(vectorizer: TfidfVectorizer, docs: Sequence[str]) -> sparse.csr_matrix:
    """``vectorizer.transform(docs)`` for a fitted, L2-normalised TF-IDF vectoriser, in plain Python."""
    key = id(vectorizer)
    cached = _ANALYZERS.get(key)
    if cached is None or cached[0] is not vectorizer:
        cached = (vectorizer, vectorizer.build_analyzer(), np.asarray(vectorizer.idf_, dtype=np.float64))
        _ANALYZERS[key] = cached
    _, analyze, idf = cached
    vocabulary = vectorizer.vocabulary_
    sublinear = vectorizer.sublinear_tf
    indptr, indices, values = [0], [], []
    for doc in docs:
        counts = Counter(j for f in analyze(doc) if (j := vocabulary.get(f)) is not None)
        cols = np.fromiter(counts.keys(), dtype=np.int64, count=len(counts))
        tf = np.fromiter(counts.values(), dtype=np.float64, count=len(counts))
        if sublinear:
            tf = np.log(tf) + 1.0
        row = tf * idf[cols]
        norm = float(np.sqrt(row @ row))
        order = np.argsort(cols)
        indices.append(cols[order])
        values.append(row[order] / norm if norm > 0 else row[order])
        indptr.append(indptr[-1] + len(cols))
    return sparse.csr_matrix(
        (
            np.concatenate(values) if values else np.zeros(0),
            np.concatenate(indices) if indices else np.zeros(0, dtype=np.int64),
            np.array(indptr),
        ),
        shape=(len(docs), len(vocabulary)),
    )


def softmax(scores: np.ndarray) -> np.ndarray:
    shifted = scores - scores.max(axis=1, keepdims=True)
    exp = np.exp(shifted)
    return exp / exp.sum(axis=1, keepdims=True)  # type: ignore[no-any-return]


def choose_temperature(scores: np.ndarray, labels: np.ndarray, classes: list[str]) -> float:
    """The softmax temperature with the lowest log-loss on held-out decision scores."""
    index = {name: i for i, name in enumerate(classes)}
    truth = np.array([index[label] for label in labels])
    best_t, best_loss = 1.0, float("inf")
    for t in (1.0, 2.0, 3.0, 4.0, 5.0, 6.0, 8.0, 10.0, 12.0, 15.0, 20.0, 30.0):
        probs = softmax(scores * t)
        loss = float(-np.log(np.clip(probs[np.arange(len(truth)), truth], 1e-12, 1.0)).mean())
        if loss < best_loss:
            best_t, best_loss = t, loss
    return best_t


def choose_threshold(
    probs: np.ndarray, labels: np.ndarray, classes: list[str], *, cap: float = 0.5, tolerance: float = 0.005
) -> float:
    """The largest fallback threshold (<= cap) whose accuracy is within ``tolerance`` of the best."""
    best_idx = probs.argmax(axis=1)
    best_p = probs.max(axis=1)
    predicted = np.array(classes, dtype=object)[best_idx]
    scores: list[tuple[float, float]] = []
    for t in np.arange(0.0, cap + 1e-9, 0.025):
        pred = np.where(best_p < t, OUT_OF_SCOPE, predicted)
        scores.append((float(t), float((pred == labels).mean())))
    top = max(acc for _, acc in scores)
    return round(max(t for t, acc in scores if acc >= top - tolerance), 3)


def choose_oos_threshold(
    scores: np.ndarray, predicted: np.ndarray, labels: np.ndarray, *, oos_label: str, max_drop: float = 0.01
) -> float:
    """On a validation split: the in-scope score threshold with the highest out-of-scope recall whose
    in-scope accuracy is at most ``max_drop`` below the accuracy without any threshold (ties: the
    higher in-scope accuracy). ``predicted`` is the top intent, ``labels`` the truth."""
    in_scope = labels != oos_label
    if not in_scope.any() or in_scope.all():
        return 0.0
    base = float((predicted[in_scope] == labels[in_scope]).mean())
    best: tuple[float, float, float] = (0.0, -1.0, 0.0)
    for threshold in np.unique(np.round(scores, 3)):
        rejected = scores < threshold
        accuracy = float(((predicted == labels) & ~rejected)[in_scope].mean())
        recall = float((rejected | (predicted == oos_label))[~in_scope].mean())
        if accuracy >= base - max_drop and (recall, accuracy) > (best[1], best[2]):
            best = (float(threshold), recall, accuracy)
    return best[0]


def embed_or_empty(embedder: Embedder | None, texts: Sequence[str]) -> np.ndarray:
    if embedder is None:
        return np.zeros((len(texts), 0), dtype=np.float32)
    return embedder.encode(texts)
