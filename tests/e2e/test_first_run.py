"""A newcomer's first minutes: ``make demo`` on a fresh clone (a new virtualenv, the install, the demo store,
the server) until the URL line appears, then the first chat answer. The times are printed, never asserted
(speed is measured, not tested); what is asserted is that the URL comes, that ``/health`` answers during the
warm-up, and that a rep's first message gets an answer.

Deselect with ``-m 'not first_run'``. ``CRM_TEST_FIRST_RUN_KEEP=1`` keeps the clone (and its trained model)
for a look afterwards.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import signal
import socket
import subprocess
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

ROOT = Path(__file__).resolve().parents[2]
URL_LINE = re.compile(r"demo running on (http://\S+)")
REP_LINE = re.compile(r"^\s+rep\s+.*\s(crm_\S+)\s*$")
WAIT_FOR_URL = 1200.0  # seconds: generous, this only bounds a hang (the install is the slow part)
WAIT_FOR_ANSWER = 1200.0

pytestmark = [
    pytest.mark.first_run,
    pytest.mark.timeout(3000),
    pytest.mark.skipif(
        shutil.which("git") is None or shutil.which("make") is None, reason="needs git and make"
    ),
    pytest.mark.skipif(not (ROOT / ".git").exists(), reason="not a git checkout: nothing to clone"),
]


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class Output:
    """The demo's output lines (stdout and stderr together), each with the second it arrived."""

    def __init__(self, proc: subprocess.Popen[str], started: float) -> None:
        self.lines: list[tuple[float, str]] = []
        self._cond = threading.Condition()
        self._thread = threading.Thread(target=self._read, args=(proc, started), daemon=True)
        self._thread.start()

    def _read(self, proc: subprocess.Popen[str], started: float) -> None:
        assert proc.stdout is not None
        for line in proc.stdout:
            with self._cond:
                self.lines.append((time.monotonic() - started, line.rstrip("\n")))
                self._cond.notify_all()

    def wait_for(self, pattern: re.Pattern[str], timeout: float) -> tuple[float, re.Match[str]]:
        deadline = time.monotonic() + timeout
        with self._cond:
            while True:
                for at, line in self.lines:
                    found = pattern.search(line)
                    if found:
                        return at, found
                left = deadline - time.monotonic()
                if left <= 0 or not self._thread.is_alive():  # no more lines will come
                    tail = "\n".join(line for _, line in self.lines[-40:])
                    raise AssertionError(
                        f"no line matching {pattern.pattern!r}; the output ended with:\n{tail}"
                    )
                self._cond.wait(min(left, 1.0))

    def first(self, text: str) -> float | None:
        return next((at for at, line in self.lines if text in line), None)


def _newcomer_env(port: int) -> dict[str, str]:
    """The environment of someone who has just cloned the project: no CRM_* settings, no active venv."""
    env = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith("CRM_") and k not in ("VIRTUAL_ENV", "PYTHONPATH")
    }
    env["PATH"] = os.pathsep.join(
        p for p in env.get("PATH", "").split(os.pathsep) if "/.venv/" not in p + "/"
    )
    env.update({"CRM_PORT": str(port), "CRM_HOST": "127.0.0.1"})
    return env


def _get(url: str) -> tuple[int, dict[str, Any]]:
    try:
        with urllib.request.urlopen(url, timeout=10) as resp:
            return resp.status, json.loads(resp.read())
    except urllib.error.HTTPError as exc:
        return exc.code, json.loads(exc.read() or b"{}")


def _chat(url: str, token: str, text: str) -> tuple[int, Any, dict[str, str]]:
    request = urllib.request.Request(
        f"{url}/webhooks/rest/webhook",
        data=json.dumps({"sender": "first-run-" + os.urandom(8).hex(), "message": text}).encode(),
        headers={"Content-Type": "application/json", "Authorization": f"Bearer {token}"},
        method="POST",
    )
    try:
        with urllib.request.urlopen(request, timeout=120) as resp:
            return resp.status, json.loads(resp.read()), dict(resp.headers)
    except urllib.error.HTTPError as exc:
        return exc.code, json.loads(exc.read() or b"{}"), dict(exc.headers)


@pytest.fixture
def clone(tmp_path: Path) -> Iterator[Path]:
    target = tmp_path / "crm-assistant"
    subprocess.run(["git", "clone", "--quiet", str(ROOT), str(target)], check=True, timeout=300)
    yield target
    if os.environ.get("CRM_TEST_FIRST_RUN_KEEP") != "1":
        shutil.rmtree(target, ignore_errors=True)


def test_make_demo_on_a_fresh_clone_shows_the_url_then_answers(
    clone: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    port = _free_port()
    started = time.monotonic()
    proc = subprocess.Popen(
        ["make", "demo"],
        cwd=clone,
        env=_newcomer_env(port),
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        start_new_session=True,  # its own process group: the server and the NER workers stop with it
    )
    output = Output(proc, started)
    timings: dict[str, float] = {}
    try:
        timings["url"], found = output.wait_for(URL_LINE, WAIT_FOR_URL)
        url = found.group(1)
        _at, rep = output.wait_for(REP_LINE, 10)
        token = rep.group(1)

        status, health = _get(f"{url}/health")
        assert status == 200 and health["database"] == "ok", health
        warming = health["assistant"]["state"] == "warming_up"
        if warming:
            assert health["status"] == "warming_up" and health["assistant"]["eta_seconds"] >= 1

        deadline = time.monotonic() + WAIT_FOR_ANSWER
        refusals = 0
        while True:
            status, body, headers = _chat(url, token, "What's on my list today?")
            if status != 503:
                break
            assert body.get("code") == "warming_up", body  # polite, with the time to wait
            refusals += 1
            assert time.monotonic() < deadline, "no answer before the deadline"
            time.sleep(min(5, int(headers.get("Retry-After", "5"))))
        timings["answer"] = time.monotonic() - started
        assert status == 200 and body and any(reply.get("text") for reply in body), body
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGINT)
            try:
                proc.wait(30)
            except subprocess.TimeoutExpired:
                os.killpg(proc.pid, signal.SIGKILL)
                proc.wait(30)
    install_done = output.first("crm-assistant demo")
    store_done = output.first("demo store:")
    with capsys.disabled():
        print(
            "\nfirst run (make demo on a fresh clone): "
            + (f"install {install_done:.0f} s, " if install_done is not None else "")
            + (f"demo store {store_done:.0f} s, " if store_done is not None else "")
            + f"URL {timings['url']:.0f} s, first answer {timings['answer']:.0f} s"
            + f" (warming up when the URL came: {warming}; {refusals} polite refusals meanwhile;"
            + f" load average {os.getloadavg()[1]:.1f} on {os.cpu_count()} CPUs)"
        )
