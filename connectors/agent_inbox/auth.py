"""The inbox's edge security: the session cookie, CSRF tokens, the same-origin check and safe headers.

* The cookie ``crm_agent`` holds the session secret (``crm_store.services.agent_sessions``): HttpOnly,
  SameSite=Lax, path ``/agent``, and Secure when the request came over HTTPS (directly, through a trusted
  proxy's ``X-Forwarded-Proto``, or ``CRM_PUBLIC_URL`` is https).
* Every state-changing request carries a CSRF token (form field ``csrf`` or header ``X-CSRF-Token``): an
  HMAC of the session secret under the server key, so it cannot be made without the cookie; before sign-in
  the login form's token is a random pre-session cookie echoed in the form (double submit).
* A browser's ``Origin`` on a POST must be our own.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
from typing import Any

from aiohttp import web

COOKIE = "crm_agent"
PRE_COOKIE = "crm_agent_pre"
COOKIE_PATH = "/agent"
_PROCESS_KEY = secrets.token_bytes(32)  # without CRM_SECRET_KEY (demo): tokens live as long as the process

CSP = (
    "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; connect-src 'self'; "
    "frame-ancestors 'none'; form-action 'self'; base-uri 'none'; object-src 'none'"
)
HEADERS = {
    "Content-Security-Policy": CSP,
    "X-Content-Type-Options": "nosniff",
    "X-Frame-Options": "DENY",
    # a login link in the address bar must not leak to other sites; "no-referrer" would also make Chromium
    # send "Origin: null" on our own form posts, which the same-origin check refuses
    "Referrer-Policy": "same-origin",
    "Cache-Control": "no-store",
}


class CsrfFailed(Exception):
    """A state-changing request without a valid CSRF token or from another origin."""


def _key(settings: Any) -> bytes:
    secret = getattr(settings, "secret_key", "")
    return hashlib.sha256(b"agent-inbox-csrf:" + secret.encode()).digest() if secret else _PROCESS_KEY


def csrf_token(settings: Any, session_secret: str) -> str:
    return hmac.new(_key(settings), session_secret.encode(), hashlib.sha256).hexdigest()


def is_https(request: web.Request, settings: Any) -> bool:
    if request.secure or str(getattr(settings, "public_url", "")).startswith("https://"):
        return True
    from connectors.rate_limit import ClientAddress

    trusted = ClientAddress(getattr(settings, "trusted_proxies", ())).is_trusted(request.remote)
    return trusted and request.headers.get("X-Forwarded-Proto", "").lower() == "https"


def set_cookie(
    response: web.StreamResponse,
    request: web.Request,
    settings: Any,
    name: str,
    value: str,
    *,
    max_age: int | None = None,
) -> None:
    response.set_cookie(
        name,
        value,
        path=COOKIE_PATH,
        httponly=True,
        samesite="Lax",
        secure=is_https(request, settings),
        max_age=max_age,
    )


def clear_cookie(response: web.StreamResponse, name: str = COOKIE) -> None:
    response.del_cookie(name, path=COOKIE_PATH)


def check_origin(request: web.Request, settings: Any) -> None:
    origin = request.headers.get("Origin")
    if origin is None:  # not sent by older browsers on same-origin form posts; the CSRF token still decides
        return
    own = {f"{request.scheme}://{request.host}", f"https://{request.host}"}
    public = str(getattr(settings, "public_url", "")).rstrip("/")
    if public:
        own.add("/".join(public.split("/")[:3]))
    if origin not in own:
        raise CsrfFailed("origin")


def check_csrf(request: web.Request, settings: Any, session_secret: str | None, form: Any) -> None:
    """Raise CsrfFailed unless the request proves it comes from our own page of this session."""
    check_origin(request, settings)
    given = request.headers.get("X-CSRF-Token") or (form.get("csrf") if form is not None else None) or ""
    # signed in: the HMAC of the session; the login form: the pre-session cookie, echoed in the form
    expected = csrf_token(settings, session_secret) if session_secret else request.cookies.get(PRE_COOKIE, "")
    if not expected or not isinstance(given, str) or not hmac.compare_digest(given, expected):
        raise CsrfFailed("token")
