"""Data commands: ``demo``, ``import``, ``export`` and ``gdpr export|erase|requests|verify-request|remind|
restrict|object|retention``."""

from __future__ import annotations

import json
import sys
from collections.abc import Callable
from datetime import datetime
from pathlib import Path
from typing import Any

import click
from tqdm import tqdm

from assistant.cli.common import db_option, open_store
from crm_store.db import Database
from crm_store.gdpr_requests import free_owed_pages, free_pages
from crm_store.importer import (
    FORMATS,
    KINDS,
    count_records,
    count_rows,
    export_rows,
    import_file,
    write_table,
)
from crm_store.models import Contact, utcnow
from crm_store.services import Actor, CrmServices
from crm_store.services.errors import CrmError

DEMO_DIR = Path("demo-data")
DEMO_FILE = "crm-demo.db"
CLI_ACTOR = Actor.system("cli")


def _bar(total: int | None, desc: str) -> tqdm[Any]:
    # on stderr, so stdout stays machine-readable; hidden when stderr is not a terminal
    return tqdm(
        total=total, desc=desc, unit=" rows", file=sys.stderr, leave=False, disable=not sys.stderr.isatty()
    )


class _Steps:
    """A bar over the named steps of one long operation (an erasure's VACUUM can take minutes), on a
    terminal's stderr only."""

    def __init__(self, desc: str, names: list[str]) -> None:
        self.names = names
        self.bar = tqdm(
            total=len(names),
            desc=desc,
            unit=" steps",
            file=sys.stderr,
            leave=False,
            disable=not sys.stderr.isatty(),
        )

    def begin(self, name: str) -> None:
        self.bar.set_postfix_str(name, refresh=False)
        self.bar.update(self.names.index(name) - self.bar.n)

    def close(self) -> None:
        self.bar.update(len(self.names) - self.bar.n)
        self.bar.close()


# --- demo ------------------------------------------------------------------------------------------------
@click.command()
@db_option
@click.option("--host", default=None, help="Interface to bind (default: $CRM_HOST, else 127.0.0.1).")
@click.option("--port", default=None, type=click.IntRange(0, 65535), help="TCP port (default 8080; 0: any).")
@click.option("--no-serve", is_flag=True, help="Only create the demo store; do not start the server.")
@click.option("--seed", default=42, show_default=True, help="Random seed of the demo data.")
@click.option("--size", default="small", type=click.Choice(["tiny", "small", "medium"]), show_default=True)
def demo(
    db_url: str | None, host: str | None, port: int | None, no_serve: bool, seed: int, size: str
) -> None:
    """Run the assistant on a fresh SQLite store filled with demo data (./demo-data/ by default)."""
    from crm_store.demo_data import PHASES, generate_demo

    if db_url is None:
        DEMO_DIR.mkdir(exist_ok=True)
        path = (DEMO_DIR / DEMO_FILE).resolve()
        for suffix in ("", "-wal", "-shm", ".audit-anchor"):  # a new chain: the old anchor would say "truncated"
            Path(f"{path}{suffix}").unlink(missing_ok=True)
        db_url = f"sqlite:///{path}"
    store = open_store(db_url)
    try:
        with tqdm(
            total=len(PHASES),
            desc="demo data",
            unit=" steps",
            file=sys.stderr,
            leave=False,
            disable=not sys.stderr.isatty(),
        ) as bar:

            def step(phase: str) -> None:
                bar.set_postfix_str(phase)
                bar.update(1)

            try:
                info = generate_demo(store, seed=seed, size=size, progress=step)
            except ValueError as exc:
                raise click.ClickException(str(exc)) from exc
        counts = ", ".join(f"{n} {what.replace('_', ' ')}" for what, n in info.counts.items())
        click.echo(f"demo store: {store.url}\n  {counts}")
        click.echo("API tokens (Authorization: Bearer <token>):")
        for u in info.users:
            click.echo(f"  {u.role:<8} {u.name:<17} {u.email:<36} {u.token}")
        if no_serve:
            return
        _serve_demo(store, host, port)
    finally:
        store.dispose()


