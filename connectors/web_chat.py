"""The web chat: Rasa's REST webhook, a WebSocket for live chat, and the chat page at ``/``.

Who speaks: ``Authorization: Bearer crm_...`` is a staff user; a signed customer token (``cus_...``, from
the customer portal) is that customer; anyone else is an anonymous customer. Conversations are keyed by
speaker and sender id: staff and signed-in customers by their identity, anonymous visitors by the sender id
alone, which is therefore their only secret. It must be random: the chat page makes 128-bit ids with the
browser's cryptographic generator (``POST /webhooks/rest/session`` hands out a server-made one), Rasa widgets
send UUIDs, and an anonymous sender id that cannot be random (:func:`looks_random`: short, only digits, a few
distinct characters) is refused with 400 and ``"code": "sender_not_random"`` instead of continuing whatever
conversation a guess of it started.

Staff tokens are looked up in the database at most every ``TOKEN_TTL`` seconds per token (``TokenCache``);
a revoked, expired token or a deactivated user is therefore refused at the latest that long after the change.
The per-IP limit keys on the client's address, read from ``X-Forwarded-For`` only behind
``CRM_TRUSTED_PROXIES`` (:class:`connectors.rate_limit.ClientAddress`).
"""

from __future__ import annotations

import asyncio
import json
import logging
import secrets
import threading
import time
from collections import OrderedDict
from collections.abc import Callable
from pathlib import Path
from typing import Any

from aiohttp import WSMsgType, web

from assistant.messages import IncomingMessage
from assistant.runtime import ASSISTANT_KEY, ensure_assistant, warm_up_status
from connectors import customer_auth
from connectors.rate_limit import ClientAddress, RateLimiter
from crm_store.db import Database, StoreUnavailable
from crm_store.services import Actor
from crm_store.services.users import actor_for, authenticate, hash_token

log = logging.getLogger(__name__)
STATIC = Path(__file__).with_name("static")
LIMITER_KEY = web.AppKey("web_chat_limiter", RateLimiter)
IP_LIMITER_KEY = web.AppKey("web_chat_ip_limiter", RateLimiter)
CLIENT_ADDRESS_KEY = web.AppKey("web_chat_client_address", ClientAddress)
IP_FACTOR = 20  # one address (an office NAT, a proxy) may carry many conversations
MAX_SENDER_CHARS = 128
MIN_ANONYMOUS_SENDER_CHARS = 16  # a UUID has 36, our page's ids 32, a server-made one 32
MIN_DISTINCT_SENDER_CHARS = 6  # 16 random hex digits have fewer than 6 distinct ones 3 times in 100,000
SESSION_ID_BYTES = 24  # server-made sender ids: 192 bits
TOKEN_TTL = 5.0  # seconds a staff token's user is trusted without asking the database again
TOKEN_CACHE_SIZE = 1024


class TokenCache:
    """Staff token (its hash) -> Actor, each entry trusted for ``ttl`` seconds. Only hits are kept, so a
    token created a moment ago works at once; a revoked or expired one works until its entry expires (at most
    ``ttl`` seconds). ``clock`` is injectable so tests step time instead of sleeping."""

    def __init__(
        self, *, ttl: float = TOKEN_TTL, size: int = TOKEN_CACHE_SIZE, clock: Callable[[], float] = time.monotonic
    ) -> None:
        self.ttl = ttl
        self.size = size
        self.clock = clock
        self._entries: OrderedDict[str, tuple[float, Actor]] = OrderedDict()
        self._lock = threading.Lock()

    def get(self, token: str, now: float | None = None) -> Actor | None:
        key, now = hash_token(token), self.clock() if now is None else now
        with self._lock:
            entry = self._entries.get(key)
            if entry is None:
                return None
            if entry[0] <= now:
                del self._entries[key]
                return None
            return entry[1]

    def put(self, token: str, actor: Actor, now: float | None = None) -> None:
        key, now = hash_token(token), self.clock() if now is None else now
        with self._lock:
            self._entries[key] = (now + self.ttl, actor)
            self._entries.move_to_end(key)
            while len(self._entries) > self.size:
                self._entries.popitem(last=False)


