"""``crm-assistant serve``: migrate the store, then run the REST API and every enabled connector."""

from __future__ import annotations

from dataclasses import replace

import click

from assistant.cli.common import db_option, open_store
from assistant.server import run_server
from assistant.settings import Settings, SettingsError


def banner(url: str) -> None:
    click.echo(
        f"CRM assistant listening on {url}  (REST API {url}/api/v1/, OpenAPI {url}/api/openapi.json, "
        f"health {url}/health); Ctrl+C stops it"
    )


@click.command()
@db_option
@click.option("--host", default=None, help="Interface to bind (default: $CRM_HOST, else 127.0.0.1).")
@click.option(
    "--port",
    default=None,
    type=click.IntRange(0, 65535),
    help="TCP port (default: $CRM_PORT, else 8080; 0 picks a free one).",
)
@click.option("--api-only", is_flag=True, help="Only the REST API and /health: no chat, Slack or Teams.")
def serve(db_url: str | None, host: str | None, port: int | None, api_only: bool) -> None:
    """Run every enabled connector and the REST API until SIGINT/SIGTERM."""
    try:
        env = Settings.from_env()
        settings = replace(
            env,
            database_url=db_url or env.database_url,
            host=env.host if host is None else host,
            port=env.port if port is None else port,
        )
        settings.check()
    except (SettingsError, ValueError) as exc:
        raise click.ClickException(str(exc)) from exc
    store = open_store(settings.database_url)
    try:
        run_server(settings, db=store, print_banner=banner, connectors=not api_only)
    except OSError as exc:  # port in use, address not available
        raise click.ClickException(
            f"cannot listen on {settings.host}:{settings.port}: {exc.strerror}"
        ) from exc
    finally:
        store.dispose()


def register(cli: click.Group) -> None:
    cli.add_command(serve)
