"""The aiohttp application: the ONE place that builds the object graph (shared/STYLE.md).

    app = build_app(settings)                  # store, REST API, /health, every connector
    run_server(settings, print_banner=print)   # serve until SIGINT/SIGTERM

Collaborators live in typed app keys (``app[DB_KEY]``, ``app[SETTINGS_KEY]``). A connector (web chat,
Slack, Teams) mounts itself with an installer ``fn(app) -> None`` that reads those keys and adds
its routes; pass it as ``build_app(..., extra=[fn])`` or ``register_installer(fn)`` at import time.
Modules listed in ``CONNECTOR_MODULES`` are imported by ``run_server`` when present; one that
defines ``install(app)`` is installed without registering itself.
"""

from __future__ import annotations

import asyncio
import importlib
import logging
import signal
from collections.abc import Callable, Iterable
from types import ModuleType

from aiohttp import web

from assistant import leader, speaker_seal
from assistant.runtime import IN_BACKGROUND_KEY
from assistant.settings import Settings
from connectors.rest_api import RestApi, install_health, problem_middleware
from crm_store.db import Database
from crm_store.services import grants
from crm_store.services.retention import RetentionSchedule, load_policy

log = logging.getLogger(__name__)

Installer = Callable[[web.Application], None]

DB_KEY = web.AppKey("db", Database)
SETTINGS_KEY = web.AppKey("settings", Settings)

# Installers every app gets, in order (explicit, appended by the connector modules themselves).
INSTALLERS: list[Installer] = []

# Connector modules loaded by run_server when they exist (others may not be written yet).
CONNECTOR_MODULES: tuple[str, ...] = (
    "connectors.web_chat",
    "connectors.slack",
    "connectors.teams",
    "connectors.email",
    "connectors.consent_links",
    "connectors.agent_inbox",
)


def register_installer(fn: Installer) -> Installer:
    """Add ``fn`` to every app ``build_app`` makes (once); usable as a decorator."""
    if fn not in INSTALLERS:
        INSTALLERS.append(fn)
    return fn


def load_connectors(modules: Iterable[str] = CONNECTOR_MODULES) -> list[ModuleType]:
    """Import the connector modules that exist; one defining ``install(app)`` is registered."""
    loaded = []
    for name in modules:
        try:
            module = importlib.import_module(name)
        except ModuleNotFoundError as exc:
            if exc.name == name:
                continue
            raise
        install = getattr(module, "install", None)
        if callable(install):
            register_installer(install)
        loaded.append(module)
    return loaded


def build_app(
    settings: Settings, *, db: Database | None = None, extra: list[Installer] | None = None
) -> web.Application:
    """The whole HTTP application. A store passed in stays the caller's; one made here is disposed."""
    app = web.Application(client_max_size=settings.max_body_bytes, middlewares=[problem_middleware])
    database = db if db is not None else Database(settings.database_url)
    app[SETTINGS_KEY] = settings
    speaker_seal.configure(settings.secret_key)
    grants.configure(idle_seconds=settings.customer_proof_idle_seconds)
    app[DB_KEY] = database
    if db is None:

        async def dispose(_app: web.Application) -> None:
            database.dispose()

        app.on_cleanup.append(dispose)
    install_health(app, database)
    leader.install(app, database)  # background jobs that run in one worker only
    install_retention_schedule(app)
    RestApi(database).install(app)
    for install in (*INSTALLERS, *(extra or ())):
        install(app)
    return app


RETENTION_KEY = web.AppKey("retention_schedule", RetentionSchedule)


def install_retention_schedule(app: web.Application) -> None:
    """Run the retention rules daily (``CRM_RETENTION_SCHEDULE``: ``daily``/``off``); the task is held in
    the app and stopped on shutdown. The first run is at the next 03:00 UTC, never at start-up."""
    settings = app[SETTINGS_KEY]
    if settings.retention_schedule == "off":
        return
    policy = load_policy(settings.retention_config)  # a broken file stops the start, not the night run

    async def start(app: web.Application) -> None:
        schedule = RetentionSchedule(app[DB_KEY], policy)
        app[RETENTION_KEY] = schedule
        await leader.leadership(app).run_exclusive("retention", schedule.start, schedule.stop)

    async def stop(app: web.Application) -> None:
        schedule = app.get(RETENTION_KEY)
        if schedule is not None:
            await schedule.stop()

    app.on_startup.append(start)
    app.on_shutdown.append(stop)


def listening_urls(runner: web.AppRunner) -> list[str]:
    urls = []
    for address in runner.addresses:
        host, port = address[0], address[1]
        urls.append(f"http://[{host}]:{port}" if ":" in host else f"http://{host}:{port}")
    return urls


async def serve(
    app: web.Application,
    *,
    host: str,
    port: int,
    print_banner: Callable[[str], object] | None = None,
    stop: asyncio.Event | None = None,
) -> None:
    """Serve ``app`` until SIGINT/SIGTERM (or ``stop`` is set), then shut down cleanly."""
    stop = stop or asyncio.Event()
    loop = asyncio.get_running_loop()
    signals = (signal.SIGINT, signal.SIGTERM)
    for sig in signals:
        loop.add_signal_handler(sig, stop.set)
    runner = web.AppRunner(app)
    await runner.setup()
    try:
        site = web.TCPSite(runner, host, port)
        await site.start()
        url = listening_urls(runner)[0] if runner.addresses else f"http://{host}:{port}"
        if print_banner is not None:
            print_banner(url)
        log.info("listening on %s", url)
        await stop.wait()
        log.info("shutting down")
    finally:
        for sig in signals:
            loop.remove_signal_handler(sig)
        await runner.cleanup()


def run_server(
    settings: Settings,
    *,
    db: Database | None = None,
    print_banner: Callable[[str], object] | None = None,
    extra: list[Installer] | None = None,
    connectors: bool = True,
) -> None:
    """Build the app (with every connector found, unless ``connectors=False``) and serve it until a signal."""
    if connectors:
        load_connectors()
    app = build_app(settings, db=db, extra=extra)
    app[IN_BACKGROUND_KEY] = True  # the URL at once; the chat says "warming up" until the model is loaded
    asyncio.run(serve(app, host=settings.host, port=settings.port, print_banner=print_banner))