TOKENS_KEY = web.AppKey("web_chat_tokens", TokenCache)


class ChatListeners:
    """Open chat pages per conversation (``"<speaker label>/<sender id>"``, the key the assistant uses), so an
    agent's reply can be pushed into the customer's chat. A page listens only to the conversation its own
    identity and sender id name: the key is derived here, never taken from the client."""

    def __init__(self) -> None:
        self._sockets: dict[str, set[web.WebSocketResponse]] = {}

    def add(self, key: str, ws: web.WebSocketResponse) -> None:
        self._sockets.setdefault(key, set()).add(ws)

    def remove(self, ws: web.WebSocketResponse) -> None:
        for key in [k for k, socks in self._sockets.items() if ws in socks]:
            self._sockets[key].discard(ws)
            if not self._sockets[key]:
                del self._sockets[key]

    def sockets(self, key: str) -> list[web.WebSocketResponse]:
        return list(self._sockets.get(key, ()))


LISTENERS_KEY = web.AppKey("web_chat_listeners", ChatListeners)
# What the chat shows when an agent gives the conversation back to the bot.
RELEASED = {
    "en": "You are talking to the assistant again.",
    "de": "Sie sprechen jetzt wieder mit dem Assistenten.",
}


async def push(app: web.Application, conversation: str, reply: dict[str, Any]) -> int:
    """Send ``reply`` (one REST-format message) to every open page of ``conversation``; how many got it."""
    listeners = app.get(LISTENERS_KEY)
    if listeners is None:
        return 0
    sender = conversation.split("/", 1)[-1]
    sent = 0
    for ws in listeners.sockets(conversation):
        if ws.closed:
            listeners.remove(ws)
            continue
        try:
            await ws.send_json({"push": [{"recipient_id": sender, **reply}]})
            sent += 1
        except (ConnectionError, RuntimeError):
            listeners.remove(ws)
    return sent


class ChatError(Exception):
    """A refusal the client should see: HTTP status, message, and a machine-readable code for a few."""

    def __init__(self, status: int, message: str, code: str | None = None) -> None:
        super().__init__(message)
        self.status = status
        self.message = message
        self.code = code
        self.retry_after: int | None = None  # seconds, for a refusal that will pass (warming up)

    def body(self) -> dict[str, Any]:
        extra = {"retry_after": self.retry_after} if self.retry_after is not None else {}
        return {"error": self.message, **({"code": self.code} if self.code else {}), **extra}


# Shown to an anonymous client whose sender id could be guessed; our chat page picks a new id and retries.
SENDER_NOT_RANDOM = {
    "en": "This conversation id is too easy to guess (at least {n} random characters, not only digits): "
    "use a random one, e.g. a UUID, or get one from POST /webhooks/rest/session.",
    "de": "Diese Gesprächs-ID ist zu leicht zu erraten (mindestens {n} zufällige Zeichen, nicht nur Ziffern): "
    "bitte eine zufällige verwenden, z. B. eine UUID, oder eine von POST /webhooks/rest/session holen.",
}


# While the language model loads (or, on a first start, trains): the chat page shows it and sends again.
WARMING_UP = {
    "en": "The assistant is warming up (about {eta} s); your message will be answered then.",
    "de": "Der Assistent startet noch (etwa {eta} s); Ihre Nachricht wird dann beantwortet.",
}


def _warming_up(request: web.Request) -> ChatError:
    status = warm_up_status(request.app) or {"state": "warming_up"}
    if status["state"] == "failed":
        return ChatError(503, "the assistant is unavailable; please try again later", code="unavailable")
    eta = int(status.get("eta_seconds") or 5)
    error = ChatError(503, WARMING_UP[_language(request)].format(eta=eta), code="warming_up")
    error.retry_after = min(eta, 10)
    return error


