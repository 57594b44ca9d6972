"""Slack request signatures, checked on the raw body before anything parses it.

Slack signs ``v0:{X-Slack-Request-Timestamp}:{raw body}`` with HMAC-SHA256 under the app's signing
secret and sends ``v0=<hex>`` in ``X-Slack-Signature``. Anything else (missing or non-numeric headers,
another version, a timestamp outside the replay window) is refused; this never raises.
"""

from __future__ import annotations

import hashlib
import hmac
import time
from collections.abc import Mapping

REPLAY_WINDOW_SECONDS = 5 * 60
MAX_SIGNATURE_CHARS = 100


def sign(secret: str, timestamp: str, body: bytes) -> str:
    """The ``X-Slack-Signature`` Slack would send for this body (also used by the tests)."""
    base = b"v0:" + timestamp.encode() + b":" + body
    return "v0=" + hmac.new(secret.encode(), base, hashlib.sha256).hexdigest()


def is_valid(secret: str, headers: Mapping[str, str], body: bytes, *, now: float | None = None) -> bool:
    """True only for a correctly signed, fresh request."""
    if not secret:
        return False
    timestamp = headers.get("X-Slack-Request-Timestamp", "")
    signature = headers.get("X-Slack-Signature", "")
    if not (timestamp.isascii() and timestamp.isdigit()) or len(timestamp) > 12:
        return False
    if not signature.startswith("v0=") or len(signature) > MAX_SIGNATURE_CHARS or not signature.isascii():
        return False
    current = time.time() if now is None else now
    if abs(current - int(timestamp)) > REPLAY_WINDOW_SECONDS:
        return False
    return hmac.compare_digest(sign(secret, timestamp, body), signature)
