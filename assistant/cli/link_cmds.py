"""Slack/Teams account links for admins: ``crm-assistant users links|link-approve|link-reject|unlink``.

Unlinked Slack/Teams users who write to the bot get a numbered pending request; an admin decides here
(or over ``/api/v1/account-links``). The CLI acts as the system actor, i.e. as the operator of the store;
every decision is audited by ``crm_store.services.links`` like any other.
"""

from __future__ import annotations

import click
from sqlalchemy import select

from assistant.cli.common import db_option, open_store
from crm_store.models import User
from crm_store.services import Actor, CrmServices
from crm_store.services.errors import CrmError
from crm_store.services.links import CHANNELS

STATUSES = ("pending", "approved", "rejected", "verified", "revoked", "expired", "issued", "all")


def _user_id(crm: CrmServices, email: str) -> int:
    user_id = crm.session.execute(select(User.id).where(User.email == email.strip().lower())).scalar()
    if user_id is None:
        raise click.ClickException(f"no user with e-mail {email}")
    return int(user_id)


@click.command("links")
@db_option
@click.option("--status", default="pending", show_default=True, type=click.Choice(STATUSES))
@click.option("--channel", default=None, type=click.Choice(CHANNELS))
def links(db_url: str | None, status: str, channel: str | None) -> None:
    """List Slack/Teams account link requests (pending ones by default)."""
    store = open_store(db_url)
    with store.session() as session:
        crm = CrmServices(session, Actor.system("cli"))
        page = crm.links.list(status=None if status == "all" else status, channel=channel, limit=500)
        emails = dict(session.execute(select(User.id, User.email)).tuples().all())
        if not page.items:
            click.echo("no account link requests")
        for link in page.items:
            who = f"user {link.user_id} <{emails.get(link.user_id, '?')}>" if link.user_id else "no user"
            label = "suggested" if link.status == "pending" else "for"
            click.echo(
                f"#{link.id} {link.status:<8} {link.channel:<5} {link.external_id or '-'} "
                f"workspace={link.workspace_id or '-'} {label} {who} requested {link.requested_at:%Y-%m-%d %H:%M}"
            )


@click.command("link-approve")
@db_option
@click.argument("request_id", type=click.IntRange(min=1))
@click.option("--user", "email", default=None, help="E-mail of the CRM user (default: the suggested one).")
def link_approve(db_url: str | None, request_id: int, email: str | None) -> None:
    """Approve request ID: its Slack/Teams account acts as the CRM user from now on."""
    store = open_store(db_url)
    try:
        with store.session() as session:
            crm = CrmServices(session, Actor.system("cli"))
            user = crm.links.approve(request_id, _user_id(crm, email) if email else None)
            click.echo(f"request #{request_id} approved: linked to user {user.id} <{user.email}>")
    except CrmError as exc:
        raise click.ClickException(exc.detail) from exc


@click.command("link-reject")
@db_option
@click.argument("request_id", type=click.IntRange(min=1))
def link_reject(db_url: str | None, request_id: int) -> None:
    """Reject request ID."""
    store = open_store(db_url)
    try:
        with store.session() as session:
            CrmServices(session, Actor.system("cli")).links.reject(request_id)
            click.echo(f"request #{request_id} rejected")
    except CrmError as exc:
        raise click.ClickException(exc.detail) from exc


@click.command("unlink")
@db_option
@click.option("--user", "email", required=True, help="E-mail of the CRM user.")
@click.option("--channel", required=True, type=click.Choice(CHANNELS))
def unlink(db_url: str | None, email: str, channel: str) -> None:
    """Remove a user's Slack or Teams link (running connectors notice within five minutes)."""
    store = open_store(db_url)
    try:
        with store.session() as session:
            crm = CrmServices(session, Actor.system("cli"))
            user = crm.links.unlink(_user_id(crm, email), channel)
            click.echo(f"user {user.id} <{user.email}> is no longer linked to {channel}")
    except CrmError as exc:
        raise click.ClickException(exc.detail) from exc


def register(cli: click.Group) -> None:
    """Add the commands to the ``users`` group (``store_cmds`` registers it first)."""
    users = cli.commands.get("users")
    if not isinstance(users, click.Group):
        raise RuntimeError("assistant.cli.link_cmds must be registered after assistant.cli.store_cmds")
    for command in (links, link_approve, link_reject, unlink):
        users.add_command(command)