def _serve_demo(store: Database, host: str | None, port: int | None) -> None:
    try:
        from assistant.server import run_server
        from assistant.settings import Settings, SettingsError
    except ModuleNotFoundError as exc:  # pragma: no cover - the server ships with the package
        raise click.ClickException(f"the server is not available ({exc.name})") from exc
    overrides: dict[str, object] = {"database_url": store.url, "demo": True}
    if host is not None:
        overrides["host"] = host
    if port is not None:
        overrides["port"] = port
    try:
        settings = Settings.from_env(**overrides)
        settings.check()
    except (SettingsError, ValueError) as exc:
        raise click.ClickException(str(exc)) from exc

    def banner(url: str) -> None:
        click.echo(
            f"demo running on {url}  (chat: POST {url}/webhooks/rest/webhook, REST API {url}/api/v1/); "
            "Ctrl+C stops it"
        )
        click.echo(
            f"open {url}/ in a browser; the assistant warms up first (progress below and at {url}/health), "
            "the chat says so and answers when it is ready",
            err=True,
        )

    try:
        run_server(settings, db=store, print_banner=banner)
    except OSError as exc:
        raise click.ClickException(
            f"cannot listen on {settings.host}:{settings.port}: {exc.strerror}"
        ) from exc


# --- import / export ---------------------------------------------------------------------------------------
@click.command("import")
@db_option
@click.argument("kind", type=click.Choice(KINDS))
@click.argument("file", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option("--dry-run", is_flag=True, help="Validate every row, then roll everything back.")
@click.option(
    "--report",
    "report_path",
    type=click.Path(dir_okay=False, path_type=Path),
    default=None,
    help="Also write the per-row error report as JSON to this file.",
)
def import_cmd(db_url: str | None, kind: str, file: Path, dry_run: bool, report_path: Path | None) -> None:
    """Import contacts or organizations from a CSV or XLSX file (header aliases such as E-Mail, Vorname)."""
    if file.suffix.lower() not in (".csv", ".txt", ".xlsx", ".xlsm"):
        raise click.ClickException("the file must be .csv or .xlsx")
    store = open_store(db_url)
    try:
        with _bar(count_rows(file), f"import {kind}") as bar:
            report = import_file(store, CLI_ACTOR, kind, file, dry_run=dry_run, progress=bar.update)
    finally:
        store.dispose()
    verb = "would import" if dry_run else "imported"
    click.echo(f"{verb} {report.created} of {report.total} {kind}; {report.failed_rows} row(s) with errors")
    if report.ignored_columns:
        click.echo(f"ignored columns: {', '.join(report.ignored_columns)}")
    for err in report.errors:
        click.echo(f"  row {err.row}: {err.field or '-'}: {err.message}")
    if report_path is not None:
        report_path.write_text(json.dumps(report.to_dict(), indent=2, ensure_ascii=False), encoding="utf-8")
    if report.errors and report.created == 0 and report.total:
        raise SystemExit(1)


@click.command("export")
@db_option
@click.argument("kind", type=click.Choice(KINDS))
@click.option("--format", "fmt", type=click.Choice(FORMATS), default="csv", show_default=True)
@click.option(
    "--out",
    "out",
    type=click.Path(dir_okay=False, path_type=Path),
    default=None,
    help="Output file (default: <kind>.<format> in the working directory).",
)
def export_cmd(db_url: str | None, kind: str, fmt: str, out: Path | None) -> None:
    """Export contacts or organizations as CSV or XLSX (in the import format)."""
    out = out or Path(f"{kind}.{fmt}")
    store = open_store(db_url)
    try:
        with store.session() as session:
            total = count_records(session, kind)
            headers, rows = export_rows(session, kind)
            with _bar(total, f"export {kind}") as bar:
                n = write_table(out, headers, rows, fmt, progress=bar.update)
            crm = CrmServices(session, CLI_ACTOR)  # an export is a bulk read: audited (who, how many rows)
            (crm.contacts if kind == "contacts" else crm.organizations).audit_export(fmt, n, by=_os_user())
    finally:
        store.dispose()
    click.echo(f"exported {n} {kind} to {out}")


def _os_user() -> str | None:
    import getpass

    try:
        return getpass.getuser()
    except (KeyError, OSError):  # no login name in some containers
        return None


# --- GDPR ---------------------------------------------------------------------------------------------------
@click.group()
def gdpr() -> None:
    """Data-subject rights: export, erasure, retention, legal holds."""


def _with_store(db_url: str | None, fn: Callable[[CrmServices], Any]) -> Any:
    store = open_store(db_url)
    try:
        with store.session() as session:
            return fn(CrmServices(session, CLI_ACTOR))
    except CrmError as exc:
        raise click.ClickException(exc.detail) from exc
    finally:
        store.dispose()


def _with_contact(db_url: str | None, email: str, fn: Callable[[CrmServices, int], Any]) -> Any:
    def work(crm: CrmServices) -> Any:
        contact = crm.contacts.by_email(email)
        if contact is None:
            raise click.ClickException(f"no contact with e-mail {email.strip().lower()}")
        return fn(crm, contact.id)

    return _with_store(db_url, work)


@gdpr.command("export")
@db_option
@click.option("--contact-email", "email", required=True, help="Any e-mail address of the person.")
@click.option(
    "--html",
    "html_path",
    type=click.Path(dir_okay=False, path_type=Path),
    default=None,
    help="Also write a readable HTML summary to this file (the JSON on stdout stays the portable copy).",
)
def gdpr_export(db_url: str | None, email: str, html_path: Path | None) -> None:
    """Print everything stored about one person as one JSON document (Art. 15/20)."""
    from crm_store.services.gdpr import export_html

    steps = _Steps("gdpr export", ["collecting", "writing"])
    try:
        steps.begin("collecting")
        document = _with_contact(db_url, email, lambda crm, cid: crm.gdpr.export(cid))
        steps.begin("writing")
        if html_path is not None:
            html_path.write_text(export_html(document), encoding="utf-8")
    finally:
        steps.close()
    click.echo(json.dumps(document, indent=2, ensure_ascii=False, default=str))


@gdpr.command("erase")
@db_option
@click.option("--contact-email", "email", default=None, help="Any e-mail address of the person.")
@click.option(
    "--contact-id", "contact_id", type=int, default=None,
    help="The contact's id: finishes an erasure whose free-page step did not run (the address is gone then).",
)
@click.option("--yes", is_flag=True, help="Do not ask for confirmation.")
@click.option("--json", "as_json", is_flag=True, help="Print the erasure report as JSON.")
def gdpr_erase(
    db_url: str | None, email: str | None, contact_id: int | None, yes: bool, as_json: bool
) -> None:
    """Erase one person (Art. 17) everywhere the data classification says, keep what the law requires
    (listed with its reason), then free the pages that held the deleted data. Running it again finishes an
    interrupted run or does nothing."""
    if (email is None) == (contact_id is None):
        raise click.UsageError("give --contact-email or --contact-id")
    if not yes:
        click.confirm(f"Erase all personal data of {email or f'contact {contact_id}'}? This cannot be undone",
                      abort=True)
    store = open_store(db_url)
    steps = _Steps("gdpr erase", ["erasing", "freeing pages"])
    try:
        steps.begin("erasing")
        with store.session() as session:
            crm = CrmServices(session, CLI_ACTOR)
            contact = crm.contacts.by_email(email) if email is not None else session.get(Contact, contact_id)
            if contact is None:
                raise click.ClickException(
                    f"no contact with e-mail {(email or '').strip().lower()} (never stored, or already "
                    "erased: use --contact-id to finish an erasure)"
                    if email is not None
                    else f"no contact {contact_id}"
                )
            cid = contact.id
            request_id: int | None = None
            if contact.erased_at is not None:
                report = crm.gdpr.erase(cid)  # does nothing: says so
            else:
                # the operator at the console vouches for the requester (identity "staff")
                request = crm.gdpr.request_erasure(cid, via="cli", identity="staff")
                crm.gdpr.confirm_erasure(request.id)
                assert crm.gdpr.last_report is not None
                report, request_id = crm.gdpr.last_report, request.id
        # the tables this run touched; a second run (finishing an interrupted one) does every table of people
        # and every erasure whose free-page step is still owed
        steps.begin("freeing pages")
        if request_id is not None:
            report["free_pages"] = free_pages(store, list(report["tables"]), [request_id])
        else:
            report["free_pages"] = free_owed_pages(store) or free_pages(store, [], [])
    except CrmError as exc:
        raise click.ClickException(exc.detail) from exc
    finally:
        steps.close()
        store.dispose()
    report["request_id"] = request_id
    if as_json:
        click.echo(json.dumps(report, indent=2, ensure_ascii=False))
        return
    if report["already_erased"]:
        click.echo(f"contact {cid} was already erased; free pages: {', '.join(report['free_pages'])}")
        return
    click.echo(f"erased contact {cid} (GDPR request {request_id})")
    for table, info in report["tables"].items():
        click.echo(f"  {table:<22} {info['rows']:>6} own  {info['mentions']:>6} mentions  {info['does']}")
    click.echo("kept (legal reason):")
    for table, columns in report["kept"].items():
        for column, reason in columns.items():
            click.echo(f"  {table}.{column}: {reason}")
    click.echo(f"free pages: {', '.join(report['free_pages'])}")


@gdpr.command("requests")
@db_option
@click.option("--due-within", "days", type=click.IntRange(0, 3650), default=None, metavar="DAYS",
              help="Only open requests due within DAYS days (overdue ones included).")
@click.option("--json", "as_json", is_flag=True, help="Print the requests as JSON.")
def gdpr_requests(db_url: str | None, days: int | None, as_json: bool) -> None:
    """List open data-subject requests by due date (receipt + one month), with their identity proof."""
    from datetime import timedelta

    from crm_store.services.gdpr import request_row

    now = utcnow()
    rows = _with_store(db_url, lambda crm: [
        request_row(r) for r in crm.gdpr.open_requests(
            due_within=timedelta(days=days) if days is not None else None, now=now)
    ])
    if as_json:
        click.echo(json.dumps(rows, indent=2))
        return
    if not rows:
        click.echo("no open GDPR requests")
    for r in rows:
        overdue = " OVERDUE" if r["due_at"] and r["due_at"] < now.isoformat() else ""
        identity = f"verified ({r['identity_method']})" if r["identity_method"] else "identity NOT verified"
        click.echo(f"#{r['id']:<5} {r['kind']:<13} contact {r['contact_id']}  via {r['requested_via']:<6} "
                   f"due {(r['due_at'] or '-')[:10]}{overdue}  {identity}")


@gdpr.command("verify-request")
@db_option
@click.argument("request_id", type=int)
@click.option("--method", required=True, help="How the identity was proven: callback, id_document, in_person, "
              "signed_letter, code, customer_token, staff.")
@click.option("--note", default=None, help="What was checked (kept on the request, not in the audit log).")
def gdpr_verify_request(db_url: str | None, request_id: int, method: str, note: str | None) -> None:
    """Record that the requester's identity was proven; only then is anything disclosed or erased."""
    _with_store(db_url, lambda crm: crm.gdpr.verify_request(request_id, method, note))
    click.echo(f"request #{request_id}: identity verified ({method})")


@gdpr.command("complete")
@db_option
@click.argument("request_id", type=int)
def gdpr_complete(db_url: str | None, request_id: int) -> None:
    """Carry out a verified request (as the REST API's /gdpr/requests/ID/complete): access prints the
    export, erasure erases and frees pages, restriction and objection take effect."""
    from crm_store.gdpr_requests import carry_out

    store = open_store(db_url)
    try:
        result = carry_out(store, CLI_ACTOR, request_id)
    except CrmError as exc:
        raise click.ClickException(exc.detail) from exc
    finally:
        store.dispose()
    click.echo(json.dumps(result, indent=2, ensure_ascii=False, default=str))


@gdpr.command("remind")
@db_option
@click.option("--slack-channel", envvar="SLACK_DIGEST_CHANNEL", default=None, metavar="CHANNEL",
              help="Also post to this Slack channel through the outbox (default: $SLACK_DIGEST_CHANNEL).")
@click.option("--now", "now_text", default=None, metavar="ISO8601", help="Reference time (default: now).")
def gdpr_remind(db_url: str | None, slack_channel: str | None, now_text: str | None) -> None:
    """Remind of open requests due within seven days (each once) and report overdue ones (every run)."""
    now = _parse_now(now_text)
    report = _with_store(db_url, lambda crm: crm.gdpr.remind(now, slack_channel=slack_channel or None))
    for r in report["due"]:
        click.echo(f"due soon: request #{r['id']} ({r['kind']}) due {r['due_at'][:10]}")
    for r in report["overdue"]:
        click.echo(f"OVERDUE: request #{r['id']} ({r['kind']}) was due {r['due_at'][:10]}")
    if not report["due"] and not report["overdue"]:
        click.echo("no GDPR request needs a reminder")


@gdpr.command("restrict")
@db_option
@click.option("--contact-email", "email", required=True, help="Any e-mail address of the person.")
@click.option("--lift", is_flag=True, help="End the restriction instead.")
def gdpr_restrict(db_url: str | None, email: str, lift: bool) -> None:
    """Restrict processing of one person (Art. 18): only stored, hidden from all but admins, no marketing."""
    fn = (lambda crm, cid: crm.gdpr.lift_restriction(cid)) if lift else (lambda crm, cid: crm.gdpr.restrict(cid))
    _with_contact(db_url, email, fn)
    click.echo("restriction lifted" if lift else "processing restricted")


@gdpr.command("object")
@db_option
@click.option("--contact-email", "email", required=True, help="Any e-mail address of the person.")
def gdpr_object(db_url: str | None, email: str) -> None:
    """Record an objection (Art. 21): marketing and profiling stop, the history is kept."""
    _with_contact(db_url, email, lambda crm, cid: crm.gdpr.object(cid, source="cli"))
    click.echo("objection recorded: no marketing, no profiling")


@gdpr.command("ropa")
@click.option("--format", "fmt", type=click.Choice(["md", "html"]), default="md", show_default=True)
def gdpr_ropa(fmt: str) -> None:
    """Print the record of processing activities (Art. 30), generated from the data classification."""
    from crm_store.services.gdpr import record_of_processing

    click.echo(record_of_processing(fmt))


@gdpr.command("retention")
@db_option
@click.option("--dry-run", is_flag=True, help="Only count what the rules would remove or redact.")
@click.option("--now", "now_text", default=None, metavar="ISO8601", help="Reference time (default: now).")
@click.option("--json", "as_json", is_flag=True, help="Print the report as JSON.")
def gdpr_retention(db_url: str | None, dry_run: bool, now_text: str | None, as_json: bool) -> None:
    """Apply the retention rules (delete or redact data past its retention period)."""
    from assistant.settings import Settings
    from crm_store.services.retention import RetentionService, load_policy

    now = _parse_now(now_text)
    try:
        policy = load_policy(Settings.from_env().retention_config)  # CRM_RETENTION_CONFIG or the defaults
    except (OSError, ValueError) as exc:
        raise click.ClickException(f"CRM_RETENTION_CONFIG: {exc}") from exc
    store = open_store(db_url)
    try:
        with store.session() as session:
            report = RetentionService(session, CLI_ACTOR, policy).apply(now, dry_run=dry_run)
    finally:
        store.dispose()
    if as_json:
        click.echo(json.dumps(report.to_dict(), indent=2))
        return
    verb = "would change" if dry_run else "changed"
    click.echo(
        f"retention {'(dry run) ' if dry_run else ''}at {now.isoformat()}: {verb} {report.total} record(s)"
    )
    for r in report.rules:
        click.echo(
            f"  {r.name:<26} {r.action:<6} {r.count:>8}  older than {r.cutoff.date().isoformat()}"
            f"  ({r.description})" + (f"; {r.held} kept by legal hold" if r.held else "")
        )
    if report.held:
        click.echo(f"skipped {report.held} record(s) under legal hold (crm-assistant gdpr hold list)")


@gdpr.group("hold")
def gdpr_hold() -> None:
    """Legal holds: retention and erasure skip a held contact (or every contact of a held organisation)."""


def _hold_dict(h: Any) -> dict[str, Any]:
    return {"id": h.id, "contact_id": h.contact_id, "organization_id": h.organization_id, "reason": h.reason,
            "created_at": h.created_at.isoformat(),
            "released_at": h.released_at.isoformat() if h.released_at else None}  # fmt: skip


@gdpr_hold.command("add")
@db_option
@click.option("--contact-email", "email", default=None, help="Any e-mail address of the person.")
@click.option("--organization-id", "organization_id", type=int, default=None, help="Hold every contact of it.")
@click.option("--reason", required=True, help="Why (case number, authority request); shown when erasure is refused.")
def gdpr_hold_add(db_url: str | None, email: str | None, organization_id: int | None, reason: str) -> None:
    """Place a legal hold on one contact or an organisation."""
    if (email is None) == (organization_id is None):
        raise click.UsageError("give --contact-email or --organization-id")

    def add(crm: CrmServices) -> dict[str, Any]:
        contact_id = None
        if email is not None:
            contact = crm.contacts.by_email(email)
            if contact is None:
                raise click.ClickException(f"no contact with e-mail {email.strip().lower()}")
            contact_id = contact.id
        hold = crm.retention.add_hold(reason=reason, contact_id=contact_id, organization_id=organization_id)
        return _hold_dict(hold)

    hold = _with_store(db_url, add)
    what = f"contact {hold['contact_id']}" if hold["contact_id"] else f"organization {hold['organization_id']}"
    click.echo(f"legal hold {hold['id']} on {what}: {hold['reason']}")


@gdpr_hold.command("release")
@db_option
@click.argument("hold_id", type=int)
def gdpr_hold_release(db_url: str | None, hold_id: int) -> None:
    """Release a legal hold; retention and erasure apply again."""
    _with_store(db_url, lambda crm: crm.retention.release_hold(hold_id))
    click.echo(f"legal hold {hold_id} released")


@gdpr_hold.command("list")
@db_option
@click.option("--all", "include_released", is_flag=True, help="Released holds too.")
@click.option("--json", "as_json", is_flag=True, help="Print the holds as JSON.")
def gdpr_hold_list(db_url: str | None, include_released: bool, as_json: bool) -> None:
    """The legal holds in force (with --all: released ones too)."""
    holds = _with_store(db_url, lambda crm: [_hold_dict(h) for h in
                                        crm.retention.holds(include_released=include_released)])  # fmt: skip
    if as_json:
        click.echo(json.dumps(holds, indent=2, ensure_ascii=False))
        return
    for h in holds:
        what = f"contact {h['contact_id']}" if h["contact_id"] else f"organization {h['organization_id']}"
        state = f"released {h['released_at']}" if h["released_at"] else "active"
        click.echo(f"{h['id']:>5}  {what:<22} {state:<10} {h['reason']}")
    if not holds:
        click.echo("no legal holds")


def _parse_now(text: str | None) -> datetime:
    if not text:
        return utcnow()
    try:
        value = datetime.fromisoformat(text)
    except ValueError as exc:
        raise click.BadParameter("use ISO 8601, e.g. 2026-03-01T12:00:00+01:00", param_hint="--now") from exc
    if value.tzinfo is None:
        raise click.BadParameter("needs a time zone offset", param_hint="--now")
    return value


def register(cli: click.Group) -> None:
    for command in (demo, import_cmd, export_cmd, gdpr):
        cli.add_command(command)
