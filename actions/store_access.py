"""How actions reach the store: through the services, as the speaker, inside the turn's transaction.

In-process, the dialogue core opens one transaction per turn and publishes its session here; under a
Rasa-SDK action server (a real Rasa engine) there is none, so each action opens its own.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar

from sqlalchemy.orm import Session

from crm_store.db import Database
from crm_store.services import Actor, CrmServices

TURN_SESSION: ContextVar[Session | None] = ContextVar("crm_turn_session", default=None)


class StoreAccess:
    def __init__(self, db: Database) -> None:
        self.db = db

    @contextmanager
    def services(self, actor: Actor) -> Iterator[CrmServices]:
        session = TURN_SESSION.get()
        if session is not None:
            yield CrmServices(session, actor)
            return
        with self.db.session() as own:
            yield CrmServices(own, actor)
