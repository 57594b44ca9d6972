"""``crm-assistant doctor`` against real things: SQLite stores, the fake Slack Web API, a loopback aiosmtpd.

Each check is run healthy and broken. The network checks are synchronous (they are a CLI's), so the ones
that talk to a server on this test's event loop run in a thread.
"""

from __future__ import annotations

import asyncio
import json
import shutil
import socket
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
from aiosmtpd.smtp import SMTP
from click.testing import CliRunner

from assistant.cli.main import cli
from assistant.doctor import check_database, check_imap, check_model, check_slack, check_smtp, check_teams
from assistant.settings import Settings
from crm_store.db import Database
from nlu.embedder import HashingEmbedder
from nlu.pipeline import NLUPipeline
from tests.integration import test_dovecot
from tests.integration.test_dovecot import PASSWORD as DOVECOT_PASSWORD
from tests.integration.test_dovecot import USER as DOVECOT_USER
from tests.integration.test_dovecot import Dovecot
from tests.support.fake_bot_connector import FakeBotConnector
from tests.support.fake_slack_api import SECRET, TOKEN, FakeSlackApi

NLU_FIXTURE = Path(__file__).parents[1] / "fixtures" / "nlu"
dovecot = test_dovecot.dovecot  # the project's private Dovecot on loopback (skips where none is installed)

# Nothing configured but the store: every channel is skipped, whatever the developer's shell has set.
QUIET_ENV = {
    "SLACK_BOT_TOKEN": "",
    "TEAMS_APP_ID": "",
    "CRM_IMAP_HOST": "",
    "CRM_SMTP_HOST": "",
    "CRM_RASA_URL": "",
    "CRM_SECRET_KEY": "",
    "CRM_AUDIT_KEY": "",
}


def _run(url: str, *args: str, model_dir: Path) -> Any:
    env = {**QUIET_ENV, "CRM_MODEL_DIR": str(model_dir)}
    return CliRunner().invoke(cli, ["doctor", "--db", url, *args], env=env)


def test_a_migrated_store_is_ok(sqlite_db: Database, tmp_path: Path) -> None:
    checks = {c.name: c for c in check_database(sqlite_db.url)}
    assert checks["database"].status == "ok" and "sqlite" in checks["database"].detail
    assert checks["migrations"].status == "ok"
    result = _run(sqlite_db.url, model_dir=tmp_path / "models")
    assert result.exit_code == 0, result.output
    assert "skip  slack" in result.output and "SLACK_BOT_TOKEN" in result.output
    assert "warn  model" in result.output  # no model there: serve would train it, not a failure


def test_an_unmigrated_store_fails_with_exit_1(tmp_path: Path) -> None:
    path = tmp_path / "empty.db"
    Database(f"sqlite:///{path}").ping()  # the file exists, the schema does not
    result = _run(f"sqlite:///{path}", model_dir=tmp_path / "models")
    assert result.exit_code == 1
    line = next(x for x in result.output.splitlines() if "migrations" in x)
    assert line.startswith("fail") and "crm-assistant db upgrade" in line


def test_a_missing_sqlite_file_fails_and_is_not_created(tmp_path: Path) -> None:
    path = tmp_path / "nowhere.db"
    result = _run(f"sqlite:///{path}", model_dir=tmp_path / "models")
    assert result.exit_code == 1 and "no database file" in result.output
    assert not path.exists()


def test_json_output_parses(sqlite_db: Database, tmp_path: Path) -> None:
    result = _run(sqlite_db.url, "--json", model_dir=tmp_path / "models")
    report = json.loads(result.output)
    assert report["ok"] is True and result.exit_code == 0
    assert {c["name"] for c in report["checks"]} >= {"database", "migrations", "model", "slack", "smtp"}
    assert all(c["status"] in ("ok", "warn", "fail", "skip") for c in report["checks"])


def test_a_weak_secret_key_fails_only_with_rasa() -> None:
    from assistant.doctor import check_secret_key

    weak = Settings.from_env({}, secret_key="short")
    assert check_secret_key(weak).status == "warn"
    assert check_secret_key(Settings.from_env({}, secret_key="short", rasa_url="http://r")).status == "fail"
    assert check_secret_key(Settings.from_env({}, secret_key="k" * 40)).status == "ok"


async def test_slack_token_is_checked_with_auth_test(aiohttp_server: Any) -> None:
    fake = FakeSlackApi()
    server = await aiohttp_server(fake.app)
    good = Settings.from_env(
        {}, slack_bot_token=TOKEN, slack_signing_secret=SECRET, slack_api_url=fake.api_url(server)
    )
    checks = {c.name: c for c in await asyncio.to_thread(check_slack, good)}
    assert checks["slack token"].status == "ok" and "T1" in checks["slack token"].detail
    assert checks["slack signing"].status == "ok"
    assert [m for m, _ in fake.calls] == ["auth.test"]

    bad = Settings.from_env({}, slack_bot_token="xoxb-wrong", slack_api_url=fake.api_url(server))
    checks = {c.name: c for c in await asyncio.to_thread(check_slack, bad)}
    assert checks["slack token"].status == "fail" and "invalid_auth" in checks["slack token"].detail
    assert checks["slack signing"].status == "fail"


def _closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


