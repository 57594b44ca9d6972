"""teams conversation references (proactive messages through the outbox)

Revision ID: 0009
Revises: 0008
Create Date: 2026-12-08 01:00:00.000000
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

import crm_store.models.base

revision = "0009"
down_revision = "0008"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "teams_conversation_refs",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("tenant_id", sa.String(length=100), nullable=False),
        sa.Column("conversation_id", sa.String(length=400), nullable=False),
        sa.Column("conversation_type", sa.String(length=20), nullable=False),
        sa.Column("service_url", sa.String(length=500), nullable=False),
        sa.Column("bot_id", sa.String(length=200), nullable=False),
        sa.Column("teams_user_id", sa.String(length=200), nullable=True),
        sa.Column("user_id", sa.String(length=200), nullable=True),
        sa.Column("updated_at", crm_store.models.base.UTCDateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_teams_conversation_refs")),
        sa.UniqueConstraint("tenant_id", "conversation_id", name="uq_teams_conversation_refs_conversation"),
    )
    with op.batch_alter_table("teams_conversation_refs", schema=None) as batch_op:
        batch_op.create_index("ix_teams_conversation_refs_user", ["tenant_id", "teams_user_id"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("teams_conversation_refs", schema=None) as batch_op:
        batch_op.drop_index("ix_teams_conversation_refs_user")
    op.drop_table("teams_conversation_refs")
