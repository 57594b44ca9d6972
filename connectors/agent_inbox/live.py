"""Live updates for signed-in agents: an in-process hub that the hand-over notifier and the reply routes
publish to, and that each open inbox page listens to through Server-Sent Events (``GET /agent/events``).

An event goes to one user (the assignee), to a team (an unassigned hand-over), or to every listening agent.
Events carry ids and a short line, never message text: the page fetches what the agent may read through
the services.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
from dataclasses import dataclass, field
from typing import Any

from aiohttp import web

log = logging.getLogger(__name__)
QUEUE_SIZE = 100
KEEPALIVE_SECONDS = 20.0


@dataclass(eq=False)
class _Listener:
    user_id: int
    team_id: int | None
    queue: asyncio.Queue[dict[str, Any]] = field(default_factory=lambda: asyncio.Queue(QUEUE_SIZE))


class LiveHub:
    """Thread-safe publish (actions may run in worker threads); delivery on the hub's event loop."""

    def __init__(self) -> None:
        self._listeners: set[_Listener] = set()
        self._loop: asyncio.AbstractEventLoop | None = None

    def bind(self, loop: asyncio.AbstractEventLoop) -> None:
        self._loop = loop

    def listen(self, user_id: int, team_id: int | None) -> _Listener:
        self._loop = self._loop or asyncio.get_running_loop()
        listener = _Listener(user_id, team_id)
        self._listeners.add(listener)
        return listener

    def leave(self, listener: _Listener) -> None:
        self._listeners.discard(listener)

    def close(self) -> None:
        """Server shutdown: every open stream ends (so that shutdown does not wait for the pages)."""
        for listener in list(self._listeners):
            with contextlib.suppress(asyncio.QueueFull):
                listener.queue.put_nowait(_CLOSE)

    def publish(
        self, event: dict[str, Any], *, user_id: int | None = None, team_id: int | None = None
    ) -> None:
        loop = self._loop
        if loop is None or loop.is_closed():
            return
        try:
            running = asyncio.get_running_loop()
        except RuntimeError:
            running = None
        if running is loop:
            self._deliver(event, user_id, team_id)
        else:
            loop.call_soon_threadsafe(self._deliver, event, user_id, team_id)

    def _deliver(self, event: dict[str, Any], user_id: int | None, team_id: int | None) -> None:
        for listener in list(self._listeners):
            if user_id is not None and listener.user_id != user_id:
                continue
            if user_id is None and team_id is not None and listener.team_id != team_id:
                continue
            with contextlib.suppress(asyncio.QueueFull):  # a stalled page misses events, never blocks us
                listener.queue.put_nowait(event)


HUB_KEY = web.AppKey("agent_live_hub", LiveHub)
_CLOSE: dict[str, Any] = {"type": "_close"}


async def events(request: web.Request, user_id: int, team_id: int | None) -> web.StreamResponse:
    """The SSE stream of one signed-in agent until they leave the page."""
    hub = request.app[HUB_KEY]
    response = web.StreamResponse(
        headers={"Content-Type": "text/event-stream", "Cache-Control": "no-store", "X-Accel-Buffering": "no"}
    )
    await response.prepare(request)
    listener = hub.listen(user_id, team_id)
    try:
        await response.write(b": connected\n\n")
        while True:
            try:
                async with asyncio.timeout(KEEPALIVE_SECONDS):
                    event = await listener.queue.get()
            except TimeoutError:
                await response.write(b": keep-alive\n\n")
                continue
            if event is _CLOSE:
                break
            await response.write(
                f"event: {event.get('type', 'update')}\ndata: {json.dumps(event)}\n\n".encode()
            )
    except ConnectionResetError:  # the page was closed
        pass
    finally:
        hub.leave(listener)
    return response
