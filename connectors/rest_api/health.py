"""``GET /health``: 200 when the store answers, 503 when it does not (for load balancers and monitors).

With a chat assistant in the app, ``"assistant"`` tells its state: ``{"state": "warming_up", "phase",
"progress", "eta_seconds", "elapsed_seconds"}`` while the language model loads or trains (the top-level
``"status"`` is then ``"warming_up"``, still 200: the service is up), ``{"state": "ready"}``, or
``{"state": "failed"}`` (503: it cannot answer chats; the server log says why).
"""

from __future__ import annotations

import asyncio

from aiohttp import web

from assistant.runtime import warm_up_status
from crm_store.db import Database

HEALTH_PATH = "/health"


def install_health(app: web.Application, db: Database) -> None:
    async def health(request: web.Request) -> web.Response:
        if not await asyncio.to_thread(db.ping):
            return web.json_response(
                {"status": "unavailable", "database": "unreachable"}, status=503, headers={"Retry-After": "5"}
            )
        assistant = warm_up_status(request.app)
        if assistant is None:
            return web.json_response({"status": "ok", "database": "ok"})
        if assistant["state"] == "failed":
            return web.json_response(
                {"status": "unavailable", "database": "ok", "assistant": assistant}, status=503
            )
        status = "warming_up" if assistant["state"] == "warming_up" else "ok"
        return web.json_response({"status": status, "database": "ok", "assistant": assistant})

    app.router.add_get(HEALTH_PATH, health, name="health")
