"""``GET /health``: 200 when the store answers, 503 when it does not (for load balancers and monitors).

With a chat assistant in the app, ``"assistant"`` tells its state: ``{"state": "warming_up", "phase",
"progress", "eta_seconds", "elapsed_seconds"}`` while the language model loads or trains (the top-level
``"status"`` is then ``"warming_up"``), ``{"state": "ready"}``, or ``{"state": "failed"}`` (``"status":
"degraded"``: the chat cannot answer; the server log says why). All of these are 200: the contract's 200 means
the store answers.
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
        # the contract: 200 whenever the store answers; "status" tells a monitor what the chat can do
        status = {"warming_up": "warming_up", "failed": "degraded"}.get(assistant["state"], "ok")
        return web.json_response({"status": status, "database": "ok", "assistant": assistant})

    app.router.add_get(HEALTH_PATH, health, name="health")
