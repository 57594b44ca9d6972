"""The server answers while the assistant warms up: /health says "warming_up" with an estimate, the chat
refuses politely with 503, code ``warming_up`` and Retry-After, then answers once the assistant is built.
And training reports its phases to the warm-up state and leaves their timings for the next estimate."""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import pytest
from aiohttp import web
from aiohttp.test_utils import TestClient

from assistant.app import build_assistant, load_nlu
from assistant.runtime import FACTORY_KEY, IN_BACKGROUND_KEY, WarmUp
from assistant.server import build_app
from assistant.settings import Settings
from connectors import web_chat
from crm_store.db import Database
from nlu import model_store
from nlu.progress import LOADING, PHASES
from tests.support.fake_nlu import ScriptedNLU

AClient = Callable[[web.Application], Awaitable[TestClient]]
FIXTURE = Path(__file__).parents[1] / "fixtures" / "nlu"
SENDER = "0f3a9c2e7b1d4a6f8e5c3b2a1d0e9f8c"


async def _health(client: TestClient) -> tuple[int, dict[str, Any]]:
    async with client.get("/health") as resp:
        return resp.status, await resp.json()


async def test_health_and_chat_while_warming_up_then_ready(
    sqlite_db: Database, aiohttp_client: AClient
) -> None:
    release = threading.Event()

    def slow_factory(db: Database, _settings: Settings) -> Any:
        assert release.wait(30)
        return build_assistant(db, ScriptedNLU({"hello there": ("greet", [])}))

    app = build_app(Settings.from_env({}, database_url=sqlite_db.url), db=sqlite_db, extra=[web_chat.install])
    app[FACTORY_KEY] = slow_factory
    app[IN_BACKGROUND_KEY] = True
    client = await aiohttp_client(app)  # start-up returns at once: the assistant builds in the background

    status, body = await _health(client)
    assert status == 200 and body["status"] == "warming_up" and body["database"] == "ok"
    assert body["assistant"]["state"] == "warming_up" and body["assistant"]["eta_seconds"] >= 1

    for lang, word in (("en", "warming up"), ("de", "startet noch")):
        res = await client.post(
            "/webhooks/rest/webhook",
            json={"sender": SENDER, "message": "hello there"},
            headers={"Accept-Language": lang},
        )
        refusal = await res.json()
        assert res.status == 503 and refusal["code"] == "warming_up" and word in refusal["error"]
        assert 1 <= int(res.headers["Retry-After"]) == refusal["retry_after"] <= 10

    release.set()
    for _ in range(200):
        status, body = await _health(client)
        if body["assistant"]["state"] == "ready":
            break
        await asyncio.sleep(0.05)
    assert status == 200 and body == {"status": "ok", "database": "ok", "assistant": {"state": "ready"}}
    res = await client.post("/webhooks/rest/webhook", json={"sender": SENDER, "message": "hello there"})
    assert res.status == 200 and "help" in (await res.json())[0]["text"]


async def test_a_failed_start_is_degraded_and_the_chat_says_unavailable(
    sqlite_db: Database, aiohttp_client: AClient
) -> None:
    def broken(_db: Database, _settings: Settings) -> Any:
        raise OSError("/secret/path/model.onnx: no space left on device")

    app = build_app(Settings.from_env({}, database_url=sqlite_db.url), db=sqlite_db, extra=[web_chat.install])
    app[FACTORY_KEY] = broken
    app[IN_BACKGROUND_KEY] = True
    client = await aiohttp_client(app)
    for _ in range(200):
        status, body = await _health(client)
        if body["assistant"]["state"] != "warming_up":
            break
        await asyncio.sleep(0.05)
    assert status == 200 and body["status"] == "degraded" and body["assistant"] == {"state": "failed"}
    res = await client.post("/webhooks/rest/webhook", json={"sender": SENDER, "message": "hi"})
    text = await res.text()
    assert res.status == 503 and "unavailable" in text and "secret" not in text  # no internals leak


def test_training_reports_its_phases_and_keeps_their_timings(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("CRM_EMBEDDING_MODEL", "hashing")
    warmup = WarmUp()
    warmup.plan(PHASES)
    heard: list[tuple[str, float]] = []

    def hook(phase: str, fraction: float) -> None:
        heard.append((phase, fraction))
        warmup.hook(phase, fraction)

    load_nlu(tmp_path, FIXTURE, hook=hook)
    phases = [phase for phase, _ in heard]
    assert phases[0] == "embedding" and phases[-1] == LOADING
    assert [p for p in dict.fromkeys(phases)] == list(PHASES)
    ner_fractions = [f for p, f in heard if p == "entities" and f > 0]
    assert ner_fractions and ner_fractions == sorted(ner_fractions) and ner_fractions[-1] == 1.0
    status = warmup.as_dict()
    assert status["phase"] == LOADING and 0 < status["progress"] < 1

    metadata = model_store.read_metadata(tmp_path)
    assert metadata is not None and {"embedding", "intents", "entities"} <= set(metadata.phase_seconds)
    # the next start with this model only loads it, and expects what the last training measured
    later = WarmUp()
    heard.clear()
    load_nlu(tmp_path, FIXTURE, hook=hook)
    assert [p for p, _ in heard] == [LOADING]
    later.plan(PHASES, metadata.phase_seconds)
    assert later.estimate.expected["entities"] == max(0.1, metadata.phase_seconds["entities"])
