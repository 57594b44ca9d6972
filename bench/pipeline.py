"""Pipeline answers: latency of answering managers' pipeline questions, against the old status dump.

    python -m bench.pipeline [--rounds 20] [--scale 0.1] [--backend sqlite|postgres] [--model-dir DIR]

Two stores: the demo store (``generate_demo``, size "small") and a larger generated one (``bench.store``'s
generator at ``--scale``: 0.1 is 5k deals, 100k activities, 10k contacts). On each, a manager asks a dozen
English and German pipeline questions (at risk, top-N, won this month, breakdowns with a chart, ...)
``--rounds`` times each through the in-process assistant (engine, action, ReportService, chart), and the
reply is rendered for Slack (Block Kit); the time of the whole turn is one sample. The baseline is the old
answer to every pipeline question: the status dump (``/pipeline_status``: summary, stage table and chart,
owners, closing, stalled), timed the same way in the same run.

Without ``--model-dir`` the intent is fixed to ``pipeline_status`` and the entities come from the rule and
date extractors (no model: the bench measures the answer, not the classifier; ``bench.nlu`` does that);
with it, the trained NLU parses every question too. Nothing is asserted: figures are printed.
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import tempfile
import time
import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

from assistant.app import build_assistant
from assistant.messages import IncomingMessage
from connectors.slack.render import render as render_slack
from crm_store.db import Database
from crm_store.demo_data import generate_demo
from crm_store.models import User
from crm_store.services import Actor
from crm_store.services.users import actor_for

QUESTIONS: tuple[tuple[str, str], ...] = (
    ("en", "which deals are at risk?"),
    ("en", "top deals by value in negotiation"),
    ("en", "how much did we win this quarter?"),
    ("en", "weighted forecast by owner for this quarter"),
    ("en", "how many deals are in proposal"),
    ("en", "open deals over 50k closing next quarter"),
    ("en", "which deals haven't moved in three weeks"),
    ("de", "wie viel haben wir diesen Monat gewonnen?"),
    ("de", "Welche Deals sind überfällig?"),
    ("de", "Die 5 größten Deals im nächsten Quartal"),
    ("de", "Pipeline nach Phase für dieses Quartal"),
    ("de", "Deals zwischen 10.000 und 20.000 € bis Ende des Jahres"),
)
BASELINE: tuple[tuple[str, str], ...] = (("en", "/pipeline_status"), ("de", "/pipeline_status"))


class RuleNLU:
    """``pipeline_status`` with the rule and date entities: the NLU's entity part without its models."""

    def parse_batch(
        self,
        texts: list[str],
        *,
        langs: list[str | None] | None = None,
        now: datetime | None = None,
        tz: str = "Europe/Berlin",
    ) -> list[dict[str, Any]]:
        from nlu.dates import extract_times
        from nlu.rule_entities import extract_rule_entities, merge_entities

        reference = now or datetime.now(ZoneInfo(tz))
        out = []
        for text, lang in zip(texts, langs or [None] * len(texts), strict=True):
            language = lang or "en"
            entities = merge_entities(
                extract_rule_entities(text, language), extract_times(text, language, now=reference, tz=tz)
            )
            intent = {"name": "pipeline_status", "confidence": 1.0}
            out.append(
                {
                    "text": text,
                    "intent": intent,
                    "intent_ranking": [intent],
                    "entities": [e.to_dict() for e in entities],
                    "language": language,
                }
            )
        return out


@dataclass
class Timing:
    store: str
    path: str
    samples: list[float] = field(default_factory=list)
    messages: list[int] = field(default_factory=list)

    def pct(self, p: float) -> float:
        ordered = sorted(self.samples)
        return ordered[min(len(ordered) - 1, round(p * (len(ordered) - 1)))] * 1000


def _demo_store(directory: Path) -> Database:
    db = Database(f"sqlite:///{directory / 'demo.db'}")
    db.create_all()
    generate_demo(db, size="small")
    return db


def _generated_store(
    directory: Path, backend: str, scale: float, pg_url: str, log: Callable[[str], None]
) -> Database:
    from bench import store
    from bench.store import BackendResult, Generator, fresh_database, populate

    # the generator dates everything around its fixed NOW; questions say "this quarter": date it today
    store.NOW = datetime.now(UTC).replace(microsecond=0)
    db = fresh_database(backend, pg_url, directory / "generated.db")
    populate(db, Generator(scale), BackendResult(backend=backend, scale=scale), log)
    return db


