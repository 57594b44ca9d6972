"""``crm-assistant train`` and the ``crm-assistant nlu`` group (parse, evaluate, shell).

``nlu parse`` speaks JSON lines (contract §4): one request per stdin line, one answer per
stdout line, in Rasa's ``/model/parse`` format; a bad line yields ``{"error", "line"}`` and
the stream goes on. Progress and logs go to stderr so stdout stays machine-readable.
"""

from __future__ import annotations

import json
import sys
from datetime import datetime
from pathlib import Path
from typing import Any, TextIO

import click

from assistant.cli.common import db_option, open_store
from assistant.settings import PROJECT_DATA
from nlu import model_store
from nlu.embedder import get_embedder
from nlu.pipeline import DEFAULT_TZ, NLUPipeline, resolve_zone
from nlu.training_data import TrainingDataError, data_hash, load_training_data

DEFAULT_DATA_DIR = PROJECT_DATA  # the project's data, wherever the command runs
DEFAULT_MAIL_HELDOUT = PROJECT_DATA.parent / "bench" / "data" / "emails_heldout"


def _model_dir(value: str | None) -> Path:
    return Path(value) if value else model_store.default_model_dir()


def _parse_now(value: str | None, tz: str) -> datetime | None:
    if not value:
        return None
    try:
        moment = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError as exc:
        raise click.BadParameter(f"not an ISO 8601 date-time: {value!r}", param_hint="--now") from exc
    return moment if moment.tzinfo else moment.replace(tzinfo=resolve_zone(tz))


def train_model(data_dir: Path, model_dir: Path, *, force: bool = False, progress: bool = True) -> bool:
    """Train unless a model from the same data exists; True when it trained."""
    try:
        digest = data_hash(data_dir)
    except (OSError, TrainingDataError) as exc:
        raise click.ClickException(f"cannot read training data in {data_dir}: {exc}") from exc
    if not force and model_store.is_current(model_dir, digest):
        return False
    pipeline = NLUPipeline(get_embedder(cache_dir=model_dir / "embeddings"))
    try:
        pipeline.train(data_dir, model_dir, progress=progress)
    except TrainingDataError as exc:
        raise click.ClickException(str(exc)) from exc
    return True


def load_or_train(model_dir: Path, data_dir: Path) -> NLUPipeline:
    if not model_store.has_model(model_dir):
        click.echo(f"No NLU model in {model_dir}; training from {data_dir} first.", err=True)
        train_model(data_dir, model_dir, force=True, progress=True)
    return NLUPipeline.load(model_dir)


def parse_stream(pipeline: NLUPipeline, lines: TextIO, out: TextIO, *, now: datetime | None, tz: str) -> int:
    """Answer each JSON line; returns the number of error lines written."""
    errors = 0
    for number, raw in enumerate(lines, start=1):
        if not raw.strip():
            continue
        answer: dict[str, Any]
        try:
            request = json.loads(raw)
            if not isinstance(request, dict) or not isinstance(request.get("text"), str):
                raise ValueError('expected an object with a string "text"')
            lang = request.get("lang")
            if lang is not None and not isinstance(lang, str):
                raise ValueError('"lang" must be a string')
        except ValueError as exc:  # json.JSONDecodeError is a ValueError
            errors += 1
            answer = {"error": str(exc), "line": number}
        else:
            answer = pipeline.parse(request["text"], lang=lang or None, now=now, tz=tz).to_dict()
        out.write(json.dumps(answer, ensure_ascii=False) + "\n")
        out.flush()
    return errors


@click.command("train")
@click.option(
    "--data", "data_dir", type=click.Path(path_type=Path), default=DEFAULT_DATA_DIR, show_default=True
)
@click.option(
    "--out",
    "out_dir",
    type=click.Path(path_type=Path),
    default=None,
    help="Model dir [default: $CRM_MODEL_DIR or ./models]",
)
@click.option("--force", is_flag=True, help="Retrain even when the data has not changed.")
@click.option(
    "--with-corrections", is_flag=True,
    help="Also retrain the e-mail classifier with agents' queue/priority corrections from the store; "
    "the new model is used only if it scores no worse on the held-out mails.",
)  # fmt: skip
@click.option(
    "--heldout", "heldout", type=click.Path(path_type=Path), default=DEFAULT_MAIL_HELDOUT, show_default=True,
    help="Held-out mails that judge the corrected e-mail model (*.yml, or *.eml with labels.csv).",
)  # fmt: skip
@db_option
def train_cmd(
    data_dir: Path,
    out_dir: Path | None,
    force: bool,
    with_corrections: bool,
    heldout: Path,
    db_url: str | None,
) -> None:
    """Train the NLU model (skipped when the training data is unchanged)."""
    model_dir = _model_dir(str(out_dir) if out_dir else None)
    if not train_model(data_dir, model_dir, force=force):
        click.echo(
            f"NLU model in {model_dir} is up to date (training data unchanged); use --force to retrain."
        )
    else:
        _report_trained(model_dir)
    if with_corrections:
        train_mail_with_corrections(model_dir, data_dir / "emails", heldout, db_url)


