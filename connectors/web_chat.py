"""The web chat: Rasa's REST webhook, a WebSocket for live chat, and the chat page at ``/``.

Who speaks: ``Authorization: Bearer crm_...`` is a staff user; a signed customer token (``cus_...``, from
the customer portal) is that customer; anyone else is an anonymous customer. Conversations are keyed by
speaker and sender id, so nobody can continue someone else's conversation by guessing its id.

Staff tokens are looked up in the database at most every ``TOKEN_TTL`` seconds per token (``TokenCache``);
a revoked token or a deactivated user is therefore refused at the latest that long after the change.
"""

from __future__ import annotations

import asyncio
import json
import logging
import threading
import time
from collections import OrderedDict
from pathlib import Path
from typing import Any

from aiohttp import WSMsgType, web

from assistant.messages import IncomingMessage
from assistant.runtime import ASSISTANT_KEY, ensure_assistant
from connectors import customer_auth
from connectors.rate_limit import RateLimiter
from crm_store.db import Database, StoreUnavailable
from crm_store.services import Actor
from crm_store.services.users import actor_for, authenticate, hash_token

log = logging.getLogger(__name__)
STATIC = Path(__file__).with_name("static")
LIMITER_KEY = web.AppKey("web_chat_limiter", RateLimiter)
IP_LIMITER_KEY = web.AppKey("web_chat_ip_limiter", RateLimiter)
IP_FACTOR = 20  # one address (an office NAT, a proxy) may carry many conversations
MAX_SENDER_CHARS = 128
TOKEN_TTL = 30.0  # seconds a staff token's user is trusted without asking the database again
TOKEN_CACHE_SIZE = 1024


class TokenCache:
    """Staff token (its hash) -> Actor, each entry trusted for ``ttl`` seconds. Only hits are kept, so a
    token created a moment ago works at once; a revoked one works until its entry expires."""

    def __init__(self, *, ttl: float = TOKEN_TTL, size: int = TOKEN_CACHE_SIZE) -> None:
        self.ttl = ttl
        self.size = size
        self._entries: OrderedDict[str, tuple[float, Actor]] = OrderedDict()
        self._lock = threading.Lock()

    def get(self, token: str, now: float | None = None) -> Actor | None:
        key, now = hash_token(token), time.monotonic() if now is None else now
        with self._lock:
            entry = self._entries.get(key)
            if entry is None:
                return None
            if entry[0] <= now:
                del self._entries[key]
                return None
            return entry[1]

    def put(self, token: str, actor: Actor, now: float | None = None) -> None:
        key, now = hash_token(token), time.monotonic() if now is None else now
        with self._lock:
            self._entries[key] = (now + self.ttl, actor)
            self._entries.move_to_end(key)
            while len(self._entries) > self.size:
                self._entries.popitem(last=False)


TOKENS_KEY = web.AppKey("web_chat_tokens", TokenCache)


class ChatError(Exception):
    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.message = message


def _json_error(status: int, message: str) -> web.Response:
    return web.json_response({"error": message}, status=status)


def _language(request: web.Request) -> str:
    accept = request.headers.get("Accept-Language", "")
    return "de" if accept.lower().startswith("de") else "en"


def _check_origin(request: web.Request) -> None:
    """Browsers send Origin on cross-site requests: only our own host and configured origins may talk."""
    from assistant.server import SETTINGS_KEY

    origin = request.headers.get("Origin")
    if origin is None:  # not a browser (curl, a server-side integration)
        return
    own = f"{request.scheme}://{request.host}"
    allowed = {own, *request.app[SETTINGS_KEY].allowed_origins}
    if origin not in allowed:
        raise ChatError(403, "origin not allowed")


async def _speaker(request: web.Request, token: str | None) -> Actor:
    from assistant.server import DB_KEY, SETTINGS_KEY

    settings = request.app[SETTINGS_KEY]
    lang = _language(request)
    if not token:
        return Actor.customer(None, language=lang)
    if token.startswith("cus_"):
        contact_id = customer_auth.verify(token, settings.secret_key)
        if contact_id is None:
            raise ChatError(401, "invalid or expired customer token")
        return Actor.customer(contact_id, language=lang)
    tokens = request.app[TOKENS_KEY]
    actor = tokens.get(token)
    if actor is not None:
        return actor
    db: Database = request.app[DB_KEY]

    def lookup() -> Actor | None:
        with db.session() as session:
            user = authenticate(session, token)
            return actor_for(user) if user else None

    actor = await asyncio.to_thread(lookup)
    if actor is None:
        raise ChatError(401, "invalid token")
    tokens.put(token, actor)
    return actor


def _bearer(request: web.Request) -> str | None:
    header = request.headers.get("Authorization", "")
    if header.lower().startswith("bearer "):
        return header[7:].strip() or None
    return None


