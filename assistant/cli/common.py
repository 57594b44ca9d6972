"""Helpers shared by the CLI modules: the --db option and opening the store."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, TypeVar

import click

from crm_store.db import Database, StoreUnavailable, default_database_url

F = TypeVar("F", bound=Callable[..., Any])


def db_option(func: F) -> F:
    return click.option(
        "--db", "db_url", default=None, metavar="URL",
        help="SQLAlchemy URL of the store (default: $CRM_DATABASE_URL, else ./crm.db).",
    )(func)


def open_store(db_url: str | None, *, migrate: bool = True) -> Database:
    db = Database(db_url or default_database_url())
    if not db.ping():
        raise click.ClickException(f"cannot reach the database at {redact_url(db.url)}")
    if migrate:
        try:
            db.create_all()
        except StoreUnavailable as exc:
            raise click.ClickException(str(exc)) from exc
    return db


def redact_url(url: str) -> str:
    if "@" in url and "://" in url:
        scheme, rest = url.split("://", 1)
        creds, host = rest.rsplit("@", 1)
        return f"{scheme}://{creds.split(':')[0]}:***@{host}" if ":" in creds else url
    return url
