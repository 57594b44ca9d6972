"""The assistant inside the web application: built once at start-up, shared by every chat channel."""

from __future__ import annotations

import asyncio
import functools
import logging
from collections.abc import Callable
from typing import Any, Protocol

from aiohttp import web

from assistant.messages import IncomingMessage
from assistant.settings import Settings
from crm_store.db import Database

log = logging.getLogger(__name__)

class Engine(Protocol):
    """What channels call: the in-process :class:`Assistant` or :class:`connectors.rasa_engine.RasaEngine`."""

    async def handle(self, msg: IncomingMessage) -> list[dict[str, Any]]: ...


AssistantFactory = Callable[[Database, Settings], Engine]
ASSISTANT_KEY = web.AppKey("assistant", Engine)  # type: ignore[type-abstract]
FACTORY_KEY = web.AppKey("assistant_factory", object)
NOTIFIER_KEY = web.AppKey("handover_notifier", object)  # who hears of hand-overs (connectors/agent_inbox)
_READY_KEY = web.AppKey("assistant_ready", asyncio.Event)


def default_factory(db: Database, settings: Settings, notifier: Any = None) -> Engine:
    if settings.rasa_url:
        from connectors.rasa_engine import RasaEngine

        log.warning("dialogue engine: the Rasa server at %s", settings.rasa_url)
        return RasaEngine(settings.rasa_url, session=None, token=settings.rasa_token)
    from assistant.app import build_assistant, load_nlu

    log.warning("loading the language model from %s (the first start trains it: about a minute)", settings.model_dir)
    nlu = load_nlu(settings.model_dir, settings.training_data)
    embedder = getattr(nlu, "embedder", None)
    return build_assistant(db, nlu, training_data=settings.training_data, embedder=embedder,
                           public_url=settings.public_url, notifier=notifier)


def ensure_assistant(app: web.Application) -> None:
    """Install the start-up hook that builds the assistant (idempotent; every chat channel calls it)."""
    if _READY_KEY in app:
        return
    app[_READY_KEY] = asyncio.Event()

    async def start(app: web.Application) -> None:
        from assistant.server import DB_KEY, SETTINGS_KEY

        factory: Any = app.get(FACTORY_KEY) or functools.partial(default_factory, notifier=app.get(NOTIFIER_KEY))
        app[ASSISTANT_KEY] = await asyncio.to_thread(factory, app[DB_KEY], app[SETTINGS_KEY])
        app[_READY_KEY].set()
        log.info("assistant ready")

    async def stop(app: web.Application) -> None:
        engine = app.get(ASSISTANT_KEY)
        close = getattr(engine, "aclose", None)
        if close is not None:
            await close()

    app.on_startup.append(start)
    app.on_cleanup.append(stop)


def get_assistant(app: web.Application) -> Engine:
    return app[ASSISTANT_KEY]
