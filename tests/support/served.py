"""``crm-assistant serve`` as a real subprocess on a PostgreSQL database of its own (worker and fault tests).

    with private_postgres("workers") as url:
        server = Served.start(url, workers=2)        # waits for the banner
        ...; server.stop()

``create_contacts`` drives the REST API from concurrent clients, ``stored`` reads back what was written (and
whether each contact has its audit entry). ``Served.worker_pids()`` are the forked workers (children of the supervisor); ``lock_holders()`` which
process holds which job lock (``assistant/leader.py`` names its connection ``crm-job-locks/<pid>``).
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import aiohttp
import psutil
from sqlalchemy import create_engine, select, text
from sqlalchemy.engine import make_url

from crm_store.db import Database
from crm_store.models import AuditEntry, Contact

ROOT = Path(__file__).resolve().parents[2]
PG_URL = os.environ.get("CRM_TEST_POSTGRES_URL", "postgresql://postgres@127.0.0.1:5432/crm_test")


@contextlib.contextmanager
def private_postgres(suffix: str) -> Iterator[str]:
    """A fresh, empty PostgreSQL database for one test module (``serve`` migrates it); dropped after."""
    base = make_url(Database(PG_URL).url)
    name = f"{base.database or 'crm_test'}_{suffix}_{os.getpid()}"
    admin = create_engine(base, isolation_level="AUTOCOMMIT", connect_args={"connect_timeout": 5})
    with admin.connect() as conn:
        conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        conn.execute(text(f'CREATE DATABASE "{name}"'))
    try:
        yield base.set(database=name).render_as_string(hide_password=False)
    finally:
        with admin.connect() as conn:
            conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()


@dataclass
class Served:
    proc: subprocess.Popen[bytes]
    url: str
    log: Path

    @classmethod
    def start(
        cls, db_url: str, *, workers: int, log: Path, api_only: bool = True, env: dict[str, str] | None = None
    ) -> Served:
        cmd = [sys.executable, "-m", "assistant.cli.main", "serve", "--db", db_url, "--port", "0"]
        cmd += ["--workers", str(workers)] + (["--api-only"] if api_only else [])
        environ = {**os.environ, "PYTHONPATH": str(ROOT), "CRM_RETENTION_SCHEDULE": "daily", **(env or {})}
        proc = subprocess.Popen(
            cmd, cwd=ROOT, env=environ, stdout=subprocess.PIPE, stderr=log.open("ab"), start_new_session=True
        )
        assert proc.stdout is not None
        line = proc.stdout.readline().decode()  # the banner, or EOF when the start failed
        if "listening on http://" not in line:
            proc.kill()
            proc.wait()
            raise RuntimeError(f"serve did not start: {line!r}\n{log.read_text(errors='replace')[-3000:]}")
        return cls(proc, line.split("listening on ", 1)[1].split()[0], log)

    def worker_pids(self) -> list[int]:
        try:
            return sorted(p.pid for p in psutil.Process(self.proc.pid).children())
        except psutil.NoSuchProcess:
            return []

    def wait_workers(self, n: int, *, not_in: set[int] = frozenset(), timeout: float = 30.0) -> list[int]:  # type: ignore[assignment]
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            pids = self.worker_pids()
            if len(pids) == n and not set(pids) & not_in:
                return pids
            time.sleep(0.1)
        raise AssertionError(f"expected {n} workers (not {not_in}), have {self.worker_pids()}")

    def stop(self) -> int:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(60)
            except subprocess.TimeoutExpired:
                os.killpg(self.proc.pid, signal.SIGKILL)
                self.proc.wait()
        return self.proc.returncode


def lock_holders(db_url: str) -> dict[int, int]:
    """``{worker pid: advisory locks held}`` for the job-lock connections on ``db_url``'s database."""
    engine = create_engine(Database(db_url).url, isolation_level="AUTOCOMMIT")
    try:
        with engine.connect() as conn:
            rows = conn.execute(
                text(
                    "SELECT a.application_name, count(*) FROM pg_locks l JOIN pg_stat_activity a ON a.pid = l.pid "
                    "WHERE l.locktype = 'advisory' AND l.granted AND a.datname = current_database() "
                    "GROUP BY a.application_name"
                )
            ).all()
    finally:
        engine.dispose()
    out: dict[int, int] = {}
    for name, count in rows:
        if str(name).startswith("crm-job-locks/"):
            out[int(str(name).rsplit("/", 1)[1])] = int(count)
    return out


def terminate_backends(db_url: str) -> int:
    """``pg_terminate_backend`` on every other connection to ``db_url``'s database; how many were ended."""
    engine = create_engine(Database(db_url).url, isolation_level="AUTOCOMMIT")
    try:
        with engine.connect() as conn:
            return len(
                conn.execute(
                    text(
                        "SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
                        "WHERE datname = current_database() AND pid <> pg_backend_pid()"
                    )
                ).all()
            )
    finally:
        engine.dispose()


def wait_for(check: object, timeout: float = 20.0) -> object:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = check()  # type: ignore[operator]
        if value:
            return value
        time.sleep(0.1)
    raise AssertionError(f"not within {timeout} s: {check}")


async def create_contacts(url: str, token: str, tag: str, n: int, *, clients: int = 8) -> dict[str, int]:
    """POST ``n`` contacts from ``clients`` concurrent clients (new connections each); ``{email: status}``
    (0: the connection failed)."""
    statuses: dict[str, int] = {}
    queue: asyncio.Queue[str] = asyncio.Queue()
    for i in range(n):
        queue.put_nowait(f"{tag}-{i}@load.example")

    async def client() -> None:
        timeout = aiohttp.ClientTimeout(total=30)
        headers = {"Authorization": f"Bearer {token}", "Connection": "close"}
        async with aiohttp.ClientSession(timeout=timeout, headers=headers) as http:
            while not queue.empty():
                email = queue.get_nowait()
                body = {"first_name": "Load", "last_name": tag, "email": email}
                try:
                    async with http.post(f"{url}/api/v1/contacts", json=body) as res:
                        await res.read()
                        statuses[email] = res.status
                except (aiohttp.ClientError, TimeoutError):
                    statuses[email] = 0

    await asyncio.gather(*(client() for _ in range(clients)))
    return statuses


def stored(pg_url: str, tag: str) -> tuple[set[str], int]:
    """The e-mail addresses stored for ``tag`` and how many of those contacts have no audit entry."""
    db = Database(pg_url)
    try:
        with db.session() as s:
            rows = s.execute(select(Contact).where(Contact.last_name == tag)).scalars().all()
            ids = {str(r.id) for r in rows}
            audited = set(
                s.execute(
                    select(AuditEntry.entity_id).where(
                        AuditEntry.entity == "contact", AuditEntry.action == "create"
                    )
                ).scalars()
            )
            return {str(r.email) for r in rows}, len(ids - audited)
    finally:
        db.dispose()
