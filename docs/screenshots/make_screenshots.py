"""Make the README's two pictures and check its "first five things to type" against the demo.

    CRM_MODEL_DIR=models python docs/screenshots/make_screenshots.py

- ``web-chat.png``: the real chat page in headless Chromium (Debian's package, driven by Playwright), signed
  in with the demo rep's token, after two real turns against the demo store.
- ``slack-answer.png``: the Block Kit a manager's question really produces (``connectors.slack.render``),
  drawn by the small HTML below in the same Chromium. It is NOT a screenshot of Slack: it shows the blocks'
  text, buttons and image in Slack-like type, nothing more.

It also sends each role's five README phrases to the assistant and prints the first line of each answer.
"""

from __future__ import annotations

import asyncio
import base64
import html
import re
import shutil
import socket
import sys
import tempfile
import threading
from pathlib import Path
from typing import Any

from aiohttp import web

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))

from assistant.app import build_assistant, load_nlu  # noqa: E402
from assistant.messages import IncomingMessage  # noqa: E402
from assistant.runtime import FACTORY_KEY  # noqa: E402
from assistant.server import build_app  # noqa: E402
from assistant.settings import PROJECT_DATA, Settings  # noqa: E402
from connectors import web_chat  # noqa: E402
from connectors.slack.render import render  # noqa: E402
from crm_store.db import Database  # noqa: E402
from crm_store.demo_data import generate_demo  # noqa: E402
from crm_store.migrate import upgrade  # noqa: E402
from crm_store.services import Actor  # noqa: E402
from crm_store.services.users import actor_for, authenticate  # noqa: E402

OUT = Path(__file__).resolve().parent
PHRASES = {
    "rep": [
        "What's on my list today?",
        "Who is Peter Gibbons?",
        "Just called Anna Schmidt at Acme, she wants a quote for 20 more licences",
        "Remind me to call Peter Gibbons on Friday",
        "How does my pipeline look?",
    ],
    "manager": [
        "How does the pipeline look?",
        "What did the team do last week?",
        "What's the status of ticket 1001?",
        "Show me Globex",
        "Create a deal Globex renewal for 12000 EUR",
    ],
    "customer": [
        "I can't log in",
        "How do I reset my password?",
        "What's the status of my ticket 1001?",
        "I want to talk to a person",
        "Please unsubscribe me from your newsletter",
    ],
}


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _actor(db: Database, token: str) -> Actor:
    with db.session() as session:
        user = authenticate(session, token)
        assert user is not None
        return actor_for(user)


def _mrkdwn(text: str) -> str:
    out = html.escape(html.unescape(text))
    out = re.sub(r"```(.+?)```", r"<pre>\1</pre>", out, flags=re.S)
    out = re.sub(r"`([^`]+)`", r"<code>\1</code>", out)
    out = re.sub(r"\*([^*\n]+)\*", r"<b>\1</b>", out)
    out = re.sub(r"_([^_\n]+)_", r"<i>\1</i>", out)
    return out.replace("\n", "<br>")


def slack_html(question: str, asker: str, blocks: list[dict[str, Any]], images: list[bytes]) -> str:
    parts = []
    for block in blocks:
        if block["type"] == "section":
            parts.append(f"<div class=section>{_mrkdwn(block['text']['text'])}</div>")
        elif block["type"] == "actions":
            buttons = "".join(
                f"<span class=button>{html.escape(e['text']['text'])}</span>" for e in block["elements"]
            )
            parts.append(f"<div class=actions>{buttons}</div>")
        elif block["type"] == "context":
            parts.append(
                f"<div class=context>{_mrkdwn(' '.join(e.get('text', '') for e in block['elements']))}</div>"
            )
    for png in images:
        parts.append(f"<img src='data:image/png;base64,{base64.b64encode(png).decode()}'>")
    return f"""<!doctype html><meta charset=utf-8><style>
body {{ font: 15px/1.46 'Lato', 'Helvetica Neue', Arial, sans-serif; color: #1d1c1d; margin: 0; background: #fff; }}
.msg {{ display: flex; gap: 10px; padding: 10px 20px; }} .avatar {{ width: 36px; height: 36px; border-radius: 6px;
background: #4a154b; color: #fff; font-weight: bold; display: flex; align-items: center; justify-content: center; }}
.user .avatar {{ background: #2b6cb0; }} .name {{ font-weight: 900; }} .app {{ font-size: 11px; background: #e8e8e8;
padding: 0 3px; border-radius: 2px; color: #616061; margin-left: 4px; }}
.section {{ margin: 4px 0; }} pre {{ background: #f8f8f8; border: 1px solid #ddd; border-radius: 4px; padding: 8px;
font: 12px/1.5 Monaco, Menlo, monospace; }} code {{ background: #f4f4f4; border: 1px solid #ddd; padding: 0 3px; }}
.actions {{ display: flex; gap: 8px; flex-wrap: wrap; margin: 8px 0; }} .button {{ border: 1px solid #c8c8c8;
border-radius: 4px; padding: 3px 12px; font-weight: bold; font-size: 13px; }}
img {{ max-width: 520px; border: 1px solid #ddd; border-radius: 4px; margin-top: 6px; }}
.note {{ color: #868686; font-size: 11px; padding: 4px 20px 10px; }}
</style>
<div class="msg user"><div class=avatar>{html.escape(asker[:1])}</div><div><div class=name>{html.escape(asker)}</div>
<div>{html.escape(question)}</div></div></div>
<div class=msg><div class=avatar>C</div><div><div class=name>CRM Assistant<span class=app>APP</span></div>
{"".join(parts)}</div></div>
<div class=note>Rendered from the Block Kit JSON the assistant produced; not a screenshot of Slack.</div>"""


