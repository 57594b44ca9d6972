"""Turning text into a parse: button payloads directly, everything else through the NLU, batched.

Concurrent turns share one encoder call: requests that arrive while a batch is being parsed wait and
go together into the next batch (no timers, no polling).
"""

from __future__ import annotations

import asyncio
import json
import re
from collections import defaultdict
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Protocol

PAYLOAD_RE = re.compile(r"^/(?P<intent>[A-Za-z_][A-Za-z0-9_]*)(?P<entities>\{.*\})?$", re.S)
MAX_BATCH = 64


class NLU(Protocol):
    def parse_batch(self, texts: list[str], *, langs: list[str | None] | None = None, now: datetime | None = None,
                    tz: str = "Europe/Berlin") -> list[Any]: ...


def parse_payload(text: str) -> dict[str, Any] | None:
    """Rasa's button payload syntax: ``/intent{"entity": "value"}``."""
    m = PAYLOAD_RE.match(text.strip())
    if not m:
        return None
    entities: list[dict[str, Any]] = []
    if m.group("entities"):
        try:
            data = json.loads(m.group("entities"))
        except json.JSONDecodeError:
            return None
        if not isinstance(data, dict):
            return None
        entities = [{"entity": str(k), "value": v, "start": 0, "end": 0, "extractor": "payload"}
                    for k, v in data.items()]
    intent = {"name": m.group("intent"), "confidence": 1.0}
    return {"text": text, "intent": intent, "intent_ranking": [intent], "entities": entities, "language": None}


@dataclass
class _Request:
    text: str
    lang: str | None
    future: asyncio.Future[dict[str, Any]] = field(repr=False)


class BatchingParser:
    def __init__(self, nlu: NLU, *, max_batch: int = MAX_BATCH) -> None:
        self.nlu = nlu
        self.max_batch = max_batch
        self._queues: dict[tuple[str, str], list[_Request]] = defaultdict(list)
        self._busy: set[tuple[str, str]] = set()
        self._tasks: set[asyncio.Task[None]] = set()

    async def parse(self, text: str, *, lang: str | None = None, tz: str = "Europe/Berlin",
                    now: datetime | None = None) -> dict[str, Any]:
        payload = parse_payload(text)
        if payload is not None:
            payload["language"] = lang
            return payload
        # requests with the same reference time share a batch; "now" is rounded to the second
        key = (tz, (now or datetime.now().astimezone()).isoformat(timespec="seconds") if now else "")
        fut: asyncio.Future[dict[str, Any]] = asyncio.get_running_loop().create_future()
        self._queues[key].append(_Request(text, lang, fut))
        if key not in self._busy:
            self._busy.add(key)
            task = asyncio.create_task(self._drain(key, tz, now))
            self._tasks.add(task)
            task.add_done_callback(self._tasks.discard)
        return await fut

    async def _drain(self, key: tuple[str, str], tz: str, now: datetime | None) -> None:
        try:
            while self._queues[key]:
                batch = self._queues[key][: self.max_batch]
                del self._queues[key][: self.max_batch]
                try:
                    results = await asyncio.to_thread(
                        self.nlu.parse_batch, [r.text for r in batch], langs=[r.lang for r in batch], now=now, tz=tz)
                except Exception as exc:  # hand the failure to every waiter
                    for r in batch:
                        if not r.future.done():
                            r.future.set_exception(exc)
                    continue
                for r, res in zip(batch, results, strict=True):
                    if not r.future.done():
                        r.future.set_result(res.to_dict() if hasattr(res, "to_dict") else res)
        finally:
            self._busy.discard(key)
            self._queues.pop(key, None)
