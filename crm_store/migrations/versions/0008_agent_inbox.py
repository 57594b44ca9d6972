"""agent inbox: sessions and login links, the triage decision on tickets, attachment names, Slack console

Revision ID: 0008
Revises: 0007
Create Date: 2026-12-08 00:40:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

import crm_store.models.base

revision = "0008"
down_revision = "0007"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "agent_sessions",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("user_id", sa.Integer(), nullable=False),
        sa.Column("kind", sa.String(length=12), nullable=False),
        sa.Column("token_hash", sa.String(length=64), nullable=False),
        sa.Column("created_at", crm_store.models.base.UTCDateTime(timezone=True), nullable=False),
        sa.Column("expires_at", crm_store.models.base.UTCDateTime(timezone=True), nullable=False),
        sa.Column("last_seen_at", crm_store.models.base.UTCDateTime(timezone=True), nullable=True),
        sa.Column("used_at", crm_store.models.base.UTCDateTime(timezone=True), nullable=True),
        sa.Column("revoked_at", crm_store.models.base.UTCDateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(
            ["user_id"], ["users.id"], name=op.f("fk_agent_sessions_user_id_users"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_agent_sessions")),
        sa.UniqueConstraint("token_hash", name=op.f("uq_agent_sessions_token_hash")),
    )
    with op.batch_alter_table("agent_sessions", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_agent_sessions_user_id"), ["user_id"], unique=False)
    with op.batch_alter_table("tickets", schema=None) as batch_op:
        batch_op.add_column(sa.Column("triage", sa.JSON(), nullable=True))
        batch_op.add_column(sa.Column("slack_message", sa.String(length=64), nullable=True))
    with op.batch_alter_table("ticket_messages", schema=None) as batch_op:
        batch_op.add_column(sa.Column("attachments", sa.JSON(), nullable=True))
    with op.batch_alter_table("teams", schema=None) as batch_op:
        batch_op.add_column(sa.Column("slack_channel", sa.String(length=40), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("teams", schema=None) as batch_op:
        batch_op.drop_column("slack_channel")
    with op.batch_alter_table("ticket_messages", schema=None) as batch_op:
        batch_op.drop_column("attachments")
    with op.batch_alter_table("tickets", schema=None) as batch_op:
        batch_op.drop_column("slack_message")
        batch_op.drop_column("triage")
    with op.batch_alter_table("agent_sessions", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_agent_sessions_user_id"))
    op.drop_table("agent_sessions")
