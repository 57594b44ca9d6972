"""Trained named-entity recognition for person, organization and job_title.

One blank spaCy pipeline per language (``spacy.blank("en")`` / ``"de"``) with an ``ner`` pipe
trained on the annotated NLU examples. Everything else (e-mail, amounts, dates, ...) comes from
rules, so this model only learns what rules cannot describe.
"""

from __future__ import annotations

import contextlib
import logging
import os
import pickle
import random
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import spacy
from spacy.language import Language
from spacy.tokens import Span
from spacy.training import Example
from spacy.util import filter_spans, fix_random_seed, minibatch

from nlu.ner_augment import COPIES, augment
from nlu.training_data import TrainingExample
from nlu.types import Entity

log = logging.getLogger(__name__)

NER_LABELS: tuple[str, ...] = ("person", "organization", "job_title")
EXTRACTOR = "ner"
MAX_CHARS = 5000

ProgressCallback = Callable[[int, int], None]

# Capitalised at the start of a sentence, never a name on their own ("How does the pipeline look",
# "Please delete all my data", "Any news on ticket #4711?"). The languages' stop words count too.
_NOT_NAMES: frozenset[str] = frozenset({
    "please", "pls", "plz", "how", "any", "just", "hey", "hi", "hello", "thanks", "thank", "can", "could",
    "would", "what", "when", "where", "who", "why", "which", "show", "list", "log", "add", "find", "get",
    "give", "tell", "remind", "create", "update", "move", "set", "change", "delete", "new", "note",
    "call", "called", "meeting", "met", "email", "ok", "okay", "yes", "no", "sure", "stop", "hallo",
    "bitte", "danke", "kannst", "könntest", "wie", "was", "wann", "wo", "wer", "warum", "welche",
    "welcher", "zeig", "zeige", "gib", "leg", "lege", "trag", "trage", "erinnere", "notiz", "neuer",
    "neue", "neues", "hab", "habe", "hatte", "ja", "nein", "moin", "servus", "grüß", "tschüss",
    "gerade", "grad", "eben", "heute", "morgen", "gestern", "today", "tomorrow", "yesterday",
})  # fmt: skip


class EntityRecognizer:
    """Per-language spaCy NER models; unknown languages fall back to English (or any model)."""

    def __init__(self, models: dict[str, Language] | None = None) -> None:
        self.models: dict[str, Language] = models or {}

    def _model_for(self, lang: str) -> Language | None:
        return self.models.get(lang) or self.models.get("en") or next(iter(self.models.values()), None)

    def train(
        self,
        examples: Sequence[TrainingExample],
        *,
        epochs: int = 12,
        max_seconds: float | None = None,
        seed: int = 0,
        augment_copies: int = COPIES,
        progress: ProgressCallback | None = None,
    ) -> EntityRecognizer:
        """Train one NER pipe per language. Without ``max_seconds`` every epoch runs, so the same data
        always gives the same model (a time budget makes the result depend on how busy the machine is).
        ``augment_copies`` adds that many copies of each named example with other names in it
        (``nlu.ner_augment``), so the model learns the contexts rather than the names."""
        by_lang: dict[str, list[TrainingExample]] = {}
        for ex in augment(examples, copies=augment_copies, seed=seed) if augment_copies else examples:
            by_lang.setdefault(ex.language, []).append(ex)
        by_lang = {lang: _balanced(items, seed) for lang, items in by_lang.items()}
        total = epochs * len(by_lang)
        if max_seconds is None and _parallel_worthwhile(by_lang):
            self.models.update(_train_in_processes(by_lang, epochs=epochs, seed=seed, progress=progress))
            if progress:
                progress(total, total)
            return self
        done = 0
        for lang, items in sorted(by_lang.items()):
            deadline = (time.monotonic() + max_seconds / max(1, len(by_lang))) if max_seconds else None

            def step(_epoch: int, _total: int) -> None:
                nonlocal done
                done += 1
                if progress:
                    progress(done, total)

            self.models[lang] = train_spacy_ner(
                lang, items, epochs=epochs, deadline=deadline, seed=seed, on_epoch=step
            )
        return self

    def extract(self, text: str, lang: str) -> list[Entity]:
        return self.extract_batch([text], [lang])[0]

    def extract_batch(self, texts: Sequence[str], langs: Sequence[str]) -> list[list[Entity]]:
        out: list[list[Entity]] = [[] for _ in texts]
        groups: dict[str, list[int]] = {}
        for i, lang in enumerate(langs):
            groups.setdefault(lang, []).append(i)
        for lang, indices in groups.items():
            nlp = self._model_for(lang)
            if nlp is None:
                continue
            docs = nlp.pipe([texts[i][:MAX_CHARS] for i in indices])
            stop_words = nlp.Defaults.stop_words
            for i, doc in zip(indices, docs, strict=True):
                out[i] = [e for ent in doc.ents if (e := _cleaned(ent, stop_words)) is not None]
        return out

    def save(self, directory: Path) -> None:
        directory.mkdir(parents=True, exist_ok=True)
        for lang, nlp in self.models.items():
            nlp.to_disk(directory / lang)

    @classmethod
    def load(cls, directory: Path) -> EntityRecognizer:
        models: dict[str, Language] = {}
        if directory.is_dir():
            for sub in sorted(p for p in directory.iterdir() if p.is_dir()):
                models[sub.name] = spacy.load(sub)
        return cls(models)


