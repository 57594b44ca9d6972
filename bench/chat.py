"""Chat load benchmark: simulated conversations against the REST webhook of a running server.

    python -m bench.chat [--conversations 50] [--messages 10] [--db sqlite|postgres|URL] [--url URL]

Without ``--url`` it fills a fresh store with demo data (``generate_demo``), starts ``crm-assistant serve``
on it as a subprocess and waits for its banner and ``/health``. Then: a warm-up (every persona's script
once, not measured), a 1-client sequential run, and N concurrent conversations, each a persona's script
in English or German (reps: log a call and confirm, find a contact, list tasks, pipeline, a task,
history; customers: report an issue and give an e-mail, ticket status, FAQ, add information). Replies
are read the way a user would: buttons are clicked (``/affirm`` or the first one), a question for an
e-mail address or a ticket number is answered. It prints messages/s, p50/p95/p99 latency, errors and
the server's peak RSS (psutil), and the aims: p95 <= 100 ms at 50 conversations, >= 150 messages/s,
no errors, RSS <= 1 GB. The concurrent run happens twice: once without pauses (every user sends the next
message the moment the reply is in: the server's saturation throughput, where latency is simply
conversations / throughput) and once with ``--think`` seconds (default 1, the chat's own rate limit per
conversation) between a reply and the next message, as people read and type: the latency users see.

The web chat limits every conversation and every client address to 1 message/s with a burst of 10
(``Settings.chat_rate``/``chat_burst``); each simulated conversation therefore talks from its own
loopback address (127.0.x.y), and conversations longer than 10 messages will see 429s, which are
counted as errors of their own kind.

``--profile FILE`` runs the server under a sampling profiler of all its threads (``sys._current_frames``,
no py-spy needed) and writes the hottest functions to FILE when the server stops.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import random
import re
import shutil
import signal
import statistics
import sys
import tempfile
import threading
import time
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import aiohttp
import psutil

DEFAULT_PG = "postgresql://postgres@127.0.0.1:5432/crm_chatbench"
WEBHOOK = "/webhooks/rest/webhook"
AIMS = {"p95_ms": 100.0, "messages_per_s": 150.0, "rss_mb": 1024.0}
REQUEST_TIMEOUT = 60.0
START_TIMEOUT = 900.0  # the first start may train the NLU model

TURN_FAILED = re.compile(r"Sorry, that failed \(ref|Das hat leider nicht geklappt \(Ref\.")
NOT_UNDERSTOOD = re.compile(r"didn't quite get that|nicht ganz verstanden")
ASKS_EMAIL = re.compile(r"e-?mail", re.I)
ASKS_TICKET = re.compile(r"ticket ?number|Ticketnummer", re.I)
TICKET_NO = re.compile(r"#(\d{3,})")
ROOT = str(Path(__file__).resolve().parents[1]) + "/"
OURS = ("assistant/", "actions/", "connectors/", "crm_store/", "nlu/")


# --- personas ------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class Persona:
    name: str
    role: str | None  # a demo user's role (token), None: an anonymous customer
    language: str
    script: tuple[str, ...]
    cancel: str


PERSONAS = (
    Persona(
        "rep_en",
        "rep2",
        "en",
        (
            "just called Anna Schmidt at Acme, she wants a quote by Friday",
            "what's Bob Stone's email?",
            "what's on my list today?",
            "how does the pipeline look this quarter?",
            "remind me to send Globex the proposal next Monday",
            "when did we last talk to Globex?",
            "thanks",
        ),
        "cancel",
    ),
    Persona(
        "rep_de",
        "rep",
        "de",
        (
            "hab gerade mit Jürgen Müller telefoniert, er will nächste Woche ein Angebot",
            "Wie lautet die E-Mail-Adresse von Anna Schmidt?",
            "Was steht heute auf meiner Liste?",
            "Wie sieht die Pipeline dieses Quartal aus?",
            "Erinnere mich, Globex nächsten Montag das Angebot zu schicken",
            "Wann haben wir zuletzt mit Globex gesprochen?",
            "danke",
        ),
        "abbrechen",
    ),
    Persona(
        "customer_en",
        None,
        "en",
        (
            "hi",
            "I can't log in since this morning, the page says my account is locked",
            "any news on ticket #{ticket}?",
            "how do I reset my password?",
            "please add that it also fails on mobile",
            "thanks, bye",
        ),
        "cancel",
    ),
    Persona(
        "customer_de",
        None,
        "de",
        (
            "Hallo",
            "Ich kann mich seit heute Morgen nicht mehr einloggen, mein Konto ist gesperrt",
            "Gibt es Neuigkeiten zu Ticket #{ticket}?",
            "Wie setze ich mein Passwort zurück?",
            "danke, tschüss",
        ),
        "abbrechen",
    ),
)


@dataclass
class Stats:
    latencies_ms: list[float] = field(default_factory=list)
    errors: Counter[str] = field(default_factory=Counter)
    not_understood: int = 0
    messages: int = 0
    wall_s: float = 0.0

    def summary(self) -> dict[str, Any]:
        lat = sorted(self.latencies_ms)

        def pct(p: float) -> float:
            return round(lat[min(len(lat) - 1, int(p / 100 * len(lat)))], 1) if lat else float("nan")

        return {
            "messages": self.messages,
            "wall_s": round(self.wall_s, 2),
            "messages_per_s": round(self.messages / self.wall_s, 1) if self.wall_s else 0.0,
            "p50_ms": pct(50),
            "p95_ms": pct(95),
            "p99_ms": pct(99),
            "max_ms": round(lat[-1], 1) if lat else float("nan"),
            "mean_ms": round(statistics.fmean(lat), 1) if lat else float("nan"),
            "errors": sum(self.errors.values()),
            "error_kinds": dict(self.errors),
            "not_understood": self.not_understood,
        }


class Conversation:
    """One simulated user: follows the persona's script and answers what the assistant asks."""

    def __init__(self, persona: Persona, index: int, token: str | None) -> None:
        self.persona = persona
        self.sender = f"bench-{persona.name}-{index}-{os.getpid()}"
        self.email = f"bench.{persona.name}.{index}@example.org"
        self.headers = {"Accept-Language": persona.language}
        if token:
            self.headers["Authorization"] = f"Bearer {token}"
        self.ticket: str | None = None
        self.step = 0
        self.repeats = 0
        self.last: str | None = None

    def next_message(self, replies: list[dict[str, Any]]) -> str:
        message = self._answer(replies)
        if message is not None and message == self.last:
            self.repeats += 1
            if self.repeats >= 2:  # the assistant keeps asking: give up the way a user would
                message, self.repeats = self.persona.cancel, 0
        else:
            self.repeats = 0
        if message is None:
            line = self.persona.script[self.step % len(self.persona.script)]
            self.step += 1
            if "{ticket}" in line:
                line = (
                    line.format(ticket=self.ticket)
                    if self.ticket
                    else (
                        "what's the status of my ticket?"
                        if self.persona.language == "en"
                        else "Wie ist der Stand meines Tickets?"
                    )
                )
            message = line
        self.last = message
        return message

    def _answer(self, replies: list[dict[str, Any]]) -> str | None:
        buttons = [b for r in replies for b in r.get("buttons") or []]
        if buttons:
            payloads = [str(b.get("payload", "")) for b in buttons]
            return next((p for p in payloads if p.startswith("/affirm")), payloads[0])
        text = " ".join(str(r.get("text") or "") for r in replies).strip()
        if not text.endswith(("?", ")")):  # a statement or an answer, not a question to the user
            return None
        question = text[-200:]
        if ASKS_TICKET.search(question):
            return f"#{self.ticket}" if self.ticket else self.persona.cancel
        if ASKS_EMAIL.search(question) and self.persona.role is None:
            return self.email
        return None

    def remember(self, replies: list[dict[str, Any]]) -> None:
        for r in replies:
            m = TICKET_NO.search(str(r.get("text") or ""))
            if m and self.ticket is None:
                self.ticket = m.group(1)


