"""Train or run one Rasa 3.6 NLU model; runs inside .rasa-venv (Python 3.10), never in the product venv.

bench/rasa_compare.py copies this file into its work directory and calls it once per fold and step:

    python driver.py train --config config.yml --nlu train.yml --out models --name fold0 --result r.json
    python driver.py parse --model models/fold0.tar.gz --texts texts.json --result r.json

Each call writes one JSON object to --result (stdout and stderr belong to Rasa's and TensorFlow's logs):
timings, the process's own peak RSS and, for `parse`, one prediction per text with its latency.
Parsing goes through `Agent.parse_message`, the code path behind Rasa's `/model/parse`, minus HTTP.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import resource
import sys
import time
from typing import Any


def _cpu_seconds() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def _peak_rss_mb() -> float:
    # Linux reports ru_maxrss in KiB.
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0


def _train(args: argparse.Namespace) -> dict[str, Any]:
    started = time.perf_counter()
    from rasa.model_training import train_nlu

    import_seconds = time.perf_counter() - started
    started, cpu_started = time.perf_counter(), _cpu_seconds()
    model = train_nlu(config=args.config, nlu_data=args.nlu, output=args.out, fixed_model_name=args.name)
    train_seconds = time.perf_counter() - started
    train_cpu_seconds = _cpu_seconds() - cpu_started
    if not model:
        raise SystemExit("rasa train nlu produced no model")
    return {
        "model": str(model),
        "import_seconds": import_seconds,
        "train_seconds": train_seconds,
        "train_cpu_seconds": train_cpu_seconds,
        "peak_rss_mb": _peak_rss_mb(),
    }


async def _parse_all(model: str, texts: list[str]) -> dict[str, Any]:
    started = time.perf_counter()
    from rasa.core.agent import Agent

    import_seconds = time.perf_counter() - started
    started = time.perf_counter()
    agent = Agent.load(model)
    await agent.parse_message("hello")  # the first call builds TensorFlow's graph: not counted
    load_seconds = time.perf_counter() - started
    predictions = []
    cpu_started = _cpu_seconds()
    for text in texts:
        started = time.perf_counter()
        parsed = await agent.parse_message(text)
        elapsed_ms = (time.perf_counter() - started) * 1000.0
        intent = parsed.get("intent") or {}
        predictions.append(
            {
                "intent": intent.get("name"),
                "confidence": float(intent.get("confidence") or 0.0),
                "ranking": [
                    [item.get("name"), float(item.get("confidence") or 0.0)]
                    for item in (parsed.get("intent_ranking") or [])[:10]
                ],
                "entities": [
                    {
                        "entity": ent.get("entity"),
                        "value": ent.get("value"),
                        "start": ent.get("start"),
                        "end": ent.get("end"),
                        "extractor": ent.get("extractor"),
                    }
                    for ent in parsed.get("entities") or []
                ],
                "ms": elapsed_ms,
            }
        )
    return {
        "import_seconds": import_seconds,
        "load_seconds": load_seconds,
        "parse_cpu_seconds": _cpu_seconds() - cpu_started,
        "predictions": predictions,
        "peak_rss_mb": _peak_rss_mb(),
    }


def _parse(args: argparse.Namespace) -> dict[str, Any]:
    with open(args.texts, encoding="utf-8") as handle:
        texts = json.load(handle)
    return asyncio.run(_parse_all(args.model, texts))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    steps = parser.add_subparsers(dest="step", required=True)
    train = steps.add_parser("train")
    train.add_argument("--config", required=True)
    train.add_argument("--nlu", required=True)
    train.add_argument("--out", required=True)
    train.add_argument("--name", required=True)
    train.add_argument("--result", required=True)
    parse = steps.add_parser("parse")
    parse.add_argument("--model", required=True)
    parse.add_argument("--texts", required=True)
    parse.add_argument("--result", required=True)
    args = parser.parse_args(argv)
    result = _train(args) if args.step == "train" else _parse(args)
    result["python"] = sys.version.split()[0]
    with open(args.result, "w", encoding="utf-8") as handle:
        json.dump(result, handle)
    return 0


if __name__ == "__main__":
    sys.exit(main())
