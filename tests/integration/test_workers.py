"""``crm-assistant serve --workers 2`` on PostgreSQL: forked workers on one port, job locks in one worker.

Real processes: the supervisor and its workers are started as ``serve`` is in production (``--api-only``,
so no model is loaded: the workers' start is what is tested, not the NLU). The REST API is driven over
loopback with an admin token; PostgreSQL's ``pg_locks`` shows which worker holds which job lock.
"""

from __future__ import annotations

import asyncio
import os
import signal
from collections.abc import Iterator
from pathlib import Path

import pytest

from crm_store.db import Database
from crm_store.services import Actor, CrmServices
from tests.support.served import Served, create_contacts, lock_holders, private_postgres, stored, wait_for

pytestmark = [pytest.mark.postgres, pytest.mark.faults]


@pytest.fixture(scope="module")
def pg_url() -> Iterator[str]:
    try:
        with private_postgres("workers") as url:
            yield url
    except Exception as exc:
        pytest.skip(f"PostgreSQL not usable ({type(exc).__name__})")


@pytest.fixture(scope="module")
def server(pg_url: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Served]:
    served = Served.start(pg_url, workers=2, log=tmp_path_factory.mktemp("workers") / "serve.log")
    try:
        served.wait_workers(2)
        yield served
    finally:
        code = served.stop()
        assert code == 0, served.log.read_text(errors="replace")[-3000:]
        assert "Traceback" not in served.log.read_text(errors="replace")


@pytest.fixture(scope="module")
def token(pg_url: str, server: Served) -> str:
    db = Database(pg_url)
    try:
        with db.session() as s:
            users = CrmServices(s, Actor.system("test")).users
            user = users.create({"email": "admin@workers.example", "name": "Admin", "role": "admin"})
            return users.issue_token(user.id)
    finally:
        db.dispose()


def test_two_workers_serve_one_port_and_the_jobs_run_in_one(server: Served, pg_url: str, token: str) -> None:
    pids = server.worker_pids()
    assert len(pids) == 2 and server.proc.pid not in pids
    holders = wait_for(lambda: lock_holders(pg_url))
    assert list(holders) in ([pids[0]], [pids[1]])  # api-only: the retention schedule, in one worker
    statuses = asyncio.run(create_contacts(server.url, token, "both", 40))
    assert set(statuses.values()) == {201}
    emails, unaudited = stored(pg_url, "both")
    assert emails == set(statuses) and unaudited == 0


def test_kill_9_of_a_worker_the_other_serves_on_and_it_is_replaced(
    server: Served, pg_url: str, token: str
) -> None:
    holders = wait_for(lambda: lock_holders(pg_url))
    (victim,) = holders  # the worker running the retention job
    survivor = next(p for p in server.worker_pids() if p != victim)

    async def load_and_kill() -> tuple[dict[str, int], dict[str, int]]:
        load = asyncio.create_task(create_contacts(server.url, token, "kill", 300))
        await asyncio.sleep(0.3)
        os.kill(victim, signal.SIGKILL)
        during = await load
        after = await create_contacts(server.url, token, "after-kill", 40)
        return during, after

    during, after = asyncio.run(load_and_kill())
    assert set(after.values()) == {201}, after  # the survivor (and the replacement) serve on
    assert set(during.values()) <= {
        201,
        0,
    }  # a request the killed worker held fails as a connection, never a 5xx
    emails, unaudited = stored(pg_url, "kill")
    assert {e for e, s in during.items() if s == 201} <= emails and unaudited == 0  # no partial write
    new = server.wait_workers(2, not_in={victim})
    assert survivor in new
    # the retention job moves to a live worker: PostgreSQL dropped the dead one's lock with its connection
    moved = wait_for(lambda: (h := lock_holders(pg_url)) and victim not in h and h)
    assert len(moved) == 1 and next(iter(moved)) in new


def test_sigterm_stops_every_worker(pg_url: str, tmp_path: Path) -> None:
    served = Served.start(pg_url, workers=2, log=tmp_path / "serve.log")
    pids = served.wait_workers(2)
    assert served.stop() == 0
    for pid in pids:
        assert (
            not Path(f"/proc/{pid}").exists() or "zombie" in Path(f"/proc/{pid}/status").read_text().lower()
        )
    assert "Traceback" not in served.log.read_text(errors="replace")


def test_several_workers_refuse_sqlite(tmp_path: Path) -> None:
    with pytest.raises(RuntimeError, match="needs PostgreSQL"):
        Served.start(f"sqlite:///{tmp_path / 'one.db'}", workers=2, log=tmp_path / "serve.log")
