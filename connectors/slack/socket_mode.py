"""Socket Mode: the same bolt app, fed over a WebSocket instead of ``POST /slack/events``.

    socket = SocketMode(connector.bolt, app_token=settings.slack_app_token, client=connector.client)
    socket.start()        # on start-up: connects in the background, retrying until Slack answers
    await socket.stop()   # on shutdown, before the turns are finished: no new envelopes after this

For installs without a public HTTPS URL. With ``SLACK_APP_TOKEN`` (``xapp-…``, scope ``connections:write``)
slack-bolt's ``AsyncSocketModeHandler`` (aiohttp) asks ``apps.connections.open`` for a WebSocket URL, reads
envelopes (``events_api``, ``slash_commands``, ``interactive``) and acknowledges each by its
``envelope_id`` once bolt's listener has called ``ack()``. The listeners are those of ``events.py``, so
the dedupe by ``event_id`` (a retried envelope carries the same one), the outbox and the wording are
shared with the HTTP endpoint. There is no signature to check: the app token authenticates the socket.

The handler's client runs a few futures of its own; ``stop()`` stops reading, lets the envelopes being
handled finish (and their acks go out), closes the socket and waits for every one of those futures.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable

from slack_bolt.adapter.socket_mode.async_handler import AsyncSocketModeHandler
from slack_bolt.async_app import AsyncApp
from slack_sdk.socket_mode.aiohttp import SocketModeClient
from slack_sdk.socket_mode.request import SocketModeRequest
from slack_sdk.web.async_client import AsyncWebClient

log = logging.getLogger(__name__)
PING_INTERVAL = 10.0  # seconds between WebSocket pings; a silent connection is replaced after four


class _TrackedHandler(AsyncSocketModeHandler):
    """bolt's handler, remembering the task of every envelope it is handling."""

    def __init__(
        self, app: AsyncApp, *, app_token: str, client: AsyncWebClient, ping_interval: float
    ) -> None:
        super().__init__(app, app_token=app_token, web_client=client, ping_interval=ping_interval, logger=log)
        self.in_flight: set[asyncio.Task[object]] = set()

    async def handle(self, client: SocketModeClient, req: SocketModeRequest) -> None:  # type: ignore[override]
        task = asyncio.current_task()  # a future of the client's, which keeps no reference to it
        if task is not None:
            self.in_flight.add(task)
            task.add_done_callback(self.in_flight.discard)
        log.debug("socket mode envelope %s (%s)", req.envelope_id, req.type)
        await super().handle(client, req)


class SocketMode:
    """One Socket Mode connection feeding ``bolt``; create it inside the running event loop."""

    def __init__(
        self, bolt: AsyncApp, *, app_token: str, client: AsyncWebClient, ping_interval: float = PING_INTERVAL
    ) -> None:
        self._handler = _TrackedHandler(bolt, app_token=app_token, client=client, ping_interval=ping_interval)
        self._connecting: asyncio.Task[None] | None = None

    @property
    def client(self) -> SocketModeClient:
        return self._handler.client

    def start(self) -> None:
        """Connect in the background: start-up is not held up while Slack is unreachable."""
        if self._connecting is None:
            self._connecting = asyncio.create_task(self._connect(), name="slack-socket-mode-connect")

    async def _connect(self) -> None:
        await self._handler.connect_async()  # retries by itself (every ping interval) until connected
        if not self.client.closed:
            log.info("Slack Socket Mode connected")

    async def stop(self) -> None:
        client = self.client
        client.auto_reconnect_enabled = False
        reading = [self._connecting, client.current_session_monitor, client.message_receiver]
        await _cancel(*reading)  # no new envelopes are read from here on
        while self._handler.in_flight:  # those being handled still ack on the open socket
            await asyncio.gather(*list(self._handler.in_flight), return_exceptions=True)
        await self._handler.close_async()
        await _cancel(client.message_processor, client.current_session_monitor, client.message_receiver)
        log.info("Slack Socket Mode closed")


async def _cancel(*futures: Awaitable[object] | None) -> None:
    pending = [asyncio.ensure_future(f) for f in futures if f is not None]
    for future in pending:
        future.cancel()
    await asyncio.gather(*pending, return_exceptions=True)
