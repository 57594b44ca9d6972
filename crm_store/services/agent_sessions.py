"""Sign-in to the agent inbox: browser sessions and one-time login links for staff.

    secret = sign_in_with_token(session, api_token)        # the user's API token proves who they are
    link = AgentSessionService(session, admin).issue_login_link(user_id)   # or a one-time link (15 min)
    secret = redeem_login_link(session, link)              # used once, then gone
    actor = resolve(session, secret)                       # every request: the cookie -> Actor or None
    sign_out(session, secret)

Only SHA-256 hashes of the secrets are stored (``agent_sessions``), so a copy of the database opens no
browser session. A session ends after ``SESSION_HOURS`` or ``IDLE_MINUTES`` without a request, when the user
is deactivated, or when they sign out. Every sign-in, failed sign-in, link and sign-out is audited.
"""

from __future__ import annotations

import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import select

from crm_store.models import AgentSession, User, utcnow
from crm_store.services import audit
from crm_store.services.actor import Actor
from crm_store.services.base import STAFF, Service
from crm_store.services.errors import ValidationFailed
from crm_store.services.users import actor_for, authenticate, hash_token

SESSION_PREFIX = "ags_"
LINK_PREFIX = "agl_"
SESSION_HOURS = 12
IDLE_MINUTES = 120
LINK_MINUTES = 15
LINKS_PER_HOUR = 3  # mailed login links per user and hour (a form anyone can submit must not flood a mailbox)
SEEN_RESOLUTION = timedelta(minutes=1)  # last_seen_at is written at most once a minute per session


@dataclass(frozen=True)
class SignedIn:
    secret: str  # goes into the cookie, never stored
    actor: Actor


def _new_secret(prefix: str) -> str:
    return prefix + secrets.token_urlsafe(32)


def start_session(session: Any, user: User, *, via: str, now: datetime | None = None) -> SignedIn:
    """A new browser session for an active staff ``user`` who has just proved who they are."""
    when = now or utcnow()
    secret = _new_secret(SESSION_PREFIX)
    session.add(
        AgentSession(
            user_id=user.id,
            kind="session",
            token_hash=hash_token(secret),
            created_at=when,
            expires_at=when + timedelta(hours=SESSION_HOURS),
            last_seen_at=when,
        )
    )
    actor = actor_for(user)
    audit.record(session, actor, "sign_in", "user", user.id, {"via": via})
    return SignedIn(secret, actor)


def sign_in_with_token(session: Any, api_token: str) -> SignedIn | None:
    """An API token (``crm_...``) of an active staff user opens a session; anything else: None (audited
    as a failed sign-in without the token)."""
    user = authenticate(session, api_token.strip()) if isinstance(api_token, str) else None
    if user is None or user.role not in STAFF:
        audit.record(session, Actor.system("agent_inbox"), "sign_in_failed", "user", None, {"via": "token"})
        return None
    return start_session(session, user, via="token")


def redeem_login_link(session: Any, link: str, *, now: datetime | None = None) -> SignedIn | None:
    """A one-time login link opens a session once, within ``LINK_MINUTES``; a used, expired or unknown
    link (or one of a user deactivated meanwhile) opens nothing."""
    when = now or utcnow()
    if not isinstance(link, str) or not link.startswith(LINK_PREFIX) or len(link) > 200:
        return None
    row = session.execute(
        select(AgentSession).where(
            AgentSession.token_hash == hash_token(link), AgentSession.kind == "login_link"
        )
    ).scalar_one_or_none()
    if row is None or row.used_at is not None or row.expires_at <= when:
        audit.record(session, Actor.system("agent_inbox"), "sign_in_failed", "user", None, {"via": "link"})
        return None
    row.used_at = when
    user = session.get(User, row.user_id)
    if user is None or not user.is_active:
        return None
    return start_session(session, user, via="link", now=when)


def resolve(session: Any, secret: str | None, *, now: datetime | None = None) -> Actor | None:
    """The staff member a session cookie belongs to, or None (unknown, expired, idle, signed out)."""
    if not secret or not secret.startswith(SESSION_PREFIX) or len(secret) > 200 or not secret.isascii():
        return None
    when = now or utcnow()
    row = session.execute(
        select(AgentSession).where(
            AgentSession.token_hash == hash_token(secret), AgentSession.kind == "session"
        )
    ).scalar_one_or_none()
    if row is None or row.revoked_at is not None or row.expires_at <= when:
        return None
    if row.last_seen_at is not None and when - row.last_seen_at > timedelta(minutes=IDLE_MINUTES):
        return None
    user = session.get(User, row.user_id)
    if user is None or not user.is_active or user.role not in STAFF:
        return None
    if row.last_seen_at is None or when - row.last_seen_at >= SEEN_RESOLUTION:
        row.last_seen_at = when
    return actor_for(user)


