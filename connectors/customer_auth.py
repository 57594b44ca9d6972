"""Signed customer tokens: a customer portal that has logged someone in hands the chat a token
``cus_<contact_id>.<expiry>.<hmac>``; the web chat then speaks as that contact and nobody else."""

from __future__ import annotations

import hashlib
import hmac
import time


def issue(contact_id: int, secret: str, *, ttl_seconds: int = 8 * 3600, now: float | None = None) -> str:
    expiry = int((now or time.time()) + ttl_seconds)
    body = f"{contact_id}.{expiry}"
    sig = hmac.new(secret.encode(), body.encode(), hashlib.sha256).hexdigest()[:32]
    return f"cus_{body}.{sig}"


def verify(token: str, secret: str, *, now: float | None = None) -> int | None:
    """The contact id, or None when the token is malformed, forged or expired.

    Anything a client sends arrives here, non-ASCII included: the signature is compared as bytes (``compare_digest``
    raises on non-ASCII ``str``, which was a 500), and digits must be ASCII (``int()`` also reads ``"١٢"``)."""
    if not secret or not isinstance(token, str) or not token.startswith("cus_") or len(token) > 120:
        return None
    if not token.isascii():
        return None
    try:
        contact, expiry, sig = token[4:].split(".")
        contact_id, exp = int(contact), int(expiry)
    except ValueError:
        return None
    expected = hmac.new(secret.encode(), f"{contact_id}.{exp}".encode(), hashlib.sha256).hexdigest()[:32]
    if not hmac.compare_digest(sig.encode(), expected.encode()) or exp < (now or time.time()):
        return None
    return contact_id
