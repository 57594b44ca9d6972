"""The runner of the conversation suites (tests/e2e/test_conversations_*.py): multi-turn conversations as data.

A conversation is a speaker (a persona of :func:`tests.e2e.conftest.seed`, plus ``anonymous_de``), a list of
steps and the state of the store it must leave behind. A step either says something (``say``) or clicks a
button whose title contains ``click``; ``bot`` lists fragments that must all be in the replies to that step
(case-insensitive, button titles included), ``bot_not`` fragments that must not be, ``buttons`` the least
number of buttons offered. ``store`` is checked at the end against rows created during the conversation:

    activity: {contact, type, summary: [...], summary_not: [...]}   one new activity must match
    task:     {contact, title: [...], title_not: [...]}             one new task must match
    ticket:   {new: n, text: [...], not_text: [...]}                 new tickets; text across touched tickets
    contacts: n                                                      new contacts
    handover: true|false                                            the conversation ended with a person
    gdpr:     n                                                      new data-protection requests
    no_write: true                                                   nothing created or changed
"""

from __future__ import annotations

import asyncio
import uuid
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import func, select

from assistant.app import build_assistant
from assistant.messages import IncomingMessage
from crm_store import models
from crm_store.db import Database
from crm_store.services import Actor, CrmServices
from tests.e2e.conftest import seed


@dataclass(frozen=True)
class Step:
    say: str | None = None
    click: str | None = None
    bot: tuple[str, ...] = ()
    bot_not: tuple[str, ...] = ()
    buttons: int = 0


@dataclass(frozen=True)
class Conversation:
    id: str
    speaker: str
    steps: tuple[Step, ...]
    store: dict[str, Any] = field(default_factory=dict)


def say(text: str, bot: str | list[str] = (), bot_not: str | list[str] = (), buttons: int = 0) -> Step:
    return Step(say=text, bot=_tuple(bot), bot_not=_tuple(bot_not), buttons=buttons)


def click(title: str, bot: str | list[str] = (), bot_not: str | list[str] = ()) -> Step:
    return Step(click=title, bot=_tuple(bot), bot_not=_tuple(bot_not))


def conv(cid: str, speaker: str, *steps: Step, **store: Any) -> Conversation:
    return Conversation(cid, speaker, tuple(steps), dict(store))


def _tuple(value: str | list[str] | tuple[str, ...]) -> tuple[str, ...]:
    return (value,) if isinstance(value, str) else tuple(value)


def sentences(conversations: list[Conversation]) -> list[str]:
    """Everything the users say in these conversations (checked against the training data)."""
    return [s.say for c in conversations for s in c.steps if s.say and not s.say.startswith("/")]


# --- the world -------------------------------------------------------------------------------------------
def seed_more(db: Database) -> None:
    """On top of the shared seed: two Hannahs with different surnames, for honest name resolution."""
    with db.session() as s:
        crm = CrmServices(s, Actor.system("seed"))
        acme = crm.organizations.list(q="Acme", limit=1).items[0]
        helvetia = crm.organizations.create({"name": "Helvetia Treuhand AG", "domain": "helvetia.example"})
        crm.contacts.create(
            {
                "first_name": "Hannah",
                "last_name": "Becker",
                "email": "hannah.becker@helvetia.example",
                "organization_id": helvetia.id,
            }
        )
        crm.contacts.create(
            {
                "first_name": "Hannah",
                "last_name": "Koch",
                "email": "hannah.koch@acme.example",
                "organization_id": acme.id,
            }
        )


def _flatten(replies: list[dict[str, Any]]) -> str:
    parts: list[str] = []
    for r in replies:
        parts.append(r.get("text") or "")
        parts.extend(b["title"] for b in r.get("buttons") or [])
    return "\n".join(parts)


def run(conversation: Conversation, nlu: Any, db: Database) -> None:
    personas = seed(db)
    personas["anonymous_de"] = Actor.customer(None, language="de")
    seed_more(db)
    speaker = personas[conversation.speaker]
    assistant = build_assistant(db, nlu, embedder=getattr(nlu, "embedder", None))
    sender = f"conv-{uuid.uuid4().hex[:8]}"
    before = _ids(db)
    since = datetime.now(UTC)
    replies: list[dict[str, Any]] = []
    transcript: list[str] = []
    for i, step in enumerate(conversation.steps):
        if step.click is not None:
            button = next(
                (
                    b
                    for r in replies
                    for b in r.get("buttons") or []
                    if step.click.lower() in b["title"].lower()
                ),
                None,
            )
            assert button is not None, (
                f"{conversation.id} step {i + 1}: no button {step.click!r} in {replies}"
            )
            text = button["payload"]
        else:
            text = step.say or ""
        replies = asyncio.run(assistant.handle(IncomingMessage("web", sender, text, speaker)))
        said = _flatten(replies)
        transcript += [f"USER: {text}", *(f" BOT: {line}" for line in said.splitlines())]
        where = f"{conversation.id} step {i + 1} ({text!r})\n" + "\n".join(transcript)
        for fragment in step.bot:
            assert fragment.lower() in said.lower(), f"{where}\nexpected {fragment!r}"
        for fragment in step.bot_not:
            assert fragment.lower() not in said.lower(), f"{where}\nunexpected {fragment!r}"
        if step.buttons:
            n = sum(len(r.get("buttons") or []) for r in replies)
            assert n >= step.buttons, f"{where}\nexpected at least {step.buttons} buttons"
    check_store(conversation, db, before, since, sender, "\n".join(transcript))


