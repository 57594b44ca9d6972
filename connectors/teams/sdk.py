"""The Microsoft 365 Agents SDK, configured from our settings: outbound auth, connector clients, adapter.

    adapter = build_adapter(settings)                  # a CloudAdapter for /api/messages
    await adapter.process_activity(identity, activity, callback)   # a turn with a live TurnContext
    await adapter.continue_conversation(app_id, reference.get_continuation_activity(), callback)

What the SDK does for us: the activity models (``microsoft_agents.activity``), the outbound app token
through MSAL (client secret, certificate, user- or system-assigned managed identity, federated
credentials; ``TEAMS_AUTH_TYPE``), single-tenant by default (the authority is the bot registration's
tenant, ``TEAMS_APP_TENANT_ID`` or the first of ``TEAMS_TENANT_IDS``; sovereign clouds set
``TEAMS_AUTHORITY``), the Bot Connector REST client (replies, updates, members, new conversations) and
the turn pipeline. What we add: retries of the Bot Connector calls (429 with ``Retry-After``, 5xx,
connection errors; :func:`retry_middleware`) and, for authorities the administrator knows but
Microsoft's instance discovery does not (private clouds, the local test authority), MSAL's
``instance_discovery=False`` (``TEAMS_AUTHORITY_DISCOVERY=0``).
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from typing import Any

import aiohttp
from aiohttp import ClientHandlerType, ClientRequest, ClientResponse, ClientSession
from microsoft_agents.activity import Activity
from microsoft_agents.authentication.msal import MsalAuth
from microsoft_agents.hosting.aiohttp import CloudAdapter
from microsoft_agents.hosting.core import (
    AccessTokenProviderBase,
    AgentAuthConfiguration,
    AuthTypes,
    ClaimsIdentity,
    Connections,
    RestChannelServiceClientFactory,
    TurnContext,
)
from microsoft_agents.hosting.core.connector import ConnectorClientBase
from microsoft_agents.hosting.core.connector.teams import TeamsConnectorClient
from msal import ConfidentialClientApplication

from assistant.settings import Settings

log = logging.getLogger(__name__)

SCOPE = "https://api.botframework.com/.default"
RETRIES = 3
MAX_RETRY_AFTER_SECONDS = 30.0
AUTH_TYPES = {
    "client_secret": AuthTypes.client_secret,
    "certificate": AuthTypes.certificate,
    "user_managed_identity": AuthTypes.user_managed_identity,
    "system_managed_identity": AuthTypes.system_managed_identity,
    "federated_credentials": AuthTypes.federated_credentials,
}


def app_tenant(settings: Settings) -> str:
    """The tenant the bot is registered in (single-tenant registrations, the default today)."""
    return settings.teams_app_tenant_id or (settings.teams_tenant_ids[0] if settings.teams_tenant_ids else "")


def authority(settings: Settings) -> str:
    return settings.teams_authority.rstrip("/") or f"https://login.microsoftonline.com/{app_tenant(settings)}"


def auth_configuration(settings: Settings) -> AgentAuthConfiguration:
    auth_type = AUTH_TYPES.get(settings.teams_auth_type)
    if auth_type is None:
        raise ValueError(f"TEAMS_AUTH_TYPE must be one of {', '.join(AUTH_TYPES)}")
    return AgentAuthConfiguration(
        auth_type=auth_type,
        client_id=settings.teams_app_id,
        tenant_id=app_tenant(settings) or None,
        client_secret=settings.teams_app_password or None,
        cert_pfx_file=settings.teams_cert_pfx_file or None,
        federated_client_id=settings.teams_federated_client_id or None,
        authority=authority(settings),
        scopes=[SCOPE],
    )


class TeamsMsalAuth(MsalAuth):
    """The SDK's MSAL provider; with ``instance_discovery=False`` for an authority Microsoft does not list."""

    def __init__(self, configuration: AgentAuthConfiguration, *, instance_discovery: bool = True) -> None:
        super().__init__(configuration)
        self.instance_discovery = instance_discovery
        self._lock = asyncio.Lock()

    async def _get_access_token(
        self, resource_url: str, scopes: list[str], force_refresh: bool = False
    ) -> Any:
        # MSAL's constructor fetches the authority's metadata with a blocking request: build the client in
        # a thread (the SDK builds it on the event loop, which stalls every other request meanwhile).
        async with self._lock:
            await asyncio.to_thread(self._get_client)
        return await super()._get_access_token(resource_url, scopes, force_refresh)

    async def renew(self, resource_url: str, scopes: list[str]) -> str:
        """A new app token: the cached one was refused (revoked or rotated credentials)."""
        client = self._get_client()
        if isinstance(client, ConfidentialClientApplication):
            await asyncio.to_thread(client.remove_tokens_for_client)
        return await self.get_access_token(resource_url, scopes)

    def _create_client_application(self, tenant_id: str | None = None) -> Any:
        config = self.configuration
        if self.instance_discovery or config.AUTH_TYPE not in (
            AuthTypes.client_secret,
            AuthTypes.certificate,
        ):
            return super()._create_client_application(tenant_id)
        credential: Any = config.CLIENT_SECRET
        if AuthTypes.certificate == config.AUTH_TYPE:
            credential = {"private_key_pfx_path": config.CERT_PFX_FILE}
        return ConfidentialClientApplication(
            client_id=config.CLIENT_ID,
            authority=MsalAuth._resolve_authority(config, tenant_id),
            client_credential=credential,
            instance_discovery=False,
        )


