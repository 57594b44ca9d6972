"""Two web-chat servers on one PostgreSQL store: a conversation's turns stay in order, others run in parallel.

Each server is a ``build_app`` application in a thread of its own, with its own event loop, its own
``Database`` engine and its own ``Assistant`` (so its in-process conversation locks do not see the
other's): only PostgreSQL's row lock on the conversation keeps the two apart.

- Conversations whose user waits for each answer (a chat widget, a person), with a load balancer
  alternating between A and B, are stored strictly in send order, with no lost slot update.
- A test transaction holds conversation X's row lock while X's messages are sent, alternately to A and
  B, without waiting for answers; the other conversations finish meanwhile (different conversations run
  in parallel, X's turns wait). After the release X's turns run one at a time: each turn's events are
  contiguous, nothing is lost, and each server keeps the order in which it received X's messages.
  Between the two servers there is no common "send order" for messages that are in flight at the same
  time (whichever reaches the row lock first goes first), so that is not asserted.

Button payloads (``/greet{"email": ...}``) need no model.
"""

from __future__ import annotations

import asyncio
import threading
import time
from collections.abc import Callable, Iterator
from typing import Any

import aiohttp
import pytest
from aiohttp import web
from sqlalchemy import select, text

from assistant.app import build_assistant
from assistant.pipeline import Assistant
from assistant.runtime import ASSISTANT_KEY, FACTORY_KEY
from assistant.server import INSTALLERS, build_app
from assistant.settings import Settings
from connectors import web_chat
from crm_store.db import Database
from crm_store.models import Conversation, ConversationEvent
from tests.support.fake_nlu import ScriptedNLU

WEBHOOK = "/webhooks/rest/webhook"
X_MESSAGES = 8  # pipelined messages of the locked conversation, alternating between the servers
OTHERS = 6  # other conversations talking meanwhile
OTHER_MESSAGES = 5
WAIT = 10.0  # seconds, for anything that should happen promptly


class ServerThread:
    """A web-chat server (REST webhook, scripted NLU) in a thread with its own loop and engine."""

    def __init__(self, url: str) -> None:
        self.db = Database(url)
        self.base_url = ""
        self.app: web.Application | None = None
        self._ready = threading.Event()
        self._loop: asyncio.AbstractEventLoop | None = None
        self._stop: asyncio.Event | None = None
        self._error: BaseException | None = None
        self._thread = threading.Thread(target=self._run, daemon=True)

    def __enter__(self) -> ServerThread:
        self._thread.start()
        if not self._ready.wait(WAIT * 3) or self._error is not None:
            raise RuntimeError(f"server did not start: {self._error!r}")
        return self

    def __exit__(self, *_exc: object) -> None:
        if self._loop is not None and self._stop is not None:
            self._loop.call_soon_threadsafe(self._stop.set)
        self._thread.join(WAIT)
        self.db.dispose()

    @property
    def assistant(self) -> Assistant:
        assert self.app is not None
        return self.app[ASSISTANT_KEY]

    def _run(self) -> None:
        try:
            asyncio.run(self._serve())
        except BaseException as exc:  # reported by __enter__
            self._error = exc
            self._ready.set()

    async def _serve(self) -> None:
        self._loop = asyncio.get_running_loop()
        self._stop = asyncio.Event()
        settings = Settings.from_env({}, database_url=self.db.url, chat_rate=1000.0, chat_burst=1000)
        extra = [] if web_chat.install in INSTALLERS else [web_chat.install]
        self.app = build_app(settings, db=self.db, extra=extra)
        self.app[FACTORY_KEY] = lambda db, _settings: build_assistant(db, ScriptedNLU())
        runner = web.AppRunner(self.app)
        await runner.setup()
        try:
            site = web.TCPSite(runner, "127.0.0.1", 0)
            await site.start()
            host, port = runner.addresses[0][:2]
            self.base_url = f"http://{host}:{port}"
            self._ready.set()
            await self._stop.wait()
        finally:
            await runner.cleanup()


def queued_turns(server: ServerThread) -> int:
    """Turns waiting for this server's in-process conversation lock (white-box: asyncio.Lock's queue)."""
    return sum(len(lock._waiters or ()) for lock in list(server.assistant._locks.values()))


def waiting_on_row_locks(db: Database) -> int:
    with db.engine.connect() as conn:
        return int(
            conn.execute(
                text(
                    "SELECT count(*) FROM pg_stat_activity WHERE datname = current_database() AND wait_event_type = 'Lock'"
                )
            ).scalar_one()
        )


async def until(condition: Callable[[], bool], what: str) -> None:
    """Wait (bounded) for a condition another thread or process makes true."""
    deadline = time.monotonic() + WAIT
    while not await asyncio.to_thread(condition):
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        await asyncio.sleep(0.01)


def other_sender(i: int) -> str:
    """Anonymous sender ids must look random (connectors/web_chat.looks_random)."""
    return f"conv-{i}-5a8f3c7e1d9b2046"


def greet(conversation: str, n: int) -> str:
    return f'/greet{{"email": "{conversation}-{n}@example.org"}}'


async def say(
    http: aiohttp.ClientSession, server: ServerThread, sender: str, message: str
) -> list[dict[str, Any]]:
    async with http.post(server.base_url + WEBHOOK, json={"sender": sender, "message": message}) as res:
        assert res.status == 200, await res.text()
        replies = await res.json()
    assert replies and all(r["recipient_id"] == sender for r in replies), replies
    return replies