async def test_slack_not_reachable_is_one_clear_line() -> None:
    conf = Settings.from_env(
        {},
        slack_bot_token=TOKEN,
        slack_signing_secret=SECRET,
        slack_api_url=f"http://127.0.0.1:{_closed_port()}/api/",
    )
    token = (await asyncio.to_thread(check_slack, conf))[0]
    assert token.status == "fail" and token.detail.startswith("not reachable (")


async def test_teams_token_endpoint_healthy_refused_and_not_reachable(aiohttp_server: Any) -> None:
    fake = FakeBotConnector(app_id="app-1", app_password="pw-1")
    server = await aiohttp_server(fake.app)
    good = Settings.from_env(
        {},
        teams_app_id="app-1",
        teams_app_password="pw-1",
        teams_tenant_ids=("tenant-1",),
        teams_token_url=fake.token_url(server),
    )
    assert {c.status for c in await asyncio.to_thread(check_teams, good)} == {"ok"}
    assert len(fake.tokens_issued) == 1

    wrong = Settings.from_env(
        {}, teams_app_id="app-1", teams_app_password="nope", teams_token_url=fake.token_url(server)
    )
    checks = {c.name: c for c in await asyncio.to_thread(check_teams, wrong)}
    assert checks["teams tenants"].status == "fail"  # TEAMS_TENANT_IDS missing
    assert checks["teams token"].status == "fail" and "HTTP 401" in checks["teams token"].detail

    offline = Settings.from_env(
        {},
        teams_app_id="app-1",
        teams_app_password="pw-1",
        teams_tenant_ids=("t",),
        teams_token_url=f"http://127.0.0.1:{_closed_port()}/token",
    )
    token = (await asyncio.to_thread(check_teams, offline))[-1]
    assert token.status == "fail" and "not reachable (" in token.detail


class _Sink:
    async def handle_DATA(self, *_args: Any) -> str:  # pragma: no cover - the doctor sends no mail
        return "250 OK"


@pytest.fixture
async def smtp_port() -> AsyncIterator[int]:
    server = await asyncio.get_running_loop().create_server(lambda: SMTP(_Sink()), host="127.0.0.1", port=0)
    yield int(server.sockets[0].getsockname()[1])
    server.close()
    await server.wait_closed()


async def test_smtp_relay_ok_and_closed_port_not_reachable(smtp_port: int) -> None:
    up = await asyncio.to_thread(
        check_smtp, Settings.from_env({}, smtp_host="127.0.0.1", smtp_port=smtp_port)
    )
    assert up.status == "ok", up
    closed = Settings.from_env({}, smtp_host="127.0.0.1", smtp_port=_closed_port())
    down = await asyncio.to_thread(check_smtp, closed)
    assert down.status == "fail" and down.detail.startswith("not reachable (")


# -- IMAP against a real Dovecot (the fixture of tests/integration/test_dovecot.py) ------------------------
def test_imap_login_ok_wrong_password_refused_closed_port_not_reachable(dovecot: Dovecot) -> None:
    def imap(**overrides: Any) -> Settings:
        values = {"imap_host": "127.0.0.1", "imap_port": dovecot.port, "imap_ssl": False,
                  "imap_user": DOVECOT_USER, "imap_password": DOVECOT_PASSWORD, **overrides}  # fmt: skip
        return Settings.from_env({}, **values)

    ok = check_imap(imap())
    assert ok.status == "ok" and DOVECOT_USER in ok.detail, ok
    refused = check_imap(imap(imap_password="not-the-password"))
    assert refused.status == "fail" and refused.detail.startswith("login refused")
    assert "not-the-password" not in refused.line()  # the line names the setting, never the secret
    closed = check_imap(imap(imap_port=_closed_port()))
    assert closed.status == "fail" and closed.detail.startswith("not reachable (")
    assert check_imap(imap(imap_password="")).status == "fail"

    env = {**QUIET_ENV, "CRM_IMAP_HOST": "127.0.0.1", "CRM_IMAP_PORT": str(dovecot.port), "CRM_IMAP_SSL": "0",
           "CRM_IMAP_USER": DOVECOT_USER, "CRM_IMAP_PASSWORD": DOVECOT_PASSWORD}  # fmt: skip
    result = CliRunner().invoke(cli, ["doctor", "--json"], env=env)
    imap_check = next(c for c in json.loads(result.output)["checks"] if c["name"] == "imap")
    assert imap_check["status"] == "ok", imap_check


# -- model freshness ----------------------------------------------------------------------------------------
def test_a_model_older_than_its_training_data_is_stale(tmp_path: Path) -> None:
    data = tmp_path / "training_data"
    shutil.copytree(NLU_FIXTURE, data)
    models = tmp_path / "models"
    assert check_model(models, data).status == "warn"  # none yet
    NLUPipeline(HashingEmbedder(), ner_epochs=1).train(data, models, progress=False)
    fresh = check_model(models, data)
    assert fresh.status == "ok" and "fresh" in fresh.detail, fresh

    intents = data / "en" / "intents.yml"
    intents.write_text(intents.read_text(encoding="utf-8") + "\n# one more line\n", encoding="utf-8")
    stale = check_model(models, data)
    assert stale.status == "warn" and "older than the training data" in stale.detail, stale
    assert "crm-assistant train" in stale.line()
    NLUPipeline(HashingEmbedder(), ner_epochs=1).train(data, models, progress=False)
    assert check_model(models, data).status == "ok"  # retrained: fresh again