def sign_out(session: Any, secret: str | None) -> None:
    if not secret:
        return
    row = session.execute(
        select(AgentSession).where(
            AgentSession.token_hash == hash_token(secret), AgentSession.kind == "session"
        )
    ).scalar_one_or_none()
    if row is not None and row.revoked_at is None:
        row.revoked_at = utcnow()
        user = session.get(User, row.user_id)
        if user is not None:
            audit.record(session, actor_for(user), "sign_out", "user", user.id, {})


def mail_login_link(session: Any, email: str, *, base_url: str, language_hint: str = "en") -> bool:
    """ "Mail me a login link": when ``email`` is an active staff user's and fewer than ``LINKS_PER_HOUR``
    links went to them this hour, a link is queued in the e-mail outbox (kind ``login_link``, the URL wiped
    once sent). The caller answers the same either way, so the form reveals nobody; True only for tests."""
    from crm_store.models import OutboxMessage

    address = (email or "").strip().lower()
    user = (
        session.execute(select(User).where(User.email == address)).scalar_one_or_none() if address else None
    )
    if user is None or not user.is_active or user.role not in STAFF:
        return False
    now = utcnow()
    recent = session.execute(
        select(AgentSession.id).where(
            AgentSession.user_id == user.id,
            AgentSession.kind == "login_link",
            AgentSession.created_at > now - timedelta(hours=1),
        )
    ).all()
    if len(recent) >= LINKS_PER_HOUR:
        audit.record(
            session, Actor.system("agent_inbox"), "login_link_refused", "user", user.id, {"limit": True}
        )
        return False
    link = _new_secret(LINK_PREFIX)
    session.add(
        AgentSession(
            user_id=user.id,
            kind="login_link",
            token_hash=hash_token(link),
            created_at=now,
            expires_at=now + timedelta(minutes=LINK_MINUTES),
        )
    )
    session.add(
        OutboxMessage(
            channel="email",
            target=user.email[:200],
            next_attempt_at=now,
            payload={
                "kind": "login_link",
                "to": user.email,
                "url": f"{base_url.rstrip('/')}/agent/login/link?t={link}",
                "language": user.language if user.language in ("en", "de") else language_hint,
                "expires_at": (now + timedelta(minutes=LINK_MINUTES)).isoformat(),
            },
        )
    )
    audit.record(session, Actor.system("agent_inbox"), "login_link", "user", user.id, {"via": "email"})
    return True


class AgentSessionService(Service):
    """What a signed-in actor does about sessions: issue a login link (admins for anyone, staff for
    themselves), end every session of a user (admins, or oneself)."""

    entity = "user"
    owner_attr = None

    def issue_login_link(self, user_id: int, *, minutes: int = LINK_MINUTES) -> str:
        if not (self.actor.is_admin or (self.actor.kind == "user" and self.actor.id == user_id)):
            self.require_role("admin")
        user = self.get_or_404(User, user_id, "user")
        if not user.is_active or user.role not in STAFF:
            raise ValidationFailed("only an active staff user can sign in", "user_id")
        now = utcnow()
        link = _new_secret(LINK_PREFIX)
        self.session.add(
            AgentSession(
                user_id=user.id,
                kind="login_link",
                token_hash=hash_token(link),
                created_at=now,
                expires_at=now + timedelta(minutes=minutes),
            )
        )
        self.audit("login_link", user.id, {"minutes": minutes})
        return link

    def end_all(self, user_id: int) -> int:
        if not (self.actor.is_admin or (self.actor.kind == "user" and self.actor.id == user_id)):
            self.require_role("admin")
        rows = (
            self.session.execute(
                select(AgentSession).where(
                    AgentSession.user_id == user_id,
                    AgentSession.revoked_at.is_(None),
                    AgentSession.kind == "session",
                )
            )
            .scalars()
            .all()
        )
        now = utcnow()
        for row in rows:
            row.revoked_at = now
        self.audit("sign_out_all", user_id, {"sessions": len(rows)})
        return len(rows)
