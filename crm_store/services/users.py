"""Users, teams and API tokens (stored as SHA-256 hashes, shown once)."""

from __future__ import annotations

import hashlib
import secrets
from typing import Any

from sqlalchemy import select

from crm_store.models import ApiToken, Team, User, utcnow
from crm_store.schemas import UserIn, UserPatch
from crm_store.services.actor import Actor
from crm_store.services.base import STAFF, Page, Service, changes, parse_input
from crm_store.services.errors import Conflict, ValidationFailed

TOKEN_PREFIX = "crm_"


def hash_token(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def actor_for(user: User) -> Actor:
    return Actor(kind="user", id=user.id, role=user.role, team_id=user.team_id, name=user.name,
                 language=user.language, timezone=user.timezone)


class UserService(Service):
    entity = "user"

    def create(self, data: dict[str, Any] | UserIn) -> User:
        self.require_role("admin")
        inp = parse_input(UserIn, data)
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
        values = parse_input(UserPatch, data).model_dump(exclude_unset=True)
        own_settings = self.actor.kind == "user" and self.actor.id == user_id and not (
            {"role", "team_id", "is_active"} & values.keys())
        if not own_settings:
            self.require_role("admin")
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

    def issue_token(self, user_id: int, name: str = "default") -> str:
        """Create a token; only its hash is stored. Admins for anyone, users for themselves."""
        if not (self.actor.id == user_id and self.actor.kind == "user"):
            self.require_role("admin")
        user = self.get_or_404(User, user_id)
        token = TOKEN_PREFIX + secrets.token_urlsafe(32)
        self.session.add(ApiToken(user_id=user.id, token_hash=hash_token(token), prefix=token[:10], name=name,
                                  created_at=utcnow()))
        self.session.flush()
        self.audit("issue_token", user.id, {"prefix": token[:10], "name": name})
        return token


def authenticate(session: Any, token: str) -> User | None:
    """The active user owning this bearer token, or None."""
    if not token or not token.startswith(TOKEN_PREFIX) or len(token) > 200:
        return None
    row = session.execute(
        select(ApiToken).where(ApiToken.token_hash == hash_token(token), ApiToken.revoked_at.is_(None))
    ).scalar_one_or_none()
    if row is None or not row.user.is_active:
        return None
    return row.user
