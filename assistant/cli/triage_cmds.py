"""``crm-assistant triage``: e-mail triage from files (.eml, mbox, maildir); ``--dry-run`` writes nothing.

Each message gives one JSON line on stdout (contract §4): ``file``, ``message_id``, ``queue``,
``priority``, ``language``, ``confidence`` and what else was decided (contact, thread, team; without
``--dry-run`` also the action and ticket number). Logs and training progress go to stderr.
The e-mail classifier is trained from ``training_data/emails`` on first use and cached in the model
directory under a hash of that data and the embedding model, so changed data retrains by itself.
"""

from __future__ import annotations

import json
import mailbox
import sys
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import click
from tqdm import tqdm

from assistant.cli.common import db_option, open_store
from connectors.email.model import ClassifierDataError
from connectors.email.model import load_or_train_classifier as _load_or_train
from connectors.email.routing import DEFAULT_RULES_FILE, Router
from connectors.email.triage import TriageService
from crm_store.db import Database, default_database_url
from nlu import model_store
from nlu.email_classifier import EmailClassifier
from nlu.embedder import Embedder, get_embedder

DEFAULT_EMAIL_DATA = Path("training_data") / "emails"
BUNDLED_EMAIL_DATA = Path(__file__).resolve().parents[2] / "training_data" / "emails"


# --- inputs -------------------------------------------------------------------------------------


def iter_messages(path: Path) -> Iterator[tuple[str, bytes]]:
    """``(label, raw bytes)`` for a .eml file, every message of an mbox file or of a maildir folder."""
    if path.is_dir():
        if (path / "cur").is_dir() or (path / "new").is_dir():
            for sub in ("new", "cur"):
                for item in sorted((path / sub).glob("*")) if (path / sub).is_dir() else []:
                    if item.is_file() and not item.name.startswith("."):
                        yield str(item), item.read_bytes()
            return
        for item in sorted(path.glob("*.eml")):
            yield str(item), item.read_bytes()
        return
    head = path.read_bytes()[:5]
    if head == b"From ":
        box = mailbox.mbox(str(path), create=False)
        try:
            for number, key in enumerate(box.iterkeys(), start=1):
                yield f"{path}#{number}", box.get_bytes(key)
        finally:
            box.close()
        return
    yield str(path), path.read_bytes()


def count_messages(path: Path) -> int:
    """How many messages :func:`iter_messages` will yield (for the progress bar; reads no bodies of files)."""
    if path.is_dir():
        if (path / "cur").is_dir() or (path / "new").is_dir():
            return sum(
                1
                for sub in ("new", "cur")
                if (path / sub).is_dir()
                for item in (path / sub).glob("*")
                if item.is_file() and not item.name.startswith(".")
            )
        return sum(1 for _ in path.glob("*.eml"))
    with path.open("rb") as handle:
        if handle.read(5) != b"From ":
            return 1
    box = mailbox.mbox(str(path), create=False)
    try:
        return len(box)
    finally:
        box.close()


# --- model --------------------------------------------------------------------------------------


def load_or_train_classifier(model_dir: Path, data_dir: Path, embedder: Embedder) -> EmailClassifier:
    """The cached classifier (``connectors.email.model``); progress on stderr, data errors as usage errors."""
    try:
        return _load_or_train(model_dir, data_dir, embedder, say=lambda text: click.echo(text, err=True))
    except ClassifierDataError as exc:
        raise click.ClickException(str(exc)) from exc


# --- command ------------------------------------------------------------------------------------


def _parse_now(value: str | None) -> datetime | None:
    if not value:
        return None
    try:
        moment = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError as exc:
        raise click.BadParameter(f"not an ISO 8601 date-time: {value!r}", param_hint="--now") from exc
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


def _dry_run_store(db_url: str | None) -> Database | None:
    """The store for read-only lookups, or None when there is none (a dry run never creates one)."""
    url = db_url or default_database_url()
    if url.startswith("sqlite"):
        file = url.split(":///", 1)[-1]
        if not file or file == ":memory:" or not Path(file).is_file():
            return None
    db = Database(url)
    if not db.ping():
        db.dispose()
        return None
    return db


@click.command("triage")
@click.argument("files", nargs=-1, required=True, type=click.Path(exists=True, path_type=Path))
@click.option("--dry-run", is_flag=True, help="Classify and look up only; write nothing (needs no database).")
@click.option("--now", "now_text", default=None, metavar="ISO8601", help="Reference time (default: now).")
@db_option
@click.option("--model", "model", default=None, help="Model dir [default: $CRM_MODEL_DIR or ./models]")
@click.option(
    "--data", "data_dir", default=str(DEFAULT_EMAIL_DATA), type=click.Path(path_type=Path),
    show_default=True, help="E-mail training data (trained from on first use).",
)  # fmt: skip
@click.option(
    "--backend", default="auto", type=click.Choice(["auto", "onnx", "torch", "hashing"]),
    show_default=True, help="Embedding backend for the classifier.",
)  # fmt: skip
@click.option("--rules", "rules", default=str(DEFAULT_RULES_FILE), type=click.Path(path_type=Path),
              show_default=True, help="Routing rules (YAML).")  # fmt: skip
def triage_cmd(
    files: tuple[Path, ...],
    dry_run: bool,
    now_text: str | None,
    db_url: str | None,
    model: str | None,
    data_dir: Path,
    backend: str,
    rules: Path,
) -> None:
    """Triage e-mail files (.eml, mbox, maildir): one JSON line per message on stdout."""
    now = _parse_now(now_text)
    db = _dry_run_store(db_url) if dry_run else open_store(db_url)
    service = build_triage(db, model=model, data_dir=data_dir, backend=backend, rules=rules, now=now)
    # the bar on stderr (stdout stays JSON lines), only on a terminal
    bar = tqdm(total=sum(count_messages(p) for p in files), desc="triage", unit=" mails", file=sys.stderr,
               disable=None, leave=False)  # fmt: skip
    try:
        for path in files:
            for label, raw in iter_messages(path):
                if dry_run:
                    line = {"file": label, **service.classify(raw)}
                else:
                    line = {"file": label, **service.process(raw, source="file").to_dict()}
                bar.clear()
                click.echo(json.dumps(line, ensure_ascii=False, default=str))
                bar.update(1)
    finally:
        bar.close()
        if db is not None:
            db.dispose()


def build_triage(
    db: Database | None,
    *,
    model: str | None = None,
    data_dir: Path = DEFAULT_EMAIL_DATA,
    backend: str = "auto",
    rules: Path = DEFAULT_RULES_FILE,
    now: datetime | None = None,
) -> TriageService:
    """The triage service as the server builds it: the cached (or freshly trained) classifier, the routing
    rules, and whose Authentication-Results to believe."""
    from assistant.settings import Settings

    model_dir = Path(model) if model else model_store.default_model_dir()
    embedder = get_embedder(backend=backend, cache_dir=model_dir / "embeddings")
    if data_dir == DEFAULT_EMAIL_DATA and not data_dir.is_dir():
        data_dir = BUNDLED_EMAIL_DATA  # run from another directory: the checkout's own data
    classifier = load_or_train_classifier(model_dir, data_dir, embedder)
    authserv_id = Settings.from_env().mail_authserv_id or None
    return TriageService(db, classifier, routing=Router.from_yaml(rules), now=now, authserv_id=authserv_id)


def register(cli: click.Group) -> None:
    cli.add_command(triage_cmd)
