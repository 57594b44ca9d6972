"""Assemble a Rasa 3.6 project from OUR files, so that a real Rasa server can be the dialogue engine.

The product reads Rasa's formats itself (training_data/domain/*.yml, training_data/rules.yml,
training_data/nlu/<lang>/*.yml). This script copies them into the layout `rasa train` / `rasa run` expect,
with generated Rasa-compatible copies where Rasa 3.6 reads something differently, and never edits our data:

    project/
      config.yml       bench/rasa/config.yml (the `rasa init` NLU pipeline) + language + RulePolicy
      domain/          our domain files (Rasa merges a domain directory like we do)
      data/rules.yml   our rules
      data/nlu.yml     the NLU data of ONE language, `[x](entity){"value": ..}` rewritten to Rasa's markup
      endpoints.yml    action_endpoint = our action server (`crm-assistant actions serve`) with ?token=
      credentials.yml  the REST channel (`POST /webhooks/rest/webhook`)

    python -m bench.rasa.make_project /tmp/rasa-crm --language en \\
        --action-url http://127.0.0.1:5055/webhook --action-token "$CRM_ACTION_TOKEN" --validate [--train]
    CRM_ACTION_TOKEN=... CRM_SECRET_KEY=K crm-assistant actions serve --port 5055
    .rasa-venv/bin/rasa run --enable-api --auth-token T --model /tmp/rasa-crm/models --interface 127.0.0.1 \\
        --endpoints /tmp/rasa-crm/endpoints.yml --credentials /tmp/rasa-crm/credentials.yml --port 5005
    CRM_RASA_URL=http://127.0.0.1:5005 CRM_RASA_TOKEN=T CRM_SECRET_KEY=K crm-assistant serve

(K, our server's CRM_SECRET_KEY, signs the speaker that travels through Rasa: see the README's Rasa section.)

Everything Rasa runs in `.rasa-venv` (Python 3.10); this module runs on the product's Python and imports
no Rasa. `--per-intent N --epochs E` make a tiny project for tests (seconds to train instead of tens of
minutes).
"""

from __future__ import annotations

import argparse
import hashlib
import os
import random
import re
import shutil
import subprocess
import sys
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlencode, urlsplit, urlunsplit

import yaml

from bench.rasa_compare import (
    CONFIG_TEMPLATE,
    DEFAULT_VENV,
    REPO_ROOT,
    RasaBenchError,
    ensure_rasa_venv,
    load_rasa_nlu,
    write_rasa_nlu,
)

TRAINING_DATA = REPO_ROOT / "training_data"
# The policies a dialogue model needs for our data: rules only (forms are driven by rules + RulePolicy).
POLICIES: list[dict[str, Any]] = [{"name": "RulePolicy", "core_fallback_threshold": 0.3}]


def _log(message: str) -> None:
    print(f"[rasa-project] {message}", file=sys.stderr, flush=True)


def rasa_env() -> dict[str, str]:
    """The environment for Rasa's processes: offline, quiet, nothing from the product's Python tree."""
    env = dict(os.environ)
    env.update(
        {
            "RASA_TELEMETRY_ENABLED": "false",
            "TF_CPP_MIN_LOG_LEVEL": "2",
            "SQLALCHEMY_SILENCE_UBER_WARNING": "1",
            "PYTHONWARNINGS": "ignore",
            "PYTHONNOUSERSITE": "1",
            "MPLCONFIGDIR": env.get("MPLCONFIGDIR") or str(Path.home() / ".cache" / "crm-assistant" / "mpl"),
        }
    )
    env.pop("PYTHONPATH", None)
    return env


def rasa_executable(venv: Path = DEFAULT_VENV) -> Path:
    return Path(venv) / "bin" / "rasa"


# --------------------------------------------------------------------------------------------
# Compatibility: what Rasa 3.6 reads differently from our own engine
# --------------------------------------------------------------------------------------------


@dataclass
class Adaptation:
    """One change made in the generated copy; `owner_should_fix` means our data could change instead."""

    file: str
    what: str
    owner_should_fix: bool = False


def adapt_domain(document: dict[str, Any], name: str) -> tuple[dict[str, Any], list[Adaptation]]:
    """A Rasa 3.6-compatible copy of one of our domain files, and what was changed.

    Rasa 3.6.21 accepts our domain as it is (`rasa data validate` passes; checked by
    tests/e2e/test_rasa_engine.py), so nothing is changed today: this is the one place to add a rewrite
    when our format and Rasa's drift apart.
    """
    return document, []


def adapt_rules(document: dict[str, Any]) -> tuple[dict[str, Any], list[Adaptation]]:
    """As :func:`adapt_domain`, for rules.yml (accepted by Rasa 3.6 unchanged)."""
    return document, []


# --------------------------------------------------------------------------------------------
# Building the project
# --------------------------------------------------------------------------------------------