def _connector(base_url: str, index: int) -> aiohttp.TCPConnector:
    """A connection from loopback address 127.0.x.y of its own, so the per-address limiter sees one user."""
    host = urlsplit(base_url).hostname or ""
    if host in ("127.0.0.1", "localhost"):
        return aiohttp.TCPConnector(local_addr=(f"127.0.{1 + index // 250}.{2 + index % 250}", 0))
    return aiohttp.TCPConnector()


async def send(
    session: aiohttp.ClientSession, url: str, conv: Conversation, text: str, stats: Stats | None
) -> list[dict[str, Any]]:
    start = time.perf_counter()
    kind: str | None = None
    replies: list[dict[str, Any]] = []
    try:
        async with session.post(
            url + WEBHOOK, json={"sender": conv.sender, "message": text}, headers=conv.headers
        ) as res:
            body = await res.read()
            if res.status != 200:
                kind = f"http {res.status}"
            else:
                data = json.loads(body)
                if not isinstance(data, list) or any(r.get("recipient_id") != conv.sender for r in data):
                    kind = "bad reply format"
                else:
                    replies = data
    except (aiohttp.ClientError, TimeoutError, json.JSONDecodeError) as exc:
        kind = type(exc).__name__
    elapsed_ms = (time.perf_counter() - start) * 1000
    said = " ".join(str(r.get("text") or "") for r in replies)
    if kind is None and TURN_FAILED.search(said):
        kind = "turn failed (utter_error)"
    if stats is not None:
        stats.messages += 1
        stats.latencies_ms.append(elapsed_ms)
        if kind:
            stats.errors[kind] += 1
        if NOT_UNDERSTOOD.search(said):
            stats.not_understood += 1
    return replies


