"""Bearer tokens: ``Authorization: Bearer crm_...`` names a user; the services enforce the role.

There is deliberately no token cache here: every request looks its token up in the request's own
transaction (one indexed SELECT on the token hash), so an expired or revoked token, or a deactivated
user, is refused from the very next request (a revocation is honoured within 0 s, well inside the 5 s
bound). ``last_used_at`` is written at most once a minute per token (``crm_store.services.users``),
and only when the request's transaction commits: it records the last successful use.
"""

from __future__ import annotations

from datetime import datetime

from aiohttp import hdrs, web
from sqlalchemy.orm import Session

from connectors.rest_api.problems import ProblemError, unauthorized
from crm_store.services import Actor
from crm_store.services.users import actor_for, authenticate


def bearer_token(request: web.Request) -> str:
    """The token of the request; a 401 problem when the header is missing or not a bearer token."""
    header = request.headers.get(hdrs.AUTHORIZATION, "").strip()
    scheme, _, token = header.partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        raise ProblemError(unauthorized(token_given=bool(header)))
    return token.strip()


def actor_for_token(session: Session, token: str, *, now: datetime | None = None) -> Actor:
    """The acting user (runs inside the request's transaction); a 401 problem for unknown, expired or
    revoked tokens and for inactive users (one answer for all, so the reply tells a guesser nothing)."""
    user = authenticate(session, token, now=now)
    if user is None:
        raise ProblemError(unauthorized(token_given=True))
    return actor_for(user)
