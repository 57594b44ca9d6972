"""``crm-assistant serve``: migrate the store, then run the REST API and every enabled connector."""

from __future__ import annotations

from dataclasses import replace

import click

from assistant.cli.common import db_option, open_store
from assistant.server import run_server
from assistant.settings import Settings, SettingsError
from assistant.workers import serve_workers


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
@click.option(
    "--workers",
    default=None,
    type=click.IntRange(1, 64),
    help="Web worker processes sharing the port and the loaded models (default: $CRM_WORKERS, else 1; "
    ">1 needs PostgreSQL).",
)
def serve(
    db_url: str | None, host: str | None, port: int | None, api_only: bool, workers: int | None
) -> None:
    """Run every enabled connector and the REST API until SIGINT/SIGTERM."""
    try:
        env = Settings.from_env()
        settings = replace(
            env,
            database_url=db_url or env.database_url,
            host=env.host if host is None else host,
            port=env.port if port is None else port,
            workers=env.workers if workers is None else workers,
        )
        settings.check()
    except (SettingsError, ValueError) as exc:
        raise click.ClickException(str(exc)) from exc
    store = open_store(settings.database_url)
    try:
        if settings.workers > 1:
            serve_workers(
                settings, store, workers=settings.workers, print_banner=banner, connectors=not api_only
            )
        else:
            run_server(settings, db=store, print_banner=banner, connectors=not api_only)
    except OSError as exc:  # port in use, address not available
        raise click.ClickException(
            f"cannot listen on {settings.host}:{settings.port}: {exc.strerror}"
        ) from exc
    finally:
        store.dispose()


def register(cli: click.Group) -> None:
    cli.add_command(serve)