async def converse(
    url: str,
    conv: Conversation,
    messages: int,
    index: int,
    stats: Stats | None,
    transcript: list[str] | None = None,
    *,
    think_s: float = 0.0,
) -> None:
    """One simulated user; ``think_s`` > 0 waits 0.5-1.5 times that between a reply and the next message
    (people read and type) and starts within the first ``think_s``; otherwise every message goes out as
    soon as the previous reply is in."""
    timeout = aiohttp.ClientTimeout(total=REQUEST_TIMEOUT)
    pause = random.Random(index)
    async with aiohttp.ClientSession(connector=_connector(url, index), timeout=timeout) as session:
        replies: list[dict[str, Any]] = []
        for turn in range(messages):
            if think_s > 0:  # the first message at a random moment of the first second: users arrive apart
                await asyncio.sleep(think_s * (pause.uniform(0.5, 1.5) if turn else pause.random()))
            text = conv.next_message(replies)
            replies = await send(session, url, conv, text, stats)
            conv.remember(replies)
            if transcript is not None:
                said = " | ".join(str(r.get("text") or "")[:90].replace("\n", " ") for r in replies)
                transcript.append(f"  [{conv.persona.name}] > {text}\n      < {said}")


def _conversations(
    n: int, tokens: dict[str, str], offset: int, personas: tuple[Persona, ...]
) -> list[Conversation]:
    return [
        Conversation(
            personas[i % len(personas)], offset + i, tokens.get(personas[i % len(personas)].role or "")
        )
        for i in range(n)
    ]


async def run_concurrent(
    url: str, convs: list[Conversation], messages: int, offset: int, *, think_s: float = 0.0
) -> Stats:
    stats = Stats()
    start = time.perf_counter()
    async with asyncio.TaskGroup() as tg:
        for i, conv in enumerate(convs):
            tg.create_task(converse(url, conv, messages, offset + i, stats, think_s=think_s))
    stats.wall_s = time.perf_counter() - start
    return stats


async def run_sequential(url: str, convs: list[Conversation], messages: int, offset: int) -> Stats:
    stats = Stats()
    start = time.perf_counter()
    for i, conv in enumerate(convs):
        await converse(url, conv, messages, offset + i, stats)
    stats.wall_s = time.perf_counter() - start
    return stats


# --- the server under test -----------------------------------------------------------------------------
class RssSampler:
    """Samples the server's resident set (with children) on a thread; ``peak_mb`` is the highest seen."""

    def __init__(self, pid: int, interval: float = 0.05) -> None:
        self.process = psutil.Process(pid)
        self.interval = interval
        self.peak = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def rss(self) -> int:
        try:
            procs = [self.process, *self.process.children(recursive=True)]
            return sum(p.memory_info().rss for p in procs)
        except psutil.Error:
            return 0

    def _run(self) -> None:
        while not self._stop.wait(self.interval):
            self.peak = max(self.peak, self.rss())

    def __enter__(self) -> RssSampler:
        self.peak = self.rss()
        self._thread.start()
        return self

    def __exit__(self, *_exc: object) -> None:
        self._stop.set()
        self._thread.join()

    @property
    def peak_mb(self) -> float:
        return round(self.peak / 2**20, 1)

    def high_water_mb(self) -> float | None:
        """The kernel's lifetime peak (VmHWM), start-up included; None where /proc is missing."""
        try:
            for line in Path(f"/proc/{self.process.pid}/status").read_text().splitlines():
                if line.startswith("VmHWM:"):
                    return round(int(line.split()[1]) / 1024, 1)
        except OSError:
            return None
        return None


