"""Shared fixtures: a real store on SQLite (always) and PostgreSQL (when a server is reachable)."""

from __future__ import annotations

import os
import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import text

from crm_store.db import Database
from crm_store.models import Base
from crm_store.services import Actor, CrmServices

PG_URL = os.environ.get("CRM_TEST_POSTGRES_URL", "postgresql://postgres@127.0.0.1:5432/crm_test")
_pg_state: dict[str, object] = {}


def _postgres() -> Database | None:
    """One migrated PostgreSQL database for the run, or None with the reason remembered."""
    if "db" in _pg_state:
        return _pg_state["db"]  # type: ignore[return-value]
    db: Database | None = Database(PG_URL)
    assert db is not None
    if not db.ping():
        _pg_state["reason"] = (f"PostgreSQL not reachable at {PG_URL} (set CRM_TEST_POSTGRES_URL or run .ci/run, "
                               "which starts one)")
        db.dispose()
        db = None
    else:
        with db.engine.begin() as conn:
            conn.execute(text("DROP SCHEMA public CASCADE"))
            conn.execute(text("CREATE SCHEMA public"))
        db.create_all()
    _pg_state["db"] = db
    return db


@pytest.fixture(scope="session")
def sqlite_template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("template") / "crm.db"
    db = Database(f"sqlite:///{path}")
    db.create_all()
    db.dispose()
    return path


def _truncate(db: Database) -> None:
    names = ", ".join(f'"{t.name}"' for t in Base.metadata.sorted_tables)
    with db.engine.begin() as conn:
        conn.execute(text(f"TRUNCATE {names}, alembic_version RESTART IDENTITY CASCADE".replace(
            ", alembic_version", "")))


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def db(request: pytest.FixtureRequest, tmp_path: Path, sqlite_template: Path) -> Iterator[Database]:
    """A migrated, empty store; every test that uses it runs on SQLite and on PostgreSQL."""
    if request.param == "sqlite":
        path = tmp_path / "crm.db"
        shutil.copy(sqlite_template, path)
        database = Database(f"sqlite:///{path}")
        yield database
        database.dispose()
        return
    pg = _postgres()
    if pg is None:
        pytest.skip(str(_pg_state["reason"]))
    _truncate(pg)
    yield pg


@pytest.fixture
def sqlite_db(tmp_path: Path, sqlite_template: Path) -> Iterator[Database]:
    path = tmp_path / "crm.db"
    shutil.copy(sqlite_template, path)
    database = Database(f"sqlite:///{path}")
    yield database
    database.dispose()


@pytest.fixture
def system() -> Actor:
    return Actor.system("test")


def make_user(db: Database, *, email: str, role: str, team_id: int | None = None, name: str | None = None) -> Actor:
    from crm_store.services.users import actor_for

    with db.session() as s:
        user = CrmServices(s, Actor.system("test")).users.create(
            {"email": email, "name": name or email.split("@")[0].title(), "role": role, "team_id": team_id})
        return actor_for(user)
