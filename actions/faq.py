"""Questions answered from the knowledge base: semantic search in the user's language, then the other.

Every published article is embedded as its title and as "title. paragraph" per paragraph; an article
scores its best unit, and the answer is its title plus the paragraph closest to the question. Vectors
are cached in memory per (article id, updated_at), so an edited article is embedded again, lazily.
Without an embedder the search falls back to word overlap.
"""

from __future__ import annotations

import re
import threading
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING, Any

import numpy as np
from rasa_sdk import Action
from rasa_sdk.events import EventType, FollowupAction, SlotSet

from actions.base import Turn
from actions.store_access import StoreAccess
from actions.tickets import TicketAction, content_words
from assistant.parsing import parse_payload
from crm_store.models import KnowledgeArticle

if TYPE_CHECKING:
    from actions.registry import ActionDeps

# Cosine similarity of the best article unit; chosen on the labelled questions in
# tests/integration/test_customer_actions.py (all-MiniLM-L6-v2: answerable EN/DE questions score
# 0.6-1.0, unrelated or nonsense ones at most 0.45).
FAQ_THRESHOLD = 0.52
LEXICAL_THRESHOLD = 0.5  # share of the question's content words found in the article (no embedder)
MAX_ANSWER_CHARS = 480
LANGUAGES = ("en", "de")


@dataclass(frozen=True)
class Hit:
    article_id: int
    title: str
    passage: str
    score: float
    language: str


def paragraphs(body: str) -> list[str]:
    parts = [p.strip() for p in re.split(r"\n\s*\n", body) if p.strip()]
    return parts or [body.strip()]


def trim(text: str, limit: int = MAX_ANSWER_CHARS) -> str:
    """Whole sentences up to ``limit`` characters (a single long sentence is cut at a word)."""
    text = " ".join(text.split())
    if len(text) <= limit:
        return text
    sentences = re.split(r"(?<=[.!?])\s+", text)
    out = ""
    for sentence in sentences:
        if len(out) + len(sentence) + 1 > limit:
            break
        out = f"{out} {sentence}".strip()
    return out or f"{text[: limit - 1].rsplit(' ', 1)[0]}…"


class ArticleIndex:
    """Article vectors, computed when first needed and kept while the article is unchanged."""

    def __init__(self, embedder: Any) -> None:
        self.embedder = embedder
        self._vectors: dict[tuple[int, datetime | None], np.ndarray] = {}
        self._lock = threading.Lock()

    def _units(self, articles: list[KnowledgeArticle]) -> list[np.ndarray]:
        """Each article's unit vectors; the ones not cached yet are encoded together, in one batch."""
        keys = [(a.id, a.updated_at) for a in articles]
        with self._lock:
            found = [self._vectors.get(k) for k in keys]
        missing = [a for a, v in zip(articles, found, strict=True) if v is None]
        if missing:
            texts = [[a.title, *(f"{a.title}. {p}" for p in paragraphs(a.body))] for a in missing]
            flat = np.asarray(self.embedder.encode([t for unit in texts for t in unit]), dtype=np.float32)
            fresh: dict[tuple[int, datetime | None], np.ndarray] = {}
            start = 0
            for article, unit in zip(missing, texts, strict=True):
                fresh[(article.id, article.updated_at)] = flat[start : start + len(unit)]
                start += len(unit)
            with self._lock:
                stale = {a.id for a in missing}
                self._vectors = {k: v for k, v in self._vectors.items() if k[0] not in stale} | fresh
            found = [v if v is not None else fresh[k] for k, v in zip(keys, found, strict=True)]
        return [v for v in found if v is not None]

    def best(self, question: str, articles: list[KnowledgeArticle]) -> Hit | None:
        if not articles:
            return None
        if self.embedder is None:
            return _lexical_best(question, articles)
        query = np.asarray(self.embedder.encode([question]), dtype=np.float32)[0]
        best: Hit | None = None
        for article, units in zip(articles, self._units(articles), strict=True):
            scores = units @ query
            if best is not None and float(scores.max()) <= best.score:
                continue
            paras = paragraphs(article.body)
            passage = paras[int(np.argmax(scores[1:]))] if len(scores) > 1 else paras[0]
            best = Hit(article.id, article.title, passage, float(scores.max()), article.language)
        return best


def _lexical_best(question: str, articles: list[KnowledgeArticle]) -> Hit | None:
    asked = content_words(question)
    if not asked:
        return None
    best: Hit | None = None
    for article in articles:
        known = content_words(f"{article.title} {article.body}")
        score = len(asked & known) / len(asked)
        if best is None or score > best.score:
            paras = paragraphs(article.body)
            passage = max(paras, key=lambda p: len(asked & content_words(p)))
            best = Hit(article.id, article.title, passage, score, article.language)
    return best


class ActionFaq(TicketAction):
    NAME = "action_faq"

    def __init__(self, store: StoreAccess, embedder: Any = None) -> None:
        super().__init__(store, embedder)
        self.index = ArticleIndex(embedder)
        self.threshold = FAQ_THRESHOLD if embedder is not None else LEXICAL_THRESHOLD

    def search(self, turn: Turn, question: str) -> Hit | None:
        """The best article above the threshold: the user's language first, then the other one."""
        order = [turn.lang, *(lang for lang in LANGUAGES if lang != turn.lang)]
        with self.crm(turn) as crm:
            for lang in order:
                hit = self.index.best(question, crm.knowledge.published(lang))
                if hit is not None and hit.score >= self.threshold:
                    return hit
        return None

    def act(self, turn: Turn) -> list[EventType]:
        if turn.confirmed:  # "yes, open a ticket" after an unanswered question: it becomes the description
            asked = turn.slot("pending")
            return [
                SlotSet("pending_action", None),
                SlotSet("pending", None),
                *([SlotSet("description", str(asked))] if asked else []),
                FollowupAction("report_issue_form"),
            ]
        question = turn.text.strip()
        hit = self.search(turn, question) if question and parse_payload(question) is None else None
        if hit is None:
            turn.say("utter_faq_no_answer")
            return [SlotSet("pending_action", self.NAME), SlotSet("pending", question or None)]
        turn.say("utter_faq_answer", title=hit.title, answer=trim(hit.passage))
        return turn.done()


def actions(deps: ActionDeps) -> list[Action]:
    return [ActionFaq(deps.store, deps.embedder)]
