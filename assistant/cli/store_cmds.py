"""Store administration: ``db upgrade``, ``users create|issue-token|revoke-token|tokens``, ``audit verify``."""

from __future__ import annotations

import os
from datetime import datetime
from pathlib import Path

import click
from sqlalchemy import select

from assistant.cli.common import db_option, open_store
from crm_store.migrate import current_revision
from crm_store.models import AuditEntry, User
from crm_store.services import Actor, CrmServices
from crm_store.services.audit import ANCHOR_ENV, AuditKeyMissing, anchor_path, resolve_key, verify
from crm_store.services.errors import CrmError, NotFound
from crm_store.services.users import DEFAULT_TOKEN_DAYS, MAX_TOKEN_DAYS

TOKEN_DAYS_HELP = f"Days until the token expires (default {DEFAULT_TOKEN_DAYS}; 0 = never, for service accounts)."
DAYS = click.IntRange(0, MAX_TOKEN_DAYS)


@click.group()
def db() -> None:
    """Create or migrate the store."""


@db.command("upgrade")
@db_option
def db_upgrade(db_url: str | None) -> None:
    """Create the schema or migrate it to the newest revision."""
    store = open_store(db_url)
    click.echo(f"store at revision {current_revision(store)}")


@click.group()
def users() -> None:
    """Manage staff users."""


@users.command("create")
@db_option
@click.option("--email", required=True)
@click.option("--name", required=True)
@click.option("--role", required=True, type=click.Choice(["admin", "manager", "rep", "agent"]))
@click.option("--team", default=None, help="Team name (created if new).")
@click.option("--language", default="en", type=click.Choice(["en", "de"]))
@click.option("--timezone", "tz", default="Europe/Berlin")
@click.option("--token", is_flag=True, help="Also issue an API token; printed on the last line.")
@click.option("--token-days", default=DEFAULT_TOKEN_DAYS, show_default=True, type=DAYS, help=TOKEN_DAYS_HELP)
def users_create(db_url: str | None, email: str, name: str, role: str, team: str | None, language: str,
                 tz: str, token: bool, token_days: int) -> None:
    """Create a user (roles: admin, manager, rep, agent)."""
    store = open_store(db_url)
    try:
        with store.session() as session:
            crm = CrmServices(session, Actor.system("cli"))
            team_id = None
            if team:
                from sqlalchemy import select

                from crm_store.models import Team

                existing = session.execute(select(Team).where(Team.name == team)).scalar()
                team_id = (existing or crm.users.create_team(team)).id
            user = crm.users.create({"email": email, "name": name, "role": role, "team_id": team_id,
                                     "language": language, "timezone": tz})
            secret = crm.users.issue_token(user.id, days=token_days) if token else None
            click.echo(f"created user {user.id} <{user.email}> role={user.role}")
            if secret:
                click.echo(secret)
    except CrmError as exc:
        raise click.ClickException(exc.detail) from exc


def _user(crm: CrmServices, email: str) -> User:
    user = crm.users.by_email(email)
    if user is None:
        raise NotFound(f"no user with e-mail {email.strip().lower()}")
    return user


def _when(value: datetime | None) -> str:
    return value.strftime("%Y-%m-%d %H:%M UTC") if value else "-"


@users.command("issue-token")
@db_option
@click.option("--email", required=True, help="The user's e-mail.")
@click.option("--name", default="default", show_default=True, help="A label, e.g. the integration using it.")
@click.option("--days", default=DEFAULT_TOKEN_DAYS, show_default=True, type=DAYS, help=TOKEN_DAYS_HELP)
def users_issue_token(db_url: str | None, email: str, name: str, days: int) -> None:
    """Issue an API token for a user; the secret is printed once, on the last line (only its hash is kept)."""
    store = open_store(db_url)
    try:
        with store.session() as session:
            crm = CrmServices(session, Actor.system("cli"))
            user = _user(crm, email)
            secret = crm.users.issue_token(user.id, name, days=days)
            expiry = f"expires in {days} days" if days else "never expires"
            click.echo(f"issued token {secret[:10]} ({name}) for <{user.email}>, {expiry}")
            click.echo(secret)
    except CrmError as exc:
        raise click.ClickException(exc.detail) from exc


