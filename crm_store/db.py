"""Engine and unit of work. SQLite (WAL, foreign keys on) is the embedded default; PostgreSQL for production."""

from __future__ import annotations

import os
import re
import threading
import time
from collections.abc import Iterable, Iterator, Mapping
from contextlib import contextmanager, nullcontext
from pathlib import Path
from typing import Any

from sqlalchemy import Engine, create_engine, event, text
from sqlalchemy.exc import DBAPIError, DisconnectionError, OperationalError
from sqlalchemy.orm import Session, sessionmaker

DEFAULT_SQLITE_FILE = "crm.db"
# A pooled connection idle this long is pinged before use (a server restart or an idle timeout may have
# closed it); busy connections are not, which saves a BEGIN and a SELECT 1 per unit of work under load.
# A connection lost while busy fails one unit of work (503, nothing written) and the pool is refreshed.
PING_IDLE_SECONDS = 10.0
POOL_RECYCLE_SECONDS = 1800
_CHECKED_IN = "crm_checked_in"


# SQL parameters are customers' personal data (names, e-mails, phones, message text): by default they never
# appear in exception text, tracebacks or SQL echo logs. Debugging a statement on a developer's machine may
# ask for them with this environment variable (or ``Database(..., show_parameters=True)``).
SHOW_PARAMETERS_ENV = "CRM_SQL_SHOW_PARAMETERS"
_HIDDEN = "[value hidden]"
# PostgreSQL puts values into its own messages too: "DETAIL:  Key (email)=(anna@...) already exists.",
# "Failing row contains (...)", 'invalid input syntax for type integer: "..."', a CONTEXT naming parameters.
_VALUE_LINES = re.compile(r"^\s*(DETAIL|CONTEXT):.*$\n?", re.MULTILINE)
_QUOTED_VALUE = re.compile(r':\s*"(?:[^"]|"")*"')


def show_parameters_requested(environ: Mapping[str, str] | None = None) -> bool:
    env = os.environ if environ is None else environ
    return env.get(SHOW_PARAMETERS_ENV, "").strip().lower() in ("1", "true", "yes", "on")


def scrub_values(message: str) -> str:
    """A driver's error message without the values PostgreSQL quotes in it (constraint names stay)."""
    return _QUOTED_VALUE.sub(f": {_HIDDEN}", _VALUE_LINES.sub("", message)).rstrip()


def _scrub_error(context: Any) -> None:
    """``handle_error`` hook: remove values from the driver's exception and from SQLAlchemy's wrapper,
    whose text was built from it (``hide_parameters`` only hides the bound parameter list)."""
    orig = context.original_exception
    if orig is not None and len(orig.args) == 1 and isinstance(orig.args[0], str):
        orig.args = (scrub_values(orig.args[0]),)
    wrapper = context.sqlalchemy_exception
    if wrapper is not None and len(wrapper.args) == 1 and isinstance(wrapper.args[0], str):
        wrapper.args = (scrub_values(wrapper.args[0]),)


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


def make_engine(url: str, *, echo: bool = False, show_parameters: bool | None = None) -> Engine:
    """The engine; SQL parameters and the values in driver messages are hidden unless ``show_parameters``
    (default: the ``CRM_SQL_SHOW_PARAMETERS`` environment variable) asks for them."""
    url = _normalise_url(url)
    hide = not (show_parameters_requested() if show_parameters is None else show_parameters)
    if url.startswith("sqlite"):
        engine = create_engine(url, echo=echo, hide_parameters=hide,
                               connect_args={"check_same_thread": False, "timeout": 10})
        event.listen(engine, "connect", _sqlite_pragmas)
    else:
        engine = _server_engine(url, echo=echo, hide=hide)
    if hide:
        event.listen(engine, "handle_error", _scrub_error)
    return engine


