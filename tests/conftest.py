"""Shared fixtures: a real store on SQLite (always) and PostgreSQL (when a server is reachable)."""

from __future__ import annotations

import atexit
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
    """A fresh, migrated PostgreSQL database of this test process's own (so parallel runs never collide),
    or None with the reason remembered. It is dropped when the run ends."""
    if "db" in _pg_state:
        return _pg_state["db"]  # type: ignore[return-value]
    from sqlalchemy import create_engine
    from sqlalchemy.engine import make_url

    base = make_url(Database(PG_URL).url)
    name = f"{base.database or 'crm_test'}_{os.getpid()}"
    admin = create_engine(base, isolation_level="AUTOCOMMIT", connect_args={"connect_timeout": 5})
    try:
        with admin.connect() as conn:
            conn.execute(text(f'DROP DATABASE IF EXISTS "{name}"'))
            conn.execute(text(f'CREATE DATABASE "{name}"'))
    except Exception as exc:
        _pg_state["reason"] = (f"PostgreSQL not usable at {PG_URL} ({type(exc).__name__}); set "
                               "CRM_TEST_POSTGRES_URL or run .ci/run, which starts one")
        _pg_state["db"] = None
        admin.dispose()
        return None
    db = Database(base.set(database=name).render_as_string(hide_password=False))
    db.create_all()
    _pg_state["db"] = db

    def drop() -> None:
        db.dispose()
        with admin.connect() as conn:
            conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()

    atexit.register(drop)
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