def looks_random(sender: str) -> bool:
    """Could ``sender`` be a random id? A plausibility check, not proof: it refuses what clearly is not
    ("abc", "1", "test", a counter, a timestamp, "aaaaaaaaaaaaaaaa"); our page and Rasa widgets send far more."""
    return (
        len(sender) >= MIN_ANONYMOUS_SENDER_CHARS
        and not sender.isdigit()
        and len(set(sender)) >= MIN_DISTINCT_SENDER_CHARS
    )


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
    if actor.kind == "customer" and actor.id is None and not looks_random(sender):
        # an anonymous conversation is keyed by its sender id alone: a guessable one is someone else's
        message = SENDER_NOT_RANDOM[_language(request)].format(n=MIN_ANONYMOUS_SENDER_CHARS)
        raise ChatError(400, message, code="sender_not_random")
    conversation = f"{actor.label}/{sender}"
    client = request.app[CLIENT_ADDRESS_KEY].client(request.remote, request.headers.getall("X-Forwarded-For", []))
    if not request.app[LIMITER_KEY].allow(conversation) or not request.app[IP_LIMITER_KEY].allow(client):
        raise ChatError(429, "too many messages; please slow down")
    assistant = request.app.get(ASSISTANT_KEY)
    if assistant is None:
        raise _warming_up(request)
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
        headers = {"Retry-After": str(exc.retry_after)} if exc.retry_after is not None else None
        return web.json_response(exc.body(), status=exc.status, headers=headers)
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
    listeners = request.app[LISTENERS_KEY]
    try:
        await _frames(request, ws, settings, listeners)
    finally:
        listeners.remove(ws)
    return ws


async def _frames(request: web.Request, ws: web.WebSocketResponse, settings: Any, listeners: ChatListeners) -> None:
    """Each text frame: a message {"sender", "message", "token"?}, or {"listen": sender, "token"?} to receive
    what an agent writes into this conversation."""
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
            if isinstance(payload, dict) and "listen" in payload and "message" not in payload:
                listen = payload.get("listen")
                if not isinstance(listen, str) or not listen.strip() or len(listen) > MAX_SENDER_CHARS:
                    raise ChatError(400, '"listen" must be the conversation\'s sender id')
                if actor.kind == "customer" and actor.id is None and not looks_random(listen.strip()):
                    raise ChatError(400, SENDER_NOT_RANDOM[_language(request)].format(
                        n=MIN_ANONYMOUS_SENDER_CHARS), code="sender_not_random")
                listeners.add(f"{actor.label}/{listen.strip()}", ws)
                await ws.send_json({"listening": True})
                continue
            sender, text = _validate(payload, settings.max_message_chars)
            listeners.add(f"{actor.label}/{sender}", ws)
            await ws.send_json({"replies": await _answer(request, actor, sender, text, "web")})
        except ChatError as exc:
            await ws.send_json({**exc.body(), "status": exc.status})


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


async def new_session(request: web.Request) -> web.Response:
    """A fresh server-made sender id (192 bits) for clients without a cryptographic generator of their own."""
    try:
        _check_origin(request)
    except ChatError as exc:
        return web.json_response(exc.body(), status=exc.status)
    return web.json_response({"sender": secrets.token_urlsafe(SESSION_ID_BYTES)})


async def status(_request: web.Request) -> web.Response:
    return web.json_response({"status": "ok"})


def install(app: web.Application) -> None:
    from assistant.server import SETTINGS_KEY

    ensure_assistant(app)
    settings = app[SETTINGS_KEY]
    app[LIMITER_KEY] = RateLimiter(rate=settings.chat_rate, burst=settings.chat_burst)
    app[TOKENS_KEY] = TokenCache()
    app[LISTENERS_KEY] = ChatListeners()
    app[CLIENT_ADDRESS_KEY] = ClientAddress(settings.trusted_proxies)
    app[IP_LIMITER_KEY] = RateLimiter(
        rate=settings.chat_rate * IP_FACTOR, burst=settings.chat_burst * IP_FACTOR
    )
    app.router.add_get("/", chat_page)
    app.router.add_static("/static/", STATIC, show_index=False)
    app.router.add_post("/webhooks/rest/webhook", rest_webhook)
    app.router.add_post("/webhooks/rest/session", new_session)
    app.router.add_get("/webhooks/rest", status)
    app.router.add_get("/ws", websocket)