def prepare_store(db_choice: str, size: str, workdir: Path) -> tuple[str, dict[str, str]]:
    """A fresh store with demo data; returns its URL and the demo users' API tokens by role."""
    from sqlalchemy import create_engine, text
    from sqlalchemy.engine import make_url

    from crm_store.db import Database
    from crm_store.demo_data import generate_demo

    if db_choice == "sqlite":
        url = f"sqlite:///{workdir / 'chatbench.db'}"
    else:
        url = os.environ.get("CRM_BENCH_POSTGRES_URL", DEFAULT_PG) if db_choice == "postgres" else db_choice
        if url.startswith(("postgresql", "postgres:")):
            target = make_url(Database(url).url)
            admin = create_engine(target.set(database="postgres"), isolation_level="AUTOCOMMIT")
            with admin.connect() as conn:
                conn.execute(text(f'DROP DATABASE IF EXISTS "{target.database}" WITH (FORCE)'))
                conn.execute(text(f'CREATE DATABASE "{target.database}"'))
            admin.dispose()
    db = Database(url)
    try:
        db.create_all()
        info = generate_demo(db, size=size)
    finally:
        db.dispose()
    return url, info.tokens


def _cli() -> list[str]:
    exe = Path(sys.executable).with_name("crm-assistant")
    if exe.exists():
        return [str(exe)]
    found = shutil.which("crm-assistant")
    return [found] if found else [sys.executable, "-m", "assistant.cli.main"]


async def start_server(
    db_url: str, workdir: Path, profile: Path | None
) -> tuple[asyncio.subprocess.Process, str]:
    serve = ["serve", "--db", db_url, "--host", "127.0.0.1", "--port", "0"]
    if profile is not None:
        cmd = [sys.executable, "-m", "bench.chat", "--serve-profiled", str(profile), "--", *serve]
    else:
        cmd = [*_cli(), *serve]
    log = (workdir / "server.log").open("ab")
    proc = await asyncio.create_subprocess_exec(
        *cmd, stdout=asyncio.subprocess.PIPE, stderr=log, start_new_session=True
    )
    assert proc.stdout is not None
    try:
        async with asyncio.timeout(START_TIMEOUT):
            while True:
                line = (await proc.stdout.readline()).decode(errors="replace")
                if not line:
                    tail = (workdir / "server.log").read_text(errors="replace")[-3000:]
                    raise RuntimeError(f"the server exited before listening:\n{tail}")
                m = re.search(r"listening on (http://\S+)", line)
                if m:
                    return proc, m.group(1)
    except BaseException:
        await stop_server(proc)
        raise


async def stop_server(proc: asyncio.subprocess.Process) -> None:
    if proc.returncode is not None:
        return
    proc.send_signal(signal.SIGTERM)
    try:
        async with asyncio.timeout(30):
            await proc.wait()
    except TimeoutError:
        proc.kill()
        await proc.wait()


async def wait_healthy(url: str) -> None:
    async with (
        aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=10)) as session,
        session.get(url + "/health") as res,
    ):
        if res.status != 200:
            raise RuntimeError(f"/health answered {res.status}: {await res.text()}")


# --- main ----------------------------------------------------------------------------------------------
def _line(label: str, s: dict[str, Any]) -> str:
    kinds = ", ".join(f"{k}: {v}" for k, v in s["error_kinds"].items())
    return (
        f"{label:<34} {s['messages']:>5} msgs in {s['wall_s']:>6.2f} s = {s['messages_per_s']:>6.1f} msg/s   "
        f"p50 {s['p50_ms']:>6.1f}  p95 {s['p95_ms']:>6.1f}  p99 {s['p99_ms']:>6.1f}  max {s['max_ms']:>7.1f} ms   "
        f"errors {s['errors']}{f' ({kinds})' if kinds else ''}   not understood {s['not_understood']}"
    )


