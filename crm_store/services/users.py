"""Users, teams and API tokens (stored as SHA-256 hashes, shown once; they expire and can be revoked)."""

from __future__ import annotations

import hashlib
import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from sqlalchemy import select

from crm_store.models import ApiToken, Team, User, utcnow
from crm_store.schemas import UserIn, UserPatch
from crm_store.services.actor import Actor
from crm_store.services.base import STAFF, Page, Service, changes, parse_input
from crm_store.services.errors import Conflict, FieldError, NotFound, ValidationFailed

TOKEN_PREFIX = "crm_"
# A token lives this long unless its issuer says otherwise (0 = never expires, for a service account).
DEFAULT_TOKEN_DAYS = 90
MAX_TOKEN_DAYS = 3650
# ``last_used_at`` is written at most this often per token: "used recently" without a write per request.
LAST_USED_RESOLUTION = timedelta(seconds=60)
# Chat accounts are bound to a CRM user only by the account-linking flow (LinkService: admin-approved or
# proven with a one-time code, audited). Setting them through a plain user update would let anyone who can
# edit a user answer as that user in Slack or Teams.
LINK_FIELDS = ("slack_user_id", "teams_user_id", "slack_team_id", "teams_tenant_id")
LINK_ONLY = "linked through account linking only"
# What a user may change on their own record; everything else is an admin's.
OWN_FIELDS = frozenset({"name", "language", "timezone", "is_available"})
NOT_NULL = ("name", "role", "language", "timezone", "is_active", "is_available")


def hash_token(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def actor_for(user: User) -> Actor:
    return Actor(kind="user", id=user.id, role=user.role, team_id=user.team_id, name=user.name,
                 language=user.language, timezone=user.timezone)


@dataclass(frozen=True)
class TokenInfo:
    """What may be shown about a token after it was issued: never the secret or its hash."""

    id: int
    prefix: str
    name: str
    created_at: datetime
    last_used_at: datetime | None
    expires_at: datetime | None
    revoked_at: datetime | None

    def state(self, now: datetime | None = None) -> str:
        if self.revoked_at is not None:
            return "revoked"
        if self.expires_at is not None and self.expires_at <= (now or utcnow()):
            return "expired"
        return "active"


def _link_field_errors(data: dict[str, Any] | Any) -> list[FieldError]:
    if not isinstance(data, dict):
        return []
    return [FieldError(name, LINK_ONLY) for name in LINK_FIELDS if name in data]


def _check_timezone(name: str | None) -> None:
    """A zone the chat can compute with; an unknown one would break every later reply to this user."""
    if name is None:
        return
    try:
        ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError, OSError):
        raise ValidationFailed("not a known IANA time zone, e.g. Europe/Berlin", "timezone") from None