def _server_engine(url: str, *, echo: bool, hide: bool) -> Engine:
    engine = create_engine(
        url,
        echo=echo,
        hide_parameters=hide,
        pool_size=10,
        max_overflow=20,
        pool_recycle=POOL_RECYCLE_SECONDS,
        pool_use_lifo=True,
        connect_args={"connect_timeout": 5} if "psycopg" in url else {},
    )
    event.listen(engine, "checkin", _mark_checked_in)
    event.listen(engine, "checkout", _ping_if_idle)
    return engine


def _mark_checked_in(_dbapi_connection: Any, record: Any) -> None:
    if record is not None:
        record.info[_CHECKED_IN] = time.monotonic()


def _ping_if_idle(dbapi_connection: Any, record: Any, _proxy: Any) -> None:
    """``pool_pre_ping``, but only for connections that sat idle; the pool retries on a dead one."""
    since = record.info.get(_CHECKED_IN)
    if since is None or time.monotonic() - since < PING_IDLE_SECONDS:
        return  # fresh from connect(), or in use a moment ago
    try:
        cursor = dbapi_connection.cursor()
        try:
            cursor.execute("SELECT 1")
        finally:
            cursor.close()
        dbapi_connection.rollback()
    except Exception as exc:
        raise DisconnectionError("pooled connection is gone") from exc


class Database:
    """Owns the engine; hands out one session (one transaction) per unit of work."""

    def __init__(self, url: str, *, echo: bool = False, show_parameters: bool | None = None) -> None:
        self.url = _normalise_url(url)
        self.engine = make_engine(self.url, echo=echo, show_parameters=show_parameters)
        self._sessions = sessionmaker(self.engine, expire_on_commit=False)
        # SQLite has one writer at a time, and a connection that finds the file locked sleeps in SQLite's
        # busy handler (1, 2, 5 ... 100 ms steps): under concurrent turns most of a turn's latency was
        # those sleeps. So this process runs its units of work on SQLite one at a time (reentrant, for a
        # nested session in the same thread); other processes still meet busy_timeout. Reads in WAL mode
        # would not need it, but nearly every unit of work here writes (the conversation, the audit log).
        self._serial: threading.RLock | None = threading.RLock() if self.is_sqlite else None

    @property
    def is_sqlite(self) -> bool:
        return self.engine.dialect.name == "sqlite"

    @contextmanager
    def session(self) -> Iterator[Session]:
        """One transaction: commits on success, rolls back on any error (no partial writes)."""
        with self._serial or nullcontext():
            yield from self._transaction()

    def _transaction(self) -> Iterator[Session]:
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

    def reclaim_free_pages(self, tables: Iterable[str] = ()) -> list[str]:
        """After an erasure has committed: make the deleted rows unreadable in the files, not just unlinked.

        SQLite: the WAL is checkpointed into the main file and truncated, then VACUUM rewrites the file
        without free pages or freed cell space (old row versions left by earlier updates included), then the
        WAL of the VACUUM is checkpointed and truncated too. PostgreSQL: ``VACUUM`` of the touched tables on
        an autocommit connection (it cannot run inside a transaction). Returns the steps done; a step that
        cannot run now (another connection holds the SQLite file) raises, so the caller can report it and
        the erasure command can be run again to finish it."""
        done: list[str] = []
        if self.is_sqlite:
            with self._serial or nullcontext(), self.engine.connect() as conn:
                raw = conn.connection.dbapi_connection
                assert raw is not None
                raw.execute("PRAGMA secure_delete=ON")
                for step in ("PRAGMA wal_checkpoint(TRUNCATE)", "VACUUM", "PRAGMA wal_checkpoint(TRUNCATE)"):
                    row = raw.execute(step).fetchone()
                    if step.startswith("PRAGMA") and row is not None and row[0]:
                        raise OperationalError(step, {}, Exception("the database is busy"))
                    done.append(step)
            return done
        known = {t.lower() for t in tables}
        with self.engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
            for name in sorted(known):
                if not re.fullmatch(r"[a-z_][a-z0-9_]*", name):
                    continue  # table names come from our metadata; anything else is ignored
                conn.execute(text(f'VACUUM "{name}"'))
                done.append(f"VACUUM {name}")
        return done

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