async def bench(args: argparse.Namespace) -> dict[str, Any]:
    workdir = Path(tempfile.mkdtemp(prefix="crm-chatbench-"))
    proc: asyncio.subprocess.Process | None = None
    tokens: dict[str, str] = {}
    result: dict[str, Any] = {"conversations": args.conversations, "messages": args.messages}
    try:
        if args.url:
            url = args.url.rstrip("/")
            tokens = json.loads(args.tokens) if args.tokens else {}
            personas = PERSONAS if tokens else tuple(p for p in PERSONAS if p.role is None)
        else:
            t0 = time.perf_counter()
            db_url, tokens = await asyncio.to_thread(prepare_store, args.db, args.size, workdir)
            print(
                f"demo store ({args.db}, {args.size}) ready in {time.perf_counter() - t0:.1f} s", flush=True
            )
            t0 = time.perf_counter()
            proc, url = await start_server(db_url, workdir, args.profile)
            print(
                f"server pid {proc.pid} listening on {url} after {time.perf_counter() - t0:.1f} s "
                f"(log {workdir / 'server.log'})",
                flush=True,
            )
            personas = PERSONAS
            result["db"] = args.db
        await wait_healthy(url)

        transcript: list[str] = []
        t0 = time.perf_counter()
        for i, conv in enumerate(_conversations(len(personas), tokens, 0, personas)):
            await converse(url, conv, args.messages, 9000 + i, None, transcript)
        print(
            f"warm-up ({len(personas)} conversations, not measured) {time.perf_counter() - t0:.1f} s",
            flush=True,
        )
        if args.show:
            print("\n".join(transcript))

        if proc is not None and args.profile is not None:
            proc.send_signal(signal.SIGUSR1)  # the profile covers the measured runs only
        sampler = RssSampler(proc.pid) if proc is not None else None
        with sampler or contextlib.nullcontext():
            seq = await run_sequential(
                url, _conversations(args.sequential, tokens, 1000, personas), args.messages, 1000
            )
            result["sequential"] = seq.summary()
            print(_line("1 client, sequential", result["sequential"]), flush=True)
            conc = await run_concurrent(
                url, _conversations(args.conversations, tokens, 2000, personas), args.messages, 0
            )
            result["concurrent"] = conc.summary()
            print(_line(f"{args.conversations} concurrent, no pauses", result["concurrent"]), flush=True)
            if args.think > 0:
                paced = await run_concurrent(
                    url,
                    _conversations(args.conversations, tokens, 3000, personas),
                    args.messages,
                    3000,
                    think_s=args.think,
                )
                result["paced"] = paced.summary() | {"think_s": args.think}
                print(
                    _line(f"{args.conversations} concurrent, ~{args.think:g} s think", result["paced"]),
                    flush=True,
                )
        if sampler is not None:
            result["rss_peak_mb"] = sampler.peak_mb
            result["rss_high_water_mb"] = sampler.high_water_mb()
            print(
                f"server RSS: peak during the runs {sampler.peak_mb} MB, lifetime high-water mark "
                f"(start-up included) {result['rss_high_water_mb']} MB"
            )
        c = result["concurrent"]
        latency_run = result.get("paced", c)  # people pause between messages; saturation shows msg/s
        checks = {
            f"p95 <= {AIMS['p95_ms']:.0f} ms{' (paced)' if 'paced' in result else ''}": latency_run["p95_ms"]
            <= AIMS["p95_ms"],
            f">= {AIMS['messages_per_s']:.0f} messages/s": c["messages_per_s"] >= AIMS["messages_per_s"],
            "no errors": c["errors"] == 0
            and result["sequential"]["errors"] == 0
            and result.get("paced", c)["errors"] == 0,
        }
        if sampler is not None:
            checks[f"RSS <= {AIMS['rss_mb']:.0f} MB"] = sampler.peak_mb <= AIMS["rss_mb"]
        result["aims"] = checks
        print("aims: " + "   ".join(f"{k}: {'met' if ok else 'MISSED'}" for k, ok in checks.items()))
    finally:
        if proc is not None:
            await stop_server(proc)
        if args.profile is not None and proc is not None:
            print(f"profile written to {args.profile}")
        if not args.keep:
            shutil.rmtree(workdir, ignore_errors=True)
            if args.db == "postgres" and proc is not None:
                await asyncio.to_thread(_drop_postgres)
    return result


def _drop_postgres() -> None:
    from sqlalchemy import create_engine, text
    from sqlalchemy.engine import make_url

    from crm_store.db import Database

    target = make_url(Database(os.environ.get("CRM_BENCH_POSTGRES_URL", DEFAULT_PG)).url)
    admin = create_engine(target.set(database="postgres"), isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f'DROP DATABASE IF EXISTS "{target.database}" WITH (FORCE)'))
    admin.dispose()


