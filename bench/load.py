"""Mixed load on 1 and 2 web workers: web chat, Slack events and inbound mail at once, on loopback.

    python -m bench.load [--runs 1] [--configs pg1,pg2,sqlite1] [--model-dir DIR] [--json FILE]

For each configuration (``pg1``: one process on PostgreSQL, ``pg2``: ``serve --workers 2`` on PostgreSQL,
``sqlite1``: one process on SQLite) it fills a fresh store with demo data, links the demo staff to Slack
users of a local fake Slack API (``tests/support/fake_slack_api.py``, run in this process), starts
``crm-assistant serve`` with Slack (signed HTTP events) and the inbound SMTP endpoint on, and measures:

1. mixed, paced: ``--conversations`` web-chat conversations (``bench/chat.py``'s personas, ~``--think`` s
   between a reply and the next message), ``--slack-users`` Slack users sending DMs (latency: the signed
   event is posted -> the reply arrives at the fake's ``chat.postMessage``) and ``--mail-clients`` SMTP
   clients each sending a mail every ``--mail-interval`` s (latency: DATA -> 250), all at the same time;
2. chat saturation: the same conversations without pauses (throughput; latency there is queueing);
3. mail saturation: ``--mails`` mails from ``--mail-clients`` SMTP clients without pauses.

It prints messages/s, p50/p95/p99 and errors per channel and phase, the resident memory of every
process (RSS, PSS: shared pages divided among their sharers, USS: pages of that process alone, from
``/proc/PID/smaps_rollup``), and the 1 -> 2 worker scaling factor of the saturation runs. ``--runs 3``
repeats everything and prints the spread (min..max). Aims (issue 15): 0 errors; >= 200 chat msg/s with
p95 <= 100 ms at 50 paced conversations on PostgreSQL; >= 100 mails/s on PostgreSQL. Printed, never
asserted. The model directory must hold a trained model (``--model-dir``, default ``$CRM_MODEL_DIR`` or
``models``); the e-mail classifier is trained into it on the first start when missing.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import random
import shutil
import signal
import socket
import statistics
import sys
import tempfile
import time
from dataclasses import dataclass, field
from email.message import EmailMessage
from pathlib import Path
from typing import Any

import aiohttp
import aiosmtplib
import psutil
from aiohttp import web
from sqlalchemy.engine import make_url

from bench.chat import PERSONAS, Stats, _conversations, converse, prepare_store, run_concurrent
from connectors.slack import verify

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))  # tests.support (the fake Slack API) from a checkout

from tests.support.fake_slack_api import SECRET, TEAM_ID, TOKEN, FakeSlackApi, event_callback  # noqa: E402

CONFIGS = {"pg1": ("postgres", 1), "pg2": ("postgres", 2), "sqlite1": ("sqlite", 1)}
DEFAULT_PG = "postgresql://postgres@127.0.0.1:5432/crm_loadbench"
START_TIMEOUT = 900.0
SLACK_REPLY_TIMEOUT = 30.0
SLACK_TEXTS = (
    "what's on my list today?",
    "how does the pipeline look this quarter?",
    "what's Bob Stone's email?",
    "when did we last talk to Globex?",
)
MAIL_SUBJECTS = (
    ("Cannot log in", "Since this morning I cannot log in, the page says my account is locked."),
    ("Invoice question", "Could you send me a copy of last month's invoice? Thanks."),
    ("Kündigung", "Hiermit kündige ich meinen Vertrag zum nächstmöglichen Termin."),
    ("Feature request", "It would be great if the export also had a CSV option."),
)


# --- measuring ------------------------------------------------------------------------------------------
def memory(pid: int) -> dict[str, float]:
    """RSS, PSS and USS (MB) of one process from /proc/PID/smaps_rollup."""
    fields: dict[str, int] = {}
    try:
        for line in Path(f"/proc/{pid}/smaps_rollup").read_text().splitlines():
            parts = line.split()
            if len(parts) >= 2 and parts[1].isdigit():
                fields[parts[0].rstrip(":")] = int(parts[1])
    except OSError:
        return {}
    uss = fields.get("Private_Clean", 0) + fields.get("Private_Dirty", 0)
    return {
        "rss_mb": fields.get("Rss", 0) / 1024,
        "pss_mb": fields.get("Pss", 0) / 1024,
        "uss_mb": uss / 1024,
    }


def process_memory(pid: int) -> list[dict[str, Any]]:
    """The server process and its workers, each with its role and memory."""
    out = [{"pid": pid, "role": "server", **memory(pid)}]
    try:
        children = psutil.Process(pid).children()
    except psutil.Error:
        children = []
    if children:
        out[0]["role"] = "supervisor"
        out += [{"pid": c.pid, "role": "worker", **memory(c.pid)} for c in children]
    return out


def server_cpu(pid: int) -> float:
    """CPU seconds (user + system) of the server process and its workers so far."""
    try:
        procs = [psutil.Process(pid), *psutil.Process(pid).children()]
    except psutil.Error:
        return 0.0
    total = 0.0
    for p in procs:
        try:
            t = p.cpu_times()
            total += t.user + t.system
        except psutil.Error:
            pass
    return total


def database_cpu(database: str | None) -> float:
    """CPU seconds of the PostgreSQL backends serving ``database`` (their process title names it)."""
    if not database:
        return 0.0
    total = 0.0
    for p in psutil.process_iter(["cmdline", "cpu_times"]):
        cmd = " ".join(p.info.get("cmdline") or [])
        times = p.info.get("cpu_times")
        if cmd.startswith("postgres:") and f" {database} " in f"{cmd} " and times is not None:
            total += times.user + times.system
    return total


class CpuMeter:
    """CPU spent by the server (and its database backends) during one phase, per message."""

    def __init__(self, pid: int, database: str | None) -> None:
        self.pid, self.database = pid, database
        self.server, self.db = server_cpu(pid), database_cpu(database)

    def per_message(self, messages: int) -> dict[str, float]:
        server = server_cpu(self.pid) - self.server
        db = database_cpu(self.database) - self.db  # backends that ended meanwhile are not counted
        n = max(messages, 1)
        return {"server_cpu_ms": round(server * 1000 / n, 2), "db_cpu_ms": round(db * 1000 / n, 2)}


# --- the fake Slack API, timing replies ----------------------------------------------------------------
class TimedSlack(FakeSlackApi):
    """The fake Slack API; a reply posted to a channel resolves that channel's waiter."""

    def __init__(self, users: dict[str, str]) -> None:
        super().__init__(users)
        self.waiters: dict[str, asyncio.Future[float]] = {}

    def _chat_postMessage(self, request: web.Request, args: dict[str, Any]) -> dict[str, Any]:
        waiter = self.waiters.pop(str(args.get("channel")), None)
        if waiter is not None and not waiter.done():
            waiter.set_result(time.perf_counter())
        return super()._chat_postMessage(request, args)


