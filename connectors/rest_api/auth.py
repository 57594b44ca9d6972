"""Bearer tokens: ``Authorization: Bearer crm_...`` names a user; the services enforce the role."""

from __future__ import annotations

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


def actor_for_token(session: Session, token: str) -> Actor:
    """The acting user (runs inside the request's transaction); a 401 problem for unknown tokens."""
    user = authenticate(session, token)
    if user is None:
        raise ProblemError(unauthorized(token_given=True))
    return actor_for(user)
