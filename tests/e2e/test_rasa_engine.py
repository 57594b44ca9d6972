"""A real Rasa 3.6 server as the dialogue engine, running OUR domain and rules, calling OUR action server.

The slow tests build a tiny Rasa project from training_data/ (bench/rasa/make_project.py: 8 English examples
per intent, DIET 5 epochs, RulePolicy), train it once (cached under pytest's cache dir by a hash of its
inputs), start ``crm-assistant actions serve`` against a seeded SQLite store and ``rasa run --enable-api
--auth-token`` on free ports, and talk to Rasa through :class:`connectors.rasa_engine.RasaEngine`.
They need .rasa-venv (Python 3.10 + rasa 3.6.21); ``CRM_TEST_RASA=1`` builds it when it is missing.

The first test needs no Rasa: a fake Rasa server records what the engine sends.

The speaker crosses Rasa only as a seal (:mod:`assistant.speaker_seal`) made with ``CRM_SECRET_KEY``, which
this process and the action server share; the attack tests post to Rasa's REST webhook directly, as anyone who
can reach it could, claiming an admin or a customer in ``metadata``.
"""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from aiohttp import web
from sqlalchemy import func, select

from assistant import speaker_seal
from assistant.messages import IncomingMessage, speaker_dict
from assistant.runtime import ASSISTANT_KEY
from assistant.settings import Settings
from connectors.rasa_engine import RasaEngine
from crm_store.db import Database
from crm_store.models import Activity, Ticket
from crm_store.services import Actor, CrmServices
from tests.e2e.conftest import seed

ROOT = Path(__file__).resolve().parents[2]
VENV = ROOT / ".rasa-venv"
ACTION_TOKEN = "act-" + uuid.uuid4().hex
RASA_TOKEN = "rasa-" + uuid.uuid4().hex
SECRET_KEY = "seal-" + uuid.uuid4().hex  # CRM_SECRET_KEY of our server (this process) and the action server


# --------------------------------------------------------------------------------------------
# Without Rasa: what the engine sends
# --------------------------------------------------------------------------------------------


async def test_the_engine_sets_the_language_slot_once_and_passes_the_speaker_sealed(aiohttp_client: Any) -> None:
    seen: list[tuple[str, dict[str, Any], dict[str, str]]] = []

    async def events(request: web.Request) -> web.Response:
        seen.append((request.match_info["cid"], await request.json(), dict(request.query)))
        return web.json_response({"events": []})

    async def webhook(request: web.Request) -> web.Response:
        body = await request.json()
        seen.append(("webhook", body, dict(request.query)))
        return web.json_response([{"recipient_id": body["sender"], "text": f"echo {body['message']}"}])

    app = web.Application()
    app.router.add_post("/conversations/{cid:.+}/tracker/events", events)
    app.router.add_post("/webhooks/rest/webhook", webhook)
    client = await aiohttp_client(app)
    engine = RasaEngine(str(client.make_url("/")), session=client.session, token="T")
    rep = Actor(
        kind="user", id=7, role="rep", team_id=None, name="Rita", language="de", timezone="Europe/Berlin"
    )

    assert await engine.handle(IncomingMessage("web", "c/1", "/help", rep)) == [{"text": "echo /help"}]
    await engine.handle(IncomingMessage("web", "c/1", "/greet", rep))
    assert [name for name, _, _ in seen] == ["web:c/1", "webhook", "webhook"]  # the slot is set once
    assert seen[0][1] == {"event": "slot", "name": "language", "value": "de"}
    assert seen[0][2] == {"token": "T"}
    metadata = seen[1][1]["metadata"]
    assert "speaker" not in metadata  # nothing unsigned that a receiver could be tempted to trust
    assert metadata["channel"] == "web"
    sealed = speaker_seal.unseal(metadata[speaker_seal.METADATA_KEY], "web:c/1")  # bound to Rasa's sender id
    assert sealed is not None and (sealed.kind, sealed.id, sealed.role) == ("user", 7, "rep")
    assert speaker_seal.unseal(metadata[speaker_seal.METADATA_KEY], "web:c/2") is None

    seen.clear()
    await engine.handle(IncomingMessage("web", "c/1", "I need help with my deals please", rep))
    assert seen[0][1]["value"] == "en"  # a clear English text switches the conversation's language


