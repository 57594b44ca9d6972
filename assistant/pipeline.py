"""One turn, end to end: parse (batched), then under the conversation's lock and in one transaction:
load the tracker, let the engine run actions, save. Channels call :meth:`Assistant.handle`."""

from __future__ import annotations

import asyncio
import logging
import weakref
from typing import Any

from actions.store_access import TURN_SESSION
from assistant import conversation_store, speaker_seal
from assistant.engine import DialogueEngine, error_reference
from assistant.messages import IncomingMessage, speaker_dict
from assistant.parsing import BatchingParser
from assistant.state import ConversationState
from crm_store.db import Database, StoreUnavailable

log = logging.getLogger(__name__)
SUPPORTED_LANGUAGES = ("en", "de")


class Assistant:
    def __init__(self, db: Database, parser: BatchingParser, engine: DialogueEngine) -> None:
        self.db = db
        self.parser = parser
        self.engine = engine
        self._locks: weakref.WeakValueDictionary[tuple[str, str], asyncio.Lock] = (
            weakref.WeakValueDictionary()
        )

    async def handle(self, msg: IncomingMessage) -> list[dict[str, Any]]:
        """The bot's replies to one message, in Rasa's REST channel format (without recipient_id)."""
        hint = msg.speaker.language if msg.speaker.kind == "user" else None
        key = (msg.channel, msg.sender_id)
        lock = self._locks.get(key)
        if lock is None:
            lock = asyncio.Lock()
            self._locks[key] = lock
        async with lock:  # parse inside the lock: a quick button click cannot overtake the text before it
            parse = await self.parser.parse(msg.text, lang=hint, tz=msg.speaker.timezone, now=msg.received_at)
            return await asyncio.to_thread(self._turn, msg, parse)

    def _turn(self, msg: IncomingMessage, parse: dict[str, Any]) -> list[dict[str, Any]]:
        message = dict(parse)
        sealed = speaker_seal.seal(msg.speaker, speaker_seal.conversation_key(msg.channel, msg.sender_id))
        message["metadata"] = {**msg.metadata, "speaker": speaker_dict(msg.speaker), "channel": msg.channel,
                               speaker_seal.METADATA_KEY: sealed}
        language = msg.speaker.language if msg.speaker.language in SUPPORTED_LANGUAGES else "en"
        try:
            with self.db.session() as session:
                token = TURN_SESSION.set(session)
                try:
                    conv = conversation_store.load_for_update(session, msg.channel, msg.sender_id)
                    state = ConversationState.from_json(
                        msg.sender_id, msg.channel, conv.state or {}, self.engine.domain.initial_slots()
                    )
                    language = self._language(state, msg, parse)
                    if state.slots.get("language") != language:
                        state.set_slot("language", language)
                    out = self.engine.handle(state, message)
                    conversation_store.save(session, conv, state, msg.speaker.label)
                finally:
                    TURN_SESSION.reset(token)
            return out.messages
        except StoreUnavailable:
            raise
        except Exception:
            ref = error_reference()
            log.exception("turn failed (ref %s) in %s/%s", ref, msg.channel, msg.sender_id)
            rendered = self.engine.domain.render("utter_error", {"language": language}, ref=ref)
            return [rendered or {"text": f"Sorry, that failed (ref {ref})."}]

    @staticmethod
    def _language(state: ConversationState, msg: IncomingMessage, parse: dict[str, Any]) -> str:
        """The message's language when it clearly is English or German ("hi" too), else the conversation's,
        else the speaker's profile."""
        from nlu.reply_language import clear_language

        detected = parse.get("language")
        clear = clear_language(msg.text or "")
        if clear in SUPPORTED_LANGUAGES:
            return str(clear)
        current = state.slots.get("language")
        if current in SUPPORTED_LANGUAGES:
            return str(current)
        if msg.speaker.language in SUPPORTED_LANGUAGES:
            return msg.speaker.language
        return str(detected) if detected in SUPPORTED_LANGUAGES else "en"
