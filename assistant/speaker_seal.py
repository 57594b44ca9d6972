"""The speaker, signed for one conversation: how identity crosses from a channel to the actions.

A connector proves who is talking (a Slack signature, a Teams token, a staff API token, a signed customer
token) and the core hands the actions an :class:`~crm_store.services.Actor`. Between the two lies message
metadata, which may leave the process (a real Rasa server passes it to our action server): so the speaker
travels as a *seal* — ``v1.<payload>.<signature>``, an HMAC-SHA256 over the speaker, the conversation it was
issued for and an expiry. The receiving side (:func:`actions.base.speaker`) accepts the speaker only when the
seal verifies, belongs to the tracker's conversation and has not expired; anything else — no seal, a forged
or tampered one, one taken from another conversation — is an anonymous customer.

The key comes from ``CRM_SECRET_KEY`` (:func:`configure`, called where the app or the action server is built).
Without one, a process makes a random key of its own: in-process engines work out of the box, while a
separate action server cannot verify anything and so treats every speaker as anonymous.

    seal = speaker_seal.seal(actor, "web:customer:anonymous/3f9c...")
    speaker_seal.unseal(seal, "web:customer:anonymous/3f9c...")  # -> the actor, or None
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import secrets
import threading
import time
from typing import Any

from assistant.messages import actor_from_dict, speaker_dict
from crm_store.services.actor import Actor

VERSION = "v1"
TTL_SECONDS = 600  # a turn (Rasa included) runs well within this; a captured seal is useless soon after
MAX_SEAL_CHARS = 4096
METADATA_KEY = "speaker_seal"

_lock = threading.Lock()
_key: bytes = secrets.token_bytes(32)
_configured = False


def configure(secret: str) -> None:
    """Use ``secret`` (``CRM_SECRET_KEY``) as the signing key of this process; empty keeps the random key."""
    global _key, _configured
    if not secret:
        return
    with _lock:
        # a key of its own, derived from the secret: a customer token can never pass for a seal or back
        _key = hmac.new(secret.encode(), b"crm-assistant speaker seal v1", hashlib.sha256).digest()
        _configured = True


def is_configured() -> bool:
    """Was a shared key configured (needed when the actions run in another process)?"""
    return _configured


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def _sign(body: str) -> str:
    return _b64(hmac.new(_key, f"{VERSION}.{body}".encode("ascii"), hashlib.sha256).digest())


def conversation_key(channel: str, sender_id: str) -> str:
    """The canonical id of a conversation across engines: ``<channel>:<the channel's sender id>``."""
    return f"{channel}:{sender_id}"


def seal(actor: Actor, conversation: str, *, now: float | None = None, ttl: int = TTL_SECONDS) -> str:
    payload = {"s": speaker_dict(actor), "c": conversation, "exp": int((time.time() if now is None else now) + ttl)}
    body = _b64(json.dumps(payload, separators=(",", ":"), sort_keys=True).encode("utf-8"))
    return f"{VERSION}.{body}.{_sign(body)}"


def unseal(token: Any, conversations: str | tuple[str, ...], *, now: float | None = None) -> Actor | None:
    """The sealed speaker when ``token`` is genuine, unexpired and issued for one of ``conversations``."""
    payload = read(token, now=now)
    if payload is None:
        return None
    wanted = (conversations,) if isinstance(conversations, str) else conversations
    if payload.get("c") not in wanted:
        return None
    return actor_from_dict(payload.get("s"))


def read(token: Any, *, now: float | None = None) -> dict[str, Any] | None:
    """The verified payload ``{"s": speaker, "c": conversation, "exp"}``; None when anything is wrong."""
    if not isinstance(token, str) or len(token) > MAX_SEAL_CHARS or not token.isascii():
        return None
    parts = token.split(".")
    if len(parts) != 3 or parts[0] != VERSION:
        return None
    _, body, sig = parts
    if not hmac.compare_digest(sig, _sign(body)):
        return None
    try:
        payload = json.loads(_unb64(body))
    except (ValueError, UnicodeDecodeError):
        return None
    if not isinstance(payload, dict) or not isinstance(payload.get("s"), dict):
        return None
    exp = payload.get("exp")
    if not isinstance(exp, int) or exp < (time.time() if now is None else now):
        return None
    if not isinstance(payload.get("c"), str):
        return None
    return payload