async def test_an_unreachable_rasa_gives_a_polite_error_with_a_reference() -> None:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    engine = RasaEngine(f"http://127.0.0.1:{port}")
    try:
        replies = await engine.handle(IncomingMessage("web", "c", "/help", Actor.customer(None)))
    finally:
        await engine.aclose()
    assert len(replies) == 1 and "ref" in replies[0]["text"]


def test_settings_select_the_rasa_engine() -> None:
    from assistant.runtime import default_factory

    settings = Settings.from_env({"CRM_RASA_URL": "http://rasa:5005/", "CRM_RASA_TOKEN": "T"})
    engine = default_factory(Database("sqlite://"), settings)
    assert isinstance(engine, RasaEngine)
    assert (engine.rasa_url, engine.token) == ("http://rasa:5005", "T")


# --------------------------------------------------------------------------------------------
# With a real Rasa server
# --------------------------------------------------------------------------------------------


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _tail(path: Path, lines: int = 40) -> str:
    return "\n".join(path.read_text(errors="replace").splitlines()[-lines:]) if path.exists() else ""


def _wait_for_http(url: str, proc: subprocess.Popen[bytes], log: Path, timeout: float) -> None:
    import urllib.error
    import urllib.request

    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"{proc.args!r} exited with {proc.returncode}:\n{_tail(log)}")
        try:
            with urllib.request.urlopen(url, timeout=2) as res:
                if res.status == 200:
                    return
        except (urllib.error.URLError, OSError):
            pass
        time.sleep(0.5)
    raise RuntimeError(f"{url} not up after {timeout:.0f} s:\n{_tail(log)}")


def _stop(proc: subprocess.Popen[bytes]) -> None:
    proc.terminate()
    try:
        proc.wait(30)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait(10)


@pytest.fixture(scope="module")
def rasa_venv() -> Path:
    from bench.rasa_compare import RasaBenchError, ensure_rasa_venv

    ready = (VENV / ".bench-rasa-ok").is_file() and (VENV / "bin" / "rasa").exists()
    if not ready and os.environ.get("CRM_TEST_RASA") != "1":
        pytest.skip(
            f"Rasa 3.6 is not installed in {VENV} (needs python3.10); set CRM_TEST_RASA=1 to build it"
        )
    try:
        return ensure_rasa_venv(VENV)
    except RasaBenchError as exc:
        if os.environ.get("CRM_TEST_RASA") == "1":
            raise
        pytest.skip(f"cannot build {VENV}: {exc}")


@pytest.fixture(scope="module")
def store(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Database, dict[str, Actor]]]:
    path = tmp_path_factory.mktemp("rasa-store") / "crm.db"
    db = Database(f"sqlite:///{path}")
    db.create_all()
    actors = seed(db)
    yield db, actors
    db.dispose()


@pytest.fixture(scope="module")
def action_server(
    store: tuple[Database, dict[str, Actor]], tmp_path_factory: pytest.TempPathFactory
) -> Iterator[str]:
    db, _ = store
    port = _free_port()
    log = tmp_path_factory.mktemp("action-server") / "actions.log"
    env = {**os.environ, "CRM_ACTION_TOKEN": ACTION_TOKEN, "CRM_SECRET_KEY": SECRET_KEY}
    with log.open("wb") as out:
        proc = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "assistant.cli.main",
                "actions",
                "serve",
                "--db",
                db.url,
                "--port",
                str(port),
            ],
            env=env,
            stdout=out,
            stderr=subprocess.STDOUT,
            cwd=ROOT,
        )
    try:
        _wait_for_http(f"http://127.0.0.1:{port}/health", proc, log, timeout=120)
        yield f"http://127.0.0.1:{port}/webhook"
    finally:
        _stop(proc)


