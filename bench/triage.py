"""E-mail triage benchmark: accuracy on held-out mails, end-to-end mails/s into a store, duplicates.

    python -m bench.triage                          # SQLite and PostgreSQL, the product's embedder
    python -m bench.triage bench/data/triage_dev --skip-throughput   # accuracy on another held-out set
    python -m bench.triage --backend sqlite --mails 300 --embedder hashing

Held-out sets (the optional argument; default ``bench/data/emails_heldout/``) come in two formats:

* a folder of ``*.yml`` files in the training-data format (``emails: [{queue, priority, language,
  headers, body}]``);
* a folder with one RFC 5322 ``.eml`` file per mail and ``labels.csv`` with the header line
  ``file,queue,priority,language`` (``file`` relative to the folder; queue and priority contract §3
  labels; language ISO 639-1), or the path of that ``labels.csv``.

1. Accuracy: queue and priority accuracy and macro-F1 on the held-out set (never trained on), both
   confusion matrices (rows: true label, columns: predicted), the calibration of the confidences
   (expected calibration error, Brier score, accuracy per confidence bin), how many mails the triage
   would hand to a person (confidence below ``review_below``) and how many it would drop without a
   ticket (and how many of those were not auto_reply/spam), and 5-fold cross-validation on the
   training data (``nlu.email_classifier.evaluate_emails``).
2. Throughput: ``--mails`` distinct RFC 5322 messages (built from the training and held-out mails with
   fresh Message-IDs and senders) go through ``TriageService`` into an empty store, each delivered
   three times (all, then all again twice, as a retrying MTA would). Reports mails/s for the first
   delivery one by one (``process``: parse, classify, one transaction), for batches of 32
   (``process_batch``: one encoder call per batch) and for the redeliveries, where the time goes
   (classifier vs. store), and the number of mails processed more than once (must be 0).
PostgreSQL uses its own database ``crm_triagebench`` (created when missing, emptied before each run).
Targets: >= 100 mails/s end to end; on held-out mails written like real customer mail queue accuracy
>= 0.92 and priority accuracy >= 0.85 (issue 17). Writes JSON to bench/results/.
"""

from __future__ import annotations

import argparse
import json
import time
from collections import Counter
from datetime import UTC, datetime
from email.message import EmailMessage
from email.utils import format_datetime
from pathlib import Path
from typing import Any

import yaml
from sqlalchemy import create_engine, func, select, text
from sqlalchemy.engine import make_url

from connectors.email.routing import Router
from connectors.email.triage import EVENT_SOURCE, NO_TICKET_QUEUES, TriageService, verdict
from crm_store.db import Database
from crm_store.models import Base, Deal, ProcessedEvent, Ticket, TicketMessage
from nlu.email_classifier import EmailClassifier, evaluate_emails, load_labelled_mails, load_training_emails
from nlu.email_text import parse_mail
from nlu.embedder import Embedder, get_embedder

ROOT = Path(__file__).resolve().parent.parent
TRAIN = ROOT / "training_data" / "emails"
HELDOUT = ROOT / "bench" / "data" / "emails_heldout"
RESULTS = ROOT / "bench" / "results"
DEFAULT_PG = "postgresql+psycopg://postgres@127.0.0.1:5432/crm_triagebench"
NOW = datetime(2026, 11, 28, 9, 0, tzinfo=UTC)
BATCH = 32
TARGET_MAILS_PER_S = 100.0
TARGET_QUEUE_ACCURACY = 0.92
TARGET_PRIORITY_ACCURACY = 0.85


# --- the mails ---------------------------------------------------------------------------------------


def _entries(*folders: Path) -> list[dict[str, Any]]:
    out: list[dict[str, Any]] = []
    for folder in folders:
        for path in sorted(folder.glob("*.yml")):
            out.extend((yaml.safe_load(path.read_text(encoding="utf-8")) or {}).get("emails") or [])
    return out