async def slack_user(
    url: str, fake: TimedSlack, user: str, stats: Stats, *, messages: int, think: float, seed: int
) -> None:
    """One Slack user DMing the bot: a signed event, then wait for the reply at the fake."""
    channel = f"D{user}"
    pause = random.Random(seed)
    loop = asyncio.get_running_loop()
    async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=30)) as http:
        for i in range(messages):
            await asyncio.sleep(think * (pause.uniform(0.5, 1.5) if i else pause.random()))
            event = {
                "type": "message",
                "channel_type": "im",
                "channel": channel,
                "user": user,
                "text": SLACK_TEXTS[(seed + i) % len(SLACK_TEXTS)],
                "ts": f"{time.time():.6f}",
            }
            body = json.dumps(
                event_callback(event, f"Ev{user}{i}{os.getpid()}{time.monotonic_ns()}")
            ).encode()
            ts = str(int(time.time()))
            headers = {
                "X-Slack-Request-Timestamp": ts,
                "X-Slack-Signature": verify.sign(SECRET, ts, body),
                "Content-Type": "application/json",
            }
            waiter: asyncio.Future[float] = loop.create_future()
            fake.waiters[channel] = waiter
            start = time.perf_counter()
            stats.messages += 1
            try:
                async with http.post(url + "/slack/events", data=body, headers=headers) as res:
                    await res.read()
                    if res.status != 200:
                        stats.errors[f"slack http {res.status}"] += 1
                        continue
                async with asyncio.timeout(SLACK_REPLY_TIMEOUT):
                    done = await waiter
                stats.latencies_ms.append((done - start) * 1000)
            except TimeoutError:
                stats.errors["slack: no reply"] += 1
            except aiohttp.ClientError as exc:
                stats.errors[f"slack {type(exc).__name__}"] += 1
            finally:
                fake.waiters.pop(channel, None)


