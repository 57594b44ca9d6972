"""Microsoft Teams (Bot Framework) at ``POST /api/messages``.

    install(app)   # mounted by run_server when TEAMS_APP_ID and TEAMS_APP_PASSWORD are set

``TEAMS_TENANT_IDS`` is required (``SettingsError`` otherwise): another tenant's administrator controls
which e-mail addresses its users appear with. Each request is authenticated first (``auth.py``: the Bot
Framework or single-tenant Entra JWT, keys from the OpenID metadata at ``settings.teams_openid_url`` /
``teams_entra_openid_url``; anything wrong is a 401, never a 500), the body is parsed into the Agents
SDK's ``Activity`` (a malformed one is a 400), then handed to ``activities.TeamsConnector``, which claims
it and runs the turn through the SDK (``sdk.py``) in a tracked background task, so Microsoft gets its
200 at once. An ``invoke`` (a card's ``Action.Execute`` click, the message extension) is answered in
the response, which Teams waits for (``cards.py``, ``extension.py``). ``render.py`` builds the markdown
text and Adaptive Cards; ``outbox.py`` sends proactive messages (the weekly digest, ``digest.py``).
Setup: ``teams/README.md``.
"""

from __future__ import annotations

import json
import logging
import os

import aiohttp
from aiohttp import web
from microsoft_agents.activity import Activity
from pydantic import ValidationError

from assistant.runtime import ASSISTANT_KEY, ensure_assistant
from assistant.settings import SettingsError
from connectors.teams import auth, sdk
from connectors.teams.activities import TeamsConnector
from connectors.teams.digest import TeamsDigestScheduler, digest_config
from connectors.teams.outbox import TeamsOutbox

log = logging.getLogger(__name__)

PATH = "/api/messages"
CONNECTOR_KEY = web.AppKey("teams_connector", TeamsConnector)
KEYS_KEY = web.AppKey("teams_signing_keys", auth.Issuers)
OUTBOX_KEY = web.AppKey("teams_outbox", TeamsOutbox)
DIGEST_KEY = web.AppKey("teams_digest", TeamsDigestScheduler)
_SESSION_KEY = web.AppKey("teams_http_session", aiohttp.ClientSession)


def _unauthorized() -> web.Response:
    return web.json_response({"error": "invalid or missing Bot Framework token"}, status=401)


async def messages(request: web.Request) -> web.Response:
    from assistant.server import SETTINGS_KEY

    connector, keys = request.app.get(CONNECTOR_KEY), request.app.get(KEYS_KEY)
    if connector is None or keys is None:
        return web.json_response({"error": "starting"}, status=503)
    try:
        claims, key = await auth.verify_bearer(
            request.headers.get("Authorization"), keys=keys, app_id=request.app[SETTINGS_KEY].teams_app_id
        )
    except auth.AuthError as exc:
        log.info("refused a Teams request: %s", exc)
        return _unauthorized()
    except Exception:  # a bug must still not open the door or answer 500
        log.exception("unexpected error while checking a Teams token")
        return _unauthorized()
    try:
        activity = json.loads(await request.read())
        if not isinstance(activity, dict):
            raise ValueError("not an object")
        Activity.model_validate(activity)  # the SDK's model must accept it before we do anything
    except (ValueError, UnicodeDecodeError, ValidationError):
        return web.json_response({"error": "body is not a JSON activity"}, status=400)
    try:
        auth.check_activity(claims, key, activity)
    except auth.AuthError as exc:
        log.info("refused a Teams activity: %s", exc)
        return _unauthorized()
    if activity.get("type") == "invoke":  # Teams waits for the answer (a card click, a message action)
        status, body = await connector.invoke(activity, sdk.identity_for(claims))
        return web.json_response(body, status=status)
    connector.accept(activity, sdk.identity_for(claims))
    return web.Response(status=200)


def install(app: web.Application) -> None:
    from assistant.server import DB_KEY, SETTINGS_KEY

    settings = app[SETTINGS_KEY]
    if not settings.teams_app_id or (
        settings.teams_auth_type == "client_secret" and not settings.teams_app_password
    ):
        log.info("Teams is not configured (TEAMS_APP_ID, TEAMS_APP_PASSWORD); %s not mounted", PATH)
        return
    if not settings.teams_tenant_ids:
        if not settings.demo:
            raise SettingsError(
                "TEAMS_TENANT_IDS is empty: list the Azure AD tenants whose users may talk to the bot"
            )
        log.warning("TEAMS_TENANT_IDS is not set: the demo's Teams endpoint hears nobody")
    ensure_assistant(app)
    digest = digest_config(settings, os.environ)

    async def start(app: web.Application) -> None:
        session = aiohttp.ClientSession()
        app[_SESSION_KEY] = session
        refresh = float(settings.extra.get("teams_jwks_min_refresh", auth.MIN_REFRESH_SECONDS))
        tenant = sdk.app_tenant(settings)
        entra_url = (
            settings.teams_entra_openid_url
            or f"{sdk.authority(settings)}/v2.0/.well-known/openid-configuration"
        )
        app[KEYS_KEY] = auth.Issuers.of(
            auth.SigningKeys(session, settings.teams_openid_url, min_refresh_seconds=refresh),
            auth.SigningKeys(session, entra_url, min_refresh_seconds=refresh) if tenant else None,
            tenant,
        )
        adapter = sdk.build_adapter(settings, backoff=float(settings.extra.get("teams_retry_backoff", "0.5")))
        app[CONNECTOR_KEY] = TeamsConnector(
            db=app[DB_KEY],
            adapter=adapter,
            assistant=lambda: app.get(ASSISTANT_KEY),
            member_lookup=settings.teams_member_lookup,
            tenants=settings.teams_tenant_ids,
            public_url=settings.public_url,
        )
        worker = TeamsOutbox(db=app[DB_KEY], adapter=adapter, app_id=settings.teams_app_id)
        app[OUTBOX_KEY] = worker
        worker.start()
        if digest is not None:
            scheduler = TeamsDigestScheduler(db=app[DB_KEY], outbox=worker, config=digest)  # type: ignore[arg-type]
            app[DIGEST_KEY] = scheduler
            scheduler.start()

    async def stop(app: web.Application) -> None:
        connector = app.get(CONNECTOR_KEY)
        if connector is not None:
            await connector.drain()
        for key in (DIGEST_KEY, OUTBOX_KEY):
            task = app.get(key)
            if task is not None:
                await task.stop()
        session = app.get(_SESSION_KEY)
        if session is not None:
            await session.close()

    app.on_startup.append(start)
    app.on_shutdown.append(stop)
    app.router.add_post(PATH, messages)
