"""``crm-assistant actions serve``: the Rasa-SDK action server for a real Rasa engine."""

from __future__ import annotations

import os

import click

from assistant.cli.common import db_option, open_store


@click.group()
def actions() -> None:
    """Serve the CRM actions to a Rasa server."""


@actions.command("serve")
@db_option
@click.option("--host", default="127.0.0.1", show_default=True)
@click.option("--port", default=5055, show_default=True, type=int)
def serve(db_url: str | None, host: str, port: int) -> None:
    """Run Rasa-SDK's action server with our actions (token from CRM_ACTION_TOKEN)."""
    from actions.server import build_action_server

    token = os.environ.get("CRM_ACTION_TOKEN", "")
    if not token:
        raise click.ClickException("set CRM_ACTION_TOKEN (and ?token=... in Rasa's endpoints.yml action URL)")
    store = open_store(db_url)
    app = build_action_server(store, token=token)
    click.echo(f"action server on http://{host}:{port}/webhook")
    app.run(host=host, port=port, single_process=True, access_log=False, motd=False)


def register(cli: click.Group) -> None:
    cli.add_command(actions)