# --- inbound mail ---------------------------------------------------------------------------------------
def mail(i: int, client: int) -> EmailMessage:
    subject, text = MAIL_SUBJECTS[i % len(MAIL_SUBJECTS)]
    msg = EmailMessage()
    msg["From"] = f"Customer {client}-{i} <customer{client}.{i}@bench.example>"
    msg["To"] = "support@example.com"
    msg["Subject"] = f"{subject} ({client}-{i})"
    msg["Message-ID"] = f"<bench-{client}-{i}-{time.monotonic_ns()}@bench.example>"
    msg.set_content(text)
    return msg


async def mail_client(
    port: int, client: int, stats: Stats, *, count: int, interval: float, deadline: float | None = None
) -> None:
    """Send ``count`` mails over one SMTP session (reconnecting after an error); ``interval`` s apart."""
    smtp: aiosmtplib.SMTP | None = None
    try:
        for i in range(count):
            if deadline is not None and time.perf_counter() > deadline:
                break
            if interval:
                await asyncio.sleep(interval * (0.5 + random.random()))
            start = time.perf_counter()
            stats.messages += 1
            try:
                if smtp is None:
                    smtp = aiosmtplib.SMTP(hostname="127.0.0.1", port=port, timeout=30)
                    await smtp.connect()
                await smtp.send_message(mail(i, client))
                stats.latencies_ms.append((time.perf_counter() - start) * 1000)
            except (aiosmtplib.SMTPException, OSError) as exc:
                stats.errors[f"smtp {type(exc).__name__}"] += 1
                smtp = None
    finally:
        if smtp is not None:
            with contextlib.suppress(aiosmtplib.SMTPException, OSError):
                await smtp.quit()


# --- one configuration ----------------------------------------------------------------------------------
def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def link_staff(db_url: str) -> dict[str, str]:
    """Give every demo staff member a Slack id in the fake workspace; ``{slack id: e-mail}``."""
    from sqlalchemy import select

    from crm_store.db import Database
    from crm_store.models import User

    db = Database(db_url)
    linked: dict[str, str] = {}
    try:
        with db.session() as s:
            for i, user in enumerate(s.execute(select(User).order_by(User.id)).scalars()):
                if user.role not in ("rep", "manager", "admin"):
                    continue
                user.slack_user_id, user.slack_team_id = f"U{i:03d}", TEAM_ID
                linked[user.slack_user_id] = user.email
    finally:
        db.dispose()
    return linked


async def start_server(
    db_url: str, workers: int, env: dict[str, str], log: Path
) -> tuple[asyncio.subprocess.Process, str]:
    exe = Path(sys.executable).with_name("crm-assistant")
    cli = [str(exe)] if exe.exists() else [sys.executable, "-m", "assistant.cli.main"]
    cmd = [*cli, "serve", "--db", db_url, "--host", "127.0.0.1", "--port", "0", "--workers", str(workers)]
    proc = await asyncio.create_subprocess_exec(
        *cmd, stdout=asyncio.subprocess.PIPE, stderr=log.open("ab"), env={**os.environ, **env},
        start_new_session=True,
    )  # fmt: skip
    assert proc.stdout is not None
    async with asyncio.timeout(START_TIMEOUT):
        while True:
            line = (await proc.stdout.readline()).decode(errors="replace")
            if not line:
                raise RuntimeError(f"the server exited; see {log}")
            if "listening on http://" in line:
                return proc, line.split("listening on ", 1)[1].split()[0]