class SingleConnection(Connections):
    """Our one app registration as the SDK's connection manager."""

    def __init__(self, provider: AccessTokenProviderBase) -> None:
        self.provider = provider

    def get_connection(self, connection_name: str) -> AccessTokenProviderBase:
        return self.provider

    def get_default_connection(self) -> AccessTokenProviderBase:
        return self.provider

    def get_token_provider(
        self, claims_identity: ClaimsIdentity, service_url: str
    ) -> AccessTokenProviderBase:
        return self.provider

    def get_token_provider_from_activity(
        self, claims_identity: ClaimsIdentity, activity: Activity
    ) -> AccessTokenProviderBase:
        return self.provider

    def get_default_connection_configuration(self) -> AgentAuthConfiguration:
        return self.provider.configuration


def _retry_after(response: ClientResponse | None, attempt: int, backoff: float) -> float:
    value = response.headers.get("Retry-After") if response is not None else None
    try:
        seconds = float(value) if value is not None else backoff * 2**attempt
    except ValueError:
        seconds = backoff * 2**attempt
    return min(max(seconds, 0.0), MAX_RETRY_AFTER_SECONDS)


def retry_middleware(
    retries: int = RETRIES, backoff: float = 0.5, renew: Callable[[], Awaitable[str]] | None = None
) -> Any:
    """An aiohttp client middleware: Bot Connector throttling, 5xx and dropped connections are retried;
    a 401 gets one new app token (``renew``) and one more try."""

    async def middleware(request: ClientRequest, handler: ClientHandlerType) -> ClientResponse:
        attempt = 0
        renewed = False
        while True:
            try:
                response = await handler(request)
            except (aiohttp.ClientConnectionError, TimeoutError):
                if attempt >= retries:
                    raise
                response = None
            if response is not None and response.status == 401 and renew is not None and not renewed:
                renewed = True
                response.release()
                request.headers["Authorization"] = f"Bearer {await renew()}"
                continue
            if response is not None and response.status != 429 and response.status < 500:
                return response
            if attempt >= retries:
                assert response is not None
                return response
            delay = _retry_after(response, attempt, backoff)
            log.info(
                "Bot Connector answered %s; retrying in %.2fs",
                response.status if response else "no connection",
                delay,
            )
            if response is not None:
                response.release()
            await asyncio.sleep(delay)
            attempt += 1

    return middleware


class RetryingClientFactory(RestChannelServiceClientFactory):
    """The SDK's client factory; its connector clients retry (the SDK's own do not)."""

    def __init__(self, connections: Connections, *, retries: int = RETRIES, backoff: float = 0.5) -> None:
        super().__init__(connections)
        self.retries = retries
        self.backoff = backoff

    async def create_connector_client(
        self,
        context: TurnContext | None,
        claims_identity: ClaimsIdentity,
        service_url: str,
        audience: str,
        scopes: list[str] | None = None,
        use_anonymous: bool = False,
    ) -> ConnectorClientBase:
        if not service_url:
            raise TypeError("a connector client needs a serviceUrl")
        provider = self._connection_manager.get_token_provider(claims_identity, service_url)
        scopes = scopes or claims_identity.get_token_scope()
        token = await provider.get_access_token(audience, scopes)
        endpoint = service_url if service_url.endswith("/") else service_url + "/"
        session: ClientSession | None = None

        async def renew() -> str:
            fresh = (
                await provider.renew(audience, scopes)
                if isinstance(provider, TeamsMsalAuth)
                else await provider.get_access_token(audience, scopes, force_refresh=True)
            )
            if session is not None:
                session.headers["Authorization"] = f"Bearer {fresh}"
            return fresh

        session = ClientSession(
            base_url=endpoint, middlewares=(retry_middleware(self.retries, self.backoff, renew),)
        )
        return TeamsConnectorClient(endpoint=endpoint, token=token, session=session)


def build_adapter(settings: Settings, *, backoff: float = 0.5) -> CloudAdapter:
    provider = TeamsMsalAuth(
        auth_configuration(settings), instance_discovery=settings.teams_authority_discovery
    )
    adapter = CloudAdapter(
        channel_service_client_factory=RetryingClientFactory(SingleConnection(provider), backoff=backoff)
    )

    async def on_turn_error(context: TurnContext, error: Exception) -> None:
        # The SDK's default posts the exception text to the user; ours logs it and says nothing internal.
        log.error("Teams turn failed: %s", type(error).__name__, exc_info=error)

    adapter.on_turn_error = on_turn_error
    return adapter


def identity_for(claims: dict[str, Any], token: str | None = None) -> ClaimsIdentity:
    """The SDK's identity for claims our own validator (``auth.verify_bearer``) accepted."""
    return ClaimsIdentity(claims, authentication_type="Bearer", security_token=token)