# --- the profiled server (a child process of the benchmark) ---------------------------------------------
def serve_profiled(out: Path, argv: list[str], interval: float = 0.005) -> None:
    """Run ``crm-assistant argv`` while a thread samples every thread's stack; write the top functions."""
    import atexit

    own: Counter[str] = Counter()
    inclusive: Counter[str] = Counter()
    ours: Counter[str] = Counter()  # the innermost frame in our own packages
    samples = [0]
    stop = threading.Event()

    def reset(*_args: object) -> None:  # SIGUSR1 from the benchmark: start counting after the warm-up
        own.clear()
        inclusive.clear()
        ours.clear()
        samples[0] = 0

    signal.signal(signal.SIGUSR1, reset)

    def where(code: Any, lineno: int) -> str:
        path = code.co_filename
        for marker in ("/site-packages/", ROOT, "/lib/python3"):
            if marker in path:
                path = path.split(marker, 1)[1]
                break
        return f"{path}:{code.co_firstlineno} {code.co_name}"

    def sample() -> None:
        me = threading.get_ident()
        while not stop.wait(interval):
            for ident, frame in sys._current_frames().items():
                if ident == me:
                    continue
                leaf = where(frame.f_code, frame.f_lineno)
                if frame.f_code.co_name in ("wait", "select", "poll", "_worker", "acquire", "get") and (
                    "threading" in leaf or "selectors" in leaf or "queue" in leaf or "concurrent" in leaf
                ):
                    continue  # idle threads
                samples[0] += 1
                own[leaf] += 1
                seen: set[str] = set()
                mine: str | None = None
                f: Any = frame
                while f is not None:
                    key = where(f.f_code, f.f_lineno)
                    if mine is None and "site-packages" not in f.f_code.co_filename and key.startswith(OURS):
                        mine = f"{key} (line {f.f_lineno})"
                    if key not in seen:
                        inclusive[key] += 1
                        seen.add(key)
                    f = f.f_back
                ours[mine or "(outside our packages)"] += 1

    def dump() -> None:
        stop.set()
        total = max(samples[0], 1)
        lines = [
            f"{samples[0]} busy-thread samples every {interval * 1000:.0f} ms",
            "",
            "self time (top 40):",
        ]
        lines += [f"{100 * n / total:6.1f}%  {k}" for k, n in own.most_common(40)]
        lines += ["", "innermost frame in our packages (top 40):"]
        lines += [f"{100 * n / total:6.1f}%  {k}" for k, n in ours.most_common(40)]
        lines += ["", "inclusive time (top 80):"]
        lines += [f"{100 * n / total:6.1f}%  {k}" for k, n in inclusive.most_common(80)]
        out.write_text("\n".join(lines) + "\n", encoding="utf-8")

    threading.Thread(target=sample, daemon=True, name="bench-sampler").start()
    atexit.register(dump)
    from assistant.cli.main import cli

    cli.main(args=argv, prog_name="crm-assistant")


def main(argv: list[str] | None = None) -> None:
    argv = sys.argv[1:] if argv is None else argv
    if argv[:1] == ["--serve-profiled"]:
        rest = argv[2:]
        serve_profiled(Path(argv[1]), rest[1:] if rest[:1] == ["--"] else rest)
        return
    p = argparse.ArgumentParser(prog="python -m bench.chat", description=__doc__.split("\n\n")[0])
    p.add_argument("--conversations", type=int, default=50, help="concurrent conversations (default 50)")
    p.add_argument("--messages", type=int, default=10, help="messages per conversation (default 10)")
    p.add_argument(
        "--think",
        type=float,
        default=1.0,
        help="a third run with this mean pause (s) between a reply and the next message; 0: none (default 1)",
    )
    p.add_argument("--sequential", type=int, default=4, help="conversations of the 1-client run (default 4)")
    p.add_argument(
        "--db",
        default="sqlite",
        help="sqlite, postgres ($CRM_BENCH_POSTGRES_URL, default "
        f"{DEFAULT_PG}, dropped and re-created) or a SQLAlchemy URL",
    )
    p.add_argument("--size", default="small", choices=["tiny", "small", "medium"], help="demo data size")
    p.add_argument("--url", help="benchmark a running server instead of starting one")
    p.add_argument(
        "--tokens",
        help='with --url: JSON {"rep": "crm_...", "rep2": "crm_..."}; without, '
        "only the customer personas run",
    )
    p.add_argument("--profile", type=Path, help="write a sampling profile of the server to this file")
    p.add_argument("--json", help="also write the figures as JSON to this file")
    p.add_argument("--show", action="store_true", help="print the warm-up conversations")
    p.add_argument("--keep", action="store_true", help="keep the temporary store and server log")
    args = p.parse_args(argv)
    if args.profile is not None:
        args.profile = args.profile.resolve()
    result = asyncio.run(bench(args))
    if args.json:
        Path(args.json).write_text(json.dumps(result, indent=2) + "\n", encoding="utf-8")


if __name__ == "__main__":
    main()