def _with_token(url: str, token: str) -> str:
    if not token:
        return url
    parts = urlsplit(url)
    query = f"{parts.query}&{urlencode({'token': token})}" if parts.query else urlencode({"token": token})
    return urlunsplit((parts.scheme, parts.netloc, parts.path, query, parts.fragment))


def write_config(path: Path, *, language: str, epochs: int | None) -> None:
    config = yaml.safe_load(CONFIG_TEMPLATE.read_text(encoding="utf-8"))
    config["assistant_id"] = "crm_assistant"
    config["language"] = language
    if epochs is not None:
        for component in config["pipeline"]:
            if "epochs" in component:
                component["epochs"] = epochs
    config["policies"] = POLICIES
    path.write_text(yaml.safe_dump(config, sort_keys=False, allow_unicode=True), encoding="utf-8")


def _subset(items: list[tuple[str, str]], per_intent: int | None, seed: int) -> list[tuple[str, str]]:
    if per_intent is None:
        return items
    by_intent: dict[str, list[tuple[str, str]]] = {}
    for item in items:
        by_intent.setdefault(item[1], []).append(item)
    rng = random.Random(seed)
    chosen: list[tuple[str, str]] = []
    for intent in sorted(by_intent):
        pool = by_intent[intent]
        chosen += pool if len(pool) <= per_intent else rng.sample(pool, per_intent)
    return chosen


def build_project(
    out: Path,
    *,
    language: str = "en",
    action_url: str = "http://127.0.0.1:5055/webhook",
    action_token: str = "",
    per_intent: int | None = None,
    epochs: int | None = None,
    intents: Sequence[str] | None = None,
    lookups: bool = True,
    seed: int = 42,
    data: Path = TRAINING_DATA,
) -> list[Adaptation]:
    """Write a Rasa project into `out` (replacing its data files); return the adaptations made.

    `per_intent` keeps that many NLU examples per intent (seeded), `intents` only those intents'
    examples, `lookups=False` leaves out the lookup tables (big regexes: slow for tiny test models).
    """
    out = Path(out)
    for stale in ("domain", "data"):
        shutil.rmtree(out / stale, ignore_errors=True)
    (out / "domain").mkdir(parents=True, exist_ok=True)
    (out / "data").mkdir(parents=True, exist_ok=True)
    changes: list[Adaptation] = []

    for path in sorted((data / "domain").glob("*.y*ml")):
        document = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
        adapted, made = adapt_domain(document, path.name)
        changes += made
        if made:
            (out / "domain" / path.name).write_text(
                yaml.safe_dump(adapted, sort_keys=False, allow_unicode=True, width=10_000), encoding="utf-8"
            )
        else:
            shutil.copyfile(path, out / "domain" / path.name)

    rules_doc = yaml.safe_load((data / "rules.yml").read_text(encoding="utf-8")) or {}
    adapted_rules, made = adapt_rules(rules_doc)
    changes += made
    if made:
        (out / "data" / "rules.yml").write_text(
            yaml.safe_dump(adapted_rules, sort_keys=False, allow_unicode=True, width=10_000), encoding="utf-8"
        )
    else:
        shutil.copyfile(data / "rules.yml", out / "data" / "rules.yml")

    nlu = load_rasa_nlu(sorted((data / "nlu" / language).glob("*.y*ml")))
    pairs = list(zip(nlu.annotated_texts, (intent for _, intent in nlu.examples), strict=True))
    if intents is not None:
        pairs = [pair for pair in pairs if pair[1] in set(intents)]
    extras = [x for x in nlu.extras if lookups or "lookup" not in x]
    write_rasa_nlu(out / "data" / "nlu.yml", _subset(pairs, per_intent, seed), extras)
    changes.append(
        Adaptation(
            "nlu.yml", 'entity markup `[x](entity){"value": v}` rewritten to `[x]{"entity": .., "value": v}`'
        )
    )

    write_config(out / "config.yml", language=language, epochs=epochs)
    endpoints = {"action_endpoint": {"url": _with_token(action_url, action_token)}}
    (out / "endpoints.yml").write_text(yaml.safe_dump(endpoints, sort_keys=False), encoding="utf-8")
    (out / "credentials.yml").write_text("rest:\n", encoding="utf-8")
    return changes


def training_inputs_hash(project: Path) -> str:
    """A hash of what training reads (config, domain, data); endpoints and credentials do not count."""
    digest = hashlib.sha256()
    files = [
        project / "config.yml",
        *sorted((project / "domain").rglob("*.yml")),
        *sorted((project / "data").rglob("*.yml")),
    ]
    for path in files:
        digest.update(str(path.relative_to(project)).encode() + b"\0" + path.read_bytes() + b"\0")
    return digest.hexdigest()[:16]


# --------------------------------------------------------------------------------------------
# Running Rasa on it
# --------------------------------------------------------------------------------------------