async def stop_server(proc: asyncio.subprocess.Process) -> None:
    if proc.returncode is None:
        proc.send_signal(signal.SIGTERM)
        try:
            async with asyncio.timeout(60):
                await proc.wait()
        except TimeoutError:
            os.killpg(proc.pid, signal.SIGKILL)
            await proc.wait()


@dataclass
class Run:
    name: str
    results: dict[str, dict[str, Any]] = field(default_factory=dict)
    memory: list[dict[str, Any]] = field(default_factory=list)


async def run_config(name: str, args: argparse.Namespace, workdir: Path) -> Run:
    db_choice, workers = CONFIGS[name]
    if db_choice == "postgres":
        os.environ.setdefault("CRM_BENCH_POSTGRES_URL", args.postgres)
    db_url, tokens = await asyncio.to_thread(prepare_store, db_choice, args.size, workdir)
    staff = await asyncio.to_thread(link_staff, db_url)
    fake = TimedSlack(staff)
    runner = web.AppRunner(fake.app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    fake_port = runner.addresses[0][1]
    smtp_port = free_port()
    env = {
        "CRM_MODEL_DIR": str(args.model_dir),
        "SLACK_BOT_TOKEN": TOKEN,
        "SLACK_SIGNING_SECRET": SECRET,
        "SLACK_API_URL": f"http://127.0.0.1:{fake_port}/api/",
        "CRM_SMTP_LISTEN_PORT": str(smtp_port),
        "CRM_SMTP_HOST": "",
        "CRM_IMAP_HOST": "",
    }
    run = Run(name)
    t0 = time.perf_counter()
    proc, url = await start_server(db_url, workers, env, workdir / f"{name}.log")
    print(
        f"[{name}] server pid {proc.pid} ({workers} worker(s)) up in {time.perf_counter() - t0:.1f} s",
        flush=True,
    )
    try:
        # warm-up, not measured: every persona once, a Slack DM per user, a few mails
        warm = _conversations(len(PERSONAS), tokens, 0, PERSONAS)
        await asyncio.gather(*(converse(url, c, 3, 9000 + i, None) for i, c in enumerate(warm)))
        await asyncio.gather(*(slack_user(url, fake, u, Stats(), messages=1, think=0, seed=0) for u in staff))
        await mail_client(smtp_port, 999, Stats(), count=4, interval=0)

        database = make_url(db_url).database if db_choice == "postgres" else None
        # 1. mixed, paced
        meter = CpuMeter(proc.pid, database)
        chat, slack, mails = Stats(), Stats(), Stats()
        start = time.perf_counter()
        convs = _conversations(args.conversations, tokens, 3000, PERSONAS)
        deadline = start + args.messages * args.think + 2
        async with asyncio.TaskGroup() as tg:
            for i, conv in enumerate(convs):
                tg.create_task(converse(url, conv, args.messages, 3000 + i, chat, think_s=args.think))
            for i, user in enumerate(list(staff)[: args.slack_users]):
                tg.create_task(
                    slack_user(url, fake, user, slack, messages=args.messages, think=args.think, seed=i)
                )
            for c in range(args.mail_clients):
                tg.create_task(
                    mail_client(
                        smtp_port, c, mails, count=10**6, interval=args.mail_interval, deadline=deadline
                    )
                )
        wall = time.perf_counter() - start
        for label, stats in (("chat paced", chat), ("slack paced", slack), ("mail paced", mails)):
            stats.wall_s = wall
            run.results[label] = stats.summary()
        run.results["mixed paced"] = meter.per_message(chat.messages + slack.messages + mails.messages)
        # 2. chat saturation
        meter = CpuMeter(proc.pid, database)
        saturation = await run_concurrent(
            url, _conversations(args.conversations, tokens, 2000, PERSONAS), args.messages, 0
        )
        run.results["chat saturation"] = saturation.summary() | meter.per_message(saturation.messages)
        # 3. mail saturation
        meter = CpuMeter(proc.pid, database)
        blast = Stats()
        start = time.perf_counter()
        per_client = max(1, args.mails // args.mail_clients)
        await asyncio.gather(
            *(
                mail_client(smtp_port, 100 + c, blast, count=per_client, interval=0)
                for c in range(args.mail_clients)
            )
        )
        blast.wall_s = time.perf_counter() - start
        run.results["mail saturation"] = blast.summary() | meter.per_message(blast.messages)
        run.memory = process_memory(proc.pid)
    finally:
        await stop_server(proc)
        await runner.cleanup()
        if db_choice == "postgres":
            from bench.chat import _drop_postgres

            await asyncio.to_thread(_drop_postgres)
    for label, s in run.results.items():
        print(f"[{name}] {line(label, s)}", flush=True)
    for m in run.memory:
        print(
            f"[{name}] {m['role']:<10} pid {m['pid']:>7}  RSS {m.get('rss_mb', 0):7.1f} MB  "
            f"PSS {m.get('pss_mb', 0):7.1f} MB  USS {m.get('uss_mb', 0):7.1f} MB",
            flush=True,
        )
    return run


def line(label: str, s: dict[str, Any]) -> str:
    cpu = (
        f"  CPU/msg server {s['server_cpu_ms']:.1f} ms, database {s['db_cpu_ms']:.1f} ms"
        if "server_cpu_ms" in s
        else ""
    )
    if "messages" not in s:
        return f"{label:<16}{cpu}"
    kinds = ", ".join(f"{k}: {v}" for k, v in s["error_kinds"].items())
    return (
        f"{label:<16} {s['messages']:>5} in {s['wall_s']:>6.2f} s = {s['messages_per_s']:>6.1f}/s  "
        f"p50 {s['p50_ms']:>7.1f}  p95 {s['p95_ms']:>7.1f}  p99 {s['p99_ms']:>7.1f} ms  "
        f"errors {s['errors']}{f' ({kinds})' if kinds else ''}{cpu}"
    )


def spread(values: list[float]) -> str:
    values = [v for v in values if v == v]  # no NaN
    if not values:
        return "-"
    if len(values) == 1:
        return f"{values[0]:.1f}"
    return f"{statistics.median(values):.1f} ({min(values):.1f}..{max(values):.1f})"


def report(runs: list[Run]) -> dict[str, Any]:
    by_config: dict[str, list[Run]] = {}
    for r in runs:
        by_config.setdefault(r.name, []).append(r)
    print(f"\nsummary over {max(len(v) for v in by_config.values())} run(s): median (min..max)")
    summary: dict[str, Any] = {}
    for name, rs in by_config.items():
        summary[name] = {}
        for label in rs[0].results:
            keys = [k for k in ("messages_per_s", "p50_ms", "p95_ms", "p99_ms", "errors", "server_cpu_ms", "db_cpu_ms")
                    if k in rs[0].results[label]]  # fmt: skip
            cells = {key: spread([r.results[label][key] for r in rs]) for key in keys}
            summary[name][label] = cells
            cpu = (
                f"   CPU/msg server {cells['server_cpu_ms']} ms, database {cells['db_cpu_ms']} ms"
                if "server_cpu_ms" in cells
                else ""
            )
            if "messages_per_s" not in cells:
                print(f"  {name:<8} {label:<16}{cpu}")
                continue
            print(
                f"  {name:<8} {label:<16} {cells['messages_per_s']:>20}/s   p50 {cells['p50_ms']:>18}   "
                f"p95 {cells['p95_ms']:>18}   p99 {cells['p99_ms']:>18} ms   errors {cells['errors']}{cpu}"
            )
        workers = [m for r in rs for m in r.memory if m["role"] == "worker"]
        if workers:
            print(
                f"  {name:<8} per worker: RSS {spread([m['rss_mb'] for m in workers])} MB, "
                f"PSS {spread([m['pss_mb'] for m in workers])} MB, USS (its own pages) "
                f"{spread([m['uss_mb'] for m in workers])} MB"
            )
    if "pg1" in by_config and "pg2" in by_config:
        for label in ("chat saturation", "mail saturation"):
            one = [r.results[label]["messages_per_s"] for r in by_config["pg1"]]
            two = [r.results[label]["messages_per_s"] for r in by_config["pg2"]]
            factors = [b / a for a, b in zip(one, two, strict=False) if a]
            summary.setdefault("scaling", {})[label] = spread(factors)
            print(f"  1 -> 2 workers on PostgreSQL, {label}: x{spread(factors)} (on {os.cpu_count()} cores)")
    pg = by_config.get("pg2") or by_config.get("pg1") or []
    if pg:
        best = max(pg, key=lambda r: r.results["chat saturation"]["messages_per_s"])
        aims = {
            "0 errors": all(
                sum(r2.get("errors", 0) for r2 in r.results.values()) == 0
                for rs in by_config.values()
                for r in rs
            ),
            ">= 200 chat msg/s (PostgreSQL, saturation)": best.results["chat saturation"]["messages_per_s"]
            >= 200,
            "p95 <= 100 ms (PostgreSQL, paced)": best.results["chat paced"]["p95_ms"] <= 100,
            ">= 100 mails/s (PostgreSQL)": best.results["mail saturation"]["messages_per_s"] >= 100,
        }
        summary["aims"] = aims
        print("aims: " + "   ".join(f"{k}: {'met' if ok else 'MISSED'}" for k, ok in aims.items()))
    return summary


async def bench(args: argparse.Namespace) -> dict[str, Any]:
    runs: list[Run] = []
    for n in range(args.runs):
        for name in args.configs:
            workdir = Path(tempfile.mkdtemp(prefix=f"crm-loadbench-{name}-"))
            try:
                print(f"--- run {n + 1}/{args.runs}: {name}", flush=True)
                runs.append(await run_config(name, args, workdir))
            finally:
                if not args.keep:
                    shutil.rmtree(workdir, ignore_errors=True)
    summary = report(runs)
    return {"runs": [r.__dict__ for r in runs], "summary": summary}


def main(argv: list[str] | None = None) -> None:
    p = argparse.ArgumentParser(prog="python -m bench.load", description=__doc__.split("\n\n")[0])
    p.add_argument("--configs", default="pg1,pg2,sqlite1", help="comma-separated: pg1, pg2, sqlite1")
    p.add_argument("--runs", type=int, default=1, help="repeat every configuration (default 1)")
    p.add_argument("--conversations", type=int, default=50, help="web-chat conversations (default 50)")
    p.add_argument(
        "--messages", type=int, default=10, help="messages per conversation / Slack user (default 10)"
    )
    p.add_argument("--think", type=float, default=1.0, help="mean pause in the paced phase, s (default 1)")
    p.add_argument("--slack-users", type=int, default=4, help="Slack users in the paced phase (default 4)")
    p.add_argument("--mail-clients", type=int, default=4, help="SMTP clients (default 4)")
    p.add_argument("--mail-interval", type=float, default=0.5, help="mean s between a client's mails, paced")
    p.add_argument("--mails", type=int, default=400, help="mails in the saturation run (default 400)")
    p.add_argument("--size", default="small", choices=["tiny", "small", "medium"], help="demo data size")
    p.add_argument("--postgres", default=os.environ.get("CRM_BENCH_POSTGRES_URL", DEFAULT_PG))
    p.add_argument("--model-dir", type=Path, default=Path(os.environ.get("CRM_MODEL_DIR", "models")))
    p.add_argument("--json", help="also write the figures as JSON to this file")
    p.add_argument("--keep", action="store_true", help="keep the temporary stores and server logs")
    args = p.parse_args(argv)
    args.configs = [c.strip() for c in args.configs.split(",") if c.strip()]
    unknown = [c for c in args.configs if c not in CONFIGS]
    if unknown:
        p.error(f"unknown configuration(s): {', '.join(unknown)}")
    args.model_dir = args.model_dir.resolve()
    result = asyncio.run(bench(args))
    if args.json:
        Path(args.json).write_text(json.dumps(result, indent=2, default=str) + "\n", encoding="utf-8")


if __name__ == "__main__":
    main()