def _validate(payload: Any, max_chars: int) -> tuple[str, str]:
    if not isinstance(payload, dict):
        raise ChatError(400, 'expected a JSON object {"sender": ..., "message": ...}')
    sender, message = payload.get("sender"), payload.get("message")
    if not isinstance(sender, str) or not sender.strip() or len(sender) > MAX_SENDER_CHARS:
        raise ChatError(400, f'"sender" must be a non-empty string of at most {MAX_SENDER_CHARS} characters')
    if not isinstance(message, str):
        raise ChatError(400, '"message" must be a string')
    if len(message) > max_chars:
        raise ChatError(413, f"message too long (at most {max_chars} characters)")
    clean = "".join(ch for ch in message if ch in "\n\t" or ch.isprintable()).strip()
    if not clean:
        raise ChatError(400, '"message" is empty')
    return sender.strip(), clean


async def _answer(
    request: web.Request, actor: Actor, sender: str, text: str, channel: str
) -> list[dict[str, Any]]:
    conversation = f"{actor.label}/{sender}"
    if not request.app[LIMITER_KEY].allow(conversation) or not request.app[IP_LIMITER_KEY].allow(
        str(request.remote)
    ):
        raise ChatError(429, "too many messages; please slow down")
    assistant = request.app.get(ASSISTANT_KEY)
    if assistant is None:
        raise ChatError(503, "the assistant is starting; try again in a moment")
    try:
        replies = await assistant.handle(
            IncomingMessage(channel=channel, sender_id=conversation, text=text, speaker=actor)
        )
    except StoreUnavailable:
        raise ChatError(503, "the CRM store is unavailable; nothing was changed") from None
    return [{"recipient_id": sender, **reply} for reply in replies]


async def rest_webhook(request: web.Request) -> web.Response:
    from assistant.server import SETTINGS_KEY

    settings = request.app[SETTINGS_KEY]
    try:
        _check_origin(request)
        if request.content_length and request.content_length > settings.max_body_bytes:
            raise ChatError(413, "request body too large")
        try:
            payload = json.loads(await request.text())
        except (json.JSONDecodeError, UnicodeDecodeError):
            raise ChatError(400, "malformed JSON") from None
        sender, text = _validate(payload, settings.max_message_chars)
        token = _bearer(request) or (
            payload.get("customer_token") if isinstance(payload.get("customer_token"), str) else None
        )
        actor = await _speaker(request, token)
        return web.json_response(await _answer(request, actor, sender, text, "web"))
    except ChatError as exc:
        return _json_error(exc.status, exc.message)
    except web.HTTPRequestEntityTooLarge:
        return _json_error(413, "request body too large")


async def websocket(request: web.Request) -> web.WebSocketResponse:
    """Live chat: each text frame is {"sender", "message", "token"?}; each answer is the REST list."""
    from assistant.server import SETTINGS_KEY

    settings = request.app[SETTINGS_KEY]
    try:
        _check_origin(request)
    except ChatError as exc:
        raise web.HTTPForbidden(text=exc.message) from None
    ws = web.WebSocketResponse(heartbeat=30, max_msg_size=settings.max_message_chars * 4 + 1024)
    await ws.prepare(request)
    actor: Actor | None = None
    token_seen: str | None = None
    async for frame in ws:
        if frame.type != WSMsgType.TEXT:
            if frame.type == WSMsgType.ERROR:
                break
            continue
        try:
            try:
                payload = json.loads(frame.data)
            except json.JSONDecodeError:
                raise ChatError(400, "malformed JSON") from None
            token = payload.get("token") if isinstance(payload, dict) else None
            if actor is None or token != token_seen:
                actor = await _speaker(request, token if isinstance(token, str) else None)
                token_seen = token
            sender, text = _validate(payload, settings.max_message_chars)
            await ws.send_json({"replies": await _answer(request, actor, sender, text, "web")})
        except ChatError as exc:
            await ws.send_json({"error": exc.message, "status": exc.status})
    return ws


async def chat_page(request: web.Request) -> web.FileResponse:
    return web.FileResponse(
        STATIC / "chat.html",
        headers={
            "Content-Security-Policy": "default-src 'self'; img-src 'self' data:; style-src 'self'; "
            "connect-src 'self'; frame-ancestors 'none'",
            "X-Content-Type-Options": "nosniff",
            "Referrer-Policy": "no-referrer",
        },
    )


async def status(_request: web.Request) -> web.Response:
    return web.json_response({"status": "ok"})


def install(app: web.Application) -> None:
    from assistant.server import SETTINGS_KEY

    ensure_assistant(app)
    settings = app[SETTINGS_KEY]
    app[LIMITER_KEY] = RateLimiter(rate=settings.chat_rate, burst=settings.chat_burst)
    app[TOKENS_KEY] = TokenCache()
    app[IP_LIMITER_KEY] = RateLimiter(
        rate=settings.chat_rate * IP_FACTOR, burst=settings.chat_burst * IP_FACTOR
    )
    app.router.add_get("/", chat_page)
    app.router.add_static("/static/", STATIC, show_index=False)
    app.router.add_post("/webhooks/rest/webhook", rest_webhook)
    app.router.add_get("/webhooks/rest", status)
    app.router.add_get("/ws", websocket)
