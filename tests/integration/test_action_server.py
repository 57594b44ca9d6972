"""Rasa-SDK's action server with our actions: what a real Rasa server calls at /webhook."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from typing import Any

import aiohttp
import pytest

from actions.server import build_action_server
from crm_store.db import Database
from crm_store.services import Actor, CrmServices


def _call(action: str, speaker: dict[str, Any], slots: dict[str, Any] | None = None) -> dict[str, Any]:
    return {
        "next_action": action, "sender_id": "rasa-1", "version": "3.6.21",
        "tracker": {"sender_id": "rasa-1", "slots": {"language": "en", **(slots or {})},
                    "latest_message": {"text": "/help", "intent": {"name": "help"}, "entities": [],
                                       "metadata": {"speaker": speaker}},
                    "events": [], "paused": False, "followup_action": None, "active_loop": {},
                    "latest_action_name": "action_listen"},
        "domain": {"responses": {}, "slots": {}, "forms": {}},
    }


@pytest.fixture
def server(sqlite_db: Database) -> Iterator[str]:
    """``crm-assistant actions serve`` in its own process, on a free loopback port."""
    with sqlite_db.session() as s:
        CrmServices(s, Actor.system("t")).users.create({"email": "r@x.example", "name": "R", "role": "rep"})
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    env = {**os.environ, "CRM_ACTION_TOKEN": "s3cret"}
    proc = subprocess.Popen([sys.executable, "-m", "assistant.cli.main", "actions", "serve", "--db", sqlite_db.url,
                             "--port", str(port)], env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 90
    while time.monotonic() < deadline:
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=1):
                break
        except OSError:
            if proc.poll() is not None:
                raise RuntimeError(proc.stdout.read().decode() if proc.stdout else "action server died") from None
            time.sleep(0.3)
    yield url
    proc.terminate()
    proc.wait(20)


async def test_actions_run_over_http_with_the_token(server: str) -> None:
    speaker = {"kind": "user", "id": 1, "role": "rep", "language": "en"}
    async with aiohttp.ClientSession() as http:
        async with http.post(f"{server}/webhook?token=s3cret", json=_call("action_help", speaker)) as res:
            assert res.status == 200
            body = await res.json()
        assert body["responses"][0]["response"] == "utter_help_staff"
        for url in (f"{server}/webhook", f"{server}/webhook?token=wrong"):
            async with http.post(url, json=_call("action_help", {"kind": "customer"})) as res:
                assert res.status == 401


def test_the_action_server_refuses_to_start_without_a_token(sqlite_db: Database) -> None:
    with pytest.raises(ValueError, match="token"):
        build_action_server(sqlite_db, token="")
