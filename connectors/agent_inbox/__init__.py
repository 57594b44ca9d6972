"""The agent inbox at ``/agent/``: staff work tickets in the browser (``pages``), replies reach customers
through ``crm_store.services.ticket_replies``, hand-overs and customer messages arrive live (``live``).

Mounted by ``crm-assistant serve`` (``assistant.server.CONNECTOR_MODULES``) through :func:`install`.
"""

from __future__ import annotations

from aiohttp import web

from connectors.agent_inbox.api import add_api_routes
from connectors.agent_inbox.live import HUB_KEY, LiveHub
from connectors.agent_inbox.pages import add_routes, send_reply


def install(app: web.Application) -> None:
    if HUB_KEY in app:
        return
    from assistant.runtime import NOTIFIER_KEY
    from assistant.server import SETTINGS_KEY
    from connectors.agent_inbox.notify import InboxNotifier

    hub = LiveHub()
    app[HUB_KEY] = hub
    if NOTIFIER_KEY not in app:
        app[NOTIFIER_KEY] = InboxNotifier(hub, wait_seconds=app[SETTINGS_KEY].handover_wait_seconds)

    async def bind(_app: web.Application) -> None:
        import asyncio

        hub.bind(asyncio.get_running_loop())

    async def close(_app: web.Application) -> None:
        hub.close()

    app.on_startup.append(bind)
    app.on_shutdown.append(close)
    add_routes(app)
    add_api_routes(app)


__all__ = ["HUB_KEY", "LiveHub", "install", "send_reply"]
