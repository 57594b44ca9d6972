"""Rasa-SDK's action server with our actions: what a real Rasa server calls at /webhook.

The action server trusts no speaker it cannot verify: the speaker must arrive as a seal made with the shared
``CRM_SECRET_KEY`` for the tracker's conversation (:mod:`assistant.speaker_seal`). The attack tests post to it
the way someone who reached Rasa's REST webhook directly could make Rasa post to it.
"""

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
from click.testing import CliRunner

from actions.server import build_action_server
from assistant import speaker_seal
from assistant.cli.main import cli
from assistant.messages import speaker_dict
from crm_store.db import Database
from crm_store.services import Actor, CrmServices

TOKEN = "s3cret"
SECRET_KEY = "action-server-test-key"
SENDER = "web:customer:anonymous/3f9c2a7d51e04b8c9a1f6e2d7c0b4a55"  # Rasa's sender id = our conversation key
ADMIN = Actor(kind="user", id=1, role="admin", team_id=None, name="Ada Admin", language="en", timezone="UTC")
REP = Actor(kind="user", id=1, role="rep", team_id=None, name="R", language="en", timezone="UTC")


def _call(action: str, metadata: dict[str, Any], sender: str = SENDER) -> dict[str, Any]:
    return {
        "next_action": action, "sender_id": sender, "version": "3.6.21",
        "tracker": {"sender_id": sender, "slots": {"language": "en"},
                    "latest_message": {"text": "/help", "intent": {"name": "help"}, "entities": [],
                                       "metadata": metadata},
                    "events": [], "paused": False, "followup_action": None, "active_loop": {},
                    "latest_action_name": "action_listen"},
        "domain": {"responses": {}, "slots": {}, "forms": {}},
    }


def _sealed(actor: Actor, conversation: str = SENDER, **kwargs: Any) -> dict[str, Any]:
    """Metadata as RasaEngine sends it: the seal, made with the key the action server shares."""
    speaker_seal.configure(SECRET_KEY)
    return {"channel": "web", speaker_seal.METADATA_KEY: speaker_seal.seal(actor, conversation, **kwargs)}


@pytest.fixture
def server(sqlite_db: Database) -> Iterator[str]:
    """``crm-assistant actions serve`` in its own process, on a free loopback port."""
    with sqlite_db.session() as s:
        CrmServices(s, Actor.system("t")).users.create({"email": "r@x.example", "name": "R", "role": "rep"})
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    env = {**os.environ, "CRM_ACTION_TOKEN": TOKEN, "CRM_SECRET_KEY": SECRET_KEY}
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
    if proc.stdout:
        proc.stdout.close()


async def _responses(http: aiohttp.ClientSession, server: str, call: dict[str, Any]) -> list[str]:
    async with http.post(f"{server}/webhook?token={TOKEN}", json=call) as res:
        assert res.status == 200, await res.text()
        return [r.get("response") for r in (await res.json())["responses"]]


async def test_actions_run_over_http_with_the_token_and_a_sealed_speaker(server: str) -> None:
    async with aiohttp.ClientSession() as http:
        assert await _responses(http, server, _call("action_help", _sealed(REP))) == ["utter_help_staff"]
        for url in (f"{server}/webhook", f"{server}/webhook?token=wrong"):
            async with http.post(url, json=_call("action_help", _sealed(REP))) as res:
                assert res.status == 401


async def test_attack_unsigned_or_forged_speaker_metadata_is_an_anonymous_customer(server: str) -> None:
    """Attack: what anyone reaching Rasa's REST webhook could put in ``metadata`` reaches the action server;
    a staff-only action must answer "not allowed" and help must be the customer's, for every variant."""
    admin = speaker_dict(ADMIN)
    speaker_seal.configure("some-other-key")
    foreign_key_seal = speaker_seal.seal(ADMIN, SENDER)
    good = _sealed(ADMIN)[speaker_seal.METADATA_KEY]
    version, body, signature = good.split(".")
    attacks: dict[str, dict[str, Any]] = {
        "plain speaker, no seal": {"speaker": admin, "channel": "web"},
        "plain speaker, empty seal": {"speaker": admin, speaker_seal.METADATA_KEY: ""},
        "seal signed with another key": {"speaker": admin, speaker_seal.METADATA_KEY: foreign_key_seal},
        "seal with a tampered signature": {speaker_seal.METADATA_KEY: f"{version}.{body}.{signature[::-1]}"},
        "seal with a non-ASCII signature": {speaker_seal.METADATA_KEY: f"{version}.{body}.ü{signature[1:]}"},
        "seal not a string": {speaker_seal.METADATA_KEY: {"s": admin}},
        "seal of another conversation": _sealed(ADMIN, conversation="web:user:1/other-conversation"),
        "expired seal": _sealed(ADMIN, now=time.time() - speaker_seal.TTL_SECONDS - 5),
    }
    async with aiohttp.ClientSession() as http:
        for name, metadata in attacks.items():
            assert await _responses(http, server, _call("action_pipeline_status", metadata)) == [
                "utter_not_allowed"
            ], name
            assert await _responses(http, server, _call("action_help", metadata)) == ["utter_help_customer"], name
        # the control: the same admin, sealed for this very conversation, is an admin
        assert await _responses(http, server, _call("action_help", _sealed(ADMIN))) == ["utter_help_staff"]


def test_the_action_server_refuses_to_start_without_a_token_or_a_secret_key(sqlite_db: Database) -> None:
    with pytest.raises(ValueError, match="token"):
        build_action_server(sqlite_db, token="", secret_key=SECRET_KEY)
    with pytest.raises(ValueError, match="CRM_SECRET_KEY"):
        build_action_server(sqlite_db, token=TOKEN, secret_key="")
    runner = CliRunner()
    env = {"CRM_ACTION_TOKEN": TOKEN, "CRM_SECRET_KEY": ""}
    result = runner.invoke(cli, ["actions", "serve", "--db", sqlite_db.url], env=env)
    assert result.exit_code != 0 and "CRM_SECRET_KEY" in result.output
    result = runner.invoke(cli, ["actions", "serve", "--db", sqlite_db.url], env={"CRM_ACTION_TOKEN": ""})
    assert result.exit_code != 0 and "CRM_ACTION_TOKEN" in result.output
