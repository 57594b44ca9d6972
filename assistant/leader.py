"""Background jobs that must run in one process only, however many workers share the store.

    leader = leadership(app)                                  # one per process (an app key)
    await leader.run_exclusive("sla-escalation", escalator.start, escalator.stop)

On PostgreSQL every job kind has a session-level advisory lock (``pg_try_advisory_lock``), taken on one
connection of its own per process, outside the pool. The process holding a kind's lock runs that job;
the others try again every ``RETRY_SECONDS``. The lock lives exactly as long as its connection: when
the holder is killed (kill -9), its connection is terminated (``pg_terminate_backend``) or the
database restarts, PostgreSQL drops the lock and another worker takes the job over within a few
seconds. The holder checks its connection every ``RETRY_SECONDS``; when it is gone it stops its jobs
before anyone else can have started them for longer than that interval (the jobs themselves are
idempotent: an escalation is recorded, an IMAP message is marked, a digest remembers its day, so an
overlap of that length sends nothing twice).

On SQLite there is one process (several workers need PostgreSQL, ``assistant/workers.py``): it holds
every lock. Outbox delivery is not an exclusive job: each row is claimed by compare-and-set before it
is sent (``crm_store/outbox.py``), so every worker delivers what it committed at once.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import inspect
import logging
import os
from collections.abc import Awaitable, Callable
from dataclasses import dataclass

from aiohttp import web
from sqlalchemy import Connection, Engine, create_engine, text
from sqlalchemy.pool import NullPool

from crm_store.db import Database
from crm_store.tasks import cancel_and_wait

log = logging.getLogger(__name__)

RETRY_SECONDS = 2.0  # a job not held here is tried again this often; the held connection is checked as often
CONNECT_TIMEOUT_SECONDS = 3
STOP_TIMEOUT_SECONDS = 30.0

Start = Callable[[], object]  # may return an awaitable
Stop = Callable[[], Awaitable[object]]


def lock_key(kind: str) -> int:
    """A stable signed 64-bit advisory-lock key for a job kind."""
    digest = hashlib.blake2b(f"crm-assistant/{kind}".encode(), digest_size=8).digest()
    return int.from_bytes(digest, "big", signed=True)


@dataclass
class _Job:
    kind: str
    start: Start
    stop: Stop
    running: bool = False


class Leadership:
    """This process's share of the exclusive jobs (see the module docstring)."""

    def __init__(self, db: Database, *, retry_seconds: float = RETRY_SECONDS) -> None:
        self.db = db
        self.retry_seconds = retry_seconds
        self.jobs: dict[str, _Job] = {}
        self._engine: Engine | None = None
        self._conn: Connection | None = None
        self._task: asyncio.Task[None] | None = None
        self._lock = asyncio.Lock()
        self._closed = False

    @property
    def held(self) -> list[str]:
        """The job kinds this process runs now."""
        return sorted(k for k, j in self.jobs.items() if j.running)

    async def run_exclusive(self, kind: str, start: Start, stop: Stop) -> bool:
        """Run ``start()`` here when this process gets ``kind``'s lock (now or later), ``stop()`` when it
        loses it or shuts down. Returns whether it runs here now."""
        if kind in self.jobs:
            raise ValueError(f"job {kind!r} is registered twice")
        job = self.jobs[kind] = _Job(kind, start, stop)
        async with self._lock:
            await self._try(job)
        if self._task is None and not self._closed:
            self._task = asyncio.create_task(self._run(), name="leadership")
        return job.running

    async def close(self) -> None:
        """Stop every job held here and give the locks back (app shutdown)."""
        self._closed = True
        task, self._task = self._task, None
        await cancel_and_wait(task)
        async with self._lock:
            await self._stop_all()
            await asyncio.to_thread(self._disconnect)
            if self._engine is not None:
                self._engine.dispose()

    # -- the loop -----------------------------------------------------------------------------------------
    async def _run(self) -> None:
        while True:
            await asyncio.sleep(self.retry_seconds)
            async with self._lock:
                try:
                    if self.held and not await asyncio.to_thread(self._alive):
                        log.warning("lost the job-lock connection: stopping %s", ", ".join(self.held))
                        await self._stop_all()
                        await asyncio.to_thread(self._disconnect)
                    for job in self.jobs.values():
                        if not job.running:
                            await self._try(job)
                except Exception:
                    log.warning("job locks: %s", "check failed", exc_info=True)

    async def _try(self, job: _Job) -> None:
        try:
            got = self.db.is_sqlite or await asyncio.to_thread(self._acquire, job.kind)
        except Exception as exc:
            log.info("job lock %s not taken now (%s)", job.kind, type(exc).__name__)
            await asyncio.to_thread(self._disconnect)
            return
        if not got:
            return
        try:
            started = job.start()
            if inspect.isawaitable(started):
                await started
        except Exception:
            log.exception("job %s failed to start", job.kind)
            if not self.db.is_sqlite:
                await asyncio.to_thread(self._release, job.kind)
            return
        job.running = True
        log.info("this process runs %s", job.kind)

    async def _stop_all(self) -> None:
        for job in self.jobs.values():
            if not job.running:
                continue
            job.running = False
            try:
                async with asyncio.timeout(STOP_TIMEOUT_SECONDS):
                    await job.stop()
            except Exception:
                log.exception("job %s did not stop cleanly", job.kind)

    # -- the lock connection (worker threads) -----------------------------------------------------------
    def _connection(self) -> Connection:
        if self._conn is None:
            if self._engine is None:
                self._engine = create_engine(
                    self.db.engine.url,
                    poolclass=NullPool,
                    isolation_level="AUTOCOMMIT",
                    connect_args={
                        "connect_timeout": CONNECT_TIMEOUT_SECONDS,
                        "application_name": f"crm-job-locks/{os.getpid()}",
                    },
                )
            self._conn = self._engine.connect()
        return self._conn

    def _acquire(self, kind: str) -> bool:
        conn = self._connection()
        return bool(conn.execute(text("SELECT pg_try_advisory_lock(:k)"), {"k": lock_key(kind)}).scalar())

    def _release(self, kind: str) -> None:
        with contextlib.suppress(Exception):
            self._connection().execute(text("SELECT pg_advisory_unlock(:k)"), {"k": lock_key(kind)})

    def _alive(self) -> bool:
        if self._conn is None:
            return False
        try:
            self._conn.execute(text("SELECT 1"))
        except Exception:
            return False
        return True

    def _disconnect(self) -> None:
        conn, self._conn = self._conn, None
        if conn is not None:
            with contextlib.suppress(Exception):
                conn.close()


LEADERSHIP_KEY = web.AppKey("leadership", Leadership)


def leadership(app: web.Application) -> Leadership:
    """The app's :class:`Leadership` (``install`` made it); call ``run_exclusive`` from start-up hooks."""
    return app[LEADERSHIP_KEY]


def install(app: web.Application, db: Database) -> None:
    """Give the app its :class:`Leadership`, closed on shutdown after the jobs' own shutdown hooks."""
    app[LEADERSHIP_KEY] = Leadership(db)

    async def close(app: web.Application) -> None:
        leader = app.get(LEADERSHIP_KEY)
        if leader is not None:
            await leader.close()

    app.on_shutdown.append(close)


__all__ = ["LEADERSHIP_KEY", "Leadership", "install", "leadership", "lock_key"]
