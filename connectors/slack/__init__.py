"""Slack: the Events API, the ``/crm`` command, the "Log to CRM" shortcut and button clicks at
``POST /slack/events``, an outbox worker for everything we post, and the weekly pipeline digest.

    install(app)   # mounted by run_server when SLACK_BOT_TOKEN (and SLACK_SIGNING_SECRET) are set

Every request is verified here, on the raw body, before slack-bolt sees it (``verify.py``); bolt's own
verification is switched off so the rule lives in one place. Two Web API clients talk to
``settings.slack_api_url`` (a local fake in tests) over one aiohttp session: one for reads, which
retries 429 (honouring Retry-After) and 5xx itself, and one without retries for the outbox
(``outbox.py``), which stores every post first and retries it with backoff across restarts.
``events.py`` does the work; ``render.py`` builds Block Kit; ``digest.py`` schedules the digest
(channel from ``SLACK_DIGEST_CHANNEL``; see slack/README.md).

With ``SLACK_APP_TOKEN`` (``xapp-…``) the same bolt app also receives everything over Socket Mode
(``socket_mode.py``), for installs without a public URL; ``/slack/events`` is then mounted only when a
signing secret is set.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Callable
from datetime import datetime
from urllib.parse import urlsplit

import aiohttp
from aiohttp import web
from slack_bolt.adapter.aiohttp import to_aiohttp_response, to_bolt_request
from slack_sdk.http_retry.async_handler import AsyncRetryHandler
from slack_sdk.http_retry.builtin_async_handlers import (
    AsyncConnectionErrorRetryHandler,
    AsyncRateLimitErrorRetryHandler,
    AsyncServerErrorRetryHandler,
)
from slack_sdk.http_retry.builtin_interval_calculators import BackoffRetryIntervalCalculator
from slack_sdk.web.async_client import AsyncWebClient

from assistant.leader import leadership
from assistant.runtime import ASSISTANT_KEY, ensure_assistant
from assistant.settings import Settings
from connectors.slack import verify
from connectors.slack.digest import DigestScheduler, digest_config
from connectors.slack.events import SlackConnector
from connectors.slack.outbox import Policy, SlackOutbox
from connectors.slack.socket_mode import SocketMode

log = logging.getLogger(__name__)

CONNECTOR_KEY = web.AppKey("slack_connector", SlackConnector)
OUTBOX_KEY = web.AppKey("slack_outbox", SlackOutbox)
DIGEST_KEY = web.AppKey("slack_digest", DigestScheduler)
SOCKET_KEY = web.AppKey("slack_socket_mode", SocketMode)
CLOCK_KEY = web.AppKey("slack_clock", object)  # tests: a () -> aware datetime for the digest scheduler
_SESSION_KEY = web.AppKey("slack_http_session", aiohttp.ClientSession)
PATH = "/slack/events"
RETRIES = 3


def make_client(
    settings: Settings, session: aiohttp.ClientSession | None = None, *, retries: bool = True
) -> AsyncWebClient:
    """The Web API client: Slack (or a fake) at ``slack_api_url``; with ``retries`` it retries rate
    limits, 5xx and connection errors itself (reads), without them it leaves that to the outbox."""
    backoff = float(settings.extra.get("slack_retry_backoff", "0.5"))
    handlers: list[AsyncRetryHandler] = []
    if retries:
        handlers = [
            AsyncConnectionErrorRetryHandler(max_retry_count=RETRIES),
            AsyncRateLimitErrorRetryHandler(max_retry_count=RETRIES),
            AsyncServerErrorRetryHandler(
                max_retry_count=RETRIES,
                interval_calculator=BackoffRetryIntervalCalculator(backoff_factor=backoff),
            ),
        ]
    base_url = (
        settings.slack_api_url if settings.slack_api_url.endswith("/") else settings.slack_api_url + "/"
    )
    return AsyncWebClient(
        token=settings.slack_bot_token, base_url=base_url, session=session, retry_handlers=handlers
    )


def outbox_policy(settings: Settings) -> Policy:
    extra = settings.extra
    return Policy(
        backoff=float(extra.get("slack_retry_backoff", "1.0")),
        max_backoff=float(extra.get("slack_outbox_max_backoff", "600")),
        max_attempts=int(extra.get("slack_outbox_max_attempts", "100")),
    )


def _unauthorized() -> web.Response:
    return web.json_response({"error": "invalid or expired Slack signature"}, status=401)


async def slack_events(request: web.Request) -> web.Response:
    from assistant.server import SETTINGS_KEY

    body = await request.read()
    if not verify.is_valid(request.app[SETTINGS_KEY].slack_signing_secret, request.headers, body):
        log.info("refused a Slack request with a bad signature")
        return _unauthorized()
    connector = request.app.get(CONNECTOR_KEY)
    if connector is None:
        return web.json_response({"error": "starting"}, status=503)
    try:
        bolt_request = await to_bolt_request(request)
    except UnicodeDecodeError:
        return web.json_response({"error": "body is not UTF-8"}, status=400)
    return await to_aiohttp_response(await connector.bolt.async_dispatch(bolt_request))


def install(app: web.Application, environ: dict[str, str] | None = None) -> None:
    from assistant.server import DB_KEY, SETTINGS_KEY

    settings = app[SETTINGS_KEY]
    if not (settings.slack_bot_token and (settings.slack_signing_secret or settings.slack_app_token)):
        log.info("Slack is not configured (SLACK_BOT_TOKEN, SLACK_SIGNING_SECRET or SLACK_APP_TOKEN)")
        return
    digest = digest_config(settings, os.environ if environ is None else environ)  # refuses a bad schedule
    ensure_assistant(app)
    # response_url replies may only go to Slack's hooks host (or the configured API host: a fake).
    response_hosts = {"hooks.slack.com", urlsplit(settings.slack_api_url).hostname or "slack.com"}

    async def start(app: web.Application) -> None:
        db = app[DB_KEY]
        clock: Callable[[], datetime] | None = app.get(CLOCK_KEY)  # type: ignore[assignment]
        session = aiohttp.ClientSession()
        app[_SESSION_KEY] = session
        outbox = SlackOutbox(
            db=db,
            client=make_client(settings, session, retries=False),
            policy=outbox_policy(settings),
            response_hosts=response_hosts,
        )
        app[OUTBOX_KEY] = outbox
        connector = SlackConnector(
            db=db,
            client=make_client(settings, session),
            outbox=outbox,
            assistant=lambda: app.get(ASSISTANT_KEY),
            allowed_workspaces=settings.slack_team_ids,
        )
        app[CONNECTOR_KEY] = connector
        outbox.start()  # sends whatever a previous run left pending
        if settings.slack_app_token:
            socket = SocketMode(connector.bolt, app_token=settings.slack_app_token, client=connector.client)
            app[SOCKET_KEY] = socket
            socket.start()
        if digest is not None:
            scheduler = DigestScheduler(
                db=db, outbox=outbox, config=digest, **({"clock": clock} if clock else {})
            )
            app[DIGEST_KEY] = scheduler
            await leadership(app).run_exclusive("slack-digest", scheduler.start, scheduler.stop)
            log.info("Slack pipeline digest scheduled for %s", digest.channel)

    async def stop(app: web.Application) -> None:
        socket = app.get(SOCKET_KEY)
        if socket is not None:
            await socket.stop()  # first: no new turns start while the rest shuts down
        scheduler = app.get(DIGEST_KEY)
        if scheduler is not None:
            await scheduler.stop()
        connector = app.get(CONNECTOR_KEY)
        if connector is not None:
            await connector.finish_turns()
        outbox = app.get(OUTBOX_KEY)
        if outbox is not None:
            await outbox.stop()  # undelivered messages stay in the store for the next start
        session = app.get(_SESSION_KEY)
        if session is not None:
            await session.close()

    app.on_startup.append(start)
    app.on_shutdown.append(stop)
    if settings.slack_signing_secret:
        app.router.add_post(PATH, slack_events)
