"""Engine and unit of work. SQLite (WAL, foreign keys on) is the embedded default; PostgreSQL for production."""

from __future__ import annotations

import os
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from sqlalchemy import Engine, create_engine, event, text
from sqlalchemy.exc import DBAPIError, OperationalError
from sqlalchemy.orm import Session, sessionmaker

DEFAULT_SQLITE_FILE = "crm.db"


class StoreUnavailable(RuntimeError):
    """The database cannot be reached; callers answer 503 and write nothing."""


def default_database_url(environ: Mapping[str, str] | None = None, cwd: Path | None = None) -> str:
    env = os.environ if environ is None else environ
    url = env.get("CRM_DATABASE_URL")
    if url:
        return url
    return f"sqlite:///{(cwd or Path.cwd()) / DEFAULT_SQLITE_FILE}"


def _normalise_url(url: str) -> str:
    # "postgresql://" alone would pick psycopg2, which we do not ship; psycopg 3 is our driver.
    if url.startswith("postgresql://") or url.startswith("postgres://"):
        return "postgresql+psycopg://" + url.split("://", 1)[1]
    return url


def _sqlite_pragmas(dbapi_connection: Any, _record: Any) -> None:
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA synchronous=NORMAL")
    cursor.execute("PRAGMA busy_timeout=10000")
    cursor.close()


def make_engine(url: str, *, echo: bool = False) -> Engine:
    url = _normalise_url(url)
    if url.startswith("sqlite"):
        engine = create_engine(url, echo=echo, connect_args={"check_same_thread": False, "timeout": 10})
        event.listen(engine, "connect", _sqlite_pragmas)
        return engine
    return create_engine(
        url, echo=echo, pool_pre_ping=True, pool_size=10, max_overflow=20,
        connect_args={"connect_timeout": 5} if "psycopg" in url else {},
    )


class Database:
    """Owns the engine; hands out one session (one transaction) per unit of work."""

    def __init__(self, url: str, *, echo: bool = False) -> None:
        self.url = _normalise_url(url)
        self.engine = make_engine(self.url, echo=echo)
        self._sessions = sessionmaker(self.engine, expire_on_commit=False)

    @property
    def is_sqlite(self) -> bool:
        return self.engine.dialect.name == "sqlite"

    @contextmanager
    def session(self) -> Iterator[Session]:
        """One transaction: commits on success, rolls back on any error (no partial writes)."""
        try:
            session = self._sessions()
        except (OperationalError, DBAPIError) as exc:  # pragma: no cover - connect happens lazily
            raise StoreUnavailable(str(exc)) from exc
        try:
            yield session
            session.commit()
        except OperationalError as exc:
            session.rollback()
            if _is_connection_error(exc):
                raise StoreUnavailable("the database cannot be reached") from exc
            raise
        except BaseException:
            session.rollback()
            raise
        finally:
            session.close()

    def ping(self) -> bool:
        try:
            with self.engine.connect() as conn:
                conn.execute(text("SELECT 1"))
            return True
        except (OperationalError, DBAPIError):
            return False

    def create_all(self) -> None:
        """Create or migrate the schema to the newest revision (Alembic)."""
        from crm_store.migrate import upgrade

        upgrade(self)

    def dispose(self) -> None:
        self.engine.dispose()


def _is_connection_error(exc: OperationalError) -> bool:
    if exc.connection_invalidated:
        return True
    msg = str(exc.orig).lower() if exc.orig else ""
    return any(s in msg for s in ("connection", "could not connect", "server closed", "unable to open"))