def main() -> None:
    from playwright.sync_api import sync_playwright

    chromium = shutil.which("chromium") or shutil.which("chromium-browser")
    if chromium is None:
        raise SystemExit("needs Debian's chromium")
    settings = Settings.from_env()
    workdir = Path(tempfile.mkdtemp(prefix="crm-shots-"))
    db = Database(f"sqlite:///{workdir / 'demo.db'}")
    upgrade(db)
    info = generate_demo(db, seed=42)
    tokens: dict[str, tuple[str, str]] = {}
    for user in sorted(info.users, key=lambda u: u.language != "en"):  # English speakers first
        tokens.setdefault(user.role, (user.token, user.name))
    nlu = load_nlu(settings.model_dir, PROJECT_DATA)
    assistant = build_assistant(db, nlu, embedder=getattr(nlu, "embedder", None))

    async def ask(role: str, text: str, conversation: str) -> list[dict[str, Any]]:
        speaker = Actor.customer(None) if role == "customer" else _actor(db, tokens[role][0])
        return await assistant.handle(
            IncomingMessage(
                channel="slack" if role == "manager" else "web",
                sender_id=conversation,
                text=text,
                speaker=speaker,
            )
        )

    for role, phrases in PHRASES.items():
        for text in phrases:
            replies = asyncio.run(ask(role, text, f"readme-{role}-{abs(hash(text))}"))
            first = next((r.get("text") for r in replies if r.get("text")), "(no text)")
            print(f"{role:<8} {text!r:<70} -> {first.splitlines()[0][:110]}")

    question = PHRASES["manager"][0]
    rendered = render(asyncio.run(ask("manager", question, "readme-slack-shot")))
    page_html = slack_html(question, tokens["manager"][1], rendered.blocks, [i.png for i in rendered.images])

    port = _free_port()
    app = build_app(Settings.from_env({}, database_url=db.url), db=db, extra=[web_chat.install])
    app[FACTORY_KEY] = lambda _db, _s: assistant
    loop = asyncio.new_event_loop()
    runner = web.AppRunner(app)
    started = threading.Event()

    def run() -> None:
        asyncio.set_event_loop(loop)
        loop.run_until_complete(runner.setup())
        loop.run_until_complete(web.TCPSite(runner, "127.0.0.1", port).start())
        started.set()
        loop.run_forever()

    threading.Thread(target=run, daemon=True).start()
    assert started.wait(120)
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=chromium, args=["--no-sandbox", "--disable-gpu"])
        page = browser.new_page(viewport={"width": 760, "height": 620}, locale="en-GB")
        page.goto(f"http://127.0.0.1:{port}/#token={tokens['rep'][0]}")
        for text in (PHRASES["rep"][0], PHRASES["rep"][2]):
            count = page.locator(".msg.bot").count()
            page.fill("#message", text)
            page.press("#message", "Enter")
            page.locator(".msg.bot").nth(count).wait_for(timeout=60_000)
        page.wait_for_timeout(500)
        page.screenshot(path=str(OUT / "web-chat.png"))
        slack = browser.new_page(viewport={"width": 640, "height": 200})
        slack.set_content(page_html)
        slack.screenshot(path=str(OUT / "slack-answer.png"), full_page=True)
        browser.close()
    asyncio.run_coroutine_threadsafe(runner.cleanup(), loop).result(30)
    print(f"wrote {OUT / 'web-chat.png'} and {OUT / 'slack-answer.png'}")


if __name__ == "__main__":
    main()
