"""Agent inbox latency: from an inbound mail to its ticket showing in a signed-in agent's inbox.

    python -m bench.inbox                        # 3 runs of 20 mails, SQLite, hashing embedder
    python -m bench.inbox --runs 5 --mails 40 --db postgresql://postgres@127.0.0.1:5432/crm_inboxbench

Each run starts the real server (``build_app`` with the e-mail intake and the agent inbox) on loopback,
signs an agent in through the login form, then for each mail: sends it by SMTP to the inbound endpoint and
polls the inbox view (the same ``partial=rows`` request the page's htmx refresh makes) every 20 ms until the
mail's subject is listed. Printed per run: p50, p95 and max in milliseconds (printed, never asserted). The
classifier uses the hashing embedder by default so the figure is the pipeline's, not the encoder's
(``--embedder product`` for the packaged sentence encoder).
"""

from __future__ import annotations

import argparse
import asyncio
import re
import secrets
import socket
import statistics
import tempfile
import time
from email.message import EmailMessage
from pathlib import Path

import aiohttp
import aiosmtplib
from aiohttp import web

from assistant.server import build_app
from assistant.settings import Settings
from connectors import agent_inbox
from connectors import email as email_connector
from crm_store.db import Database
from crm_store.migrate import upgrade
from crm_store.services import Actor, CrmServices
from nlu.email_classifier import EmailClassifier, load_training_emails

ROOT = Path(__file__).resolve().parents[1]
POLL_SECONDS = 0.02
TIMEOUT_SECONDS = 30.0


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _classifier(kind: str) -> EmailClassifier:
    from nlu.embedder import HashingEmbedder, get_embedder

    embedder = HashingEmbedder() if kind == "hashing" else get_embedder(None)
    training = load_training_emails(ROOT / "training_data" / "emails")
    return EmailClassifier(embedder).fit(
        [t[0] for t in training], [t[1] for t in training], [t[2] for t in training]
    )


def _seed(db: Database) -> str:
    with db.session() as s:
        crm = CrmServices(s, Actor.system("bench"))
        team = crm.users.create_team(f"Billing-{secrets.token_hex(3)}")
        user = crm.users.create(
            {
                "email": f"bench-{secrets.token_hex(4)}@example-crm.com",
                "name": "Bench Agent",
                "role": "admin",
                "team_id": team.id,
            }
        )
        return crm.users.issue_token(user.id)


def _mail(subject: str, n: int) -> EmailMessage:
    mail = EmailMessage()
    mail["From"] = f"Kunde {n} <kunde{n}-{secrets.token_hex(3)}@kunde.example>"
    mail["To"] = "support@example-crm.com"
    mail["Subject"] = subject
    mail["Message-ID"] = f"<bench-{secrets.token_hex(8)}@kunde.example>"
    mail.set_content("Hello, our invoice shows a wrong amount and we were charged twice. Please correct it.")
    return mail


async def _sign_in(http: aiohttp.ClientSession, base: str, token: str) -> None:
    async with http.get(f"{base}/agent/login") as resp:
        found = re.search(r'name="csrf" value="([^"]+)"', await resp.text())
    assert found is not None
    async with http.post(
        f"{base}/agent/login", data={"csrf": found.group(1), "token": token}, allow_redirects=False
    ) as resp:
        if resp.status != 303 or resp.headers.get("Location") != "/agent/":
            raise RuntimeError("sign-in failed")


async def one_run(db_url: str, classifier: EmailClassifier, mails: int) -> list[float]:
    db = Database(db_url)
    token = _seed(db)
    port, smtp_in = _free_port(), _free_port()
    settings = Settings(
        database_url=db_url,
        smtp_listen_port=smtp_in,
        mail_from="support@example-crm.com",
        mail_ack=False,
        retention_schedule="off",
        secret_key=secrets.token_hex(16),
    )
    app = build_app(settings, db=db, extra=[email_connector.install, agent_inbox.install])
    app[email_connector.CLASSIFIER_KEY] = classifier
    runner = web.AppRunner(app)
    await runner.setup()
    await web.TCPSite(runner, "127.0.0.1", port).start()
    base = f"http://127.0.0.1:{port}"
    latencies: list[float] = []
    try:
        async with aiohttp.ClientSession(cookie_jar=aiohttp.CookieJar(unsafe=True)) as http:
            await _sign_in(http, base, token)
            rows = f"{base}/agent/?view=all&partial=rows"
            for n in range(mails):
                subject = f"Invoice wrong {secrets.token_hex(4)}"
                start = time.perf_counter()
                await aiosmtplib.send(_mail(subject, n), hostname="127.0.0.1", port=smtp_in, start_tls=False)
                while True:
                    async with http.get(rows, headers={"HX-Request": "true"}) as resp:
                        if subject in await resp.text():
                            break
                    if time.perf_counter() - start > TIMEOUT_SECONDS:
                        raise RuntimeError(f"mail {n} never showed up in the inbox")
                    await asyncio.sleep(POLL_SECONDS)
                latencies.append((time.perf_counter() - start) * 1000)
    finally:
        await runner.cleanup()
        db.dispose()
    return latencies


def _pct(values: list[float], p: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, max(0, round(p / 100 * len(ordered) + 0.5) - 1))]


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m bench.inbox", description=__doc__.split("\n\n")[0])
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--mails", type=int, default=20)
    parser.add_argument("--db", default="", help="a SQLAlchemy URL (default: a fresh SQLite file per run)")
    parser.add_argument("--embedder", choices=("hashing", "product"), default="hashing")
    args = parser.parse_args(argv)
    classifier = _classifier(args.embedder)
    everything: list[float] = []
    with tempfile.TemporaryDirectory() as tmp:
        for run in range(1, args.runs + 1):
            url = args.db or f"sqlite:///{tmp}/inbox-{run}.db"
            store = Database(url)
            upgrade(store)
            store.dispose()
            values = asyncio.run(one_run(url, classifier, args.mails))
            everything += values
            print(
                f"run {run}: {len(values)} mails  p50 {statistics.median(values):7.1f} ms  "
                f"p95 {_pct(values, 95):7.1f} ms  max {max(values):7.1f} ms"
            )
    print(
        f"all runs: {len(everything)} mails  p50 {statistics.median(everything):7.1f} ms  "
        f"p95 {_pct(everything, 95):7.1f} ms  (mail sent by SMTP -> listed in the agent's inbox)"
    )


if __name__ == "__main__":
    main()
