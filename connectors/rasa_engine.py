"""A real Rasa server as the dialogue engine, with the call shape of :meth:`assistant.pipeline.Assistant.handle`.

Rasa (3.6, `rasa run --enable-api --auth-token T`) parses and picks actions from OUR domain and rules (see
`bench/rasa/make_project.py`) and calls OUR action server (`crm-assistant actions serve`) for every custom
action. Per message this engine

1. sets the ``language`` slot through Rasa's HTTP API when it changed (``POST
   /conversations/{id}/tracker/events?token=T`` with a ``slot`` event): our responses pick their German or
   English variant by that slot, as in-process;
2. sends the text to Rasa's REST channel, ``POST /webhooks/rest/webhook`` with ``{"sender", "message",
   "metadata": {"speaker_seal", "channel"}}``. Rasa 3.6's ``RestInput.get_metadata`` passes ``metadata`` on to
   the ``UserMessage``, so our actions find the seal in ``tracker.latest_message["metadata"]`` exactly as they
   do in-process. The seal (:mod:`assistant.speaker_seal`, keyed by ``CRM_SECRET_KEY``, which the action server
   shares) signs the speaker for this conversation, Rasa's sender id, for a few minutes: the REST webhook is a
   mere transport, and whoever posts to it directly without a valid seal is an anonymous customer to our
   actions, whatever ``metadata`` they claim;
3. returns Rasa's replies as they are (the REST channel format our connectors render), without Rasa's
   ``recipient_id``, like ``Assistant.handle``: each channel adds its own (the web chat the client's sender).

Selected by ``CRM_RASA_URL`` (and ``CRM_RASA_TOKEN``) in :func:`assistant.runtime.default_factory`.
"""

from __future__ import annotations

import asyncio
import logging
import weakref
from collections import OrderedDict
from typing import Any
from urllib.parse import quote

import aiohttp

from assistant import speaker_seal
from assistant.engine import error_reference
from assistant.messages import IncomingMessage

log = logging.getLogger(__name__)

SUPPORTED_LANGUAGES = ("en", "de")
_PATH_SAFE = "/:@!$&'()*+,;=-._~"  # RFC 3986 path characters: kept as they are, so Rasa sees the same id
DEFAULT_TIMEOUT = aiohttp.ClientTimeout(total=60)
MAX_REMEMBERED = 10_000  # conversations whose language slot value is remembered

# What the user sees when Rasa cannot be reached or fails; the reference is logged with the cause.
ENGINE_FAILED = {
    "en": "Sorry, that failed (ref {ref}). Please try again in a moment.",
    "de": "Das hat leider nicht geklappt (Ref. {ref}). Bitte versuch es gleich noch einmal.",
}


class RasaEngineError(RuntimeError):
    """Rasa answered with an error status or an unexpected body."""


def conversation_id(msg: IncomingMessage) -> str:
    """Rasa's sender id: our conversation key (channel and the channel's conversation id), the one the speaker
    seal is bound to."""
    return speaker_seal.conversation_key(msg.channel, msg.sender_id)


def choose_language(msg: IncomingMessage, current: str | None) -> str:
    """The conversation's language, decided as in-process: a clear longer text, else what it was, else the
    speaker's language, else English."""
    text = msg.text or ""
    if len(text.split()) >= 3 and not text.startswith("/"):
        from nlu.language import detect_language

        hint = msg.speaker.language if msg.speaker.language in SUPPORTED_LANGUAGES else None
        detected = detect_language(text, default=current or hint or "en", hint=current or hint)
        if detected in SUPPORTED_LANGUAGES:
            return detected
    if current in SUPPORTED_LANGUAGES:
        return str(current)
    if msg.speaker.language in SUPPORTED_LANGUAGES:
        return msg.speaker.language
    return "en"


