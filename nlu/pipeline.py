"""The NLU pipeline: text -> ParseResult (intent, ranking, entities, language).

    language   nlu.language.detect_language (the caller's hint wins when given)
    intent     sentence embedding ⊕ TF-IDF -> IntentClassifier (with out_of_scope fallback);
               the English-only encoder reads German through a word-by-word gloss (nlu.gloss_de)
    entities   merge of rules (nlu.rule_entities), times (nlu.dates), the trained NER
               and an optional gazetteer of known names

The rule, date and language modules are imported lazily: the pipeline still answers, with
fewer entities, when one of them is missing or fails on an odd input.
"""

from __future__ import annotations

import importlib
import logging
import re
import time
from collections.abc import Callable, Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import joblib
from tqdm import tqdm

from nlu import model_store
from nlu.embedder import Embedder, default_model_name, get_embedder
from nlu.gazetteer import NameGazetteer
from nlu.gloss_de import encoder_text  # CRM_GERMAN_GLOSS=0 is decided there
from nlu.intent_classifier import OUT_OF_SCOPE, ClassifierConfig, IntentClassifier
from nlu.ner import NER_LABELS, EntityRecognizer
from nlu.progress import PhaseClock, ProgressHook
from nlu.training_data import TrainingData, load_training_data
from nlu.types import Entity, IntentScore, ParseResult

log = logging.getLogger(__name__)

DEFAULT_TZ = "Europe/Berlin"
MAX_ENTITY_CHARS = 5000  # rules, dates and NER look at this much of a very long message
MAX_LANGUAGE_CHARS = 1000  # enough to tell the language; detection is slow on long text
_CONTROL = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f\ud800-\udfff]")
_GERMAN_HINTS = re.compile(
    r"\b(und|ich|nicht|mit|bitte|der|die|das|ist|wir|hab|habe|kannst|können|morgen|heute|gestern|"
    r"nächste|woche|mein|meine|danke|hallo|tschüss|ja|nein|wie|was|wann|auf|für|von|dem|den)\b|[äöüß]",
    re.IGNORECASE,
)


# Intents whose turns never need a person, organisation or job title: the NER is skipped for them.
NO_NAME_INTENTS: frozenset[str] = frozenset({"greet", "goodbye", "thank", "affirm", "deny", "cancel", "help"})


def sanitize(text: str) -> str:
    """Same length as ``text`` (offsets stay valid), control characters replaced by spaces."""
    return _CONTROL.sub(" ", text)


def _optional(module: str, attribute: str) -> Callable[..., Any] | None:
    try:
        return getattr(importlib.import_module(module), attribute)  # type: ignore[no-any-return]
    except (ImportError, AttributeError):
        return None


def _fallback_language(text: str, *, default: str = "en", hint: str | None = None) -> str:
    if hint:
        return hint
    words = len(text.split())
    if not words:
        return default
    return "de" if len(_GERMAN_HINTS.findall(text)) / words >= 0.2 else default


def _fallback_merge(*lists: Sequence[Entity]) -> list[Entity]:
    """Earlier lists win overlaps; within a list, longer spans first."""
    chosen: list[Entity] = []
    for items in lists:
        for ent in sorted(items, key=lambda e: (e.start, -(e.end - e.start))):
            if all(ent.end <= c.start or ent.start >= c.end for c in chosen):
                chosen.append(ent)
    return sorted(chosen, key=lambda e: (e.start, e.end))


def resolve_zone(tz: str) -> ZoneInfo:
    try:
        return ZoneInfo(tz)
    except (ZoneInfoNotFoundError, ValueError):
        log.warning("unknown time zone %r, using %s", tz, DEFAULT_TZ)
        return ZoneInfo(DEFAULT_TZ)


