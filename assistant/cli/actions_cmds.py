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
    """Run Rasa-SDK's action server with our actions (token from CRM_ACTION_TOKEN, the key that verifies the
    speaker's seal from CRM_SECRET_KEY: the same value as the CRM server's)."""
    from actions.server import build_action_server

    token = os.environ.get("CRM_ACTION_TOKEN", "")
    if not token:
        raise click.ClickException("set CRM_ACTION_TOKEN (and ?token=... in Rasa's endpoints.yml action URL)")
    secret_key = os.environ.get("CRM_SECRET_KEY", "")
    if not secret_key:
        raise click.ClickException(
            "set CRM_SECRET_KEY to the CRM server's value: the actions verify the speaker's seal with it"
        )
    store = open_store(db_url)
    from assistant.settings import Settings

    idle = Settings.from_env().customer_proof_idle_seconds
    app = build_action_server(store, token=token, secret_key=secret_key, proof_idle_seconds=idle)
    click.echo(f"action server on http://{host}:{port}/webhook")
    app.run(host=host, port=port, single_process=True, access_log=False, motd=False)


def register(cli: click.Group) -> None:
    cli.add_command(actions)
