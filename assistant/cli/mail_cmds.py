"""``crm-assistant mail quarantine|replay|drop``: inbound mail the intake set aside after repeated failures.

The IMAP poller quarantines a message that failed triage ``max_tries`` times (``crm_store/services/
quarantine.py``) and goes on with the mailbox. Here an admin sees what and why (never the body), replays a
message once its cause is fixed (the triage's own idempotency keeps a replay from doubling a ticket), or
drops it. Every step is audited.
"""

from __future__ import annotations

import json

import click

from assistant.cli.common import db_option, open_store
from crm_store.services import Actor, CrmServices
from crm_store.services.errors import CrmError
from crm_store.services.quarantine import describe_error, quarantine_row

CLI_ACTOR = Actor.system("cli")


@click.group()
def mail() -> None:
    """Inbound mail set aside by the intake (poison messages)."""


@mail.command("quarantine")
@db_option
@click.option("--all", "show_all", is_flag=True, help="Also messages already replayed.")
@click.option("--json", "as_json", is_flag=True, help="One JSON object per line.")
def quarantine_cmd(db_url: str | None, show_all: bool, as_json: bool) -> None:
    """List quarantined mail: where it came from, why it failed, how often it was tried."""
    store = open_store(db_url)
    try:
        with store.session() as session:
            rows = [quarantine_row(r) for r in CrmServices(session, CLI_ACTOR).quarantine.list(
                include_replayed=show_all, limit=500).items]
    finally:
        store.dispose()
    if as_json:
        for row in rows:
            click.echo(json.dumps(row, ensure_ascii=False))
        return
    if not rows:
        click.echo("no quarantined mail")
    for row in rows:
        click.echo(f"#{row['id']} {row['quarantined_at'][:19]} {row['source']} uid {row['uid']} "
                   f"<{row['message_id'] or '-'}> from {row['from'] or '-'} ({row['attempts']} tries): {row['error']}")


@mail.command("replay")
@db_option
@click.argument("mail_id", type=int)
@click.option("--model", "model", default=None, help="Model dir [default: $CRM_MODEL_DIR or ./models]")
def replay_cmd(db_url: str | None, mail_id: int, model: str | None) -> None:
    """Triage a quarantined message again (after its cause was fixed); prints the triage result."""
    from assistant.cli.triage_cmds import build_triage

    store = open_store(db_url)
    try:
        with store.session() as session:
            raw = bytes(CrmServices(session, CLI_ACTOR).quarantine.get(mail_id).raw)
        service = build_triage(store, model=model)
        try:
            result = service.process(raw, source="replay").to_dict()
            outcome = f"{result.get('action')} {result.get('ticket_number') or ''}".strip()
        except CrmError:
            raise
        except Exception as exc:  # still broken: it stays quarantined, with the new reason
            outcome = f"failed again: {describe_error(exc)}"
            result = {"action": "failed", "error": describe_error(exc)}
        with store.session() as session:
            quarantine = CrmServices(session, CLI_ACTOR).quarantine
            if result.get("action") != "failed":
                quarantine.mark_replayed(mail_id, outcome)
    except CrmError as exc:
        raise click.ClickException(exc.detail) from exc
    finally:
        store.dispose()
    click.echo(json.dumps(result, ensure_ascii=False, default=str))
    if result.get("action") == "failed":
        raise SystemExit(1)


@mail.command("drop")
@db_option
@click.argument("mail_id", type=int)
@click.option("--yes", is_flag=True, help="Do not ask.")
def drop_cmd(db_url: str | None, mail_id: int, yes: bool) -> None:
    """Delete a quarantined message for good."""
    if not yes:
        click.confirm(f"Delete quarantined mail #{mail_id} for good?", abort=True)
    store = open_store(db_url)
    try:
        with store.session() as session:
            CrmServices(session, CLI_ACTOR).quarantine.drop(mail_id)
    except CrmError as exc:
        raise click.ClickException(exc.detail) from exc
    finally:
        store.dispose()
    click.echo(f"dropped quarantined mail #{mail_id}")


def register(cli: click.Group) -> None:
    cli.add_command(mail)