@users.command("revoke-token")
@db_option
@click.option("--prefix", default=None, help="The token's prefix as `users tokens` lists it (crm_...).")
@click.option("--email", default=None, help="With --all: the user whose tokens to revoke.")
@click.option("--all", "all_tokens", is_flag=True, help="Revoke every active token of --email.")
def users_revoke_token(db_url: str | None, prefix: str | None, email: str | None, all_tokens: bool) -> None:
    """Revoke one token (--prefix P) or all of a user's tokens (--email E --all); refused from the next request."""
    if not ((prefix and not email and not all_tokens) or (not prefix and email and all_tokens)):
        raise click.UsageError("give either --prefix P, or --email E --all")
    store = open_store(db_url)
    try:
        with store.session() as session:
            crm = CrmServices(session, Actor.system("cli"))
            if prefix:
                info = crm.users.revoke_token(prefix)
                click.echo(f"revoked token {info.prefix} ({info.name})")
            else:
                user = _user(crm, email or "")
                count = crm.users.revoke_all_tokens(user.id)
                click.echo(f"revoked {count} token{'s' if count != 1 else ''} of <{user.email}>")
    except CrmError as exc:
        raise click.ClickException(exc.detail) from exc


@users.command("tokens")
@db_option
@click.option("--email", required=True, help="The user's e-mail.")
def users_tokens(db_url: str | None, email: str) -> None:
    """List a user's API tokens: prefix, name, created, last used, expires, revoked (never the secret)."""
    store = open_store(db_url)
    try:
        with store.session() as session:
            crm = CrmServices(session, Actor.system("cli"))
            rows = crm.users.tokens(_user(crm, email).id)
    except CrmError as exc:
        raise click.ClickException(exc.detail) from exc
    header = ("prefix", "name", "created", "last used", "expires", "revoked", "state")
    lines = [header] + [
        (t.prefix, t.name, _when(t.created_at), _when(t.last_used_at),
         _when(t.expires_at) if t.expires_at else "never", _when(t.revoked_at), t.state())
        for t in rows
    ]
    widths = [max(len(line[i]) for line in lines) for i in range(len(header))]
    for line in lines:
        click.echo("  ".join(cell.ljust(w) for cell, w in zip(line, widths, strict=True)).rstrip())


@click.group()
def audit() -> None:
    """Check the audit log."""


@audit.command("verify")
@db_option
@click.option("--anchor", "anchor_file", default=None, type=click.Path(dir_okay=False, path_type=Path),
              help="The anchor file the writers append heads to (default: $CRM_AUDIT_ANCHOR, else "
                   "<sqlite file>.audit-anchor).")
def audit_verify(db_url: str | None, anchor_file: Path | None) -> None:
    """Exit 0 when the keyed chain is intact, 1 naming the first bad entry, 2 when it cannot be checked
    (no audit key, no such anchor file): a check without the key must never look like a pass."""
    store = open_store(db_url, migrate=False)
    try:
        key = resolve_key(store.url, create=False)
    except AuditKeyMissing as exc:
        with store.session() as session:
            empty = session.execute(select(AuditEntry.id).limit(1)).first() is None
        if empty:  # nothing was ever written, so no key was ever made: nothing to check
            click.echo("audit log intact: 0 entries verified")
            return
        click.echo(f"cannot verify the audit log: {exc}", err=True)
        raise SystemExit(2) from exc
    anchor_file = anchor_file or anchor_path(store.url)
    if anchor_file is not None and not anchor_file.exists():
        if anchor_file != anchor_path(store.url) or os.environ.get(ANCHOR_ENV):
            click.echo(f"cannot verify the audit log: the anchor file {anchor_file} does not exist", err=True)
            raise SystemExit(2)
        anchor_file = None
    with store.session() as session:
        result = verify(session, key=key, anchor=anchor_file)
    for note in result.notes:
        click.echo(f"note: {note}", err=True)
    if anchor_file is None:
        click.echo("note: no anchor file: entries deleted from the end of the log would go unnoticed", err=True)
    if result.ok:
        click.echo(f"audit log intact: {result.checked} entries verified")
        return
    click.echo(f"audit log ALTERED at entry {result.bad_entry_id}: {result.reason} "
               f"({result.checked} entries before it are intact)", err=True)
    raise SystemExit(1)


def register(cli: click.Group) -> None:
    for group in (db, users, audit):
        cli.add_command(group)