PARALLEL_MIN_EXAMPLES = 1500  # below this a language trains in seconds: no worker processes


def _parallel_worthwhile(by_lang: dict[str, list[TrainingExample]]) -> bool:
    return (
        len(by_lang) > 1
        and (os.cpu_count() or 1) > 1
        and sum(len(items) for items in by_lang.values()) >= PARALLEL_MIN_EXAMPLES
    )


def _train_in_processes(
    by_lang: dict[str, list[TrainingExample]],
    *,
    epochs: int,
    seed: int,
    progress: ProgressCallback | None = None,
) -> dict[str, Language]:
    """One worker process per language (the CPU-bound part of ``crm-assistant train``): each is
    ``python -m nlu.ner WORKDIR LANG EPOCHS SEED`` reading its examples from a pickle and writing its model
    there, loaded here. Same seeds as training one after another (BLAS threading may change the last
    digits); if a worker fails, that language is trained in this process instead. Each worker counts its
    finished epochs in ``WORKDIR/epochs``; ``progress(done, total)`` hears the sum while they run."""
    models: dict[str, Language] = {}
    with tempfile.TemporaryDirectory(prefix="crm-ner-") as tmp:
        workers: dict[str, subprocess.Popen[bytes]] = {}
        for lang, items in by_lang.items():
            folder = Path(tmp) / lang
            folder.mkdir()
            (folder / "examples.pickle").write_bytes(pickle.dumps(items))
            command = [sys.executable, "-m", "nlu.ner", str(folder), lang, str(epochs), str(seed)]
            with (folder / "stderr.log").open("wb") as err:  # a file, not a pipe: nobody reads it meanwhile
                workers[lang] = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=err)
        _wait_reporting(workers, Path(tmp), epochs * len(workers), progress)
        for lang, proc in workers.items():
            proc.wait()
            model = Path(tmp) / lang / "model"
            if proc.returncode == 0 and model.is_dir():
                models[lang] = spacy.load(model)
            else:
                err_tail = (Path(tmp) / lang / "stderr.log").read_text(errors="replace")[-500:]
                log.warning("NER worker for %s failed (%s); training here", lang, err_tail)
                models[lang] = train_spacy_ner(lang, by_lang[lang], epochs=epochs, seed=seed)
    return models


def _wait_reporting(
    workers: dict[str, subprocess.Popen[bytes]], workdir: Path, total: int, progress: ProgressCallback | None
) -> None:
    """Wait for every worker; meanwhile tell ``progress`` the epochs they have finished (polled twice a second)."""
    reported = -1
    while True:
        running = [proc for proc in workers.values() if proc.poll() is None]
        if progress is not None:
            done = 0
            for lang in workers:
                with contextlib.suppress(OSError, ValueError):  # not written yet, or being written
                    done += int((workdir / lang / "epochs").read_text() or 0)
            if done != reported:
                reported = done
                progress(min(done, total), total)
        if not running:
            return
        with contextlib.suppress(subprocess.TimeoutExpired):
            running[0].wait(timeout=0.5)


