"""``crm-assistant teams package``: the zip a Teams administrator uploads (see ``teams/README.md``)."""

from __future__ import annotations

import os
from pathlib import Path

import click

from assistant.settings import Settings
from connectors.teams.app_package import PackageError, build_zip


@click.group("teams")
def teams() -> None:
    """Microsoft Teams: the app package."""


@teams.command("package")
@click.option(
    "-o",
    "--output",
    type=click.Path(dir_okay=False, path_type=Path),
    default=Path("crm-assistant-teams.zip"),
    show_default=True,
    help="Where to write the zip.",
)
@click.option("--company", default="", help="The developer name shown in Teams (default: the public host).")
@click.option(
    "--version",
    "app_version",
    default="1.0.0",
    show_default=True,
    help="The app version; raise it for every upload of a changed package.",
)
def package(output: Path, company: str, app_version: str) -> None:
    """Build the app package from TEAMS_APP_ID and CRM_PUBLIC_URL (manifest, icons, German strings)."""
    settings = Settings.from_env(dict(os.environ), database_url="sqlite://")
    try:
        data = build_zip(settings, company=company, version=app_version)
    except PackageError as exc:
        raise click.ClickException(str(exc)) from None
    output.write_bytes(data)
    click.echo(
        f"wrote {output} ({len(data)} bytes): upload it in Teams (Apps → Manage your apps → Upload an app)"
    )


def register(cli: click.Group) -> None:
    cli.add_command(teams)
