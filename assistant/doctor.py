"""``crm-assistant doctor``: is this setup ready? One small function per check, each returning a :class:`Check`.

Why a separate module: an admin wiring up the store, the model, Slack, Teams and mail needs one place that
says what is configured, what answers and what is missing, without starting the server. The checks only
read: nothing is migrated, trained, or written (the audit key is looked up with ``create=False``; a SQLite
file that does not exist is reported, not created). Every network check has a timeout and turns any
failure to connect into a "not reachable (...)" line, so the command works offline and never prints a
traceback. ``fail`` means something the configured setup needs is wrong (the command exits non-zero);
``warn`` means it will run but should be fixed; ``skip`` means the part is not configured.
"""

from __future__ import annotations

import contextlib
import imaplib
import json
import logging
import smtplib
import socket
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Callable, Mapping
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Literal

from assistant.settings import Settings

Status = Literal["ok", "warn", "fail", "skip"]

TIMEOUT = 5.0  # seconds for every network check
MIN_SECRET_CHARS = 32
TEAMS_SCOPE = "https://api.botframework.com/.default"
# slack-sdk logs a failed request at ERROR with the URL; the report line already says it, once.
_QUIET = logging.getLogger("assistant.doctor.slack_sdk")
_QUIET.propagate = False
_QUIET.addHandler(logging.NullHandler())


@dataclass(frozen=True)
class Check:
    """One line of the report: what was checked, how it went, and what to do next (empty when nothing)."""

    name: str
    status: Status
    detail: str
    next_step: str = ""

    def line(self) -> str:
        text = f"{self.status:<4}  {self.name:<14} {self.detail}"
        return f"{text}  -> {self.next_step}" if self.next_step else text


def _reason(exc: BaseException) -> str:
    """A short, secret-free reason for a failed connection (no traceback, no URL credentials)."""
    if isinstance(exc, urllib.error.URLError) and not isinstance(exc, urllib.error.HTTPError):
        exc = exc.reason if isinstance(exc.reason, BaseException) else exc
    if isinstance(exc, TimeoutError | socket.timeout):
        return f"timed out after {TIMEOUT:g} s"
    text = str(exc) or type(exc).__name__
    return text.splitlines()[0][:160]


# -- database ---------------------------------------------------------------------------------------


def _sqlite_file(url: str) -> Path | None:
    """The file behind a file-based SQLite URL (None for other databases and in-memory SQLite)."""
    if not url.startswith("sqlite"):
        return None
    path = url.split(":///", 1)[1] if ":///" in url else ""
    path = path.split("?", 1)[0]
    return Path(path) if path and path != ":memory:" else None


def check_database(url: str) -> list[Check]:
    """Reachable, migrated to the newest Alembic head, and which dialect/version it is."""
    from alembic.script import ScriptDirectory

    from assistant.cli.common import redact_url
    from crm_store.db import Database
    from crm_store.migrate import alembic_config, current_revision

    shown = redact_url(url)
    file = _sqlite_file(url)
    if file is not None and not file.exists():
        return [Check("database", "fail", f"no database file at {file}",
                      "run `crm-assistant db upgrade` (or set CRM_DATABASE_URL / --db)")]
    db = Database(url)
    try:
        if not db.ping():
            return [Check("database", "fail", f"not reachable ({shown})",
                          "start the database or fix CRM_DATABASE_URL / --db")]
        with db.engine.connect() as conn:
            info = conn.dialect.server_version_info or ()
        version = ".".join(str(p) for p in info if isinstance(p, int))
        checks = [Check("database", "ok", f"reachable: {db.engine.dialect.name} {version}".rstrip())]
        try:
            current = current_revision(db)
            heads = ScriptDirectory.from_config(alembic_config(db)).get_heads()
        except Exception as exc:  # a broken alembic_version table must not end the report
            return [*checks, Check("migrations", "fail", f"cannot read the revision ({_reason(exc)})",
                                   "run `crm-assistant db upgrade`")]
        if current is None:
            checks.append(Check("migrations", "fail", "not migrated (no revision)", "run `crm-assistant db upgrade`"))
        elif current not in heads:
            checks.append(Check("migrations", "fail", f"at {current}, newest is {', '.join(heads)}",
                                "run `crm-assistant db upgrade`"))
        else:
            checks.append(Check("migrations", "ok", f"at head ({current})"))
        return checks
    finally:
        db.dispose()


# -- model ------------------------------------------------------------------------------------------


def check_model(model_dir: Path, training_data: Path) -> Check:
    """The same freshness test as ``assistant.app.load_nlu``; missing or stale only warns: serve trains it."""
    from nlu import model_store
    from nlu.training_data import data_hash

    if not model_store.has_model(model_dir):
        return Check("model", "warn", f"no trained model in {model_dir}",
                     "run `crm-assistant train` (otherwise the first start trains it, about a minute)")
    try:
        digest = data_hash(training_data)
    except Exception as exc:
        return Check("model", "fail", f"training data unreadable at {training_data} ({_reason(exc)})",
                     "fix CRM_TRAINING_DATA")
    if not model_store.is_current(model_dir, digest):
        return Check("model", "warn", f"model in {model_dir} is older than the training data",
                     "run `crm-assistant train` (otherwise the next start retrains it)")
    return Check("model", "ok", f"trained and fresh in {model_dir}")