def _worker(argv: Sequence[str]) -> None:
    folder, lang, epochs, seed = Path(argv[0]), argv[1], int(argv[2]), int(argv[3])
    items = pickle.loads((folder / "examples.pickle").read_bytes())

    def count(epoch: int, _total: int) -> None:
        (folder / "epochs").write_text(str(epoch))

    train_spacy_ner(lang, items, epochs=epochs, seed=seed, on_epoch=count).to_disk(folder / "model")


def _not_a_name(token: Any, stop_words: set[str]) -> bool:
    lower = token.lower_
    return token.is_punct or lower in _NOT_NAMES or lower in stop_words


def _cleaned(span: Span, stop_words: set[str]) -> Entity | None:
    """The span without leading function words ("Please Anna Schmidt" -> "Anna Schmidt"); None
    when nothing name-like is left."""
    tokens = list(span)
    if span.label_ in ("person", "job_title"):
        while tokens and (tokens[0].is_punct or tokens[0].lower_ in _NOT_NAMES):
            tokens.pop(0)
    while tokens and tokens[-1].is_punct and tokens[-1].text not in ".)&":  # "Acme Inc." keeps its dot
        tokens.pop()
    if not tokens or all(_not_a_name(t, stop_words) for t in tokens):
        return None
    if span.label_ in ("person", "job_title") and not any(t.is_alpha for t in tokens):
        return None  # "#4711?": a person or a job title has letters
    start, end = tokens[0].idx, tokens[-1].idx + len(tokens[-1].text)
    text = span.doc.text[start:end]
    if not text.strip():
        return None
    return Entity(entity=span.label_, value=text, start=start, end=end, extractor=EXTRACTOR)


def _balanced(examples: list[TrainingExample], seed: int) -> list[TrainingExample]:
    """Every example with a name in it, and at most as many without (they only teach "no entity")."""
    positive = [ex for ex in examples if any(e.entity in NER_LABELS for e in ex.entities)]
    negative = [ex for ex in examples if not any(e.entity in NER_LABELS for e in ex.entities)]
    random.Random(seed).shuffle(negative)
    return positive + negative[: max(len(positive), 20)]


def _reference_doc(nlp: Language, example: TrainingExample) -> Example:
    reference = nlp.make_doc(example.text)
    spans = [
        reference.char_span(ent.start, ent.end, label=ent.entity, alignment_mode="expand")
        for ent in example.entities
        if ent.entity in NER_LABELS
    ]
    reference.set_ents(filter_spans([s for s in spans if s is not None]))
    return Example(nlp.make_doc(example.text), reference)


def train_spacy_ner(
    lang: str,
    examples: Sequence[TrainingExample],
    *,
    epochs: int = 12,
    deadline: float | None = None,
    seed: int = 0,
    on_epoch: ProgressCallback | None = None,
) -> Language:
    """Train a blank spaCy ``ner`` pipe; stops early at ``deadline`` (``time.monotonic``)."""
    fix_random_seed(seed)
    nlp = spacy.blank(lang)
    ner = nlp.add_pipe("ner")
    for label in NER_LABELS:
        ner.add_label(label)
    train = [_reference_doc(nlp, ex) for ex in examples]
    optimizer = nlp.initialize(lambda: train)
    rng = random.Random(seed)
    for epoch in range(epochs):
        rng.shuffle(train)
        losses: dict[str, float] = {}
        for batch in minibatch(train, size=16):
            nlp.update(batch, drop=0.2, sgd=optimizer, losses=losses)
        log.debug("ner %s epoch %d loss %.2f", lang, epoch, losses.get("ner", 0.0))
        if on_epoch:
            on_epoch(epoch + 1, epochs)
        if deadline is not None and time.monotonic() > deadline:
            log.info("ner %s: stopped after %d epochs (time budget)", lang, epoch + 1)
            break
    return nlp


if __name__ == "__main__":  # a training worker of _train_in_processes
    _worker(sys.argv[1:])
