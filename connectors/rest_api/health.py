"""``GET /health``: 200 when the store answers, 503 when it does not (for load balancers and monitors)."""

from __future__ import annotations

import asyncio

from aiohttp import web

from crm_store.db import Database

HEALTH_PATH = "/health"


def install_health(app: web.Application, db: Database) -> None:
    async def health(request: web.Request) -> web.Response:
        if await asyncio.to_thread(db.ping):
            return web.json_response({"status": "ok", "database": "ok"})
        return web.json_response(
            {"status": "unavailable", "database": "unreachable"}, status=503, headers={"Retry-After": "5"}
        )

    app.router.add_get(HEALTH_PATH, health, name="health")
