"""Faults under load on ``crm-assistant serve --workers 2`` (real processes, PostgreSQL, loopback).

- Every connection of the workers is ended with ``pg_terminate_backend`` while REST writes and chat
  turns are in flight: each request is answered (200/201, or 503 when its unit of work lost the
  connection), nothing partial is stored (a created contact always has its audit entry, a 503 stored
  nothing, a conversation holds exactly the turns that were answered), the job lock is taken again by
  one worker, and the next requests succeed.
- 50 messages sent at once to one conversation, spread over both workers, become 50 turns.
- A kill -9 of a worker: the other answers every following message; the supervisor starts a new one.
- The database goes away (a TCP proxy in front of it is switched off): /health answers 503 on every
  worker, writes are refused with 503 and store nothing, the job lock is gone; when it comes back every
  worker answers 200 within 5 s and one worker takes the jobs again.

The chat server loads the trained model from ``CRM_TEST_MODEL_DIR`` (else it trains one: slow).
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import threading
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import aiohttp
import pytest
from sqlalchemy import select

from crm_store.db import Database
from crm_store.models import Conversation, ConversationEvent
from tests.support.served import (
    Served,
    create_contacts,
    lock_holders,
    private_postgres,
    stored,
    terminate_backends,
    wait_for,
)
from tests.support.tcp_proxy import TcpProxy

pytestmark = [pytest.mark.postgres, pytest.mark.faults]

WEBHOOK = "/webhooks/rest/webhook"


@pytest.fixture(scope="module")
def pg_url() -> Iterator[str]:
    try:
        with private_postgres("faults") as url:
            yield url
    except Exception as exc:
        pytest.skip(f"PostgreSQL not usable ({type(exc).__name__})")


@pytest.fixture(scope="module")
def chat_server(pg_url: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Served]:
    model_dir = os.environ.get("CRM_TEST_MODEL_DIR") or str(tmp_path_factory.mktemp("models"))
    env = {"CRM_MODEL_DIR": model_dir, "CRM_CHAT_RATE": "1000", "CRM_CHAT_BURST": "1000"}
    served = Served.start(
        pg_url, workers=2, api_only=False, env=env, log=tmp_path_factory.mktemp("faults") / "serve.log"
    )
    try:
        served.wait_workers(2)
        yield served
    finally:
        code = served.stop()
        assert code == 0, served.log.read_text(errors="replace")[-3000:]


def admin_token(pg_url: str, email: str) -> str:
    from crm_store.services import Actor, CrmServices

    db = Database(pg_url)
    try:
        with db.session() as s:
            users = CrmServices(s, Actor.system("test")).users
            return users.issue_token(users.create({"email": email, "name": "Admin", "role": "admin"}).id)
    finally:
        db.dispose()


@pytest.fixture(scope="module")
def token(pg_url: str, chat_server: Served) -> str:
    return admin_token(pg_url, "admin@faults.example")


def turns_of(pg_url: str, senders: list[str]) -> dict[str, tuple[int, int]]:
    """``{sender: (turns counted on the row, user messages among its events)}``."""
    db = Database(pg_url)
    try:
        with db.session() as s:
            out: dict[str, tuple[int, int]] = {}
            keyed = {
                f"customer:anonymous/{sender}": sender for sender in senders
            }  # the web chat keys by speaker too
            rows = s.execute(select(Conversation).where(Conversation.sender_id.in_(keyed))).scalars()
            for conv in rows:
                events = s.execute(
                    select(ConversationEvent.event).where(ConversationEvent.conversation_id == conv.id)
                ).scalars()
                users = sum(1 for e in events if isinstance(e, dict) and e.get("event") == "user")
                out[keyed[conv.sender_id]] = (conv.turns or 0, users)
            return out
    finally:
        db.dispose()


async def chat(url: str, sender: str, texts: list[str], *, concurrent: bool = False) -> list[int]:
    """Send ``texts`` as ``sender`` (one after another, or all at once on new connections); the statuses."""
    timeout = aiohttp.ClientTimeout(total=60)

    async def one(http: aiohttp.ClientSession, text: str) -> int:
        try:
            async with http.post(url + WEBHOOK, json={"sender": sender, "message": text}) as res:
                body = await res.json(content_type=None)
                if res.status == 200:
                    assert isinstance(body, list) and all(r.get("recipient_id") == sender for r in body)
                return res.status
        except (aiohttp.ClientError, TimeoutError):
            return 0

    async with aiohttp.ClientSession(timeout=timeout, headers={"Connection": "close"}) as http:
        if concurrent:
            return list(await asyncio.gather(*(one(http, t) for t in texts)))
        return [await one(http, t) for t in texts]


def terminate_repeatedly(pg_url: str, times: int, every: float, stop: threading.Event) -> list[int]:
    ended: list[int] = []
    for _ in range(times):
        if stop.wait(every):
            break
        ended.append(terminate_backends(pg_url))
    return ended


def test_terminated_connections_mid_load_leave_no_partial_write(
    chat_server: Served, pg_url: str, token: str
) -> None:
    senders = [str(uuid.uuid4()) for _ in range(12)]
    texts = ["/greet", "/affirm", "/deny", "/greet", "/affirm", "/deny", "/greet", "/affirm"]
    stop = threading.Event()
    ended: list[int] = []

    async def run() -> tuple[dict[str, int], list[list[int]]]:
        killer = threading.Thread(target=lambda: ended.extend(terminate_repeatedly(pg_url, 3, 0.4, stop)))
        killer.start()
        try:
            rest = asyncio.create_task(create_contacts(chat_server.url, token, "terminated", 200))
            turns = await asyncio.gather(*(chat(chat_server.url, s, texts) for s in senders))
            return await rest, list(turns)
        finally:
            stop.set()
            await asyncio.to_thread(killer.join)

    statuses, chats = asyncio.run(run())
    assert sum(ended) > 0  # the workers' connections were ended while the load ran
    assert set(statuses.values()) <= {201, 503}, statuses
    emails, unaudited = stored(pg_url, "terminated")
    assert unaudited == 0
    assert emails == {e for e, s in statuses.items() if s == 201}  # a 503 stored nothing
    for answered in chats:
        assert set(answered) <= {200, 503}, answered
    stored_turns = turns_of(pg_url, senders)
    for sender, answered in zip(senders, chats, strict=True):
        ok = answered.count(200)
        turns, user_events = stored_turns.get(sender, (0, 0))
        assert turns == ok and user_events == ok, (sender, answered, turns, user_events)
    # service recovers: the job lock is held again by one live worker, and new requests succeed
    holders = wait_for(lambda: lock_holders(pg_url))
    assert len(holders) == 1 and next(iter(holders)) in chat_server.worker_pids()
    after = asyncio.run(create_contacts(chat_server.url, token, "after-terminate", 20))
    assert set(after.values()) == {201}


def test_fifty_messages_at_once_to_one_conversation_become_fifty_turns(
    chat_server: Served, pg_url: str
) -> None:
    sender = str(uuid.uuid4())
    statuses = asyncio.run(chat(chat_server.url, sender, ["/greet"] * 50, concurrent=True))
    assert statuses == [200] * 50
    assert turns_of(pg_url, [sender])[sender] == (50, 50)


def test_chat_goes_on_after_a_worker_is_killed(chat_server: Served, pg_url: str, tmp_path: Path) -> None:
    import signal

    sender = str(uuid.uuid4())
    victim = chat_server.worker_pids()[0]
    os.kill(victim, signal.SIGKILL)
    deadline = time.monotonic() + 60
    statuses: list[int] = []
    while time.monotonic() < deadline and len(statuses) < 10:
        statuses += asyncio.run(chat(chat_server.url, sender, ["/greet"]))
    assert (
        statuses == [200] * 10
    )  # the other worker answers at once; a connection is never sent to the dead one
    chat_server.wait_workers(2, not_in={victim}, timeout=120)
    assert turns_of(pg_url, [sender])[sender] == (10, 10)


@pytest.fixture
def proxied(tmp_path: Path) -> Iterator[tuple[Served, TcpProxy, str, str]]:
    """Two api-only workers on a database of their own, reached through a TCP proxy the test switches
    off and on; with the store's direct URL and an admin token."""
    from sqlalchemy.engine import make_url

    with private_postgres("proxied") as pg_url:
        url = make_url(pg_url)
        with TcpProxy(url.host or "127.0.0.1", url.port or 5432) as proxy:
            via_proxy = url.set(host="127.0.0.1", port=proxy.port).render_as_string(hide_password=False)
            served = Served.start(via_proxy, workers=2, log=tmp_path / "serve.log")
            try:
                served.wait_workers(2)
                yield served, proxy, pg_url, admin_token(pg_url, "admin@proxied.example")
            finally:
                with contextlib.suppress(OSError):  # already up unless the test failed while it was down
                    proxy.up()  # a clean stop needs the database
                assert served.stop() == 0, served.log.read_text(errors="replace")[-3000:]