def _manager(db: Database) -> Actor:
    from sqlalchemy import select

    with db.session() as s:
        user = s.execute(select(User).where(User.role == "manager").order_by(User.id)).scalars().first()
        if user is None:
            raise SystemExit("the store has no manager")
        return actor_for(user)


def measure(db: Database, store: str, nlu: Any, rounds: int) -> list[Timing]:
    assistant = build_assistant(db, nlu)
    manager = _manager(db)
    speakers = {"en": replace(manager, language="en"), "de": replace(manager, language="de")}

    async def run(questions: Sequence[tuple[str, str]], timing: Timing) -> None:
        for lang, text in questions:  # one warm-up turn each (first chart, first query plan)
            await assistant.handle(
                IncomingMessage("web", f"warm-{uuid.uuid4().hex[:8]}", text, speakers[lang])
            )
        for _ in range(rounds):
            for lang, text in questions:
                msg = IncomingMessage("slack", f"bench-{uuid.uuid4().hex[:8]}", text, speakers[lang])
                start = time.perf_counter()
                replies = await assistant.handle(msg)
                render_slack(replies)
                timing.samples.append(time.perf_counter() - start)
                timing.messages.append(len(replies))

    answers, dump = Timing(store, "answers"), Timing(store, "baseline: dump")
    asyncio.run(run(QUESTIONS, answers))
    asyncio.run(run(BASELINE, dump))
    return [answers, dump]


def examples(db: Database, nlu: Any) -> list[str]:
    """The first line of each answer on this store, to see what was timed."""
    assistant = build_assistant(db, nlu)
    manager = _manager(db)
    lines = []
    for lang, text in QUESTIONS:
        speaker = replace(manager, language=lang)
        replies = asyncio.run(assistant.handle(IncomingMessage("web", uuid.uuid4().hex[:8], text, speaker)))
        first = next((r.get("text") for r in replies if r.get("text")), "")
        lines.append(f"  {text!r:58} -> {first.splitlines()[0] if first else '(table only)'}")
    return lines


def report(timings: list[Timing]) -> str:
    lines = [f"{'store':<22} {'path':<16} {'n':>5} {'p50 ms':>8} {'p95 ms':>8} {'msgs/answer':>12}"]
    for t in timings:
        lines.append(
            f"{t.store:<22} {t.path:<16} {len(t.samples):>5} {t.pct(0.5):>8.1f} {t.pct(0.95):>8.1f} "
            f"{statistics.mean(t.messages):>12.1f}"
        )
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--rounds", type=int, default=20, help="times each question is asked per store")
    parser.add_argument("--scale", type=float, default=0.1, help="size of the generated store (bench.store)")
    parser.add_argument("--backend", choices=("sqlite", "postgres"), default="sqlite")
    parser.add_argument("--pg-url", default="postgresql+psycopg://postgres@127.0.0.1:5432/crm_bench_pipeline")
    parser.add_argument("--model-dir", type=Path, help="parse with the trained NLU from this directory")
    parser.add_argument("--quiet", action="store_true", help="no example answers")
    args = parser.parse_args(argv)
    nlu: Any = RuleNLU()
    if args.model_dir:
        from assistant.app import load_nlu
        from assistant.settings import PROJECT_DATA

        nlu = load_nlu(args.model_dir, PROJECT_DATA)
    timings: list[Timing] = []
    with tempfile.TemporaryDirectory(prefix="bench-pipeline-") as tmp:
        directory = Path(tmp)
        print("demo store (small) ...", flush=True)
        demo = _demo_store(directory)
        try:
            if not args.quiet:
                print("\n".join(examples(demo, nlu)))
            timings += measure(demo, "demo small (sqlite)", nlu, args.rounds)
        finally:
            demo.dispose()
        print(f"generated store (scale {args.scale:g}, {args.backend}) ...", flush=True)
        big = _generated_store(directory, args.backend, args.scale, args.pg_url, lambda _line: None)
        try:
            timings += measure(big, f"scale {args.scale:g} ({args.backend})", nlu, args.rounds)
        finally:
            big.dispose()
    print(report(timings))


if __name__ == "__main__":
    main()
