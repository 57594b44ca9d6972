"""Conversation tests written as YAML stories (like Rasa's test stories), run end to end:
real NLU, real dialogue engine and actions, real SQLite store.

A story's steps: ``user`` (text or a button payload; optional ``intent`` asserts the parse),
``bot`` (a substring, or a list of them, expected in the replies to the last user message; ``bot_not``
the opposite), ``buttons`` (how many buttons the last replies offered), ``count`` ({table: n} in the store).
"""

from __future__ import annotations

import asyncio
import uuid
from pathlib import Path
from typing import Any

import pytest
import yaml
from sqlalchemy import func, select

from assistant.app import build_assistant
from assistant.messages import IncomingMessage
from crm_store import models
from crm_store.db import Database
from tests.e2e.conftest import seed

STORIES = sorted((Path(__file__).parent / "stories").glob("*.yml"))
TABLES = {"activities": models.Activity, "tasks": models.Task, "contacts": models.Contact, "deals": models.Deal,
          "tickets": models.Ticket, "ticket_messages": models.TicketMessage, "gdpr_requests": models.GdprRequest,
          "organizations": models.Organization}


def _stories() -> list[Any]:
    out = []
    for path in STORIES:
        for story in yaml.safe_load(path.read_text(encoding="utf-8"))["stories"]:
            out.append(pytest.param(story, id=f"{path.stem}: {story['story']}"))
    return out


def _flatten(replies: list[dict[str, Any]]) -> str:
    parts = []
    for r in replies:
        parts.append(r.get("text") or "")
        parts.extend(b["title"] for b in r.get("buttons") or [])
    return "\n".join(parts)


@pytest.mark.parametrize("story", _stories())
def test_story(story: dict[str, Any], trained_nlu: Any, sqlite_db: Database) -> None:
    personas = seed(sqlite_db)
    speaker = personas[story.get("speaker", "rep")]
    assistant = build_assistant(sqlite_db, trained_nlu, embedder=getattr(trained_nlu, "embedder", None))
    sender = f"story-{uuid.uuid4().hex[:8]}"
    replies: list[dict[str, Any]] = []
    for i, step in enumerate(story["steps"]):
        where = f"step {i + 1} of '{story['story']}'"
        if "user" in step:
            text = step["user"]
            if "intent" in step:
                parsed = trained_nlu.parse_batch([text])[0].to_dict()
                assert parsed["intent"]["name"] == step["intent"], f"{where}: {text!r} parsed as {parsed['intent']}"
            replies = asyncio.run(assistant.handle(IncomingMessage("web", sender, text, speaker)))
        if "bot" in step:
            expected = step["bot"] if isinstance(step["bot"], list) else [step["bot"]]
            said = _flatten(replies)
            for fragment in expected:
                assert fragment.lower() in said.lower(), f"{where}: expected {fragment!r} in {said!r}"
        if "bot_not" in step:
            said = _flatten(replies)
            for fragment in step["bot_not"] if isinstance(step["bot_not"], list) else [step["bot_not"]]:
                assert fragment.lower() not in said.lower(), f"{where}: {fragment!r} must not be in {said!r}"
        if "buttons" in step:
            n = sum(len(r.get("buttons") or []) for r in replies)
            assert n == step["buttons"], f"{where}: expected {step['buttons']} buttons, got {n}"
        if "count" in step:
            with sqlite_db.session() as s:
                for table, n in step["count"].items():
                    got = s.execute(select(func.count()).select_from(TABLES[table])).scalar_one()
                    assert got == n, f"{where}: {table} = {got}, expected {n}"
