"""Dialogue benchmark: task success of whole conversations, per language and persona, on a held-out set.

    python -m bench.dialogue [--files bench/data/dialogue/heldout_en.yml ...] [--model-dir DIR] [-v]
    python -m bench.dialogue --examples      # transcripts of the examples in issue 12

Without ``--files`` it reads ``bench/data/dialogue/heldout_{en,de}.yml`` (written apart from the tests and the
training data; see the format below) and, when neither exists, the small ``example.yml``. Every conversation
runs against a fresh demo store (``generate_demo``, size "small") with the in-process engine and the trained
NLU (``--model-dir``, default ``CRM_MODEL_DIR`` or ``/tmp/crm-models``). It prints task success per language
and persona and per task, and the user turns each task needed (mean and max). Figures are printed, never
asserted.

The file format (shared with the writer of the held-out set)::

    conversations:
      - id: rep-en-001
        persona: rep | manager | customer     # rep/manager: a demo user in the conversation's language
        language: en | de                     # customer: an anonymous web-chat visitor
        task: log_call                        # free label to group results
        turns: ["Just had a call with Hannah Koch, ..."]   # said unprompted, in order
        answers: {contact, email, date, ticket, description, confirm, choose}
        expect: {activity, task, ticket, deal, reply_contains_any, reply_excludes, handover, no_write}

How the simulated user answers, after each of its turns, until the assistant stops asking (at most
``MAX_FOLLOWUPS`` answers per turn):

* buttons: a button whose title contains ``answers.choose`` is clicked; a yes/no question is answered with
  the button matching ``answers.confirm`` (default yes); other choices click the first button;
* a question for a code ("code" / "Code") is answered with the code read from the e-mail outbox in-process
  (the one-time-code proof of an anonymous customer);
* a question for an e-mail address, a ticket number (``ticket: latest`` = the ticket opened earlier in this
  conversation), a contact ("who" / "wer" / "wen"), a date ("when" / "bis wann") or a description is answered
  from ``answers``; a question without an answer ends the turn.

``expect`` keys beyond the shared format: none. ``activity``/``task``/``deal``/``ticket`` look at rows
created or changed during the conversation only.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import re
import statistics
import sys
import tempfile
import uuid
from collections import defaultdict
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import yaml
from sqlalchemy import select
from tqdm import tqdm

ROOT = Path(__file__).resolve().parents[1]
DATA = ROOT / "bench" / "data" / "dialogue"
MAX_FOLLOWUPS = 6
ASKS_CODE = re.compile(r"\bcode\b", re.I)
ASKS_EMAIL = re.compile(r"e-?mail(?:-adresse)?|address|adresse", re.I)
ASKS_TICKET = re.compile(r"ticket ?number|ticketnummer|which ticket|welches ticket", re.I)
ASKS_WHO = re.compile(
    r"\bwho\b|\bwhich contact\b|\bwer\b|\bwen\b|mit wem|which one do you mean|wen meinen", re.I
)
ASKS_DATE = re.compile(r"\bwhen\b|due\?|bis wann|wann\b", re.I)
ASKS_DESCRIPTION = re.compile(r"describe|what should i add|beschreib|ergänzen\?|was soll ich", re.I)
TICKET_NO = re.compile(r"#(\d{3,})")
YES_WORDS = ("yes", "ja")
NO_WORDS = ("no", "nein")


# --- the world a conversation runs in --------------------------------------------------------------------
@dataclass
class World:
    """A fresh demo store with the in-process assistant and the personas that talk to it."""

    db: Any
    assistant: Any
    actors: dict[str, Any]
    started: datetime
    tmp: tempfile.TemporaryDirectory[str] = field(repr=False)

    @classmethod
    def create(cls, nlu: Any) -> World:
        from assistant.app import build_assistant
        from crm_store.db import Database
        from crm_store.demo_data import generate_demo
        from crm_store.models import User
        from crm_store.services import Actor
        from crm_store.services.users import actor_for

        tmp = tempfile.TemporaryDirectory(prefix="crm-dialogue-")
        db = Database(f"sqlite:///{tmp.name}/crm.db")
        db.create_all()
        generate_demo(db, size="small")
        actors: dict[str, Any] = {
            "customer_en": Actor.customer(None),
            "customer_de": Actor.customer(None, language="de"),
        }
        with db.session() as s:
            for user in s.execute(select(User)).scalars():
                actor = actor_for(user)
                if user.role == "rep":
                    actors.setdefault(f"rep_{user.language}", actor)
                elif user.role == "manager":
                    actors["manager_en"] = actor
                    actors["manager_de"] = Actor(
                        kind="user",
                        id=user.id,
                        role=user.role,
                        team_id=user.team_id,
                        name=user.name,
                        language="de",
                        timezone=user.timezone,
                    )
        assistant = build_assistant(db, nlu, embedder=getattr(nlu, "embedder", None))
        return cls(db=db, assistant=assistant, actors=actors, started=datetime.now(UTC), tmp=tmp)

    def close(self) -> None:
        self.db.dispose()
        self.tmp.cleanup()

    def actor(self, persona: str, language: str) -> Any:
        return self.actors[f"{persona}_{language}"]

    def latest_code(self, email: str | None = None) -> str | None:
        """The one-time code last mailed (to ``email``), read from the outbox like the mailbox would show it."""
        from crm_store.models.outbox import OutboxMessage

        with self.db.session() as s:
            rows = s.execute(select(OutboxMessage).order_by(OutboxMessage.id.desc())).scalars().all()
            for row in rows:
                code = (row.payload or {}).get("code")
                if code and (email is None or row.target == email.lower()):
                    return str(code)
        return None


class Chat:
    """One conversation: what was said, both ways."""

    def __init__(self, world: World, actor: Any, *, channel: str = "web") -> None:
        self.world, self.actor, self.channel = world, actor, channel
        self.sender = f"dlg-{uuid.uuid4().hex[:10]}"
        self.transcript: list[tuple[str, str]] = []
        self.replies: list[dict[str, Any]] = []
        self.all_replies: list[dict[str, Any]] = []

    def say(self, text: str) -> list[dict[str, Any]]:
        from assistant.messages import IncomingMessage

        self.transcript.append(("user", text))
        msg = IncomingMessage(self.channel, self.sender, text, self.actor)
        self.replies = asyncio.run(self.world.assistant.handle(msg))
        self.all_replies.extend(self.replies)
        for r in self.replies:
            line = r.get("text") or ""
            if r.get("buttons"):
                line += "  [" + " | ".join(b["title"] for b in r["buttons"]) + "]"
            self.transcript.append(("bot", line))
        return self.replies

    def click(self, title_part: str) -> list[dict[str, Any]] | None:
        for r in self.replies:
            for b in r.get("buttons") or []:
                if title_part.lower() in b["title"].lower():
                    self.transcript.append(("click", b["title"]))
                    return self._send_payload(b["payload"])
        return None

    def _send_payload(self, payload: str) -> list[dict[str, Any]]:
        from assistant.messages import IncomingMessage

        msg = IncomingMessage(self.channel, self.sender, payload, self.actor)
        self.replies = asyncio.run(self.world.assistant.handle(msg))
        self.all_replies.extend(self.replies)
        for r in self.replies:
            line = r.get("text") or ""
            if r.get("buttons"):
                line += "  [" + " | ".join(b["title"] for b in r["buttons"]) + "]"
            self.transcript.append(("bot", line))
        return self.replies

    def last_text(self) -> str:
        return "\n".join(r.get("text") or "" for r in self.replies)

    def buttons(self) -> list[dict[str, str]]:
        return [b for r in self.replies for b in r.get("buttons") or []]

    def render(self) -> str:
        marks = {"user": "USER", "bot": " BOT", "click": "CLICK"}
        return "\n".join(f"{marks[who]}: {text}" for who, text in self.transcript)


# --- the simulated user ------------------------------------------------------------------------------------
@dataclass
class Outcome:
    id: str
    language: str
    persona: str
    task: str
    ok: bool
    turns: int
    failures: list[str]
    transcript: str


def _opened_ticket(chat: Chat) -> str | None:
    for r in reversed(chat.all_replies):
        m = TICKET_NO.search(r.get("text") or "")
        if m:
            return m.group(1)
    return None


def _answer(chat: Chat, answers: dict[str, Any]) -> str | None:
    """What the simulated user types or clicks in reply to the last answer; None when nothing is asked."""
    text = chat.last_text()
    buttons = chat.buttons()
    choose = answers.get("choose")
    if buttons:
        titles = [b["title"] for b in buttons]
        if choose and any(str(choose).lower() in t.lower() for t in titles):
            return f"click:{choose}"
        yes_no = [
            t
            for t in titles
            if t.lower().split(",")[0].strip() in (*YES_WORDS, *NO_WORDS)
            or t.lower().startswith(("yes", "ja", "no", "nein"))
        ]
        if yes_no:
            confirm = answers.get("confirm", "yes")
            want = YES_WORDS if confirm in (True, "yes") else NO_WORDS
            for t in titles:
                if t.lower().startswith(want):
                    return f"click:{t}"
        if "?" in text:
            return f"click:{titles[0]}"
        return None
    if "?" not in text and not ASKS_CODE.search(text):
        return None
    if ASKS_CODE.search(text) and re.search(r"type|eingeben|geben sie", text, re.I):
        code = chat.world.latest_code(answers.get("email"))
        return code
    if ASKS_TICKET.search(text) and answers.get("ticket"):
        ticket = str(answers["ticket"])
        return (_opened_ticket(chat) or ticket) if ticket == "latest" else ticket
    if ASKS_EMAIL.search(text) and answers.get("email"):
        return str(answers["email"])
    if ASKS_DESCRIPTION.search(text) and answers.get("description"):
        return str(answers["description"])
    if ASKS_WHO.search(text) and answers.get("contact"):
        return str(answers["contact"])
    if ASKS_DATE.search(text) and answers.get("date"):
        return str(answers["date"])
    return None


def _snapshot(world: World) -> dict[str, set[int]]:
    from crm_store import models

    tables = {
        "activity": models.Activity,
        "task": models.Task,
        "ticket": models.Ticket,
        "deal": models.Deal,
        "contact": models.Contact,
    }
    with world.db.session() as s:
        return {k: set(s.execute(select(m.id)).scalars()) for k, m in tables.items()}


def run_conversation(world: World, conv: dict[str, Any]) -> Outcome:
    persona, lang = conv["persona"], conv["language"]
    chat = Chat(world, world.actor(persona, lang))
    answers = dict(conv.get("answers") or {})
    before = _snapshot(world)
    since = datetime.now(UTC)
    user_turns = 0
    for turn in conv.get("turns") or []:
        chat.say(str(turn))
        user_turns += 1
        for _ in range(MAX_FOLLOWUPS):
            reply = _answer(chat, answers)
            if reply is None:
                break
            user_turns += 1
            if reply.startswith("click:"):
                if chat.click(reply[len("click:") :]) is None:
                    break
            else:
                chat.say(reply)
    failures = check(world, conv.get("expect") or {}, chat, before, since)
    return Outcome(
        conv["id"],
        lang,
        persona,
        str(conv.get("task") or "-"),
        not failures,
        user_turns,
        failures,
        chat.render(),
    )


# --- checking the store afterwards ----------------------------------------------------------------------------
def _contains_all(text: str | None, parts: list[str] | str | None) -> bool:
    items = [parts] if isinstance(parts, str) else list(parts or [])
    return all(p.lower() in (text or "").lower() for p in items)


def _excludes_all(text: str | None, parts: list[str] | str | None) -> bool:
    items = [parts] if isinstance(parts, str) else list(parts or [])
    return not any(p.lower() in (text or "").lower() for p in items)


def check(
    world: World, expect: dict[str, Any], chat: Chat, before: dict[str, set[int]], since: datetime
) -> list[str]:
    from crm_store import models

    failures: list[str] = []
    replies = "\n".join(
        (r.get("text") or "") + " " + " ".join(b["title"] for b in r.get("buttons") or [])
        for r in chat.all_replies
    )
    with world.db.session() as s:
        new = {
            "activity": [
                a for a in s.execute(select(models.Activity)).scalars() if a.id not in before["activity"]
            ],
            "task": [t for t in s.execute(select(models.Task)).scalars() if t.id not in before["task"]],
            "ticket": [t for t in s.execute(select(models.Ticket)).scalars() if t.id not in before["ticket"]],
            "contact": [
                c for c in s.execute(select(models.Contact)).scalars() if c.id not in before["contact"]
            ],
        }
        deals = list(s.execute(select(models.Deal)).scalars())
        changed_deals = [d for d in deals if d.id not in before["deal"] or _aware(d.updated_at) >= since]
        touched_tickets = [
            t for t in s.execute(select(models.Ticket)).scalars() if _aware(t.updated_at) >= since
        ]
        if (want := expect.get("activity")) is not None:
            ok = [
                a
                for a in new["activity"]
                if (
                    not want.get("contact")
                    or (a.contact and want["contact"].lower() in a.contact.full_name.lower())
                )
                and (not want.get("type") or a.type == want["type"])
                and _contains_all(a.summary, want.get("summary_contains"))
                and _excludes_all(a.summary, want.get("summary_excludes"))
            ]
            if not ok:
                failures.append(f"activity {want}: got {[(a.type, a.summary) for a in new['activity']]}")
        if (want := expect.get("task")) is not None:
            names = {c.id: c.full_name.lower() for c in s.execute(select(models.Contact)).scalars()}
            ok = [
                t
                for t in new["task"]
                if (not want.get("contact") or want["contact"].lower() in names.get(t.contact_id, ""))
                and _contains_all(t.title, want.get("title_contains"))
            ]
            if not ok:
                failures.append(f"task {want}: got {[t.title for t in new['task']]}")
        if (want := expect.get("ticket")) is not None:
            if "count_new" in want and len(new["ticket"]) != int(want["count_new"]):
                failures.append(f"tickets: {len(new['ticket'])} new, expected {want['count_new']}")
            if want.get("description_contains"):
                texts = [
                    f"{t.subject} {t.description} " + " ".join(m.body for m in t.messages)
                    for t in touched_tickets
                ]
                if not any(_contains_all(x, want["description_contains"]) for x in texts):
                    failures.append(f"ticket text {want['description_contains']} not found")
        if (want := expect.get("deal")) is not None:
            ok = [
                d
                for d in changed_deals
                if (not want.get("name_contains") or want["name_contains"].lower() in d.name.lower())
                and (not want.get("stage") or d.stage == want["stage"])
            ]
            if not ok:
                failures.append(f"deal {want}: changed {[(d.name, d.stage) for d in changed_deals]}")
        if expect.get("no_write"):
            written = {k: len(v) for k, v in new.items() if v}
            if written or changed_deals:
                failures.append(f"expected no write, got {written} {[d.name for d in changed_deals]}")
    want_any = expect.get("reply_contains_any")
    if want_any is not None and not any(p.lower() in replies.lower() for p in want_any):
        failures.append(f"no reply contains any of {want_any}")
    if (want := expect.get("reply_excludes")) is not None:
        for p in want:
            if p.lower() in replies.lower():
                failures.append(f"a reply contains {p!r}")
    if "handover" in expect:
        with world.db.session() as s:
            from crm_store.models import Conversation

            row = (
                s.execute(select(Conversation).where(Conversation.sender_id == chat.sender)).scalars().first()
            )
            paused = bool(row and (row.state or {}).get("paused"))
        if paused != bool(expect["handover"]):
            failures.append(f"handover: {paused}, expected {expect['handover']}")
    return failures


def _aware(value: datetime | None) -> datetime:
    if value is None:
        return datetime.min.replace(tzinfo=UTC)
    return value if value.tzinfo else value.replace(tzinfo=UTC)


# --- reporting ------------------------------------------------------------------------------------------------
def load_conversations(paths: list[Path]) -> list[dict[str, Any]]:
    out: list[dict[str, Any]] = []
    for path in paths:
        out.extend((yaml.safe_load(path.read_text(encoding="utf-8")) or {}).get("conversations") or [])
    return out


def report(outcomes: list[Outcome]) -> str:
    lines = []
    groups: dict[tuple[str, str], list[Outcome]] = defaultdict(list)
    tasks: dict[str, list[Outcome]] = defaultdict(list)
    for o in outcomes:
        groups[(o.language, o.persona)].append(o)
        tasks[o.task].append(o)
    total_ok = sum(o.ok for o in outcomes)
    lines.append(f"task success: {total_ok}/{len(outcomes)} ({100 * total_ok / max(1, len(outcomes)):.0f}%)")
    lines.append("\nper language and persona:")
    for (lang, persona), items in sorted(groups.items()):
        ok = sum(o.ok for o in items)
        lines.append(f"  {lang} {persona:<9} {ok:>3}/{len(items):<3} ({100 * ok / len(items):.0f}%)")
    lines.append("\nper task (success, user turns needed: mean / max):")
    for task, items in sorted(tasks.items()):
        ok = sum(o.ok for o in items)
        turns = [o.turns for o in items]
        lines.append(
            f"  {task:<18} {ok:>3}/{len(items):<3} turns {statistics.mean(turns):.1f} / {max(turns)}"
        )
    return "\n".join(lines)


# The examples of issue 12, replayed by ``--examples`` (transcripts, before/after a change).
_PRINTER = "My printer driver crashes every time I print a PDF since the update"
ISSUE_EXAMPLES: tuple[tuple[str, str, str, tuple[str, ...]], ...] = (
    (
        "1a e-mail question, then 'can I talk to a human?'",
        "customer",
        "en",
        (_PRINTER, "can I talk to a human?"),
    ),
    (
        "1b e-mail question, then 'status of ticket #1002'",
        "customer",
        "en",
        (_PRINTER, "status of ticket #1002"),
    ),
    (
        "1c e-mail question, then a German erasure request",
        "customer",
        "en",
        (_PRINTER, "Bitte löschen Sie alle meine Daten"),
    ),
    (
        "1d e-mail question, then an FAQ",
        "customer",
        "en",
        (_PRINTER, "how do I reset my password?", "/affirm", "lena@example.org"),
    ),
    ("1e e-mail question answered badly twice", "customer", "en", (_PRINTER, "hmm", "dunno")),
    (
        "1f after cancel, the ticket-number question",
        "customer",
        "en",
        (_PRINTER, "cancel", "what's the status of my ticket?", "how do I reset my password?"),
    ),
    (
        "2 my ticket, then an invoice number (customer)",
        "customer",
        "en",
        (
            "The invoice PDF download fails with an error since Monday",
            "anna.customer@example.com",
            "yes",
            "what's the status of my ticket?",
            "please add that the invoice number is 2026-1188",
            "yes",
        ),
    ),
    (
        "2b my ticket, then an invoice number (rep)",
        "rep",
        "en",
        (
            "The VPN client on my laptop drops the connection every few minutes",
            "yes",
            "what's the status of my ticket?",
            "please add that the invoice number is 2026-1188",
        ),
    ),
    (
        "3 Hannah Weber when only Hannah Becker and Hannah Koch exist",
        "rep",
        "en",
        ("Just had a call with Hannah Weber, discussed the renewal",),
    ),
    (
        "4 the note and the follow-up task",
        "rep",
        "en",
        ("Log a call with Hannah Koch: discussed renewal, she wants a quote by next Friday", "yes"),
    ),
    ("5 a history question", "rep", "en", ("what did I log for Hannah Koch?",)),
    (
        "6 a German customer",
        "customer",
        "de",
        ("Hallo", "Mein Konto ist seit heute gesperrt und ich komme nicht mehr rein"),
    ),
    ("7 an English hi from a German profile", "rep", "de", ("hi",)),
)


def print_examples(nlu: Any) -> None:
    """The issue's examples as transcripts, and what example 4 stored."""
    from crm_store.models import Activity, Task

    world = World.create(nlu)
    try:
        for title, persona, lang, turns in ISSUE_EXAMPLES:
            chat = Chat(world, world.actor(persona, lang))
            for text in turns:
                chat.say(text)
            print(f"\n### {title} ({persona}, profile {lang})\n{chat.render()}")
            if title.startswith("4 "):
                with world.db.session() as s:
                    activity = s.execute(select(Activity).order_by(Activity.id.desc())).scalars().first()
                    task = s.execute(select(Task).order_by(Task.id.desc())).scalars().first()
                    print(f"STORE: activity summary {activity.summary if activity else None!r}")
                    print(f"STORE: task title {task.title if task else None!r}")
    finally:
        world.close()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--files", nargs="*", type=Path)
    parser.add_argument(
        "--model-dir", type=Path, default=Path(os.environ.get("CRM_MODEL_DIR") or "/tmp/crm-models")
    )
    parser.add_argument(
        "-v", "--verbose", action="store_true", help="print the transcript of failed conversations"
    )
    parser.add_argument(
        "--examples", action="store_true", help="print the transcripts of issue 12's examples"
    )
    args = parser.parse_args(argv)
    if args.examples:
        from assistant.app import load_nlu

        print_examples(load_nlu(args.model_dir, ROOT / "training_data"))
        return 0
    files = args.files or [p for p in (DATA / "heldout_en.yml", DATA / "heldout_de.yml") if p.exists()]
    if not files:
        files = [DATA / "example.yml"]
        print("no held-out set found; running the example conversations")
    from assistant.app import load_nlu

    nlu = load_nlu(args.model_dir, ROOT / "training_data")
    conversations = load_conversations(files)
    outcomes: list[Outcome] = []
    # a bar on stderr (the report goes to stdout), only on a terminal
    for conv in tqdm(conversations, desc="conversations", file=sys.stderr, disable=None, leave=False):
        world = World.create(nlu)
        try:
            outcomes.append(run_conversation(world, conv))
        finally:
            world.close()
        o = outcomes[-1]
        if args.verbose and not o.ok:
            print(f"--- {o.id} failed: {'; '.join(o.failures)}\n{o.transcript}\n", file=sys.stderr)
    print(
        f"files: {', '.join(str(f.relative_to(ROOT)) if f.is_relative_to(ROOT) else str(f) for f in files)}"
    )
    print(report(outcomes))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
