"""Internal users (staff) and their API tokens."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import ForeignKey, Index, String
from sqlalchemy.orm import Mapped, mapped_column, relationship

from crm_store.models.base import Base, TimestampMixin, utcnow

ROLES: tuple[str, ...] = ("admin", "manager", "rep", "agent")


class Team(Base, TimestampMixin):
    __tablename__ = "teams"
    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(120), unique=True)
    lead_user_id: Mapped[int | None] = mapped_column(ForeignKey("users.id", use_alter=True, ondelete="SET NULL"))
    timezone: Mapped[str] = mapped_column(String(64), default="Europe/Berlin")
    slack_channel: Mapped[str | None] = mapped_column(String(40))  # Slack agent console: the team's channel


class User(Base, TimestampMixin):
    __tablename__ = "users"
    id: Mapped[int] = mapped_column(primary_key=True)
    email: Mapped[str] = mapped_column(String(320), unique=True)
    name: Mapped[str] = mapped_column(String(200))
    role: Mapped[str] = mapped_column(String(16))
    team_id: Mapped[int | None] = mapped_column(ForeignKey("teams.id", ondelete="SET NULL"), index=True)
    language: Mapped[str] = mapped_column(String(8), default="en")
    timezone: Mapped[str] = mapped_column(String(64), default="Europe/Berlin")
    languages_spoken: Mapped[list[str]] = mapped_column(default=list)
    slack_user_id: Mapped[str | None] = mapped_column(String(64), unique=True)
    teams_user_id: Mapped[str | None] = mapped_column(String(200), unique=True)
    # The workspace (Slack team or enterprise id) and Microsoft tenant a chat account was linked in: a link
    # is valid only for messages from that same workspace/tenant.
    slack_team_id: Mapped[str | None] = mapped_column(String(64))
    teams_tenant_id: Mapped[str | None] = mapped_column(String(64))
    is_active: Mapped[bool] = mapped_column(default=True)
    is_available: Mapped[bool] = mapped_column(default=True)

    team: Mapped[Team | None] = relationship(foreign_keys=[team_id])


class ApiToken(Base):
    __tablename__ = "api_tokens"
    id: Mapped[int] = mapped_column(primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), index=True)
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    prefix: Mapped[str] = mapped_column(String(12))
    name: Mapped[str] = mapped_column(String(120), default="default")
    created_at: Mapped[datetime]
    last_used_at: Mapped[datetime | None]
    revoked_at: Mapped[datetime | None]
    expires_at: Mapped[datetime | None]

    user: Mapped[User] = relationship()


class AccountLink(Base):
    """A request to link a Slack or Teams account to a CRM user: pending until an admin approves it or the
    user proves it from a channel where they are already signed in (a one-time code); every step audited."""

    __tablename__ = "account_links"
    __table_args__ = (Index("ix_account_links_channel_external", "channel", "external_id"),)
    id: Mapped[int] = mapped_column(primary_key=True)
    user_id: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), index=True)
    channel: Mapped[str] = mapped_column(String(10))  # slack / teams
    external_id: Mapped[str] = mapped_column(String(200))  # the Slack user id / Teams AAD object or user id
    workspace_id: Mapped[str | None] = mapped_column(String(200))  # Slack team/enterprise id, Teams tenant id
    status: Mapped[str] = mapped_column(String(12), default="pending")  # pending/approved/rejected/expired
    code_hash: Mapped[str | None] = mapped_column(String(64))
    attempts: Mapped[int] = mapped_column(default=0)
    requested_at: Mapped[datetime] = mapped_column(default=utcnow)
    expires_at: Mapped[datetime | None]
    decided_at: Mapped[datetime | None]
    decided_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))


class AgentSession(Base):
    """A signed-in browser of the agent inbox (``kind="session"``, the cookie's hash) or a one-time login
    link not yet used (``kind="login_link"``). Only hashes are stored; the secret lives in the browser."""

    __tablename__ = "agent_sessions"
    id: Mapped[int] = mapped_column(primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), index=True)
    kind: Mapped[str] = mapped_column(String(12), default="session")
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    created_at: Mapped[datetime]
    expires_at: Mapped[datetime]
    last_seen_at: Mapped[datetime | None]
    used_at: Mapped[datetime | None]  # a login link: when it was redeemed (once)
    revoked_at: Mapped[datetime | None]  # a session: signed out
