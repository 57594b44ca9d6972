"""Where a trained NLU model lives on disk and what it was trained from.

Layout of ``<model_dir>/nlu/``::

    metadata.json      data hash, embedding model, languages, intents, threshold, timings (total and
                       per phase: the next run's time estimate)
    intent.joblib      the intent classifier (vectorisers + logistic regression)
    lexicon.joblib     synonyms and lookup tables from the training data
    ner/<lang>/        one spaCy pipeline per language
"""

from __future__ import annotations

import json
import os
from collections.abc import Mapping
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

SUBDIR = "nlu"
METADATA = "metadata.json"
INTENT_FILE = "intent.joblib"
LEXICON_FILE = "lexicon.joblib"
NER_DIR = "ner"
FORMAT_VERSION = 3  # 2: classifier config gained encoder_gloss; 3: NER context words, legal-form tokens


def default_model_dir(environ: Mapping[str, str] | None = None) -> Path:
    env = os.environ if environ is None else environ
    return Path(env.get("CRM_MODEL_DIR") or "models")


def nlu_dir(model_dir: Path) -> Path:
    return Path(model_dir) / SUBDIR


@dataclass(slots=True)
class ModelMetadata:
    data_hash: str
    embedding_model: str
    embedding_backend: str
    languages: list[str] = field(default_factory=list)
    intents: list[str] = field(default_factory=list)
    threshold: float = 0.0
    examples: int = 0
    train_seconds: float = 0.0
    phase_seconds: dict[str, float] = field(default_factory=dict)  # per training phase (nlu.progress)
    trained_at: str = ""
    format_version: int = FORMAT_VERSION

    def to_json(self) -> str:
        return json.dumps(asdict(self), indent=2, sort_keys=True)

    @classmethod
    def from_dict(cls, raw: dict[str, Any]) -> ModelMetadata:
        known = {k: v for k, v in raw.items() if k in cls.__dataclass_fields__}
        return cls(**known)


def write_metadata(model_dir: Path, metadata: ModelMetadata) -> None:
    path = nlu_dir(model_dir) / METADATA
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".tmp")
    tmp.write_text(metadata.to_json(), encoding="utf-8")
    tmp.replace(path)


def read_metadata(model_dir: Path) -> ModelMetadata | None:
    path = nlu_dir(model_dir) / METADATA
    if not path.is_file():
        return None
    try:
        return ModelMetadata.from_dict(json.loads(path.read_text(encoding="utf-8")))
    except (json.JSONDecodeError, TypeError):
        return None


def has_model(model_dir: Path) -> bool:
    meta = read_metadata(model_dir)
    return meta is not None and (nlu_dir(model_dir) / INTENT_FILE).is_file()


def is_current(model_dir: Path, data_hash: str, embedding_model: str | None = None) -> bool:
    """True when a model trained from exactly this data (and embedding model) exists."""
    meta = read_metadata(model_dir)
    if meta is None or meta.format_version != FORMAT_VERSION or not has_model(model_dir):
        return False
    if embedding_model is not None and meta.embedding_model != embedding_model:
        return False
    return meta.data_hash == data_hash
