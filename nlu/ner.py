"""Trained named-entity recognition for person, organization and job_title.

One blank spaCy pipeline per language (``spacy.blank("en")`` / ``"de"``) with an ``ner`` pipe
trained on the annotated NLU examples and generated names (``nlu.ner_augment``, ``nlu.names``).
Everything else (e-mail, amounts, dates, ...) comes from rules, so this model only learns what rules
cannot describe.

What the model proposes is then repaired where its boundaries are known to go wrong
(``repair_organizations``): an organisation ends at its legal form ("Nordlicht Energie GmbH wants" ->
"Nordlicht Energie GmbH"), takes in a legal form it stopped short of and a name word it left out on the
left ("Feinkost GmbH" -> "Seidel Feinkost GmbH"), stops at a sentence end ("Solvex Group. add"), and a
run of name words before a legal form is an organisation even when the model missed it. What counts as
"not a name word" is learnt from the training data: every word the examples use outside a name
(``context_words``), plus the language's stop words.
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import pickle
import random
import re
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

from nlu.names import ALL_LEGAL_FORMS, BRANCHES, ORG_PREFIXES_DE, legal_form_pattern
from nlu.ner_augment import COPIES, augment
from nlu.training_data import TrainingExample
from nlu.types import Entity

log = logging.getLogger(__name__)

NER_LABELS: tuple[str, ...] = ("person", "organization", "job_title")
EXTRACTOR = "ner"
RULE_EXTRACTOR = "ner_rules"
MAX_CHARS = 5000
CONTEXT_FILE = "context_words.json"

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

    def __init__(
        self, models: dict[str, Language] | None = None, context: dict[str, frozenset[str]] | None = None
    ) -> None:
        self.models: dict[str, Language] = models or {}
        # per language: lower-cased words the training examples use outside names
        self.context: dict[str, frozenset[str]] = context or {}
        self._not_names_cache: dict[str, frozenset[str]] = {}

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
        self.context.update({lang: context_words(items) for lang, items in by_lang.items()})
        self._not_names_cache.clear()
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
            not_names = self._not_names(lang, stop_words)
            for i, doc in zip(indices, docs, strict=True):
                found = [e for ent in doc.ents if (e := _cleaned(ent, stop_words)) is not None]
                found = repair_organizations(doc.text, found, not_names)
                out[i] = repair_people(doc.text, found, not_names)
        return out

    def _not_names(self, lang: str, stop_words: set[str]) -> frozenset[str]:
        """Words that end a name: every language's context words (a message is often detected as the other
        language: "visited Nordkap Fisk AB" reads German) and the language's stop words; empty without
        context words (a model trained before them), which turns the repair off."""
        cached = self._not_names_cache.get(lang)
        if cached is None:
            context = frozenset().union(*self.context.values()) if self.context else frozenset()
            cached = context | frozenset(stop_words) if context else frozenset()
            self._not_names_cache[lang] = cached
        return cached

    def save(self, directory: Path) -> None:
        directory.mkdir(parents=True, exist_ok=True)
        for lang, nlp in self.models.items():
            nlp.to_disk(directory / lang)
            words = sorted(self.context.get(lang, ()))
            (directory / lang / CONTEXT_FILE).write_text(
                json.dumps(words, ensure_ascii=False), encoding="utf-8"
            )

    @classmethod
    def load(cls, directory: Path) -> EntityRecognizer:
        models: dict[str, Language] = {}
        context: dict[str, frozenset[str]] = {}
        if directory.is_dir():
            for sub in sorted(p for p in directory.iterdir() if p.is_dir()):
                models[sub.name] = spacy.load(sub)
                words = sub / CONTEXT_FILE
                if words.is_file():  # models trained before the repair have none: no repair then
                    context[sub.name] = frozenset(json.loads(words.read_text(encoding="utf-8")))
        return cls(models, context)


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
    add_legal_form_tokens(nlp)
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


# ---------------------------------------------------------------- tokens and span repair

_LEGAL_FORM = legal_form_pattern()
_LEGAL_FORM_AT_START = re.compile(rf"\s*(?:&\s*Co\.?\s*)?(?:{_LEGAL_FORM.pattern})")
# A name word: letters (any script), digits, and the joiners inside names (O'Brien, Müller-Lüdenscheid, R&D).
_TOKEN = re.compile(r"[^\W_][\w'’&.+/-]*|&|\+", re.UNICODE)
_JOINERS = frozenset({"&", "+", "und", "and", "u.", "of", "am", "an", "der", "de", "di", "van", "von"})
# Words that belong to firm names even though training sentences use them outside names too.
_NAME_WORDS = frozenset(
    w.lower() for words in BRANCHES.values() for branch in words for w in branch.split()
) | frozenset(
    {"group", "gruppe", "partner", "partners", "holding", "holdings", "söhne", "sons", "stadtwerke"}
)
_MAX_NAME_WORDS = 5


def add_legal_form_tokens(nlp: Language) -> None:
    """Legal forms as single tokens ("S.p.A.", "e.V.", "o.o.", "A/S"), as written, lower-case and in capitals,
    so that a span can end exactly after them."""
    tokenizer: Any = nlp.tokenizer
    for form in ALL_LEGAL_FORMS:
        for word in form.split():
            if len(word) > 1 and any(ch in word for ch in "./") and not word.endswith("("):
                for variant in {word, word.lower(), word.upper()}:
                    tokenizer.add_special_case(variant, [{"ORTH": variant}])


def context_words(examples: Sequence[TrainingExample]) -> frozenset[str]:
    """Lower-cased words the examples use outside person, organisation and job-title spans, minus every
    word that is part of such a name somewhere: the words that end a name when reading outwards."""
    outside: set[str] = set()
    inside: set[str] = set()
    for ex in examples:
        spans = sorted((e.start, e.end) for e in ex.entities if e.entity in NER_LABELS)
        for m in _TOKEN.finditer(ex.text):
            word = m.group().lower().strip(".")
            if any(start <= m.start() < end for start, end in spans):
                inside.add(word)
            elif word:
                outside.add(word)
    return frozenset(outside - inside - _NAME_WORDS)


def _is_name_word(word: str, stop: frozenset[str] | set[str]) -> bool:
    lower = word.lower().strip(".")
    return bool(lower) and lower not in stop and lower not in _NOT_NAMES and not lower.isdigit()


def _name_start(text: str, end: int, stop: frozenset[str] | set[str], *, floor: int = 0) -> int | None:
    """Reading left from ``end``: where the run of name words ending there starts (at most
    ``_MAX_NAME_WORDS``, joiners like "&" or "und" only between name words), or None when there is none."""
    tokens = [m for m in _TOKEN.finditer(text, floor, end) if m.end() <= end]
    start: int | None = None
    boundary = end  # start of the leftmost token taken so far, joiners included
    taken = 0
    pending_joiner = False
    for m in reversed(tokens):
        if start is not None and text[m.end() : boundary].strip() not in ("", "-"):
            break  # punctuation between words ends the name
        word = m.group()
        if word.lower() in _JOINERS and start is not None and not pending_joiner:
            pending_joiner, boundary = True, m.start()
            continue
        if not _is_name_word(word, stop) or taken >= _MAX_NAME_WORDS:
            break
        if word[0].islower() and start is not None and text[start].isupper():
            break  # "bei Hollerbach AG" reads left into lower-case words only when the name is lower-case
        start = boundary = m.start()
        pending_joiner = False
        taken += 1
    return start


def repair_organizations(text: str, entities: list[Entity], stop: frozenset[str] | set[str]) -> list[Entity]:
    """Organisation spans end at their legal form and at a sentence end, take in the legal form after them
    and the name words before them, and a run of name words before a legal form that the model missed is
    an organisation too (``RULE_EXTRACTOR``). Without ``stop`` words (an old model) nothing changes."""
    if not stop:
        return entities
    repaired: list[Entity] = []
    for ent in entities:
        if ent.entity == "organization":
            ent = _repair_span(text, ent, stop)
        repaired.append(ent)
    for m in _ORG_PREFIX.finditer(text):  # "Gebrüder Brenner", "Autohaus am Ring", "Stadtwerke Oberland"
        if not any(e.start < m.end() and m.start() < e.end for e in repaired):
            end = _prefixed_name_end(text, m.end(), stop)
            if end is not None:
                repaired.append(Entity("organization", text[m.start() : end], m.start(), end, RULE_EXTRACTOR))
    for m in _LEGAL_FORM.finditer(text):
        if any(e.start <= m.start() < e.end for e in repaired):
            continue
        if m.group()[0].islower() and m.group() in ("kg", "ag", "se", "og"):
            continue  # "5 kg", not a legal form
        floor = max((e.end for e in repaired if e.end <= m.start()), default=0)
        start = _name_start(text, m.start(), stop, floor=floor)
        if start is None:
            continue
        value = text[start : m.end()]
        repaired.append(Entity("organization", value, start, m.end(), RULE_EXTRACTOR))
    return sorted(repaired, key=lambda e: (e.start, e.end))


_ORG_PREFIX = re.compile(rf"(?<![\w-])(?:{'|'.join(re.escape(p) for p in ORG_PREFIXES_DE)})(?=\s)")
_PREFIX_JOINERS = frozenset(
    {"am", "an", "im", "zum", "zur", "der", "dem", "den", "auf", "&", "und", "dr.", "st."}
)


def _prefixed_name_end(text: str, after: int, stop: frozenset[str] | set[str]) -> int | None:
    """After an opening word ("Weingut"): the end of the capitalised name words that follow (joiners like "am"
    only between them), with a legal form after them; None when no capitalised name word follows."""
    end: int | None = None
    boundary = after  # end of the last word taken, joiners included
    pending = False
    for m in _TOKEN.finditer(text, after):
        if text[boundary : m.start()].strip():
            break
        word = m.group()
        if word.lower() in _PREFIX_JOINERS and not pending:
            pending, boundary = True, m.end()
            continue
        if not (_capitalised_name(word, stop) or (word.isupper() and len(word) > 1)):
            break
        end = boundary = m.end()
        pending = False
        if len(text[after:end].split()) >= 4:
            break
    if end is None:
        return None
    form = _LEGAL_FORM_AT_START.match(text, end)
    return form.end() if form else end


def _repair_span(text: str, ent: Entity, stop: frozenset[str] | set[str]) -> Entity:
    start, end = ent.start, ent.end
    span = text[start:end]
    # 1. ends at a sentence end inside it ("Solvex Group. add"), unless the dot belongs to a legal form
    for m in re.finditer(r"[.!?;:](?=\s+\S)", span):
        head = span[: m.end()]
        if not _ends_with_legal_form(head) and not re.search(r"(?:\b\w|Co|St|Dr)\.$", head):
            end = start + m.start()
            break
    # 2. ends at its (last) legal form: "Nordlicht Energie GmbH wants" -> "... GmbH"
    forms = [m for m in _LEGAL_FORM.finditer(text, start, end)]
    if forms and forms[-1].end() < end and forms[-1].start() > start:
        end = forms[-1].end()
    # 3. trailing words the training data uses outside names ("... wants", "... deal")
    while True:
        words = list(_TOKEN.finditer(text, start, end))
        last = words[-1].group() if len(words) > 1 else ""
        if not last or _is_name_word(last, stop) or _LEGAL_FORM.fullmatch(last):
            break
        if last[0].isupper() and words[0].group()[0].isupper():
            break  # a capitalised word the model chose stays ("Haus Lang")
        end = words[-2].end()
    # 4. takes in a legal form right after it ("Lunde Maskin" + " AS") or one it cut ("Meble Sp" + ". z o.o.")
    after = _LEGAL_FORM_AT_START.match(text, end)
    if after:
        end = after.end()
    for m in _LEGAL_FORM.finditer(text, max(start, end - 12)):
        if m.start() < end < m.end():
            end = m.end()
    # 0. starts after the words the training data uses outside names ("visited Nordkap Fisk AB")
    start = _skip_leading(text, start, end, stop)
    # 5. takes in name words right before it: "Feinkost GmbH" -> "Seidel Feinkost GmbH"
    if _LEGAL_FORM.search(text, start, end):
        left = _name_start(text, start, stop)
        if left is not None and left < start and not text[left:start].strip().endswith((",", ".")):
            words_left = len(list(_TOKEN.finditer(text, left, start)))
            if words_left <= 2:
                start = left
    value = text[start:end].strip()
    if not value:
        return ent
    if (start, end) == (ent.start, ent.end):
        return ent
    return Entity(ent.entity, value, start, start + len(value), ent.extractor, ent.confidence)


def _skip_leading(text: str, start: int, end: int, stop: frozenset[str] | set[str]) -> int:
    words = list(_TOKEN.finditer(text, start, end))
    while (
        len(words) > 1
        and not _is_name_word(words[0].group(), stop)
        and words[0].group().lower() not in _TITLES
    ):
        words.pop(0)
    return words[0].start() if words else start


_TITLES = frozenset({
    "herr", "herrn", "frau", "hr", "fr", "dr", "prof", "mr", "mrs", "ms", "miss", "sir", "dame", "mag", "ing",
    "dipl", "dipl.-ing",
})  # fmt: skip
_CAPITALISED = re.compile(r"[A-ZÀ-ÖØ-ÞĀ-ſ][\w'’]*(?:-[A-ZÀ-ÖØ-ÞĀ-ſ][\w'’]*)*\Z", re.UNICODE)


def _capitalised_name(word: str, stop: frozenset[str] | set[str]) -> bool:
    return (
        bool(_CAPITALISED.match(word)) and len(word) > 1 and _is_name_word(word, stop) and not word.isupper()
    )


def repair_people(text: str, entities: list[Entity], stop: frozenset[str] | set[str]) -> list[Entity]:
    """Person spans end at punctuation and at words the training data uses outside names ("Marit Solberg
    from" -> "Marit Solberg"), take in the capitalised name words next to them ("Dr. Henrike" + "Albers-Voß",
    "Radosław" + "Kwiatkowski"), and two or three capitalised name words in a row that nothing else claimed are
    a person too ("Wiebke Tjarks ist jetzt ..."), as is a title with a name ("Herr Quandtmeyer")."""
    if not stop:
        return entities
    taken = [(e.start, e.end) for e in entities if e.entity != "person"]
    out: list[Entity] = [e for e in entities if e.entity != "person"]
    people = [e for e in entities if e.entity == "person"]
    for ent in people:
        start, end = _person_bounds(text, ent.start, ent.end, stop, taken)
        if " " not in text[start:end] and text[start:end].islower():
            continue  # one lower-case word ("any news on ...") is too rarely a name to guess
        if end > start:
            value = text[start:end]
            out.append(
                ent
                if (start, end) == (ent.start, ent.end)
                else Entity("person", value, start, end, ent.extractor, ent.confidence)
            )
            taken.append((start, end))
    words = list(_TOKEN.finditer(text))
    i = 0
    while i < len(words):
        m = words[i]
        if any(a <= m.start() < b for a, b in taken):
            i += 1
            continue
        run = [m] if _capitalised_name(m.group(), stop) or m.group().lower().rstrip(".") in _TITLES else []
        j = i + 1
        while run and j < len(words) and len(run) < 4:
            nxt = words[j]
            if text[run[-1].end() : nxt.start()].strip() or any(a <= nxt.start() < b for a, b in taken):
                break
            if not (_capitalised_name(nxt.group(), stop) or nxt.group().lower().rstrip(".") in _TITLES):
                break
            run.append(nxt)
            j += 1
        names = [w for w in run if w.group().lower().rstrip(".") not in _TITLES]
        titled = len(names) < len(run) and run[0].group().lower().rstrip(".") in _TITLES
        if names and (len(names) >= 2 or titled) and run[-1] is names[-1]:
            after = text[run[-1].end() :]
            if not _LEGAL_FORM_AT_START.match(after) and names[-1].group().lower() not in _NAME_WORDS:
                start, end = run[0].start(), run[-1].end()
                out.append(Entity("person", text[start:end], start, end, RULE_EXTRACTOR))
                taken.append((start, end))
        i = max(j, i + 1)
    return sorted(out, key=lambda e: (e.start, e.end))


def _person_bounds(
    text: str, start: int, end: int, stop: frozenset[str] | set[str], taken: list[tuple[int, int]]
) -> tuple[int, int]:
    words = list(_TOKEN.finditer(text, start, end))
    # cut at punctuation between words ("Tadeusz Zieliński - Sokół ...") and at non-name words
    keep = words[:1]
    for w in words[1:]:
        gap = text[keep[-1].end() : w.start()]
        if gap.strip() not in ("", "-") or (gap.strip() == "-" and gap != "-"):
            break
        name_like = _is_name_word(w.group(), stop) or w.group().lower().rstrip(".") in _TITLES
        if not name_like and not (w.group()[0].isupper() and keep[0].group()[0].isupper()):
            break  # "Marit Solberg from"; but "Petra Lang" keeps the capitalised word the model chose
        keep.append(w)
    if not keep:
        return start, start
    start, end = keep[0].start(), keep[-1].end()
    # take in capitalised name words right after and before (at most four words in all)
    following = list(_TOKEN.finditer(text, end))
    while following and len(keep) < 4:
        nxt = following.pop(0)
        gap = text[end : nxt.start()]
        if (
            gap not in (" ", "-")
            or not _capitalised_name(nxt.group(), stop)
            or any(a <= nxt.start() < b for a, b in taken)
        ):
            break
        if _LEGAL_FORM_AT_START.match(text, nxt.end()) or nxt.group().lower() in _NAME_WORDS:
            break
        end = nxt.end()
        keep.append(nxt)
    before = [m for m in _TOKEN.finditer(text, 0, start) if m.end() <= start]
    while before and len(keep) < 4:
        prev = before.pop()
        if text[prev.end() : start] != " " or any(a <= prev.start() < b for a, b in taken):
            break
        if not (_capitalised_name(prev.group(), stop) or prev.group().lower().rstrip(".") in _TITLES):
            break
        if prev.start() == 0 and prev.group().lower() in stop:
            break
        start = prev.start()
        keep.insert(0, prev)
    if text[end - 2 : end] in ("'s", "’s") and end - 2 > start:  # "Ingeborg Tveit's email"
        end -= 2
    return start, end


def _ends_with_legal_form(head: str) -> bool:
    return any(m.end() == len(head) for m in _LEGAL_FORM.finditer(head))


if __name__ == "__main__":  # a training worker of _train_in_processes
    _worker(sys.argv[1:])
