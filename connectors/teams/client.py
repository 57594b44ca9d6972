"""The Bot Connector REST API: replies, members, and the app token that authorises them.

    tokens = AppTokens(session, token_url=..., app_id=..., app_password=...)
    client = BotConnectorClient(session, tokens, backoff=0.5)
    await client.reply(service_url, conversation_id, reply_to_id, activity)
    member = await client.member(service_url, conversation_id, member_id)   # {"email", ...} or None
    chat = await client.personal_conversation(service_url, bot=..., user_id=..., tenant=...)  # 1:1 chat id

The token comes from the (configurable) Azure AD token endpoint with the client-credentials grant for
scope ``https://api.botframework.com/.default`` and is cached until shortly before it expires.
Calls are retried on 429 (honouring ``Retry-After``, capped), on 5xx and on connection errors with
exponential backoff; a 401 drops the cached token and tries once more with a new one. Anything that
still fails raises :class:`ConnectorError`. ``serviceUrl`` comes from an activity whose token vouched
for it (``auth.check_activity``), so our token is only ever sent where Microsoft told us to send it.
"""

from __future__ import annotations

import asyncio
import logging
import time
from typing import Any
from urllib.parse import quote

import aiohttp
from yarl import URL

log = logging.getLogger(__name__)

SCOPE = "https://api.botframework.com/.default"
RETRIES = 3
MAX_RETRY_AFTER_SECONDS = 30.0
EXPIRY_MARGIN_SECONDS = 300.0
TIMEOUT_SECONDS = 15.0


class ConnectorError(Exception):
    """The Bot Connector (or the token endpoint) refused or failed a call."""

    def __init__(self, message: str, status: int | None = None) -> None:
        super().__init__(message)
        self.status = status


class AppTokens:
    """The bot's outbound access token (client credentials), cached until it nearly expires."""

    def __init__(
        self, session: aiohttp.ClientSession, *, token_url: str, app_id: str, app_password: str
    ) -> None:
        self.session = session
        self.token_url = token_url
        self.app_id = app_id
        self.app_password = app_password
        self.issued = 0
        self._token: str | None = None
        self._expires_at = 0.0
        self._lock = asyncio.Lock()

    def forget(self) -> None:
        self._token = None

    async def get(self) -> str:
        async with self._lock:
            if self._token is not None and time.monotonic() < self._expires_at:
                return self._token
            form = {
                "grant_type": "client_credentials",
                "client_id": self.app_id,
                "client_secret": self.app_password,
                "scope": SCOPE,
            }
            timeout = aiohttp.ClientTimeout(total=TIMEOUT_SECONDS)
            try:
                async with self.session.post(self.token_url, data=form, timeout=timeout) as res:
                    body = await res.json(content_type=None) if res.status == 200 else None
                    status = res.status
            except (aiohttp.ClientError, TimeoutError, ValueError) as exc:
                raise ConnectorError(f"token endpoint unreachable: {type(exc).__name__}") from exc
            token = body.get("access_token") if isinstance(body, dict) else None
            if not isinstance(token, str) or not token:
                raise ConnectorError("the token endpoint refused the app credentials", status)
            try:
                lifetime = float(body.get("expires_in", 3600))  # type: ignore[union-attr]
            except (TypeError, ValueError):
                lifetime = 3600.0
            self._token = token
            self._expires_at = time.monotonic() + max(lifetime - EXPIRY_MARGIN_SECONDS, lifetime / 2)
            self.issued += 1
            return token


def _retry_after(headers: Any, attempt: int, backoff: float) -> float:
    value = headers.get("Retry-After") if headers is not None else None
    try:
        seconds = float(value) if value is not None else backoff * 2**attempt
    except ValueError:
        seconds = backoff * 2**attempt
    return min(max(seconds, 0.0), MAX_RETRY_AFTER_SECONDS)


class BotConnectorClient:
    def __init__(
        self,
        session: aiohttp.ClientSession,
        tokens: AppTokens,
        *,
        retries: int = RETRIES,
        backoff: float = 0.5,
    ) -> None:
        self.session = session
        self.tokens = tokens
        self.retries = retries
        self.backoff = backoff

    @staticmethod
    def url(service_url: str, *segments: str) -> URL:
        """``{serviceUrl}/v3/conversations/...`` with every id percent-encoded (Teams ids hold ``:;@``)."""
        path = "/".join(quote(s, safe="") for s in segments)
        return URL(f"{service_url.rstrip('/')}/v3/conversations/{path}", encoded=True)

    async def reply(
        self, service_url: str, conversation_id: str, reply_to_id: str | None, activity: dict[str, Any]
    ) -> dict[str, Any]:
        """Post ``activity`` as a reply (or, without ``reply_to_id``, into the conversation)."""
        segments = (conversation_id, "activities") + ((reply_to_id,) if reply_to_id else ())
        return await self._call("POST", self.url(service_url, *segments), activity)

    async def personal_conversation(
        self, service_url: str, *, bot: dict[str, Any], user_id: str, tenant: str | None
    ) -> str:
        """The id of the bot's 1:1 chat with ``user_id`` (Teams returns the existing one or opens it)."""
        body: dict[str, Any] = {
            "bot": bot,
            "members": [{"id": user_id}],
            "isGroup": False,
            "channelData": {"tenant": {"id": tenant}} if tenant else {},
        }
        if tenant:
            body["tenantId"] = tenant
        url = URL(f"{service_url.rstrip('/')}/v3/conversations", encoded=True)
        created = await self._call("POST", url, body)
        conversation = created.get("id")
        if not isinstance(conversation, str) or not conversation:
            raise ConnectorError("the Bot Connector opened no conversation")
        return conversation

    async def member(self, service_url: str, conversation_id: str, member_id: str) -> dict[str, Any] | None:
        """A conversation member's profile (``email``, ``userPrincipalName``, ...), None if unknown."""
        try:
            return await self._call("GET", self.url(service_url, conversation_id, "members", member_id))
        except ConnectorError as exc:
            if exc.status in (403, 404):
                return None
            raise

    async def _call(self, method: str, url: URL, body: dict[str, Any] | None = None) -> dict[str, Any]:
        timeout = aiohttp.ClientTimeout(total=TIMEOUT_SECONDS)
        renewed = False
        attempt = 0
        while True:
            headers = {"Authorization": f"Bearer {await self.tokens.get()}"}
            try:
                async with self.session.request(
                    method, url, json=body, headers=headers, timeout=timeout
                ) as res:
                    status, retry_headers = res.status, res.headers
                    if 200 <= status < 300:
                        data = await res.json(content_type=None) if res.content_length != 0 else None
                        return data if isinstance(data, dict) else {}
            except (aiohttp.ClientConnectionError, TimeoutError) as exc:
                if attempt >= self.retries:
                    raise ConnectorError(f"Bot Connector unreachable: {type(exc).__name__}") from exc
                status, retry_headers = None, None
            except ValueError:  # a 2xx whose body is not JSON: delivered all the same
                return {}
            if status == 401 and not renewed:
                self.tokens.forget()
                renewed = True
                continue
            retryable = status is None or status == 429 or status >= 500
            if not retryable or attempt >= self.retries:
                raise ConnectorError(f"Bot Connector answered {status} to {method} {url.path}", status)
            delay = _retry_after(retry_headers, attempt, self.backoff)
            log.info("Bot Connector answered %s; retrying in %.2fs", status or "no connection", delay)
            await asyncio.sleep(delay)
            attempt += 1