class UserService(Service):
    entity = "user"

    def create(self, data: dict[str, Any] | UserIn) -> User:
        self.require_role("admin")
        if errors := _link_field_errors(data):
            raise ValidationFailed(errors)
        inp = parse_input(UserIn, data)
        if inp.slack_user_id is not None or inp.teams_user_id is not None:
            raise ValidationFailed(LINK_ONLY, "slack_user_id" if inp.slack_user_id else "teams_user_id")
        _check_timezone(inp.timezone)
        self.ensure_exists(Team, inp.team_id, "team_id")
        existing = self.session.execute(select(User.id).where(User.email == inp.email)).scalar()
        if existing is not None:
            raise Conflict(f"a user with e-mail {inp.email} exists", existing_id=existing, field_name="email")
        values = inp.model_dump()
        values["languages_spoken"] = values["languages_spoken"] or [inp.language]
        user = User(**values)
        self.session.add(user)
        self.session.flush()
        self.audit("create", user.id, {"role": user.role, "team_id": user.team_id})
        return user

    def update(self, user_id: int, data: dict[str, Any]) -> User:
        """Admins change anything but chat links; a user changes only their own name, language, zone and
        availability. Chat links (``LINK_FIELDS``) are refused for everyone: account linking sets them."""
        if errors := _link_field_errors(data):
            raise ValidationFailed(errors)
        values = parse_input(UserPatch, data).model_dump(exclude_unset=True)
        own_settings = self.actor.kind == "user" and self.actor.id == user_id and values.keys() <= OWN_FIELDS
        if not own_settings:
            self.require_role("admin")
        if nulls := [FieldError(k, "must not be null") for k in NOT_NULL if k in values and values[k] is None]:
            raise ValidationFailed(nulls)
        if self.actor.kind == "user" and self.actor.id == user_id and (
            values.get("role", self.actor.role) != self.actor.role or values.get("is_active") is False
        ):  # found by the API fuzzer: an admin locked themselves (and possibly the last admin) out
            field_name = "role" if "role" in values and values["role"] != self.actor.role else "is_active"
            raise ValidationFailed("you cannot demote or deactivate yourself; another admin can", field_name)
        _check_timezone(values.get("timezone"))
        user = self.get_or_404(User, user_id)
        self.ensure_exists(Team, values.get("team_id"), "team_id")
        diff = changes(user, values)
        if diff:
            self.audit("update", user.id, {"changes": {k: [str(a), str(b)] for k, (a, b) in diff.items()}})
        return user

    def get(self, user_id: int) -> User:
        self.require_role(*STAFF)
        return self.get_or_404(User, user_id)

    def list(self, *, role: str | None = None, team_id: int | None = None, limit: int = 50,
             offset: int = 0) -> Page:
        self.require_role(*STAFF)
        stmt = select(User).order_by(User.id)
        if role:
            stmt = stmt.where(User.role == role)
        if team_id is not None:
            stmt = stmt.where(User.team_id == team_id)
        return self.paginate(stmt, limit=limit, offset=offset)

    def by_email(self, email: str) -> User | None:
        return self.session.execute(select(User).where(User.email == email.strip().lower())).scalar()

    def create_team(self, name: str, *, lead_user_id: int | None = None, timezone: str = "Europe/Berlin") -> Team:
        self.require_role("admin")
        if not name.strip():
            raise ValidationFailed("a team needs a name", "name")
        team = Team(name=name.strip(), lead_user_id=lead_user_id, timezone=timezone)
        self.session.add(team)
        self.session.flush()
        self.audit("create", team.id, {"name": team.name}, entity="team")
        return team

    # --- API tokens ------------------------------------------------------------------------------------
    def _require_self_or_admin(self, user_id: int) -> None:
        if not (self.actor.kind == "user" and self.actor.id == user_id):
            self.require_role("admin")

    def issue_token(self, user_id: int, name: str = "default", *, days: int | None = DEFAULT_TOKEN_DAYS,
                    now: datetime | None = None) -> str:
        """Create a token; only its hash is stored. Admins for anyone, users for themselves.

        ``days`` is its lifetime (0 or None: it never expires, meant for service accounts)."""
        self._require_self_or_admin(user_id)
        if days is not None and not 0 <= days <= MAX_TOKEN_DAYS:
            raise ValidationFailed(f"must be between 0 (never expires) and {MAX_TOKEN_DAYS}", "days")
        name = name.strip()
        if not 1 <= len(name) <= 120:
            raise ValidationFailed("a token needs a name of 1 to 120 characters", "name")
        user = self.get_or_404(User, user_id)
        if not user.is_active:
            raise ValidationFailed("the user is inactive", "user_id")
        issued = now or utcnow()
        expires = issued + timedelta(days=days) if days else None
        token = TOKEN_PREFIX + secrets.token_urlsafe(32)
        self.session.add(ApiToken(user_id=user.id, token_hash=hash_token(token), prefix=token[:10], name=name,
                                  created_at=issued, expires_at=expires))
        self.session.flush()
        self.audit("issue_token", user.id, {"prefix": token[:10], "name": name,
                                            "expires_at": expires.isoformat() if expires else None})
        return token

    def tokens(self, user_id: int) -> list[TokenInfo]:
        """The user's tokens, newest first (admins: anyone's; users: their own)."""
        self._require_self_or_admin(user_id)
        self.get_or_404(User, user_id)
        rows = self.session.execute(
            select(ApiToken).where(ApiToken.user_id == user_id).order_by(ApiToken.id.desc())
        ).scalars()
        return [TokenInfo(t.id, t.prefix, t.name, t.created_at, t.last_used_at, t.expires_at, t.revoked_at)
                for t in rows]

    def revoke_token(self, prefix: str, *, now: datetime | None = None) -> TokenInfo:
        """Revoke the one token starting with ``prefix`` (as ``users tokens`` shows it); effective at once."""
        self.require_role(*STAFF)
        prefix = prefix.strip()
        if len(prefix) < 8 or not prefix.startswith(TOKEN_PREFIX):
            raise ValidationFailed(f"give the token's prefix as listed, e.g. {TOKEN_PREFIX}AbC123", "prefix")
        stmt = select(ApiToken).where(ApiToken.prefix.startswith(prefix[:10], autoescape=True),
                                      ApiToken.revoked_at.is_(None))
        if not self.actor.has_role("admin"):  # a user sees and revokes only their own tokens
            stmt = stmt.where(ApiToken.user_id == self.actor.id)
        rows = list(self.session.execute(stmt).scalars())
        if not rows:
            raise NotFound(f"no active token with prefix {prefix}")
        if len(rows) > 1:
            raise Conflict(f"{len(rows)} active tokens share prefix {prefix}; revoke them by user (--all)",
                           field_name="prefix")
        row = rows[0]
        self._revoke(row, now or utcnow())
        return TokenInfo(row.id, row.prefix, row.name, row.created_at, row.last_used_at, row.expires_at,
                         row.revoked_at)

    def revoke_all_tokens(self, user_id: int, *, now: datetime | None = None) -> int:
        """Revoke every active token of the user; how many were revoked."""
        self._require_self_or_admin(user_id)
        self.get_or_404(User, user_id)
        when = now or utcnow()
        rows = self.session.execute(
            select(ApiToken).where(ApiToken.user_id == user_id, ApiToken.revoked_at.is_(None))
        ).scalars().all()
        for row in rows:
            self._revoke(row, when)
        return len(rows)

    def _revoke(self, row: ApiToken, when: datetime) -> None:
        row.revoked_at = when
        self.session.flush()
        self.audit("revoke_token", row.user_id, {"prefix": row.prefix, "name": row.name})


def authenticate(session: Any, token: str, *, now: datetime | None = None) -> User | None:
    """The active user owning this unexpired, unrevoked bearer token, or None.

    Runs in the caller's transaction and notes ``last_used_at`` at most once per ``LAST_USED_RESOLUTION``,
    so a busy client costs one small UPDATE a minute, not one per request."""
    if not token or not token.startswith(TOKEN_PREFIX) or len(token) > 200 or not token.isascii():
        return None
    row = session.execute(
        select(ApiToken).where(ApiToken.token_hash == hash_token(token), ApiToken.revoked_at.is_(None))
    ).scalar_one_or_none()
    if row is None:
        return None
    when = now or utcnow()
    if row.expires_at is not None and row.expires_at <= when:
        return None
    if not row.user.is_active:
        return None
    if row.last_used_at is None or when - row.last_used_at >= LAST_USED_RESOLUTION:
        row.last_used_at = when
    return row.user