@pytest.fixture(scope="module")
def rasa_server(
    rasa_venv: Path,
    action_server: str,
    request: pytest.FixtureRequest,
    tmp_path_factory: pytest.TempPathFactory,
) -> Iterator[str]:
    from bench.rasa.make_project import build_project, rasa_env, train

    project = tmp_path_factory.mktemp("rasa-project")
    build_project(
        project,
        language="en",
        action_url=action_server,
        action_token=ACTION_TOKEN,
        per_intent=8,
        epochs=5,
        lookups=False,
        seed=42,
    )
    # pytest's cache dir keeps the trained model between runs; without the cache plugin, a temp dir
    cache_plugin = getattr(request.config, "cache", None)
    cache = (
        Path(cache_plugin.mkdir("rasa-models"))
        if cache_plugin is not None
        else tmp_path_factory.mktemp("rasa-models")
    )
    model = train(project, venv=rasa_venv, cache_dir=cache, timeout=900)
    port = _free_port()
    log = project / "rasa.log"
    with log.open("wb") as out:
        proc = subprocess.Popen(
            [
                str(rasa_venv / "bin" / "rasa"),
                "run",
                "--enable-api",
                "--auth-token",
                RASA_TOKEN,
                "--model",
                str(model),
                "--endpoints",
                "endpoints.yml",
                "--credentials",
                "credentials.yml",
                "--interface",
                "127.0.0.1",
                "--port",
                str(port),
            ],
            cwd=project,
            env=rasa_env(),
            stdout=out,
            stderr=subprocess.STDOUT,
        )
    try:
        _wait_for_http(f"http://127.0.0.1:{port}/status?token={RASA_TOKEN}", proc, log, timeout=300)
        yield f"http://127.0.0.1:{port}"
    finally:
        _stop(proc)


class RasaChat:
    """One conversation with the Rasa engine, read like a chat: ``await chat("/help")`` -> the texts."""

    def __init__(self, engine: RasaEngine, speaker: Actor) -> None:
        self.engine = engine
        self.speaker = speaker
        self.sender = uuid.uuid4().hex[:8]
        self.replies: list[dict[str, Any]] = []

    async def __call__(self, text: str) -> str:
        self.replies = await self.engine.handle(IncomingMessage("web", self.sender, text, self.speaker))
        return "\n".join(str(r.get("text") or "") for r in self.replies)


@pytest.fixture
async def engine(rasa_server: str) -> Any:
    speaker_seal.configure(SECRET_KEY)  # what build_app does with CRM_SECRET_KEY
    async with aiohttp.ClientSession() as session:
        yield RasaEngine(rasa_server, session=session, token=RASA_TOKEN)


@pytest.mark.slow
async def test_help_for_staff_is_rendered_by_rasa_from_our_domain(
    engine: RasaEngine, store: tuple[Database, dict[str, Actor]]
) -> None:
    _, actors = store
    assert "I can log calls, meetings" in await RasaChat(engine, actors["rep"])("/help")
    # The language slot, set through Rasa's HTTP API, picks the German variant of the same response.
    assert "Ich kann Anrufe, Termine" in await RasaChat(engine, actors["rep_de"])("/help")


@pytest.mark.slow
async def test_the_speaker_metadata_reaches_our_action(
    engine: RasaEngine, store: tuple[Database, dict[str, Actor]]
) -> None:
    _, actors = store
    assert "open a support ticket" in await RasaChat(engine, actors["customer"])("/help")
    assert "open a support ticket" in await RasaChat(engine, actors["anonymous"])("/help")


@pytest.mark.slow
async def test_a_customer_reports_an_issue_through_rasa_and_gets_a_ticket(
    engine: RasaEngine, store: tuple[Database, dict[str, Actor]]
) -> None:
    db, actors = store
    chat = RasaChat(engine, actors["anonymous"])
    asked = await chat('/report_issue{"email": "x@y.example"}')
    assert "describe the problem" in asked  # our form, Rasa's loop: the email came with the message
    confirm = await chat("The PDF export fails with an error message since this morning")
    assert "Shall I open a ticket" in confirm and "x@y.example" in confirm, confirm  # nothing written yet
    with db.session() as s:
        assert CrmServices(s, Actor.system("test")).contacts.by_email("x@y.example") is None
    done = await chat("/affirm")  # Rasa's rule for a pending write runs our action_resume_pending
    with db.session() as s:
        contact = CrmServices(s, Actor.system("test")).contacts.by_email("x@y.example")
        assert contact is not None, chat.replies
        ticket = s.scalars(select(Ticket).where(Ticket.requester_contact_id == contact.id)).one()
        assert "PDF export" in (ticket.description or "")
    assert f"#{ticket.number}" in done and "x@y.example" in done, done


