"""``crm-assistant doctor``: one line per check of the store, the model, the secrets and each channel.

The checks live in :mod:`assistant.doctor`; this module only reads the settings, prints, and sets the exit
code (1 when a check failed, so scripts and CI can gate on it).
"""

from __future__ import annotations

import os
import sys

import click

from assistant.cli.common import db_option
from assistant.doctor import failed, run_checks, to_json
from assistant.settings import Settings


@click.command("doctor")
@db_option
@click.option("--json", "as_json", is_flag=True, help="Print the checks as JSON instead of lines.")
def doctor(db_url: str | None, as_json: bool) -> None:
    """Check the database, model, secrets and configured channels; say what to do next."""
    env = dict(os.environ)
    settings = Settings.from_env(env, **({"database_url": db_url} if db_url else {}))
    checks = run_checks(settings, env)
    if as_json:
        click.echo(to_json(checks))
    else:
        for check in checks:
            click.echo(check.line())
    sys.exit(1 if failed(checks) else 0)


def register(cli: click.Group) -> None:
    cli.add_command(doctor)
