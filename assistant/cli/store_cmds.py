"""Store administration: ``db upgrade``, ``users create``, ``audit verify``."""

from __future__ import annotations

import click

from assistant.cli.common import db_option, open_store
from crm_store.migrate import current_revision
from crm_store.services import Actor, CrmServices
from crm_store.services.audit import verify
from crm_store.services.errors import CrmError


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
def users_create(db_url: str | None, email: str, name: str, role: str, team: str | None, language: str,
                 tz: str, token: bool) -> None:
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
            secret = crm.users.issue_token(user.id) if token else None
            click.echo(f"created user {user.id} <{user.email}> role={user.role}")
            if secret:
                click.echo(secret)
    except CrmError as exc:
        raise click.ClickException(exc.detail) from exc


@click.group()
def audit() -> None:
    """Check the audit log."""


@audit.command("verify")
@db_option
def audit_verify(db_url: str | None) -> None:
    """Exit 0 when the hash chain is intact, 1 naming the first bad entry."""
    store = open_store(db_url, migrate=False)
    with store.session() as session:
        result = verify(session)
    if result.ok:
        click.echo(f"audit log intact: {result.checked} entries verified")
        return
    click.echo(f"audit log ALTERED at entry {result.bad_entry_id}: {result.reason} "
               f"({result.checked} entries before it are intact)", err=True)
    raise SystemExit(1)


def register(cli: click.Group) -> None:
    for group in (db, users, audit):
        cli.add_command(group)