def train_mail_with_corrections(model_dir: Path, mail_dir: Path, heldout: Path, db_url: str | None) -> None:
    """The e-mail half of ``train --with-corrections``: read the corrections, train, judge, maybe activate."""
    from connectors.email.model import ClassifierDataError, train_with_corrections
    from crm_store.services import Actor
    from crm_store.services.mail_triage import MailTriageService
    from nlu.email_text import parse_mail_dict

    if not heldout.exists():
        raise click.ClickException(f"no held-out mails at {heldout}: the corrected model cannot be judged")
    db = open_store(db_url)
    try:
        with db.session() as session:
            examples = MailTriageService(session, Actor.system("train")).training_examples()
    finally:
        db.dispose()
    corrections = [
        (parse_mail_dict({"Subject": e.subject}, e.body), e.queue, e.priority, e.language) for e in examples
    ]
    embedder = get_embedder(cache_dir=model_dir / "embeddings")

    def say(text: str) -> None:
        click.echo(text, err=True)

    try:
        outcome = train_with_corrections(model_dir, mail_dir, embedder, corrections, heldout, say=say)
    except ClassifierDataError as exc:
        raise click.ClickException(str(exc)) from exc
    verdict = "now in use" if outcome.used else "NOT used, the previous model stays"
    click.echo(
        f"E-mail classifier with {outcome.corrections} corrections: {verdict}. Held-out ({outcome.heldout_mails} "
        f"mails) queue {outcome.old['queue']:.3f} -> {outcome.new['queue']:.3f}, "
        f"priority {outcome.old['priority']:.3f} -> {outcome.new['priority']:.3f}"
    )


def _report_trained(model_dir: Path) -> None:
    meta = model_store.read_metadata(model_dir)
    assert meta is not None
    click.echo(
        f"Trained NLU model in {model_dir}: {meta.examples} examples, {len(meta.intents)} intents, "
        f"languages {', '.join(meta.languages)}, {meta.train_seconds:.1f} s"
    )


@click.group("nlu")
def nlu_group() -> None:
    """Natural-language understanding: parse, evaluate, try it out."""


@nlu_group.command("parse")
@click.option("--now", "now_text", default=None, help="Reference time for relative dates (ISO 8601).")
@click.option("--tz", default=DEFAULT_TZ, show_default=True, help="The user's time zone.")
@click.option("--model", "model", default=None, help="Model dir [default: $CRM_MODEL_DIR or ./models]")
@click.option(
    "--data",
    "data_dir",
    type=click.Path(path_type=Path),
    default=DEFAULT_DATA_DIR,
    show_default=True,
    help="Training data, used when no model is trained yet.",
)
def parse_cmd(now_text: str | None, tz: str, model: str | None, data_dir: Path) -> None:
    """Read JSON lines {"text": ..., "lang"?: ...} on stdin; write Rasa parse results as JSON lines."""
    now = _parse_now(now_text, tz)
    pipeline = load_or_train(_model_dir(model), data_dir)
    parse_stream(pipeline, sys.stdin, sys.stdout, now=now, tz=tz)


@nlu_group.command("evaluate")
@click.option("--folds", default=5, show_default=True, type=click.IntRange(2, 20))
@click.option("--out", "out_dir", type=click.Path(path_type=Path), default=Path("results"), show_default=True)
@click.option(
    "--data", "data_dir", type=click.Path(path_type=Path), default=DEFAULT_DATA_DIR, show_default=True
)
@click.option("--model", "model", default=None, help="Where the ONNX export of the encoder is cached.")
def evaluate_cmd(folds: int, out_dir: Path, data_dir: Path, model: str | None) -> None:
    """Stratified cross-validation: intent and entity reports, confusion matrix, errors."""
    from nlu.evaluation import cross_validate

    try:
        data = load_training_data(data_dir)
    except TrainingDataError as exc:
        raise click.ClickException(str(exc)) from exc
    embedder = get_embedder(cache_dir=_model_dir(model) / "embeddings")
    report = cross_validate(data, embedder, folds=folds)
    report.write(out_dir)
    for scope, scores in report.intent_summary().items():
        click.echo(
            f"intents [{scope}]: accuracy {scores['accuracy']:.3f}  macro-F1 {scores['macro_f1']:.3f}  (n={scores['n']})"
        )
    for name, scores in report.entity_report().items():
        click.echo(
            f"entity {name:<14} P {scores['precision']:.3f} R {scores['recall']:.3f} F1 {scores['f1']:.3f} (n={scores['support']})"
        )
    click.echo(f"{len(report.errors())} misclassified; reports written to {out_dir}")


@nlu_group.command("shell")
@click.option("--model", "model", default=None, help="Model dir [default: $CRM_MODEL_DIR or ./models]")
@click.option(
    "--data", "data_dir", type=click.Path(path_type=Path), default=DEFAULT_DATA_DIR, show_default=True
)
@click.option("--tz", default=DEFAULT_TZ, show_default=True)
def shell_cmd(model: str | None, data_dir: Path, tz: str) -> None:
    """Type messages, see how they are parsed (Ctrl-D or an empty line ends)."""
    pipeline = load_or_train(_model_dir(model), data_dir)
    while True:
        try:
            text = click.prompt("message", default="", show_default=False)
        except (EOFError, click.Abort):
            break
        if not text:
            break
        click.echo(json.dumps(pipeline.parse(text, tz=tz).to_dict(), indent=2, ensure_ascii=False))


def register(cli: click.Group) -> None:
    cli.add_command(train_cmd)
    cli.add_command(nlu_group)


if __name__ == "__main__":  # pragma: no cover
    sys.exit(nlu_group())