def make_mails(count: int) -> list[bytes]:
    """``count`` distinct messages: the corpus cycled, each copy with its own Message-ID and sender."""
    corpus = _entries(TRAIN, HELDOUT)
    mails = []
    for n in range(count):
        entry = corpus[n % len(corpus)]
        headers = {str(k): str(v) for k, v in (entry.get("headers") or {}).items()}
        msg = EmailMessage()
        sender = headers.pop("From", "Customer <customer@example.org>")
        name, _, addr = sender.rpartition("<")
        local, _, domain = addr.rstrip(">").partition("@")
        msg["From"] = f"{name.strip()} <{local}+{n}@{domain or 'example.org'}>"
        msg["To"] = "support@example-crm.com"
        msg["Subject"] = headers.pop("Subject", "(no subject)")
        msg["Date"] = format_datetime(NOW)
        msg["Message-ID"] = f"<bench-{n}@triage.bench>"
        for key, value in headers.items():
            if key.lower() not in ("to", "date", "message-id"):
                msg[key] = value
        msg.set_content(str(entry.get("body", "")))
        mails.append(msg.as_bytes())
    return mails


# --- stores ------------------------------------------------------------------------------------------


def open_store(kind: str, tmp: Path, pg_url: str) -> Database:
    if kind == "sqlite":
        path = tmp / "bench-triage.db"
        for suffix in ("", "-wal", "-shm"):
            Path(f"{path}{suffix}").unlink(missing_ok=True)
        db = Database(f"sqlite:///{path}")
        db.create_all()
        return db
    url = make_url(Database(pg_url).url)
    admin = create_engine(url.set(database="postgres"), isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        if not conn.execute(
            text("SELECT 1 FROM pg_database WHERE datname = :n"), {"n": url.database}
        ).scalar():
            conn.execute(text(f'CREATE DATABASE "{url.database}"'))
    admin.dispose()
    db = Database(url.render_as_string(hide_password=False))
    db.create_all()
    names = ", ".join(f'"{t.name}"' for t in Base.metadata.sorted_tables)
    with db.engine.begin() as conn:
        conn.execute(text(f"TRUNCATE {names} RESTART IDENTITY CASCADE"))
    return db


def _count(db: Database, *columns: Any, where: Any = None) -> int:
    with db.session() as s:
        stmt = select(func.count()).select_from(columns[0])
        if where is not None:
            stmt = stmt.where(where)
        return int(s.execute(stmt).scalar_one())


# --- throughput ------------------------------------------------------------------------------------------


def throughput(db: Database, classifier: EmailClassifier, mails: list[bytes]) -> dict[str, Any]:
    triage = TriageService(db, classifier, routing=Router.from_yaml(), now=NOW)
    half = len(mails) // 2
    single, batched = mails[:half], mails[half:]
    actions: Counter[str] = Counter()

    started = time.perf_counter()
    for raw in single:
        actions[triage.process(raw, source="bench").action] += 1
    one_by_one = time.perf_counter() - started

    started = time.perf_counter()
    for i in range(0, len(batched), BATCH):
        for result in triage.process_batch(batched[i : i + BATCH], source="bench"):
            actions[result.action] += 1
    in_batches = time.perf_counter() - started

    redelivered: Counter[str] = Counter()
    started = time.perf_counter()
    for _ in range(2):  # the second and third delivery of every mail
        for i in range(0, len(mails), BATCH):
            for result in triage.process_batch(mails[i : i + BATCH], source="bench"):
                redelivered[result.action] += 1
    redelivery = time.perf_counter() - started

    # where the time goes: the classifier alone on the same mails (one by one, and batched)
    parsed = [parse_mail(raw) for raw in single]
    started = time.perf_counter()
    for mail in parsed:
        classifier.predict(mail)
    classify_single = time.perf_counter() - started
    started = time.perf_counter()
    for i in range(0, len(parsed), BATCH):
        classifier.predict_many(parsed[i : i + BATCH])
    classify_batched = time.perf_counter() - started
    started = time.perf_counter()
    for raw in single:
        parse_mail(raw)
    parse_time = time.perf_counter() - started

    processed = _count(db, ProcessedEvent, where=ProcessedEvent.source == EVENT_SOURCE)
    tickets, messages, deals = _count(db, Ticket), _count(db, TicketMessage), _count(db, Deal)
    return {
        "mails": len(mails),
        "deliveries": 3 * len(mails),
        "mails_per_s_one_by_one": round(len(single) / one_by_one, 1),
        "mails_per_s_batched": round(len(batched) / in_batches, 1),
        "mails_per_s_first_delivery": round(len(mails) / (one_by_one + in_batches), 1),
        "redeliveries_per_s": round(2 * len(mails) / redelivery, 1),
        "ms_per_mail": {
            "end_to_end_one_by_one": round(1000 * one_by_one / len(single), 2),
            "end_to_end_batched": round(1000 * in_batches / len(batched), 2),
            "parse": round(1000 * parse_time / len(single), 2),
            "classify_one_by_one": round(1000 * classify_single / len(single), 2),
            "classify_batched": round(1000 * classify_batched / len(single), 2),
            "store_and_rest_one_by_one": round(1000 * (one_by_one - classify_single) / len(single), 2),
        },
        "actions_first_delivery": dict(actions),
        "actions_redelivery": dict(redelivered),
        "processed_events": processed,
        "tickets": tickets,
        "ticket_messages": messages,
        "lead_deals": deals,
        # a mail processed more than once: an extra idempotency row or a redelivery not seen as such
        "duplicates": max(0, processed - len(mails)) + redelivered.total() - redelivered["duplicate"],
    }


# --- accuracy report ---------------------------------------------------------------------------------------


def print_confusion(title: str, matrix: dict[str, Any]) -> None:
    names: list[str] = matrix["labels"]
    used = [i for i, name in enumerate(names) if any(matrix["rows"][i]) or any(r[i] for r in matrix["rows"])]
    short = [names[i][:8] for i in used]
    width = max(8, *(len(s) for s in short))
    print(f"{title} (rows: true, columns: predicted)")
    print(" " * (width + 1) + " ".join(f"{s:>{width}}" for s in short))
    for i in used:
        cells = " ".join(f"{matrix['rows'][i][j]:>{width}}" for j in used)
        print(f"{names[i][:width]:<{width}} {cells}")


def print_calibration(title: str, figures: dict[str, Any]) -> None:
    print(f"{title}: ECE {figures['ece']}, Brier {figures['brier']}")
    for row in figures["bins"]:
        print(
            f"  confidence {row['range']}: {row['n']:>4} mails, mean {row['confidence']:.3f}, right {row['accuracy']:.3f}"
        )


def routing_figures(truth: list[tuple[str, str]], labels: list[Any]) -> dict[str, Any]:
    """What the triage would do with the held-out mails: hand to a person, or drop without a ticket."""
    router = Router.from_yaml()
    decided = [verdict(label, router) for label in labels]
    dropped = [t for t, d in zip(truth, decided, strict=True) if d.drop]
    reviewed = [
        (t, label) for t, label, d in zip(truth, labels, decided, strict=True) if d.review and not d.drop
    ]
    kept = [
        (t, label) for t, label, d in zip(truth, labels, decided, strict=True) if not d.review and not d.drop
    ]
    return {
        "review_below": router.review_below,
        "to_a_person": len(reviewed),
        "to_a_person_share": round(len(reviewed) / max(1, len(labels)), 4),
        "dropped": len(dropped),
        "dropped_wrongly": sum(1 for queue, _ in dropped if queue not in NO_TICKET_QUEUES),
        "queue_accuracy_routed_directly": round(
            sum(t[0] == label.queue for t, label in kept) / max(1, len(kept)), 4
        ),
    }


def accuracy(heldout: Path, embedder: Embedder) -> dict[str, Any]:
    evaluation = evaluate_emails(TRAIN, heldout, embedder=embedder)
    labels = evaluation.pop("heldout_labels")
    held = evaluation["heldout"]
    truth = [(t[1], t[2]) for t in load_labelled_mails(heldout)]
    held["routing"] = routing_figures(truth, labels)
    print(f"held-out set: {heldout} ({evaluation['heldout_mails']} mails)")
    print(
        f"queue acc {held['queue']['accuracy']:.3f} (target {TARGET_QUEUE_ACCURACY}) "
        f"macro-F1 {held['queue']['macro_f1']:.3f} | priority acc {held['priority']['accuracy']:.3f} "
        f"(target {TARGET_PRIORITY_ACCURACY}) macro-F1 {held['priority']['macro_f1']:.3f} | "
        f"language acc {held['language_accuracy']:.3f}"
    )
    print_confusion("queue confusion", held["queue_confusion"])
    print_confusion("priority confusion", held["priority_confusion"])
    print_calibration("queue confidence calibration", held["queue_calibration"])
    print_calibration("priority confidence calibration", held["priority_calibration"])
    routing = held["routing"]
    print(
        f"routing: {routing['to_a_person']} mails to a person (confidence < {routing['review_below']}, or auto_reply/spam "
        f"without header evidence), "
        f"queue acc of the rest {routing['queue_accuracy_routed_directly']:.3f}; "
        f"{routing['dropped']} dropped without a ticket, {routing['dropped_wrongly']} of them not auto_reply/spam"
    )
    cv = evaluation["cv"]
    print(
        f"5-fold CV on training: queue acc {cv['queue']['accuracy']:.3f}, priority acc {cv['priority']['accuracy']:.3f}"
    )
    report = {k: evaluation[k] for k in ("train_mails", "heldout_mails", "cv", "heldout")}
    report["heldout_set"] = str(heldout)
    report["ms_per_mail"] = evaluation["ms_per_mail"]
    report["queue_accuracy_ok"] = held["queue"]["accuracy"] >= TARGET_QUEUE_ACCURACY
    report["priority_accuracy_ok"] = held["priority"]["accuracy"] >= TARGET_PRIORITY_ACCURACY
    return report


# --- main ------------------------------------------------------------------------------------------------


def train(embedder: Embedder) -> EmailClassifier:
    training = load_training_emails(TRAIN)
    return EmailClassifier(embedder).fit(
        [t[0] for t in training], [t[1] for t in training], [t[2] for t in training]
    )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "heldout", nargs="?", type=Path, default=HELDOUT,
        help="held-out mails: a folder of *.yml, or of *.eml with labels.csv (file,queue,priority,language)",
    )  # fmt: skip
    parser.add_argument("--skip-throughput", action="store_true")
    parser.add_argument("--backend", choices=["sqlite", "postgres", "both"], default="both")
    parser.add_argument("--mails", type=int, default=600)
    parser.add_argument("--embedder", default="auto", help="auto (the product's), onnx, torch or hashing")
    parser.add_argument("--pg-url", default=DEFAULT_PG)
    parser.add_argument("--skip-accuracy", action="store_true")
    args = parser.parse_args(argv)

    embedder = get_embedder(backend=args.embedder)
    report: dict[str, Any] = {"embedder": getattr(embedder, "name", args.embedder), "stores": {}}
    if not args.heldout.exists():
        parser.error(f"no held-out set at {args.heldout}")
    if not args.skip_accuracy:
        report["accuracy"] = accuracy(args.heldout, embedder)
        report["queue_accuracy_ok"] = report["accuracy"]["queue_accuracy_ok"]
    if args.skip_throughput:
        return _write(report, "accuracy")

    classifier = train(embedder)
    mails = make_mails(args.mails)
    kinds = ["sqlite", "postgres"] if args.backend == "both" else [args.backend]
    RESULTS.mkdir(parents=True, exist_ok=True)
    for kind in kinds:
        try:
            db = open_store(kind, RESULTS, args.pg_url)
        except Exception as exc:  # PostgreSQL not running: say so, measure the rest
            print(f"{kind}: skipped ({type(exc).__name__}: {str(exc).splitlines()[0][:120]})")
            report["stores"][kind] = {"skipped": str(exc).splitlines()[0][:200]}
            continue
        try:
            numbers = throughput(db, classifier, mails)
        finally:
            db.dispose()
        report["stores"][kind] = numbers
        ms = numbers["ms_per_mail"]
        print(
            f"{kind}: {numbers['mails_per_s_first_delivery']} mails/s first delivery "
            f"(one by one {numbers['mails_per_s_one_by_one']}, batched {numbers['mails_per_s_batched']}), "
            f"redeliveries {numbers['redeliveries_per_s']}/s, duplicates {numbers['duplicates']} | ms/mail: "
            f"parse {ms['parse']}, classify {ms['classify_one_by_one']} (batched {ms['classify_batched']}), "
            f"store+rest {ms['store_and_rest_one_by_one']}"
        )
    return _write(report, args.backend)


def _write(report: dict[str, Any], name: str) -> int:
    RESULTS.mkdir(parents=True, exist_ok=True)
    stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%S")
    out = RESULTS / f"triage-{name}-{stamp}.json"
    out.write_text(json.dumps(report, indent=2, ensure_ascii=False))
    print(f"written {out.relative_to(ROOT)}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