@pytest.fixture
def pg(db: Database) -> Database:
    if db.is_sqlite:
        pytest.skip("two servers sharing one store need PostgreSQL's row locks")
    return db


@pytest.fixture
def servers(pg: Database) -> Iterator[tuple[ServerThread, ServerThread]]:
    with ServerThread(pg.url) as a, ServerThread(pg.url) as b:
        yield a, b


def stored(db: Database, sender: str) -> tuple[Conversation, list[dict[str, Any]]]:
    with db.session() as s:
        conv = s.execute(
            select(Conversation).where(Conversation.sender_id.endswith("/" + sender))
        ).scalar_one()
        events = (
            s.execute(
                select(ConversationEvent.event)
                .where(ConversationEvent.conversation_id == conv.id)
                .order_by(ConversationEvent.id)
            )
            .scalars()
            .all()
        )
        return conv, list(events)


def user_turns(db: Database, sender: str, sent: list[str]) -> list[str]:
    """The stored user messages in processing order, after checking that no turn was lost or interleaved."""
    conv, events = stored(db, sender)
    users = [i for i, e in enumerate(events) if e["event"] == "user"]
    order = [events[i]["text"] for i in users]
    assert sorted(order) == sorted(sent), f"{sender}: stored turns {order} differ from the sent ones"
    # one turn's events are contiguous: each user event is followed by its own reply before the next one
    for start, end in zip(users, [*users[1:], len(events)], strict=True):
        assert any(e["event"] == "bot" for e in events[start:end]), f"{sender}: a turn without its reply"
    assert conv.turns == len(sent), f"{sender}: {conv.turns} turns counted, {len(sent)} sent (lost update)"
    last_email = order[-1].split('"email": "')[1].split('"')[0]
    assert conv.state["slots"].get("email") == last_email, f"{sender}: lost slot update"
    return order


@pytest.mark.parametrize("db", [pytest.param("postgres", marks=pytest.mark.postgres)], indirect=True)
async def test_two_servers_keep_each_conversation_in_order(
    pg: Database, servers: tuple[ServerThread, ServerThread]
) -> None:
    a, b = servers
    x = "conv-x-7c1e9f2a4b6d8e03"  # anonymous sender ids must look random (connectors/web_chat.looks_random)
    x_sent = [greet(x, 0)]
    async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=WAIT * 3)) as http:
        await say(http, a, x, x_sent[0])  # the conversation row exists now
        with pg.engine.connect() as locker:
            locker.execute(
                text("SELECT id FROM conversations WHERE sender_id LIKE :s FOR UPDATE"), {"s": f"%/{x}"}
            )

            # X: pipelined, alternating A/B; each message is queued (row lock or in-process lock) before the next
            x_tasks = []
            for n in range(1, X_MESSAGES + 1):
                server = a if n % 2 else b
                message = greet(x, n)
                x_sent.append(message)
                x_tasks.append(asyncio.create_task(say(http, server, x, message)))
                await until(
                    lambda n=n: waiting_on_row_locks(pg) + queued_turns(a) + queued_turns(b) >= n,
                    f"message {n} of {x} to be queued",
                )

            # meanwhile other conversations talk to both servers and finish while X waits
            async def other(i: int) -> list[str]:
                sender, sent = other_sender(i), []
                for n in range(OTHER_MESSAGES):
                    sent.append(greet(sender, n))
                    await say(http, a if (n + i) % 2 else b, sender, sent[-1])
                return sent

            started = time.monotonic()
            others = await asyncio.wait_for(asyncio.gather(*(other(i) for i in range(OTHERS))), WAIT)
            assert not any(t.done() for t in x_tasks), "a turn of X ran while its conversation was locked"
            assert time.monotonic() - started < WAIT
            locker.commit()
        await asyncio.wait_for(asyncio.gather(*x_tasks), WAIT)

    x_order = user_turns(pg, x, x_sent)
    for via_server in (x_sent[1::2], x_sent[2::2]):  # each server's messages, in the order it received them
        assert [m for m in x_order if m in via_server] == via_server, f"{x}: a server reordered its turns"
    for i, sent in enumerate(others):
        assert user_turns(pg, other_sender(i), sent) == sent, f"conv-{i}: turns out of send order"


class GatedNLU(ScriptedNLU):
    """Parses only once the test opens the gate, so a message can be held inside the NLU."""

    def __init__(self) -> None:
        super().__init__({"hello there": ("greet", [])})
        self.entered = threading.Event()
        self.gate = threading.Event()

    def parse_batch(self, texts: list[str], **kw: Any) -> Any:
        self.entered.set()
        if not self.gate.wait(WAIT):
            raise TimeoutError("gate never opened")
        return super().parse_batch(texts, **kw)


async def test_a_quick_button_click_does_not_overtake_the_text_before_it(sqlite_db: Database) -> None:
    from assistant.messages import IncomingMessage
    from crm_store.services import Actor

    nlu = GatedNLU()
    assistant = build_assistant(sqlite_db, nlu)
    who = Actor.customer(None)
    first = asyncio.create_task(assistant.handle(IncomingMessage("web", "anon/quick", "hello there", who)))
    assert await asyncio.to_thread(nlu.entered.wait, WAIT)
    second = asyncio.create_task(assistant.handle(IncomingMessage("web", "anon/quick", "/help", who)))
    done, _ = await asyncio.wait({second}, timeout=0.5)  # with the lock taken first, /help must wait
    nlu.gate.set()
    await asyncio.gather(first, second)
    _conv, events = stored(sqlite_db, "quick")
    assert not done and [e["text"] for e in events if e["event"] == "user"] == ["hello there", "/help"]