class NLUPipeline:
    def __init__(
        self,
        embedder: Embedder | None = None,
        *,
        classifier_config: ClassifierConfig | None = None,
        ner_epochs: int = 12,
    ) -> None:
        self._embedder = embedder
        self.classifier_config = classifier_config or ClassifierConfig()
        self.ner_epochs = ner_epochs
        self.classifier: IntentClassifier | None = None
        self.ner = EntityRecognizer()
        self.synonyms: dict[str, dict[str, str]] = {}
        self.lookups: dict[str, dict[str, list[str]]] = {}
        self.metadata: model_store.ModelMetadata | None = None
        # Known names (the store's contacts and organisations), used when a parse is given none.
        self.gazetteer: NameGazetteer | None = None
        self._detect_language = _optional("nlu.language", "detect_language") or _fallback_language
        self._extract_rules = _optional("nlu.rule_entities", "extract_rule_entities")
        self._merge = _optional("nlu.rule_entities", "merge_entities") or _fallback_merge
        self._extract_times = _optional("nlu.dates", "extract_times")

    @property
    def embedder(self) -> Embedder:
        if self._embedder is None:
            self._embedder = get_embedder()
        return self._embedder

    @property
    def languages(self) -> list[str]:
        return sorted(self.ner.models)

    # -- training -------------------------------------------------------------------------
    def train(
        self,
        data_dir: Path | str,
        model_dir: Path | str,
        progress: bool = True,
        hook: ProgressHook | None = None,
    ) -> model_store.ModelMetadata:
        """Train and save. ``progress`` shows a bar on stderr (only on a terminal); ``hook(phase, fraction)``
        hears every step (the server's warm-up state); the seconds per phase go into the metadata."""
        started = time.perf_counter()
        clock = PhaseClock(hook)
        data = load_training_data(data_dir)
        ner_steps = self.ner_epochs * len({ex.language for ex in data.examples})
        with tqdm(
            total=3 + ner_steps, desc="training NLU", disable=None if progress else True, unit="step"
        ) as bar:
            bar.set_postfix_str("embedding")
            clock("embedding")
            texts = [ex.text for ex in data.examples]
            languages = [ex.language for ex in data.examples]
            embeddings = self.embedder.encode(self._encoder_texts(texts, languages, self.classifier_config))
            bar.update(1)
            bar.set_postfix_str("intents")
            clock("intents")
            self.classifier = IntentClassifier(self.classifier_config).fit(
                texts, [ex.intent for ex in data.examples], embeddings
            )
            bar.update(1)
            bar.set_postfix_str("entities")
            clock("entities")

            def epoch_done(done: int, total: int) -> None:
                bar.update(2 + done - bar.n)
                clock("entities", done / max(1, total))

            self.ner = EntityRecognizer().train(data.examples, epochs=self.ner_epochs, progress=epoch_done)
            self.synonyms, self.lookups = data.synonyms, data.lookups
            bar.update(ner_steps - bar.n + 2)
            bar.set_postfix_str("saving")
            clock("saving")
            self.metadata = self._save(
                Path(model_dir), data, time.perf_counter() - started, phase_seconds=clock.finish()
            )
            bar.update(1)
        return self.metadata

    def fit(self, data: TrainingData) -> NLUPipeline:
        """Train in memory only (cross-validation, tests)."""
        texts = [ex.text for ex in data.examples]
        languages = [ex.language for ex in data.examples]
        embeddings = self.embedder.encode(self._encoder_texts(texts, languages, self.classifier_config))
        self.classifier = IntentClassifier(self.classifier_config).fit(
            texts, [ex.intent for ex in data.examples], embeddings
        )
        self.ner = EntityRecognizer().train(data.examples, epochs=self.ner_epochs)
        self.synonyms, self.lookups = data.synonyms, data.lookups
        return self

    def _save(
        self,
        model_dir: Path,
        data: TrainingData,
        seconds: float,
        *,
        phase_seconds: dict[str, float] | None = None,
    ) -> model_store.ModelMetadata:
        assert self.classifier is not None
        target = model_store.nlu_dir(model_dir)
        target.mkdir(parents=True, exist_ok=True)
        self.classifier.save(target / model_store.INTENT_FILE)
        joblib.dump({"synonyms": self.synonyms, "lookups": self.lookups}, target / model_store.LEXICON_FILE)
        self.ner.save(target / model_store.NER_DIR)
        metadata = model_store.ModelMetadata(
            data_hash=data.content_hash,
            embedding_model=getattr(self.embedder, "name", default_model_name()),
            embedding_backend=type(self.embedder).__name__,
            languages=sorted({ex.language for ex in data.examples}),
            intents=data.intents,
            threshold=self.classifier.threshold,
            examples=len(data.examples),
            train_seconds=round(seconds, 2),
            phase_seconds=phase_seconds or {},  # "saving" counts up to writing this file
            trained_at=datetime.now(UTC).isoformat(timespec="seconds"),
        )
        model_store.write_metadata(model_dir, metadata)
        return metadata

    @classmethod
    def load(cls, model_dir: Path | str, *, embedder: Embedder | None = None) -> NLUPipeline:
        model_dir = Path(model_dir)
        metadata = model_store.read_metadata(model_dir)
        if metadata is None:
            raise FileNotFoundError(f"no trained NLU model in {model_dir}")
        if embedder is None:
            backend = "hashing" if metadata.embedding_model == "hashing" else "auto"
            embedder = get_embedder(metadata.embedding_model, backend, cache_dir=model_dir / "embeddings")
        pipeline = cls(embedder)
        target = model_store.nlu_dir(model_dir)
        pipeline.classifier = IntentClassifier.load(target / model_store.INTENT_FILE)
        lexicon = joblib.load(target / model_store.LEXICON_FILE)
        pipeline.synonyms, pipeline.lookups = lexicon["synonyms"], lexicon["lookups"]
        pipeline.ner = EntityRecognizer.load(target / model_store.NER_DIR)
        pipeline.metadata = metadata
        return pipeline

    # -- parsing --------------------------------------------------------------------------
    def parse(
        self,
        text: str,
        *,
        lang: str | None = None,
        now: datetime | None = None,
        tz: str = DEFAULT_TZ,
        gazetteer: NameGazetteer | None = None,
    ) -> ParseResult:
        return self.parse_batch([text], langs=[lang], now=now, tz=tz, gazetteer=gazetteer)[0]

    def parse_batch(
        self,
        texts: Sequence[str],
        *,
        langs: Sequence[str | None] | None = None,
        now: datetime | None = None,
        tz: str = DEFAULT_TZ,
        gazetteer: NameGazetteer | None = None,
    ) -> list[ParseResult]:
        """Parse many texts with one encoder call (the chat server batches concurrent turns)."""
        if self.classifier is None:
            raise RuntimeError("NLUPipeline is neither trained nor loaded")
        if not texts:
            return []
        gazetteer = gazetteer or self.gazetteer
        originals = [t if isinstance(t, str) else str(t) for t in texts]
        clean = [sanitize(t) for t in originals]
        hints = list(langs) if langs is not None else [None] * len(clean)
        languages = [self._language(t, hint) for t, hint in zip(clean, hints, strict=True)]
        reference = now or datetime.now(resolve_zone(tz))
        if reference.tzinfo is None:
            reference = reference.replace(tzinfo=resolve_zone(tz))
        rankings = self._rank(clean, languages)
        wanted = [i for i, ranking in enumerate(rankings) if ranking[0].name not in NO_NAME_INTENTS]
        ner: list[list[Entity]] = [[] for _ in clean]
        for i, found in zip(
            wanted, self._ner([clean[i] for i in wanted], [languages[i] for i in wanted]), strict=True
        ):
            ner[i] = found
        results = []
        for i, text in enumerate(clean):
            entities = self._entities(text, languages[i], ner[i], reference, tz, gazetteer)
            ranking = rankings[i]
            results.append(
                ParseResult(
                    text=originals[i],
                    intent=ranking[0],
                    intent_ranking=ranking,
                    entities=entities,
                    language=languages[i],
                )
            )
        return results

    def _language(self, text: str, hint: str | None) -> str:
        try:
            return str(self._detect_language(text[:MAX_LANGUAGE_CHARS], default="en", hint=hint or None))
        except Exception:
            log.exception("language detection failed")
            return hint or "en"

    @staticmethod
    def _encoder_texts(texts: Sequence[str], languages: Sequence[str], config: ClassifierConfig) -> list[str]:
        """What the sentence encoder reads: German as an English gloss when the model wants it."""
        if not getattr(config, "encoder_gloss", False):  # models saved before the gloss existed
            return list(texts)
        return [encoder_text(t, lang) for t, lang in zip(texts, languages, strict=True)]

    def _rank(self, texts: list[str], languages: list[str]) -> list[list[IntentScore]]:
        assert self.classifier is not None
        empty = [i for i, t in enumerate(texts) if not any(ch.isalnum() for ch in t)]
        embeddings = self.embedder.encode(self._encoder_texts(texts, languages, self.classifier.config))
        rankings = self.classifier.rank(texts, embeddings)
        for i in empty:  # nothing to understand: blank, emoji only, punctuation
            others = [IntentScore(s.name, 0.0) for s in rankings[i] if s.name != OUT_OF_SCOPE]
            rankings[i] = [IntentScore(OUT_OF_SCOPE, 1.0), *others][: len(rankings[i])]
        return rankings

    def _ner(self, texts: list[str], languages: list[str]) -> list[list[Entity]]:
        if not texts:
            return []
        try:
            return self.ner.extract_batch(texts, languages)
        except Exception:
            log.exception("NER failed")
            return [[] for _ in texts]

    def _entities(
        self,
        text: str,
        lang: str,
        ner: list[Entity],
        now: datetime,
        tz: str,
        gazetteer: NameGazetteer | None,
    ) -> list[Entity]:
        head = text[:MAX_ENTITY_CHARS]
        rules = self._call(self._extract_rules, "rules", head, lang)
        times = self._call(self._extract_times, "dates", head, lang, now=now, tz=tz)
        known = self._call(gazetteer.find if gazetteer else None, "gazetteer", head)
        if known:  # a known name wins over the model's guess at the same place
            ner = [e for e in ner if all(e.end <= k.start or e.start >= k.end for k in known)]
        try:
            merged = self._merge(rules, times, known, ner)
        except Exception:
            log.exception("entity merge failed")
            merged = _fallback_merge(rules, times, known, ner)
        return [e for e in merged if e.entity not in NER_LABELS or e.value] if merged else []

    @staticmethod
    def _call(function: Callable[..., Any] | None, name: str, *args: Any, **kwargs: Any) -> list[Entity]:
        if function is None:
            return []
        try:
            return list(function(*args, **kwargs))
        except Exception:
            log.exception("%s extractor failed", name)
            return []