async def health_round(url: str, n: int = 8) -> list[int]:
    """``n`` /health requests, each on a new connection (so both workers answer some)."""
    timeout = aiohttp.ClientTimeout(total=10)
    async with aiohttp.ClientSession(timeout=timeout, headers={"Connection": "close"}) as http:

        async def one() -> int:
            try:
                async with http.get(f"{url}/health") as res:
                    return res.status
            except (aiohttp.ClientError, TimeoutError):
                return 0

        return list(await asyncio.gather(*(one() for _ in range(n))))


def test_health_is_503_while_the_database_is_away_and_service_recovers_within_5_s(
    proxied: tuple[Served, TcpProxy, str, str],
) -> None:
    served, proxy, pg_url, token = proxied
    assert asyncio.run(health_round(served.url)) == [200] * 8
    holders_before = wait_for(lambda: lock_holders(pg_url))
    proxy.down()
    assert wait_for(lambda: asyncio.run(health_round(served.url)) == [503] * 8, timeout=30)
    writes = asyncio.run(create_contacts(served.url, token, "away", 8, clients=4))
    assert set(writes.values()) == {503}  # refused, not half-done
    assert stored(pg_url, "away") == (set(), 0)
    assert lock_holders(pg_url) == {}  # the job-lock connection went with the database
    proxy.up()
    back = time.monotonic()
    while asyncio.run(health_round(served.url)) != [200] * 8:
        assert time.monotonic() - back < 5.0, "not recovered within 5 s of the database coming back"
        time.sleep(0.1)
    after = asyncio.run(create_contacts(served.url, token, "back", 20))
    assert set(after.values()) == {201}
    holders = wait_for(lambda: lock_holders(pg_url))  # one worker runs the jobs again
    assert len(holders) == 1 and set(holders) <= set(served.worker_pids()), (holders_before, holders)