# -- secrets ----------------------------------------------------------------------------------------


def check_secret_key(settings: Settings) -> Check:
    """CRM_SECRET_KEY signs customer tokens and speaker seals; a Rasa setup cannot verify speakers without it."""
    needed = bool(settings.rasa_url)
    bad: Status = "fail" if needed else "warn"
    why = " (required with CRM_RASA_URL)" if needed else ""
    if not settings.secret_key:
        return Check("secret key", bad, f"CRM_SECRET_KEY is not set{why}",
                     "set CRM_SECRET_KEY to a random value of 32+ characters (e.g. `openssl rand -hex 32`)")
    if len(settings.secret_key) < MIN_SECRET_CHARS:
        return Check("secret key", bad, f"CRM_SECRET_KEY is weak ({len(settings.secret_key)} characters){why}",
                     f"use at least {MIN_SECRET_CHARS} random characters (e.g. `openssl rand -hex 32`)")
    return Check("secret key", "ok", "CRM_SECRET_KEY is set")


def check_audit_key(url: str, environ: Mapping[str, str]) -> Check:
    """Where the audit chain's key comes from; a generated key file next to the data protects little."""
    from crm_store.services.audit import KEY_ENV, AuditKeyMissing, resolve_key

    try:
        key = resolve_key(url, create=False, environ=environ)
    except AuditKeyMissing:
        return Check("audit key", "warn", "none configured: the first write generates a key file next to the data",
                     f"set {KEY_ENV} (kept apart from the database)")
    if key.source.startswith("file"):
        return Check("audit key", "warn", f"from a generated key {key.source}",
                     f"set {KEY_ENV} to that key, kept apart from the database")
    return Check("audit key", "ok", f"from {key.source}")


# -- channels ---------------------------------------------------------------------------------------


def check_slack(settings: Settings) -> list[Check]:
    """The bot token is valid (``auth.test`` against SLACK_API_URL) and the request-signing secret is there."""
    if not settings.slack_bot_token:
        return [Check("slack", "skip", "not configured", "set SLACK_BOT_TOKEN to connect Slack")]
    from slack_sdk import WebClient
    from slack_sdk.errors import SlackApiError

    checks: list[Check] = []
    client = WebClient(token=settings.slack_bot_token, base_url=settings.slack_api_url,
                       timeout=int(TIMEOUT), retry_handlers=[], logger=_QUIET)
    try:
        reply = client.auth_test()
        checks.append(Check("slack token", "ok", f"valid for team {reply.get('team')} ({reply.get('team_id')})"))
    except SlackApiError as exc:
        error = exc.response.get("error") if exc.response is not None else None
        checks.append(Check("slack token", "fail", f"refused by Slack ({error or 'error'})",
                            "set SLACK_BOT_TOKEN to the app's Bot User OAuth Token (xoxb-...)"))
    except Exception as exc:  # offline, DNS, refused, timeout: one clear line
        checks.append(Check("slack token", "fail", f"not reachable ({_reason(exc)})",
                            f"check the network or SLACK_API_URL ({settings.slack_api_url})"))
    if settings.slack_signing_secret:
        checks.append(Check("slack signing", "ok", "SLACK_SIGNING_SECRET is set"))
    elif settings.slack_app_token:
        checks.append(Check("slack signing", "ok", "Socket Mode (SLACK_APP_TOKEN): no signing secret needed"))
    else:
        checks.append(Check("slack signing", "fail", "SLACK_SIGNING_SECRET is not set",
                            "set SLACK_SIGNING_SECRET (HTTP mode) or SLACK_APP_TOKEN (Socket Mode)"))
    return checks