def _ids(db: Database) -> dict[str, set[int]]:
    tables = {
        "activity": models.Activity,
        "task": models.Task,
        "ticket": models.Ticket,
        "contact": models.Contact,
        "deal": models.Deal,
        "gdpr": models.GdprRequest,
    }
    with db.session() as s:
        return {k: set(s.execute(select(m.id)).scalars()) for k, m in tables.items()}


def _has_all(text: str | None, parts: list[str] | str | None) -> bool:
    return all(p.lower() in (text or "").lower() for p in _tuple(parts or ()))


def _has_none(text: str | None, parts: list[str] | str | None) -> bool:
    return not any(p.lower() in (text or "").lower() for p in _tuple(parts or ()))


def check_store(
    conversation: Conversation,
    db: Database,
    before: dict[str, set[int]],
    since: datetime,
    sender: str,
    transcript: str,
) -> None:
    want = conversation.store
    where = f"{conversation.id}: store\n{transcript}"
    with db.session() as s:
        new = {
            k: [r for r in s.execute(select(m)).scalars() if r.id not in before[k]]
            for k, m in (
                ("activity", models.Activity),
                ("task", models.Task),
                ("ticket", models.Ticket),
                ("contact", models.Contact),
                ("gdpr", models.GdprRequest),
            )
        }
        touched = [t for t in s.execute(select(models.Ticket)).scalars() if _aware(t.updated_at) >= since]
        deals = [
            d
            for d in s.execute(select(models.Deal)).scalars()
            if d.id not in before["deal"] or _aware(d.updated_at) >= since
        ]
        if "activity" in want:
            w = want["activity"]
            ok = [
                a
                for a in new["activity"]
                if (not w.get("contact") or (a.contact is not None and a.contact.full_name == w["contact"]))
                and (not w.get("type") or a.type == w["type"])
                and _has_all(a.summary, w.get("summary"))
                and _has_none(a.summary, w.get("summary_not"))
            ]
            got = [(a.type, a.contact.full_name if a.contact else None, a.summary) for a in new["activity"]]
            assert ok, f"{where}\nno activity like {w}; new: {got}"
        if "task" in want:
            w = want["task"]
            names = {c.id: c.full_name for c in s.execute(select(models.Contact)).scalars()}
            ok = [
                t
                for t in new["task"]
                if (not w.get("contact") or names.get(t.contact_id) == w["contact"])
                and _has_all(t.title, w.get("title"))
                and _has_none(t.title, w.get("title_not"))
            ]
            assert ok, f"{where}\nno task like {w}; new: {[t.title for t in new['task']]}"
        if "ticket" in want:
            w = want["ticket"]
            if "new" in w:
                assert len(new["ticket"]) == w["new"], (
                    f"{where}\n{len(new['ticket'])} new tickets, want {w['new']}"
                )
            texts = [
                " ".join([t.subject or "", t.description or "", *(m.body for m in t.messages)])
                for t in touched
            ]
            if w.get("text"):
                assert any(_has_all(x, w["text"]) for x in texts), (
                    f"{where}\nno ticket says {w['text']}: {texts}"
                )
            if w.get("not_text"):
                assert all(_has_none(x, w["not_text"]) for x in texts), (
                    f"{where}\na ticket says {w['not_text']}"
                )
        if "contacts" in want:
            assert len(new["contact"]) == want["contacts"], f"{where}\n{len(new['contact'])} new contacts"
        if "gdpr" in want:
            assert len(new["gdpr"]) == want["gdpr"], f"{where}\n{len(new['gdpr'])} new gdpr requests"
        if want.get("no_write"):
            written = {k: len(v) for k, v in new.items() if v}
            assert not written and not deals, f"{where}\nexpected no write: {written}, deals {deals}"
        if "handover" in want:
            row = (
                s.execute(select(models.Conversation).where(models.Conversation.sender_id == sender))
                .scalars()
                .first()
            )
            paused = bool(row is not None and (row.state or {}).get("paused"))
            assert paused == want["handover"], f"{where}\nhanded over: {paused}"
        if "deal" in want:
            w = want["deal"]
            ok = [
                d
                for d in deals
                if _has_all(d.name, w.get("name")) and (not w.get("stage") or d.stage == w["stage"])
            ]
            assert ok, f"{where}\nno deal like {w}: {[(d.name, d.stage) for d in deals]}"


def _aware(value: datetime | None) -> datetime:
    if value is None:
        return datetime.min.replace(tzinfo=UTC)
    return value if value.tzinfo else value.replace(tzinfo=UTC)


def count(db: Database, model: Any) -> int:
    with db.session() as s:
        return int(s.execute(select(func.count()).select_from(model)).scalar_one())
