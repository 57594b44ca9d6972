"""/health and the API when the store is up, down (PostgreSQL on a closed port, SQLite directory gone),
and ``crm-assistant serve`` started and stopped by signals. No mocks: real servers, real failures."""

from __future__ import annotations

import asyncio
import json
import os
import shutil
import signal
import sys
from collections.abc import Awaitable, Callable
from pathlib import Path

import pytest
from aiohttp import ClientSession, web
from aiohttp.test_utils import TestClient

from assistant.server import build_app
from assistant.settings import Settings
from crm_store.db import Database
from crm_store.services import Actor, CrmServices

AClient = Callable[[web.Application], Awaitable[TestClient]]
ROOT = Path(__file__).resolve().parents[2]


def admin_token(db: Database) -> str:
    with db.session() as s:
        users = CrmServices(s, Actor.system("test")).users
        return users.issue_token(
            users.create({"email": "admin@x.example", "name": "Admin", "role": "admin"}).id
        )


async def test_health_is_ok_when_the_store_answers(db: Database, aiohttp_client: AClient) -> None:
    client = await aiohttp_client(build_app(Settings(database_url=db.url), db=db))
    async with client.get("/health") as resp:
        assert resp.status == 200
        assert await resp.json() == {"status": "ok", "database": "ok"}


async def assert_store_down(client: TestClient, token: str) -> None:
    async with client.get("/health") as resp:
        assert resp.status == 503 and (await resp.json())["database"] != "ok"
    auth = {"Authorization": f"Bearer {token}"}
    for method, path, body in [
        ("GET", "/api/v1/contacts", None),
        ("GET", "/api/v1/deals/1", None),
        ("POST", "/api/v1/contacts", {"last_name": "Lost"}),
        ("PATCH", "/api/v1/deals/1", {"stage": "won"}),
    ]:
        async with client.request(method, path, json=body, headers=auth) as resp:
            text = await resp.text()
            assert resp.status == 503, text
            assert resp.content_type == "application/problem+json" and resp.headers["Retry-After"]
            problem = json.loads(text)
            assert (
                problem["type"] == "/problems/store-unavailable"
                and "nothing was changed" in problem["detail"]
            )
            assert "127.0.0.1" not in text and "sqlite" not in text.lower()  # no internals


async def test_postgres_on_a_closed_port_gives_503(aiohttp_client: AClient) -> None:
    url = "postgresql://postgres@127.0.0.1:1/crm"
    client = await aiohttp_client(
        build_app(Settings(database_url=url))
    )  # the app makes and disposes the store
    await assert_store_down(client, "crm_some-token-we-cannot-check")


async def test_sqlite_in_a_removed_directory_gives_503_and_writes_nothing(
    tmp_path: Path, sqlite_template: Path, aiohttp_client: AClient
) -> None:
    folder = tmp_path / "store"
    folder.mkdir()
    shutil.copy(sqlite_template, folder / "crm.db")
    url = f"sqlite:///{folder / 'crm.db'}"
    live = Database(url)
    token = admin_token(live)
    client = await aiohttp_client(build_app(Settings(database_url=url), db=live))
    async with client.get("/api/v1/contacts", headers={"Authorization": f"Bearer {token}"}) as resp:
        assert resp.status == 200
    live.dispose()  # close pooled connections: an open handle would keep the deleted file alive
    shutil.rmtree(folder)
    await assert_store_down(client, token)
    assert not folder.exists()


@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGINT])
async def test_serve_migrates_answers_and_stops_cleanly_on_a_signal(
    tmp_path: Path, sig: signal.Signals
) -> None:
    # `serve` as registered on a click group: the real command, without the connectors' (NLU's) start-up time.
    script = (
        "import click; from assistant.cli.server_cmds import register; "
        "group = click.Group(); register(group); group(prog_name='crm-assistant')"
    )
    url = f"sqlite:///{tmp_path / 'served.db'}"
    proc = await asyncio.create_subprocess_exec(
        sys.executable,
        "-c",
        script,
        "serve",
        "--db",
        url,
        "--port",
        "0",
        "--api-only",
        cwd=ROOT,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
        env={**os.environ, "PYTHONPATH": str(ROOT)},
    )
    assert proc.stdout is not None and proc.stderr is not None
    try:
        banner = (await asyncio.wait_for(proc.stdout.readline(), 120)).decode()
        assert "listening on http://" in banner, (await proc.stderr.read()).decode()
        base = banner.split("listening on ", 1)[1].split()[0]
        async with ClientSession() as http:
            async with http.get(f"{base}/health") as resp:
                assert resp.status == 200
            async with http.get(f"{base}/api/v1/contacts") as resp:
                assert resp.status == 401
        proc.send_signal(sig)
        assert await asyncio.wait_for(proc.wait(), 30) == 0
        assert b"Traceback" not in await proc.stderr.read()
    finally:
        if proc.returncode is None:
            proc.kill()
            await proc.wait()
