"""Suggested replies for a ticket: knowledge-base articles and earlier agents' answers to similar tickets.

Ranked by the assistant's own sentence encoder (``nlu/embedder.py``, the one the NLU pipeline loaded), so
"similar" means the same here as in the FAQ action; without one (a Rasa engine) by shared words. A
suggestion is only ever inserted into the composer: a person edits and sends it.
"""

from __future__ import annotations

import asyncio
import re
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
from aiohttp import web

from crm_store.services import Actor, CrmServices
from crm_store.services.inbox import InboxService, answered_tickets

MAX_SUGGESTIONS = 5
MIN_SCORE = 0.3
EMBEDDER_KEY = web.AppKey("agent_inbox_embedder", object)  # tests and deployments may set one explicitly


@dataclass(frozen=True)
class Suggestion:
    kind: str  # "article" / "answer"
    title: str
    text: str
    score: float
    number: int | None = None


def _embedder(app: web.Application) -> Any:
    if EMBEDDER_KEY in app:
        return app[EMBEDDER_KEY]
    from assistant.runtime import ASSISTANT_KEY

    engine = app.get(ASSISTANT_KEY)
    nlu = getattr(getattr(engine, "parser", None), "nlu", None)
    try:
        return getattr(nlu, "embedder", None)
    except Exception:  # a model that cannot load: fall back to words
        return None


_WORD = re.compile(r"\w{3,}", re.UNICODE)


def _words(text: str) -> set[str]:
    return {w.lower() for w in _WORD.findall(text)}


def rank(query: str, candidates: Sequence[str], embedder: Any) -> list[float]:
    if not candidates:
        return []
    if embedder is not None:
        vectors = np.asarray(embedder.encode([query, *candidates]), dtype=np.float32)
        vectors /= np.maximum(np.linalg.norm(vectors, axis=1, keepdims=True), 1e-12)
        return [float(x) for x in vectors[1:] @ vectors[0]]
    q = _words(query)
    return [len(q & _words(c)) / max(1, len(q)) for c in candidates]


def build(actor: Actor, db: Any, ticket_id: int, embedder: Any) -> list[Suggestion]:
    with db.session() as session:
        crm = CrmServices(session, actor)
        ticket = crm.tickets.get(ticket_id)
        inbound = [m.body for m in crm.tickets.messages(ticket.id) if m.direction == "inbound" and m.body]
        query = f"{ticket.subject}\n{inbound[-1] if inbound else ticket.description}"
        lang = ticket.language if ticket.language in ("en", "de") else None
        articles = crm.knowledge.published(lang)
        earlier = answered_tickets(InboxService(session, actor), language=lang, exclude=ticket.id)
        art = [(a.title, a.body) for a in articles]
    scores = rank(query, [f"{t}. {b}" for t, b in art] + [e.question for e in earlier], embedder)
    out = [Suggestion("article", t, b, s) for (t, b), s in zip(art, scores[: len(art)], strict=True)]
    out += [
        Suggestion("answer", f"#{e.number}", e.answer, s, e.number)
        for e, s in zip(earlier, scores[len(art) :], strict=True)
    ]
    threshold = MIN_SCORE if embedder is not None else 0.2
    return sorted((s for s in out if s.score >= threshold), key=lambda s: -s.score)[:MAX_SUGGESTIONS]


async def suggest_for(app: web.Application, actor: Actor, ticket_id: int) -> list[Suggestion]:
    from assistant.server import DB_KEY

    return await asyncio.to_thread(build, actor, app[DB_KEY], ticket_id, _embedder(app))