def _run(command: list[str], *, cwd: Path, timeout: float | None = None) -> str:
    completed = subprocess.run(
        command, cwd=cwd, capture_output=True, text=True, env=rasa_env(), timeout=timeout, check=False
    )
    output = completed.stdout + completed.stderr
    if completed.returncode != 0:
        # Rasa prints its verdict on stdout and the reasons (as warnings) on stderr: keep both ends
        tail = "\n".join(completed.stdout.splitlines()[-20:] + completed.stderr.splitlines()[-20:]
                         + [line for line in output.splitlines() if "error" in line.lower()][-10:])
        raise RasaBenchError(f"{' '.join(command[:3])} ... failed ({completed.returncode}):\n{tail}")
    return output


def validate(project: Path, *, venv: Path = DEFAULT_VENV, timeout: float | None = 600) -> str:
    """`rasa data validate` on the project; raises RasaBenchError when Rasa rejects the domain or data."""
    return _run(
        [
            str(rasa_executable(venv)),
            "data",
            "validate",
            "--domain",
            "domain",
            "--data",
            "data",
            "--config",
            "config.yml",
        ],
        cwd=project,
        timeout=timeout,
    )


# Expected: our actions utter these responses, so no rule names them; `choose` only comes from buttons.
_EXPECTED_WARNINGS = ("is not used in any story or rule", "The intent 'choose' is listed in the domain")


def validation_warnings(output: str) -> list[str]:
    """Rasa's UserWarnings from `rasa data validate`, without the ones our design expects."""
    found = []
    for line in output.splitlines():
        plain = re.sub(r"\x1b\[[0-9;]*m", "", line).strip()
        if "UserWarning:" in plain and not any(expected in plain for expected in _EXPECTED_WARNINGS):
            found.append(plain.split("UserWarning:", 1)[1].strip())
    return found


def train(
    project: Path, *, venv: Path = DEFAULT_VENV, cache_dir: Path | None = None, timeout: float | None = None
) -> Path:
    """Train the project (`rasa train`) into project/models/crm.tar.gz; reuse `cache_dir/<hash>.tar.gz`."""
    model = project / "models" / "crm.tar.gz"
    key = training_inputs_hash(project)
    cached = cache_dir / f"rasa-{key}.tar.gz" if cache_dir else None
    if cached is not None and cached.is_file():
        model.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(cached, model)
        _log(f"reusing the trained model {cached}")
        return model
    started = time.monotonic()
    _run(
        [
            str(rasa_executable(venv)),
            "train",
            "--domain",
            "domain",
            "--data",
            "data",
            "--config",
            "config.yml",
            "--out",
            "models",
            "--fixed-model-name",
            "crm",
        ],
        cwd=project,
        timeout=timeout,
    )
    _log(f"trained {model} in {time.monotonic() - started:.0f} s")
    if cached is not None:
        cached.parent.mkdir(parents=True, exist_ok=True)
        tmp = cached.with_suffix(".part")
        shutil.copyfile(model, tmp)
        tmp.replace(cached)
    return model


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m bench.rasa.make_project", description=__doc__.splitlines()[0]
    )
    parser.add_argument("out", type=Path, help="the project directory to write")
    parser.add_argument("--language", default="en", choices=["en", "de"])
    parser.add_argument("--action-url", default="http://127.0.0.1:5055/webhook")
    parser.add_argument("--action-token", default=os.environ.get("CRM_ACTION_TOKEN", ""))
    parser.add_argument("--per-intent", type=int, default=None, help="keep N NLU examples per intent")
    parser.add_argument("--epochs", type=int, default=None, help="DIET/ResponseSelector epochs (default 100)")
    parser.add_argument("--no-lookups", action="store_true")
    parser.add_argument("--data", type=Path, default=TRAINING_DATA)
    parser.add_argument("--venv", type=Path, default=DEFAULT_VENV)
    parser.add_argument("--validate", action="store_true", help="run `rasa data validate`")
    parser.add_argument("--train", action="store_true", help="run `rasa train` into OUT/models/crm.tar.gz")
    args = parser.parse_args(argv)
    changes = build_project(
        args.out,
        language=args.language,
        action_url=args.action_url,
        action_token=args.action_token,
        per_intent=args.per_intent,
        epochs=args.epochs,
        lookups=not args.no_lookups,
        data=args.data,
    )
    for change in changes:
        _log(
            f"{change.file}: {change.what}"
            + (" (the data owners should change this)" if change.owner_should_fix else "")
        )
    if args.validate or args.train:
        venv = ensure_rasa_venv(args.venv)
        if args.validate:
            output = validate(args.out, venv=venv)
            warnings = validation_warnings(output)
            _log(f"rasa data validate: OK ({len(warnings)} warnings worth reading)")
            for line in warnings:
                _log(f"  {line}")
        if args.train:
            train(args.out, venv=venv)
    print(args.out)
    return 0


if __name__ == "__main__":
    sys.exit(main())