@pytest.mark.slow
async def test_attack_a_ticket_number_and_address_through_rasa_reveal_nothing(
    engine: RasaEngine, store: tuple[Database, dict[str, Actor]]
) -> None:
    """Through the real Rasa engine too: the conversation that opened a ticket may ask for its status (its
    sealed conversation key holds the grant); another anonymous conversation with the number and the address
    gets only the 'if it belongs to that address, we sent a code' answer, never the subject."""
    db, actors = store
    owner = RasaChat(engine, actors["anonymous"])
    await owner('/report_issue{"email": "owner@y.example"}')
    await owner("The invoice PDF shows the wrong VAT number since the update")
    await owner("/affirm")
    with db.session() as s:
        ticket = s.scalars(select(Ticket).where(Ticket.subject.contains("wrong VAT"))).one()
        number, subject = ticket.number, ticket.subject
    status = await owner(f'/ticket_status{{"ticket_id": "{number}"}}')
    assert f"#{number}" in status and "wrong VAT" in status, owner.replies
    stranger = RasaChat(engine, actors["anonymous"])
    answer = await stranger(f'/ticket_status{{"ticket_id": "{number}", "email": "owner@y.example"}}')
    assert "sent a code" in answer and subject not in answer and "wrong VAT" not in answer, stranger.replies


@pytest.mark.slow
async def test_the_web_chat_talks_to_rasa_when_crm_rasa_url_is_set(
    aiohttp_client: Any, rasa_server: str, store: tuple[Database, dict[str, Actor]]
) -> None:
    from assistant.server import build_app
    from connectors import web_chat

    db, _ = store
    settings = Settings.from_env(
        {"CRM_RASA_URL": rasa_server, "CRM_RASA_TOKEN": RASA_TOKEN, "CRM_SECRET_KEY": SECRET_KEY},
        database_url=db.url,
    )
    settings.check()
    client = await aiohttp_client(build_app(settings, db=db, extra=[web_chat.install]))
    sender = uuid.uuid4().hex
    res = await client.post("/webhooks/rest/webhook", json={"sender": sender, "message": "/help"})
    assert res.status == 200
    replies = await res.json()
    assert replies[0]["recipient_id"] == sender
    assert "open a support ticket" in replies[0]["text"]  # an anonymous web visitor is a customer
    engine = client.app[ASSISTANT_KEY]
    assert isinstance(engine, RasaEngine)
    await engine.aclose()


@pytest.mark.slow
@pytest.mark.parametrize("language", ["en", "de"])
def test_rasa_accepts_our_domain_rules_and_nlu_data(rasa_venv: Path, tmp_path: Path, language: str) -> None:
    from bench.rasa.make_project import build_project, validate, validation_warnings

    build_project(tmp_path, language=language, action_token="t")
    assert validation_warnings(validate(tmp_path, venv=rasa_venv)) == []


@pytest.mark.slow
async def test_a_rep_picks_one_of_two_annas_and_confirms_the_call_through_rasa(
    engine: RasaEngine, store: tuple[Database, dict[str, Actor]]
) -> None:
    """Buttons and yes/no through Rasa: rules on ``pending_action`` run our action_resume_pending."""
    db, actors = store
    chat = RasaChat(engine, actors["rep"])
    await chat('/log_activity{"person": "Anna Schmidt", "activity_type": "call"}')
    buttons = [b for r in chat.replies for b in r.get("buttons") or []]
    assert {b["title"] for b in buttons} == {"Anna Schmidt, Acme GmbH", "Anna Schmidt, Globex Ltd"}, chat.replies
    globex = next(b["payload"] for b in buttons if "Globex" in b["title"])
    confirm = await chat(globex)
    assert "Globex" in confirm and "?" in confirm, confirm
    with db.session() as s:
        before = s.scalar(select(func.count()).select_from(Activity))
    assert "call is logged" in await chat("/affirm")
    assert "didn't quite get" not in "\n".join(str(r.get("text")) for r in chat.replies)
    with db.session() as s:
        call = s.scalars(select(Activity).order_by(Activity.id.desc())).first()
        assert s.scalar(select(func.count()).select_from(Activity)) == before + 1
        assert call is not None and call.type == "call"
    assert "nothing waiting" in await chat("/affirm")  # a yes counts once


