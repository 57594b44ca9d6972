"""Who a chat account is in the CRM: the linked user (``LinkService.resolve``), cached for seconds only."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Hashable

from crm_store.db import Database
from crm_store.services import Actor, CrmServices
from crm_store.services.links import ChatAccount
from crm_store.services.users import actor_for

ACTOR_CACHE_SECONDS = 5.0  # a deactivated, unlinked or revoked CRM user loses chat access within seconds


class ActorDirectory:
    def __init__(self, db: Database, system: str, *, cache_seconds: float = ACTOR_CACHE_SECONDS) -> None:
        self.db = db
        self.system = system  # the system actor the look-up runs as ("slack", "teams")
        self.cache_seconds = cache_seconds
        self._cache: dict[Hashable, tuple[float, Actor]] = {}

    async def actor(self, key: Hashable, account: ChatAccount, default_lang: str) -> tuple[Actor | None, str]:
        """The CRM user linked to ``account`` (``key`` names it in the cache), and a language."""
        cached = self._cache.get(key)
        if cached is not None and time.monotonic() - cached[0] < self.cache_seconds:
            return cached[1], cached[1].language
        actor = await asyncio.to_thread(self.resolve, account)
        if actor is None:
            self._cache.pop(key, None)
            return None, default_lang
        self._cache[key] = (time.monotonic(), actor)
        return actor, actor.language

    def clear(self) -> None:
        """Forget every cached look-up (tests; after bulk link changes)."""
        self._cache.clear()

    def resolve(self, account: ChatAccount) -> Actor | None:
        with self.db.session() as session:
            user = CrmServices(session, Actor.system(self.system)).links.resolve(account)
            return actor_for(user) if user is not None else None
