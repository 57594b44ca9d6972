"""Slack: the Events API, the ``/crm`` command and button clicks at ``POST /slack/events``.

    install(app)   # mounted by run_server when SLACK_BOT_TOKEN (and SLACK_SIGNING_SECRET) are set

Every request is verified here, on the raw body, before slack-bolt sees it (``verify.py``); bolt's own
verification is switched off so the rule lives in one place. The Web API client talks to
``settings.slack_api_url`` (a local fake in tests) over one aiohttp session and retries on 429
(honouring Retry-After) and on 5xx. ``events.py`` does the work; ``render.py`` builds Block Kit.
"""

from __future__ import annotations

import logging

import aiohttp
from aiohttp import web
from slack_bolt.adapter.aiohttp import to_aiohttp_response, to_bolt_request
from slack_sdk.http_retry.builtin_async_handlers import (
    AsyncConnectionErrorRetryHandler,
    AsyncRateLimitErrorRetryHandler,
    AsyncServerErrorRetryHandler,
)
from slack_sdk.http_retry.builtin_interval_calculators import BackoffRetryIntervalCalculator
from slack_sdk.web.async_client import AsyncWebClient

from assistant.runtime import ASSISTANT_KEY, ensure_assistant
from assistant.settings import Settings
from connectors.slack import verify
from connectors.slack.events import SlackConnector

log = logging.getLogger(__name__)

CONNECTOR_KEY = web.AppKey("slack_connector", SlackConnector)
_SESSION_KEY = web.AppKey("slack_http_session", aiohttp.ClientSession)
PATH = "/slack/events"
RETRIES = 3


def make_client(settings: Settings, session: aiohttp.ClientSession | None = None) -> AsyncWebClient:
    """The Web API client: Slack (or a fake) at ``slack_api_url``, retrying rate limits and 5xx."""
    backoff = float(settings.extra.get("slack_retry_backoff", "0.5"))
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


def install(app: web.Application) -> None:
    from assistant.server import DB_KEY, SETTINGS_KEY

    settings = app[SETTINGS_KEY]
    if not (settings.slack_bot_token and settings.slack_signing_secret):
        log.info("Slack is not configured (SLACK_BOT_TOKEN, SLACK_SIGNING_SECRET); /slack/events not mounted")
        return
    ensure_assistant(app)

    async def start(app: web.Application) -> None:
        session = aiohttp.ClientSession()
        app[_SESSION_KEY] = session
        app[CONNECTOR_KEY] = SlackConnector(
            db=app[DB_KEY], client=make_client(settings, session), assistant=lambda: app.get(ASSISTANT_KEY)
        )

    async def stop(app: web.Application) -> None:
        connector = app.get(CONNECTOR_KEY)
        if connector is not None:
            await connector.drain()
        session = app.get(_SESSION_KEY)
        if session is not None:
            await session.close()

    app.on_startup.append(start)
    app.on_shutdown.append(stop)
    app.router.add_post(PATH, slack_events)
