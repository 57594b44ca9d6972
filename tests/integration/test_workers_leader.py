"""Job locks (assistant/leader.py) between two processes' worth of ``Leadership`` on one store.

Two ``Leadership`` objects have a connection each, as two workers do: on PostgreSQL only one runs a job
kind; when the holder's connection is terminated (``pg_terminate_backend``) or it shuts down, the other
takes the job over and the old holder stops it. On SQLite (one process) the job runs at once.
"""

from __future__ import annotations

import asyncio

import pytest
from sqlalchemy import text

from assistant.leader import Leadership, lock_key
from crm_store.db import Database


class Job:
    def __init__(self) -> None:
        self.running = False
        self.starts = 0

    def start(self) -> None:
        self.running = True
        self.starts += 1

    async def stop(self) -> None:
        self.running = False


async def until(check: object, *, rounds: int = 300) -> None:
    """Wait (up to ``rounds`` x 50 ms) until ``check()`` holds."""
    for _ in range(rounds):
        if check():  # type: ignore[operator]
            return
        await asyncio.sleep(0.05)
    raise AssertionError(f"never true: {check}")


async def test_one_holder_then_failover_when_its_connection_is_terminated(db: Database) -> None:
    if db.is_sqlite:
        one = Leadership(db)
        job = Job()
        assert await one.run_exclusive("digest", job.start, job.stop)
        assert job.running and one.held == ["digest"]
        await one.close()
        assert not job.running
        return
    a, b = Leadership(db, retry_seconds=0.2), Leadership(db, retry_seconds=0.2)
    job_a, job_b = Job(), Job()
    try:
        assert await a.run_exclusive("digest", job_a.start, job_a.stop)
        assert not await b.run_exclusive("digest", job_b.start, job_b.stop)
        await asyncio.sleep(0.6)  # b keeps trying and keeps failing while a holds it
        assert job_a.running and not job_b.running and b.held == []
        with db.engine.connect() as conn:  # end a's lock connection, as a killed worker's would end
            pid = a._conn.execute(text("SELECT pg_backend_pid()")).scalar()  # type: ignore[union-attr]
            conn.execute(text("SELECT pg_terminate_backend(:p)"), {"p": pid})
        await until(lambda: job_b.running and not job_a.running)
        assert b.held == ["digest"] and a.held == []
        with db.engine.connect() as conn:  # exactly one session holds the lock
            held = conn.execute(
                text("SELECT count(*) FROM pg_locks WHERE locktype = 'advisory' AND granted AND objid = :lo"),
                {"lo": lock_key("digest") & 0xFFFFFFFF},
            ).scalar()
        assert held == 1
        await b.close()  # a clean shutdown gives the lock back: a takes it again
        await until(lambda: job_a.running)
        assert job_a.starts == 2 and not job_b.running
    finally:
        await a.close()
        await b.close()


async def test_a_job_that_fails_to_start_gives_its_lock_back(db: Database) -> None:
    if db.is_sqlite:
        pytest.skip("one process: there is no lock to give back")
    a, b = Leadership(db, retry_seconds=0.2), Leadership(db, retry_seconds=0.2)

    def broken() -> None:
        raise RuntimeError("cannot start")

    job = Job()
    try:
        assert not await a.run_exclusive("sla", broken, job.stop)
        assert await b.run_exclusive("sla", job.start, job.stop)
        assert job.running
    finally:
        await a.close()
        await b.close()


def test_lock_keys_are_stable_and_distinct() -> None:
    assert lock_key("retention") == lock_key("retention")
    assert (
        len({lock_key(k) for k in ("retention", "sla-escalation", "slack-digest", "imap:a@b:993/INBOX")}) == 4
    )
    assert -(2**63) <= lock_key("retention") < 2**63