def check_teams(settings: Settings) -> list[Check]:
    """App id, tenant list and password present; the token endpoint issues a token for them."""
    if not settings.teams_app_id:
        return [Check("teams", "skip", "not configured", "set TEAMS_APP_ID to connect Microsoft Teams")]
    checks = [Check("teams app", "ok", f"TEAMS_APP_ID {settings.teams_app_id}")]
    if settings.teams_tenant_ids:
        checks.append(Check("teams tenants", "ok", f"{len(settings.teams_tenant_ids)} tenant(s) heard"))
    else:
        checks.append(Check("teams tenants", "fail", "TEAMS_TENANT_IDS is empty",
                            "list the Azure AD tenant ids whose users may talk to the bot"))
    if not settings.teams_app_password:
        checks.append(Check("teams token", "fail", "TEAMS_APP_PASSWORD is not set",
                            "set TEAMS_APP_PASSWORD to the bot's client secret"))
        return checks
    body = urllib.parse.urlencode({
        "grant_type": "client_credentials", "client_id": settings.teams_app_id,
        "client_secret": settings.teams_app_password, "scope": TEAMS_SCOPE,
    }).encode()
    request = urllib.request.Request(settings.teams_token_url, data=body, method="POST")
    try:
        with urllib.request.urlopen(request, timeout=TIMEOUT) as response:
            ok = "access_token" in json.loads(response.read() or b"{}")
        checks.append(Check("teams token", "ok" if ok else "fail",
                            "token endpoint issued a token" if ok else "token endpoint answered without a token",
                            "" if ok else f"check TEAMS_TOKEN_URL ({settings.teams_token_url})"))
    except urllib.error.HTTPError as exc:
        checks.append(Check("teams token", "fail", f"credentials refused (HTTP {exc.code})",
                            "check TEAMS_APP_ID and TEAMS_APP_PASSWORD"))
    except Exception as exc:
        checks.append(Check("teams token", "fail", f"token endpoint not reachable ({_reason(exc)})",
                            f"check the network or TEAMS_TOKEN_URL ({settings.teams_token_url})"))
    return checks


def check_imap(settings: Settings) -> Check:
    """Log in to the mailbox the poller reads (and log out again); nothing is fetched."""
    if not settings.imap_host:
        return Check("imap", "skip", "not configured", "set CRM_IMAP_HOST to poll a mailbox")
    where = f"{settings.imap_host}:{settings.imap_port}"
    if not (settings.imap_user and settings.imap_password):
        return Check("imap", "fail", "CRM_IMAP_USER or CRM_IMAP_PASSWORD is empty", "set both")
    cls = imaplib.IMAP4_SSL if settings.imap_ssl else imaplib.IMAP4
    try:
        conn = cls(settings.imap_host, settings.imap_port, timeout=TIMEOUT)
    except Exception as exc:
        return Check("imap", "fail", f"not reachable ({where}: {_reason(exc)})",
                     "check CRM_IMAP_HOST/CRM_IMAP_PORT/CRM_IMAP_SSL and the network")
    try:
        conn.login(settings.imap_user, settings.imap_password)
    except Exception as exc:
        return Check("imap", "fail", f"login refused at {where} ({_reason(exc)})",
                     "check CRM_IMAP_USER and CRM_IMAP_PASSWORD")
    finally:
        with contextlib.suppress(Exception):  # the server may already have hung up; the verdict is made
            conn.logout()
    return Check("imap", "ok", f"logged in at {where} as {settings.imap_user}")


def check_smtp(settings: Settings) -> Check:
    """The outgoing relay answers EHLO and NOOP (acknowledgements, codes and escalations go through it)."""
    if not settings.smtp_host:
        return Check("smtp", "skip", "not configured", "set CRM_SMTP_HOST to send mail")
    where = f"{settings.smtp_host}:{settings.smtp_port}"
    try:
        with smtplib.SMTP(settings.smtp_host, settings.smtp_port, timeout=TIMEOUT) as smtp:
            code, _ = smtp.ehlo()
            if code != 250:
                smtp.helo()
            code, _ = smtp.noop()
    except Exception as exc:
        return Check("smtp", "fail", f"not reachable ({where}: {_reason(exc)})",
                     "check CRM_SMTP_HOST/CRM_SMTP_PORT and the network")
    if code != 250:
        return Check("smtp", "fail", f"relay at {where} answered NOOP with {code}", "check the relay")
    return Check("smtp", "ok", f"relay at {where} answers")


# -- the report -------------------------------------------------------------------------------------


def run_checks(settings: Settings, environ: Mapping[str, str]) -> list[Check]:
    """Every check in report order; one that crashes becomes a ``fail`` line instead of ending the report."""
    steps: list[tuple[str, Callable[[], Check | list[Check]]]] = [
        ("database", lambda: check_database(settings.database_url)),
        ("model", lambda: check_model(settings.model_dir, settings.training_data)),
        ("secret key", lambda: check_secret_key(settings)),
        ("audit key", lambda: check_audit_key(settings.database_url, environ)),
        ("slack", lambda: check_slack(settings)),
        ("teams", lambda: check_teams(settings)),
        ("imap", lambda: check_imap(settings)),
        ("smtp", lambda: check_smtp(settings)),
    ]
    checks: list[Check] = []
    for name, step in steps:
        try:
            result = step()
        except Exception as exc:
            result = Check(name, "fail", f"check failed ({_reason(exc)})", "run again with -vv for details")
        checks.extend(result if isinstance(result, list) else [result])
    return checks


def failed(checks: list[Check]) -> bool:
    return any(c.status == "fail" for c in checks)


def to_json(checks: list[Check]) -> str:
    return json.dumps({"ok": not failed(checks), "checks": [asdict(c) for c in checks]}, indent=2)