@pytest.mark.slow
async def test_a_no_through_rasa_writes_nothing(engine: RasaEngine, store: tuple[Database, dict[str, Actor]]) -> None:
    db, actors = store
    chat = RasaChat(engine, actors["customer"])
    assert "describe the problem" in await chat("/report_issue")
    assert "Shall I open a ticket" in await chat("The CSV import rejects every file since the update")
    assert "Nothing was saved" in await chat("/deny")
    with db.session() as s:
        assert not s.scalars(select(Ticket).where(Ticket.description.contains("CSV import"))).all()


async def _post_to_rasa(rasa_server: str, sender: str, message: str, metadata: dict[str, Any]) -> str:
    """What anyone who can reach Rasa's REST webhook can send: any sender, any text, any metadata."""
    body = {"sender": sender, "message": message, "metadata": metadata}
    async with aiohttp.ClientSession() as http, http.post(f"{rasa_server}/webhooks/rest/webhook", json=body) as res:
        assert res.status == 200, await res.text()
        return "\n".join(str(r.get("text") or "") for r in await res.json())


@pytest.mark.slow
async def test_attack_a_speaker_claimed_in_metadata_posted_to_rasa_is_an_anonymous_customer(
    engine: RasaEngine, rasa_server: str, store: tuple[Database, dict[str, Actor]]
) -> None:
    """Attack: post straight to the real Rasa's REST webhook as an admin or as Clara (a customer with a
    ticket): plain speaker metadata, no seal, a seal for another conversation, an expired or a forged one.
    Our action server must see an anonymous customer every time: no pipeline, no help for staff, no ticket."""
    _, actors = store
    admin = Actor(kind="user", id=1, role="admin", team_id=None, name="Ada", language="en", timezone="UTC")
    clara = actors["customer"]
    # the controls: the same speakers, sealed by our engine for their own conversation, get through
    assert "isn't available" not in await RasaChat(engine, actors["manager"])("/pipeline_status")
    assert "I can log calls, meetings" in await RasaChat(engine, admin)("/help")
    sealed_clara = await RasaChat(engine, clara)('/ticket_status{"ticket_id": "1000"}')
    assert "Invoice is wrong" in sealed_clara, sealed_clara

    def attack(name: str, who: Actor, sender: str) -> dict[str, Any]:
        if name == "plain speaker":
            return {"speaker": speaker_dict(who), "channel": "web"}
        if name == "seal of another conversation":
            return {speaker_seal.METADATA_KEY: speaker_seal.seal(who, f"web:{uuid.uuid4().hex}"), "channel": "web"}
        if name == "expired seal":
            old = time.time() - speaker_seal.TTL_SECONDS - 5
            return {speaker_seal.METADATA_KEY: speaker_seal.seal(who, sender, now=old), "channel": "web"}
        speaker_seal.configure("not-" + SECRET_KEY)  # a seal made with another key
        try:
            return {speaker_seal.METADATA_KEY: speaker_seal.seal(who, sender), "speaker": speaker_dict(who)}
        finally:
            speaker_seal.configure(SECRET_KEY)

    cases = 0
    for who in (admin, clara):
        for name in ("plain speaker", "seal of another conversation", "expired seal", "seal made with another key"):
            sender = f"web:customer:anonymous/{uuid.uuid4().hex}"  # a fresh Rasa conversation per attack
            metadata = attack(name, who, sender)
            cases += 1
            if who is admin:
                assert "isn't available" in await _post_to_rasa(rasa_server, sender, "/pipeline_status", metadata), name
                help_text = await _post_to_rasa(rasa_server, sender, "/help", metadata)
                assert "open a support ticket" in help_text and "log calls" not in help_text, name
            else:
                status = await _post_to_rasa(rasa_server, sender, '/ticket_status{"ticket_id": "1000"}', metadata)
                assert "Invoice is wrong" not in status, (name, status)
    assert cases == 8