class RasaEngine:
    """Talks to one Rasa server; ``handle`` has the same shape as ``Assistant.handle``."""

    def __init__(
        self,
        rasa_url: str,
        *,
        session: aiohttp.ClientSession | None = None,
        token: str = "",
        timeout: aiohttp.ClientTimeout = DEFAULT_TIMEOUT,
    ) -> None:
        self.rasa_url = rasa_url.rstrip("/")
        self.token = token
        self.timeout = timeout
        self._session = session
        self._owns_session = session is None  # made lazily inside the event loop, closed by aclose()
        # conversation id -> the language slot value last set in Rasa (most recent last, bounded)
        self._languages: OrderedDict[str, str] = OrderedDict()
        self._locks: weakref.WeakValueDictionary[str, asyncio.Lock] = weakref.WeakValueDictionary()

    def _http(self) -> aiohttp.ClientSession:
        if self._session is None or self._session.closed:
            self._session = aiohttp.ClientSession(timeout=self.timeout)
            self._owns_session = True
        return self._session

    async def aclose(self) -> None:
        if self._owns_session and self._session is not None and not self._session.closed:
            await self._session.close()

    def _params(self) -> dict[str, str]:
        return {"token": self.token} if self.token else {}

    async def handle(self, msg: IncomingMessage) -> list[dict[str, Any]]:
        """The bot's replies to one message as Rasa rendered them (REST channel format, no recipient_id)."""
        sender = conversation_id(msg)
        lock = self._locks.get(sender)
        if lock is None:
            lock = asyncio.Lock()
            self._locks[sender] = lock
        language = choose_language(msg, self._languages.get(sender))
        async with lock:  # one turn at a time per conversation: the slot event belongs to this message
            try:
                if self._languages.get(sender) != language:
                    await self.set_slot(sender, "language", language)
                self._remember(sender, language)
                return await self.send(sender, msg)
            except (TimeoutError, aiohttp.ClientError, RasaEngineError):
                ref = error_reference()
                log.exception("Rasa turn failed (ref %s) in %s", ref, sender)
                self._languages.pop(sender, None)  # unknown state: set the slot again next time
                return [{"text": ENGINE_FAILED[language].format(ref=ref)}]

    def _remember(self, sender: str, language: str) -> None:
        self._languages[sender] = language
        self._languages.move_to_end(sender)
        while len(self._languages) > MAX_REMEMBERED:
            self._languages.popitem(last=False)  # forgotten: the slot is simply set again next time

    async def set_slot(self, sender: str, name: str, value: Any) -> None:
        url = f"{self.rasa_url}/conversations/{quote(sender, safe=_PATH_SAFE)}/tracker/events"
        event = {"event": "slot", "name": name, "value": value}
        async with self._http().post(url, params=self._params(), json=event) as res:
            if res.status != 200:
                raise RasaEngineError(f"setting slot {name}: HTTP {res.status} {await res.text()}")

    async def send(self, sender: str, msg: IncomingMessage) -> list[dict[str, Any]]:
        """One message to Rasa's REST channel, the speaker sealed for ``sender`` (no plain speaker: nothing
        on the other side may trust one)."""
        metadata = {k: v for k, v in msg.metadata.items() if k not in ("speaker", speaker_seal.METADATA_KEY)}
        metadata["channel"] = msg.channel
        metadata[speaker_seal.METADATA_KEY] = speaker_seal.seal(msg.speaker, sender)
        body = {"sender": sender, "message": msg.text, "metadata": metadata}
        async with self._http().post(f"{self.rasa_url}/webhooks/rest/webhook", json=body) as res:
            if res.status != 200:
                raise RasaEngineError(f"webhook: HTTP {res.status} {await res.text()}")
            replies = await res.json()
        if not isinstance(replies, list) or not all(isinstance(r, dict) for r in replies):
            raise RasaEngineError(f"webhook: expected a list of messages, got {str(replies)[:200]}")
        # Rasa's recipient_id is its sender (our internal conversation key): each channel adds its own.
        return [{k: v for k, v in reply.items() if k != "recipient_id"} for reply in replies]
