"""Real Rasa Open Source 3.6 (DIET, the `rasa init` pipeline) on the same folds as our own NLU.

Rasa 3.6 needs Python 3.10 and TensorFlow 2.12, so it lives in its own gitignored venv, `.rasa-venv/`,
and never in the product's environment. This module runs on the product's Python (3.11) and imports
no Rasa: per fold it writes Rasa NLU YAML, then runs `bench/rasa/driver.py` with the venv's Python,
once to train (`rasa.model_training.train_nlu`, what `rasa train nlu` calls) and once to parse the
held-out texts through `Agent.parse_message` (what `/model/parse` calls), and reads JSON back.

    python -m bench.rasa_compare --data training_data/nlu --folds 3            # all folds, en and de
    python -m bench.rasa_compare --data training_data/nlu --folds 3 --max-folds 1 --languages de

From Python (bench/nlu.py behind `--with-rasa`):

    from bench.rasa_compare import run_rasa_folds
    result = run_rasa_folds(examples, folds, language="en", workdir=Path("bench/results/rasa/en"))

Rasa's FallbackClassifier (threshold 0.3) answers `nlu_fallback`; our contract calls that
`out_of_scope`, so predictions of `nlu_fallback` are scored as `out_of_scope` (`fallback_intent`).
`accuracy_top1` scores DIET's best real intent instead, ignoring the fallback.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import subprocess
import sys
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

RASA_VERSION = "3.6.21"
REPO_ROOT = Path(__file__).resolve().parent.parent
RASA_DIR = Path(__file__).resolve().parent / "rasa"
CONFIG_TEMPLATE = RASA_DIR / "config.yml"
CONSTRAINTS = RASA_DIR / "constraints.txt"
DRIVER = RASA_DIR / "driver.py"
DEFAULT_VENV = REPO_ROOT / ".rasa-venv"
DEFAULT_WORKDIR = REPO_ROOT / "bench" / "results" / "rasa"
RASA_FALLBACK_INTENT = "nlu_fallback"
_MARKER = ".bench-rasa-ok"

Fold = tuple[list[int], list[int]]


class RasaBenchError(RuntimeError):
    """The Rasa venv could not be built, or a Rasa training / parsing run failed."""


def _log(message: str) -> None:
    print(f"[rasa] {message}", file=sys.stderr, flush=True)


# --------------------------------------------------------------------------------------------
# The venv
# --------------------------------------------------------------------------------------------


def find_python310() -> str:
    """A working Python 3.10 interpreter: `python3.10` on PATH, else one that pyenv installed."""
    candidates: list[str] = []
    on_path = shutil.which("python3.10")
    if on_path:
        candidates.append(on_path)
    pyenv_root = Path(os.environ.get("PYENV_ROOT", Path.home() / ".pyenv"))
    candidates += [str(p) for p in sorted(pyenv_root.glob("versions/3.10*/bin/python3.10"), reverse=True)]
    for candidate in candidates:
        # pyenv's shim exists on PATH even when 3.10 is not selected, and then fails: try each one.
        probe = subprocess.run(
            [candidate, "-c", "import sys; print(sys.version_info[:2] == (3, 10))"],
            capture_output=True,
            text=True,
            check=False,
        )
        if probe.returncode == 0 and probe.stdout.strip() == "True":
            return candidate
    raise RasaBenchError("Rasa 3.6 needs Python 3.10: no working python3.10 on PATH or under pyenv")


def _venv_python(venv: Path) -> Path:
    return venv / "bin" / "python"


def ensure_rasa_venv(path: Path = DEFAULT_VENV) -> Path:
    """Create `path` with Python 3.10 and install rasa==3.6.21 into it unless that was done; return it.

    Idempotent: a marker file written after `rasa --version` succeeded makes later calls instant.
    `bench/rasa/constraints.txt` pins what pip cannot resolve quickly by itself.
    """
    path = Path(path).absolute()
    marker = path / _MARKER
    if marker.is_file() and marker.read_text().strip() == RASA_VERSION and _venv_python(path).exists():
        return path
    started = time.monotonic()
    if not _venv_python(path).exists():
        python310 = find_python310()
        _log(f"creating {path} with {python310}")
        _run_checked([python310, "-m", "venv", str(path)])
    pip = [str(_venv_python(path)), "-m", "pip", "--disable-pip-version-check"]
    _log("upgrading pip, setuptools, wheel")
    _run_checked([*pip, "install", "--quiet", "--upgrade", "pip<24.1", "setuptools", "wheel"])
    _log(f"installing rasa=={RASA_VERSION} (TensorFlow 2.12: about 1.5 GB, takes minutes)")
    _run_checked([*pip, "install", "--progress-bar", "off", "-c", str(CONSTRAINTS), f"rasa=={RASA_VERSION}"])
    _log("checking `rasa --version`")
    version = _run_checked([str(path / "bin" / "rasa"), "--version"], env=_rasa_env())
    if RASA_VERSION not in version:
        raise RasaBenchError(f"unexpected `rasa --version` output:\n{version}")
    marker.write_text(RASA_VERSION + "\n")
    _log(f"Rasa {RASA_VERSION} ready in {path} after {time.monotonic() - started:.0f} s")
    return path


def _run_checked(command: list[str], env: dict[str, str] | None = None) -> str:
    completed = subprocess.run(command, capture_output=True, text=True, env=env, check=False)
    if completed.returncode != 0:
        tail = "\n".join((completed.stdout + completed.stderr).splitlines()[-30:])
        raise RasaBenchError(f"{' '.join(command[:4])} ... failed ({completed.returncode}):\n{tail}")
    return completed.stdout + completed.stderr


def _rasa_env() -> dict[str, str]:
    env = dict(os.environ)
    env.update(
        {
            "RASA_TELEMETRY_ENABLED": "false",  # offline, and no data leaves the machine
            "RASA_MAX_CACHE_SIZE": "0",  # no training cache: a re-run must really train again
            "TF_CPP_MIN_LOG_LEVEL": "2",
            "SQLALCHEMY_SILENCE_UBER_WARNING": "1",
            "PYTHONWARNINGS": "ignore",
            "PYTHONNOUSERSITE": "1",
        }
    )
    env.pop("PYTHONPATH", None)  # nothing from the product's 3.11 tree leaks into Rasa's 3.10
    return env


# --------------------------------------------------------------------------------------------
# Rasa training data in and out
# --------------------------------------------------------------------------------------------

# Rasa 3's own entity annotation forms: [text](entity), [text](entity:value), [text]{"entity": ...}
_ENTITY = re.compile(
    r"\[(?P<text>[^\]]+?)\]"
    r"(?:\((?P<entity>[^:)]+?)(?::(?P<value>[^)]+))?\)|\{(?P<dict>[^}]+?)\}|\[(?P<dicts>.*?)\])"
)


@dataclass(frozen=True)
class EntitySpan:
    start: int
    end: int
    entity: str


def parse_annotated(text: str) -> tuple[str, list[EntitySpan]]:
    """Plain text and entity spans of one Rasa-annotated example."""
    plain: list[str] = []
    spans: list[EntitySpan] = []
    position = 0
    length = 0
    for match in _ENTITY.finditer(text):
        before = text[position : match.start()]
        plain.append(before)
        length += len(before)
        entities: list[str] = []
        if match.group("entity"):
            entities.append(match.group("entity").strip())
        raw = match.group("dict") or match.group("dicts")
        if raw:
            try:
                loaded = json.loads("{" + raw + "}" if match.group("dict") else "[" + raw + "]")
            except json.JSONDecodeError:
                loaded = []
            for item in loaded if isinstance(loaded, list) else [loaded]:
                if isinstance(item, dict) and item.get("entity"):
                    entities.append(str(item["entity"]))
        spans += [EntitySpan(length, length + len(match.group("text")), name) for name in entities]
        plain.append(match.group("text"))
        length += len(match.group("text"))
        position = match.end()
    plain.append(text[position:])
    return "".join(plain), spans


# Our YAML also writes `[Anrufe](activity_type){"value": "call"}`, which Rasa does not read: it keeps
# `{"value": "call"}` as text. Rewritten to Rasa's `[Anrufe]{"entity": "activity_type", "value": "call"}`.
_ENTITY_THEN_DICT = re.compile(r"\[(?P<text>[^\]]+?)\]\((?P<entity>[^:)]+?)\)\{(?P<dict>[^}]+?)\}")


def to_rasa_markup(text: str) -> str:
    """Rewrite `[text](entity){...}` into the `[text]{"entity": ..., ...}` form that Rasa parses."""

    def rewrite(match: re.Match[str]) -> str:
        try:
            extra = json.loads("{" + match.group("dict") + "}")
        except json.JSONDecodeError:
            return match.group(0)
        if not isinstance(extra, dict):
            return match.group(0)
        merged = {"entity": match.group("entity").strip(), **extra}
        return f"[{match.group('text')}]{json.dumps(merged, ensure_ascii=False)}"

    return _ENTITY_THEN_DICT.sub(rewrite, text)


def strip_annotations(text: str) -> str:
    return parse_annotated(text)[0]


@dataclass
class NluData:
    """Intent examples of some Rasa NLU YAML files, plus their synonyms, regexes and lookup tables."""

    examples: list[tuple[str, str]] = field(default_factory=list)  # (plain text, intent)
    annotated_texts: list[str] = field(default_factory=list)  # same order, with [entity](labels)
    extras: list[dict[str, Any]] = field(default_factory=list)  # synonym/regex/lookup items as read


def _example_lines(block: Any) -> list[str]:
    if isinstance(block, str):
        lines = []
        for line in block.splitlines():
            stripped = line.strip()
            if stripped.startswith("- "):
                lines.append(stripped[2:].strip())
            elif stripped == "-":
                continue
        return [line for line in lines if line]
    if isinstance(block, list):  # the long form: - text: ...  metadata: ...
        return [str(item["text"]).strip() for item in block if isinstance(item, dict) and item.get("text")]
    return []


def load_rasa_nlu(paths: Sequence[Path]) -> NluData:
    """Read Rasa 3 NLU YAML files (`nlu:` with `intent:` / `synonym:` / `regex:` / `lookup:` items)."""
    data = NluData()
    for path in paths:
        document = yaml.safe_load(Path(path).read_text(encoding="utf-8")) or {}
        for item in document.get("nlu") or []:
            if not isinstance(item, dict):
                continue
            if "intent" in item:
                for line in _example_lines(item.get("examples")):
                    annotated = to_rasa_markup(line)
                    data.annotated_texts.append(annotated)
                    data.examples.append((strip_annotations(annotated), str(item["intent"])))
            elif any(key in item for key in ("synonym", "regex", "lookup")):
                data.extras.append(item)
    return data


class _Literal(str):
    pass


def _literal_representer(dumper: yaml.SafeDumper, value: _Literal) -> yaml.Node:
    return dumper.represent_scalar("tag:yaml.org,2002:str", str(value), style="|")


class _Dumper(yaml.SafeDumper):  # type: ignore[misc,unused-ignore]
    pass


_Dumper.add_representer(_Literal, _literal_representer)


def write_rasa_nlu(
    path: Path, items: Sequence[tuple[str, str]], extras: Sequence[dict[str, Any]] = ()
) -> None:
    """Write (text, intent) pairs, texts possibly annotated, as Rasa 3.1-format NLU YAML."""
    by_intent: dict[str, list[str]] = {}
    for text, intent in items:
        one_line = " ".join(text.split())
        if one_line:
            by_intent.setdefault(intent, []).append(one_line)
    nlu: list[dict[str, Any]] = [
        {"intent": intent, "examples": _Literal("".join(f"- {text}\n" for text in texts))}
        for intent, texts in by_intent.items()
    ]
    for extra in extras:
        copied = dict(extra)
        if isinstance(copied.get("examples"), str):
            copied["examples"] = _Literal(copied["examples"])
        nlu.append(copied)
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("w", encoding="utf-8") as handle:
        yaml.dump(
            {"version": "3.1", "nlu": nlu},
            handle,
            Dumper=_Dumper,
            allow_unicode=True,
            sort_keys=False,
            width=10_000,
        )


def write_rasa_config(path: Path, *, language: str, epochs: int) -> None:
    """The `rasa init` pipeline from bench/rasa/config.yml with this language and number of epochs."""
    config = yaml.safe_load(CONFIG_TEMPLATE.read_text(encoding="utf-8"))
    config["language"] = language
    for component in config["pipeline"]:
        if "epochs" in component:
            component["epochs"] = epochs
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(yaml.safe_dump(config, sort_keys=False, allow_unicode=True), encoding="utf-8")


# --------------------------------------------------------------------------------------------
# Metrics
# --------------------------------------------------------------------------------------------


def accuracy(y_true: Sequence[str], y_pred: Sequence[str]) -> float:
    return sum(t == p for t, p in zip(y_true, y_pred, strict=True)) / len(y_true) if y_true else 0.0


def macro_f1(y_true: Sequence[str], y_pred: Sequence[str]) -> float:
    """Unweighted mean F1 over every label seen in either list (sklearn's macro F1, zero_division=0)."""
    labels = sorted(set(y_true) | set(y_pred))
    if not labels:
        return 0.0
    scores = []
    for label in labels:
        tp = sum(t == label and p == label for t, p in zip(y_true, y_pred, strict=True))
        fp = sum(t != label and p == label for t, p in zip(y_true, y_pred, strict=True))
        fn = sum(t == label and p != label for t, p in zip(y_true, y_pred, strict=True))
        scores.append(2 * tp / (2 * tp + fp + fn) if tp else 0.0)
    return sum(scores) / len(scores)


def percentile(values: Sequence[float], q: float) -> float:
    """Linear interpolation between closest ranks, as numpy.percentile does by default."""
    if not values:
        return 0.0
    ordered = sorted(values)
    rank = (len(ordered) - 1) * q / 100.0
    low = int(rank)
    high = min(low + 1, len(ordered) - 1)
    return ordered[low] + (ordered[high] - ordered[low]) * (rank - low)


def _entity_counts(gold: list[EntitySpan], predicted: list[EntitySpan]) -> tuple[int, int, int]:
    gold_set, predicted_set = set(gold), set(predicted)
    tp = len(gold_set & predicted_set)
    return tp, len(predicted_set) - tp, len(gold_set) - tp


# --------------------------------------------------------------------------------------------
# Running Rasa
# --------------------------------------------------------------------------------------------


def _run_driver(
    venv: Path, args: list[str], *, workdir: Path, log_name: str, nice: int, timeout: float | None
) -> tuple[dict[str, Any], float]:
    """Run driver.py with the venv's Python; return its JSON result and the process's wall time."""
    result_path = workdir / f"{log_name}.json"
    result_path.unlink(missing_ok=True)
    log_path = workdir / f"{log_name}.log"
    command = [str(_venv_python(venv)), str(workdir / "driver.py"), *args, "--result", str(result_path)]
    if nice and shutil.which("nice"):
        command = ["nice", "-n", str(nice), *command]
    started = time.perf_counter()
    with log_path.open("w", encoding="utf-8") as log:
        completed = subprocess.run(
            command,
            cwd=workdir,
            env=_rasa_env(),
            stdout=log,
            stderr=subprocess.STDOUT,
            timeout=timeout,
            check=False,
        )
    wall = time.perf_counter() - started
    if completed.returncode != 0 or not result_path.exists():
        tail = "\n".join(log_path.read_text(encoding="utf-8", errors="replace").splitlines()[-25:])
        raise RasaBenchError(f"Rasa {args[0]} failed ({completed.returncode}), see {log_path}:\n{tail}")
    return json.loads(result_path.read_text(encoding="utf-8")), wall


def run_rasa_folds(
    examples: Sequence[tuple[str, str]],
    folds: Sequence[Fold],
    *,
    language: str,
    workdir: Path,
    epochs: int = 100,
    annotated_texts: Sequence[str] | None = None,
    extras: Sequence[dict[str, Any]] = (),
    venv: Path | None = None,
    fallback_intent: str | None = "out_of_scope",
    nice: int = 19,
    timeout_per_step: float | None = None,
    keep_models: bool = False,
) -> dict[str, Any]:
    """Train and test Rasa 3.6 (`rasa init` pipeline) on each (train indices, test indices) fold.

    `examples` are (text, intent); `annotated_texts`, if given, are the same examples in Rasa's
    entity markup (`[Anna](person)`) and are used for training, and DIET's entities are then scored
    against them (exact start, end and label). `extras` are synonym/regex/lookup items added to every
    training file. Returns pooled scores over all folds' test examples, latency percentiles over all
    parses, peak RSS, and one entry per fold under "folds" plus every prediction under "predictions".
    """
    if annotated_texts is not None and len(annotated_texts) != len(examples):
        raise ValueError("annotated_texts must have one entry per example")
    venv = ensure_rasa_venv(venv or DEFAULT_VENV)
    workdir = Path(workdir).absolute()
    workdir.mkdir(parents=True, exist_ok=True)
    shutil.copyfile(DRIVER, workdir / "driver.py")
    config_path = workdir / "config.yml"
    write_rasa_config(config_path, language=language, epochs=epochs)

    def train_text(index: int) -> str:
        return annotated_texts[index] if annotated_texts is not None else examples[index][0]

    def test_text(index: int) -> str:
        return (
            strip_annotations(annotated_texts[index]) if annotated_texts is not None else examples[index][0]
        )

    fold_results: list[dict[str, Any]] = []
    all_true: list[str] = []
    all_pred: list[str] = []
    all_top1: list[str] = []
    all_ms: list[float] = []
    predictions: list[dict[str, Any]] = []
    entity_tp = entity_fp = entity_fn = 0
    for number, (train_idx, test_idx) in enumerate(folds):
        fold_dir = workdir / f"fold{number}"
        fold_dir.mkdir(parents=True, exist_ok=True)
        train_path = fold_dir / "train.yml"
        write_rasa_nlu(train_path, [(train_text(i), examples[i][1]) for i in train_idx], extras)
        write_rasa_nlu(fold_dir / "test.yml", [(train_text(i), examples[i][1]) for i in test_idx])
        texts = [test_text(i) for i in test_idx]
        (fold_dir / "texts.json").write_text(json.dumps(texts, ensure_ascii=False), encoding="utf-8")

        _log(
            f"{language} fold {number + 1}/{len(folds)}: training on {len(train_idx)} examples, {epochs} epochs"
        )
        trained, train_wall = _run_driver(
            venv,
            [
                "train",
                "--config",
                str(config_path),
                "--nlu",
                str(train_path),
                "--out",
                str(fold_dir / "models"),
                "--name",
                f"fold{number}",
            ],
            workdir=workdir,
            log_name=f"fold{number}-train",
            nice=nice,
            timeout=timeout_per_step,
        )
        _log(
            f"{language} fold {number + 1}: trained in {trained['train_seconds']:.1f} s; parsing {len(texts)} texts"
        )
        parsed, parse_wall = _run_driver(
            venv,
            ["parse", "--model", trained["model"], "--texts", str(fold_dir / "texts.json")],
            workdir=workdir,
            log_name=f"fold{number}-parse",
            nice=nice,
            timeout=timeout_per_step,
        )
        if not keep_models:
            shutil.rmtree(fold_dir / "models", ignore_errors=True)

        y_true = [examples[i][1] for i in test_idx]
        y_pred: list[str] = []
        y_top1: list[str] = []
        fold_ms: list[float] = []
        fold_tp = fold_fp = fold_fn = fold_fallbacks = 0
        for index, prediction in zip(test_idx, parsed["predictions"], strict=True):
            raw = prediction["intent"] or RASA_FALLBACK_INTENT
            scored = fallback_intent if (raw == RASA_FALLBACK_INTENT and fallback_intent) else raw
            fold_fallbacks += raw == RASA_FALLBACK_INTENT
            top1 = next((name for name, _ in prediction["ranking"] if name != RASA_FALLBACK_INTENT), raw)
            y_pred.append(scored)
            y_top1.append(top1)
            fold_ms.append(prediction["ms"])
            record: dict[str, Any] = {
                "index": index,
                "fold": number,
                "text": test_text(index),
                "intent": examples[index][1],
                "predicted": scored,
                "rasa_intent": raw,
                "confidence": prediction["confidence"],
                "top1": top1,
                "ms": prediction["ms"],
                "entities": prediction["entities"],
            }
            if annotated_texts is not None:
                gold = parse_annotated(annotated_texts[index])[1]
                found = [
                    EntitySpan(int(e["start"]), int(e["end"]), str(e["entity"]))
                    for e in prediction["entities"]
                    if e.get("start") is not None and e.get("end") is not None
                ]
                tp, fp, fn = _entity_counts(gold, found)
                fold_tp, fold_fp, fold_fn = fold_tp + tp, fold_fp + fp, fold_fn + fn
            predictions.append(record)
        entity_tp, entity_fp, entity_fn = entity_tp + fold_tp, entity_fp + fold_fp, entity_fn + fold_fn
        fold_result: dict[str, Any] = {
            "fold": number,
            "n_train": len(train_idx),
            "n_test": len(test_idx),
            "accuracy": accuracy(y_true, y_pred),
            "macro_f1": macro_f1(y_true, y_pred),
            "accuracy_top1": accuracy(y_true, y_top1),
            "fallback_rate": fold_fallbacks / max(len(test_idx), 1),
            "train_seconds": trained["train_seconds"],
            # CPU time says more than wall time on a shared machine: it hardly changes with load.
            "train_cpu_seconds": trained.get("train_cpu_seconds"),
            "train_process_seconds": train_wall,
            "parse_process_seconds": parse_wall,
            "model_load_seconds": parsed["load_seconds"],
            "parse_cpu_ms_mean": parsed["parse_cpu_seconds"] * 1000.0 / max(len(texts), 1)
            if "parse_cpu_seconds" in parsed
            else None,
            "parse_ms_p50": percentile(fold_ms, 50),
            "parse_ms_p95": percentile(fold_ms, 95),
            "peak_rss_train_mb": trained["peak_rss_mb"],
            "peak_rss_parse_mb": parsed["peak_rss_mb"],
        }
        if annotated_texts is not None:
            fold_result["entity_f1"] = _f1(fold_tp, fold_fp, fold_fn)
        fold_results.append(fold_result)
        _log(
            f"{language} fold {number + 1}: accuracy {fold_result['accuracy']:.3f}, macro-F1 "
            f"{fold_result['macro_f1']:.3f}, p95 {fold_result['parse_ms_p95']:.1f} ms"
        )
        all_true += y_true
        all_pred += y_pred
        all_top1 += y_top1
        all_ms += fold_ms

    result: dict[str, Any] = {
        "system": f"rasa {RASA_VERSION} (rasa init pipeline, DIET)",
        "language": language,
        "epochs": epochs,
        "n_examples": len(examples),
        "n_folds": len(folds),
        "n_test": len(all_true),
        "accuracy": accuracy(all_true, all_pred),
        "macro_f1": macro_f1(all_true, all_pred),
        "accuracy_top1": accuracy(all_true, all_top1),
        "macro_f1_top1": macro_f1(all_true, all_top1),
        "fallback_rate": sum(r["rasa_intent"] == RASA_FALLBACK_INTENT for r in predictions)
        / max(len(predictions), 1),
        "train_seconds": sum(f["train_seconds"] for f in fold_results),
        "train_seconds_per_fold": sum(f["train_seconds"] for f in fold_results) / max(len(fold_results), 1),
        "train_cpu_seconds_per_fold": _mean_or_none([f["train_cpu_seconds"] for f in fold_results]),
        "parse_cpu_ms_mean": _mean_or_none([f["parse_cpu_ms_mean"] for f in fold_results]),
        "parse_ms_p50": percentile(all_ms, 50),
        "parse_ms_p95": percentile(all_ms, 95),
        "peak_rss_train_mb": max((f["peak_rss_train_mb"] for f in fold_results), default=0.0),
        "peak_rss_parse_mb": max((f["peak_rss_parse_mb"] for f in fold_results), default=0.0),
        "folds": fold_results,
        "predictions": predictions,
    }
    result["peak_rss_mb"] = max(result["peak_rss_train_mb"], result["peak_rss_parse_mb"])
    if annotated_texts is not None:
        result["entity_precision"] = entity_tp / (entity_tp + entity_fp) if entity_tp + entity_fp else 0.0
        result["entity_recall"] = entity_tp / (entity_tp + entity_fn) if entity_tp + entity_fn else 0.0
        result["entity_f1"] = _f1(entity_tp, entity_fp, entity_fn)
    return result


def _mean_or_none(values: Sequence[float | None]) -> float | None:
    known = [v for v in values if v is not None]
    return sum(known) / len(known) if known else None


def _f1(tp: int, fp: int, fn: int) -> float:
    return 2 * tp / (2 * tp + fp + fn) if tp else 0.0


# --------------------------------------------------------------------------------------------
# Command line
# --------------------------------------------------------------------------------------------


def stratified_folds(labels: Sequence[str], n_splits: int, seed: int = 42) -> list[Fold]:
    """scikit-learn's StratifiedKFold (shuffled, seed 42): the folds bench/nlu.py uses too."""
    from sklearn.model_selection import StratifiedKFold

    splitter = StratifiedKFold(n_splits=n_splits, shuffle=True, random_state=seed)
    return [
        ([int(i) for i in train], [int(i) for i in test])
        for train, test in splitter.split([[0]] * len(labels), list(labels))
    ]


def _data_by_language(
    data: Path, languages: Sequence[str] | None, default_language: str
) -> dict[str, list[Path]]:
    if data.is_file():
        return {default_language: [data]}
    subdirs = {p.name: p for p in sorted(data.iterdir()) if p.is_dir() and list(p.glob("*.y*ml"))}
    if subdirs:
        wanted = languages or sorted(subdirs)
        missing = [lang for lang in wanted if lang not in subdirs]
        if missing:
            raise SystemExit(f"no YAML under {data}/{{{','.join(missing)}}}")
        return {lang: sorted(subdirs[lang].glob("*.y*ml")) for lang in wanted}
    files = sorted(data.glob("*.y*ml"))
    if not files:
        raise SystemExit(f"no Rasa NLU YAML in {data}")
    return {default_language: files}


def format_table(results: Sequence[dict[str, Any]]) -> str:
    header = (
        f"{'lang':<5}{'folds':>6}{'train':>7}{'test':>6}{'acc':>7}{'macroF1':>8}{'top1acc':>8}{'fallbk':>7}"
        f"{'train s/fold':>13}{'CPU s/fold':>11}{'p50 ms':>8}{'p95 ms':>8}{'RSS train':>10}{'RSS parse':>10}{'ent F1':>7}"
    )
    lines = [header, "-" * len(header)]
    for r in results:
        folds = r["folds"]
        n_train = sum(f["n_train"] for f in folds) // max(len(folds), 1)
        entity = f"{r['entity_f1']:>7.3f}" if "entity_f1" in r else f"{'-':>7}"
        cpu = r.get("train_cpu_seconds_per_fold")
        cpu_text = f"{cpu:>11.0f}" if cpu is not None else f"{'-':>11}"
        lines.append(
            f"{r['language']:<5}{len(folds):>6}{n_train:>7}{r['n_test']:>6}{r['accuracy']:>7.3f}{r['macro_f1']:>8.3f}"
            f"{r['accuracy_top1']:>8.3f}{r['fallback_rate']:>7.1%}{r['train_seconds_per_fold']:>13.1f}{cpu_text}"
            f"{r['parse_ms_p50']:>8.1f}{r['parse_ms_p95']:>8.1f}{r['peak_rss_train_mb']:>8.0f}MB"
            f"{r['peak_rss_parse_mb']:>8.0f}MB{entity}"
        )
    return "\n".join(lines)


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m bench.rasa_compare",
        description="Cross-validate real Rasa 3.6 (rasa init pipeline) on our Rasa NLU YAML data.",
    )
    parser.add_argument(
        "--data",
        type=Path,
        default=REPO_ROOT / "training_data" / "nlu",
        help="a directory with one subdirectory of *.yml per language, or YAML files",
    )
    parser.add_argument("--folds", type=int, default=3, help="number of stratified folds (seed 42)")
    parser.add_argument("--max-folds", type=int, default=None, help="run only the first N folds")
    parser.add_argument("--languages", nargs="+", default=None, help="default: every language directory")
    parser.add_argument(
        "--language", default="en", help="the language of --data when it has no subdirectories"
    )
    parser.add_argument("--epochs", type=int, default=100)
    parser.add_argument("--no-entities", action="store_true", help="train on plain texts, score intents only")
    parser.add_argument("--workdir", type=Path, default=DEFAULT_WORKDIR)
    parser.add_argument("--venv", type=Path, default=DEFAULT_VENV)
    parser.add_argument(
        "--json", type=Path, default=None, help="also write the results (without predictions)"
    )
    parser.add_argument("--seed", type=int, default=42)
    parser.add_argument(
        "--nice", type=int, default=19, help="niceness of the Rasa processes (0 for undisturbed timings)"
    )
    args = parser.parse_args(argv)

    venv = ensure_rasa_venv(args.venv)
    results = []
    for language, paths in _data_by_language(args.data, args.languages, args.language).items():
        data = load_rasa_nlu(paths)
        if not data.examples:
            _log(f"{language}: no intent examples in {', '.join(map(str, paths))}")
            continue
        folds = stratified_folds([intent for _, intent in data.examples], args.folds, args.seed)
        if args.max_folds:
            folds = folds[: args.max_folds]
        _log(f"{language}: {len(data.examples)} examples, {len({i for _, i in data.examples})} intents")
        has_entities = any(parse_annotated(t)[1] for t in data.annotated_texts)
        results.append(
            run_rasa_folds(
                data.examples,
                folds,
                language=language,
                workdir=args.workdir / language,
                epochs=args.epochs,
                annotated_texts=None if args.no_entities or not has_entities else data.annotated_texts,
                extras=data.extras,
                venv=venv,
                nice=args.nice,
            )
        )
    print(
        f"Rasa {RASA_VERSION}, rasa init pipeline, DIET {args.epochs} epochs, {args.folds}-fold stratified CV"
    )
    print(format_table(results))
    summary = [{k: v for k, v in r.items() if k != "predictions"} for r in results]
    out = args.json or args.workdir / "results.json"
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(summary, indent=2), encoding="utf-8")
    print(f"results: {out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
