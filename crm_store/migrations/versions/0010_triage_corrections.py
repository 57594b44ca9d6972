"""triage corrections: agents' queue/priority changes on mail tickets, kept as labelled data

Revision ID: 0010
Revises: 0009
Create Date: 2026-12-08 00:50:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

import crm_store.models.base

revision = "0010"
down_revision = "0009"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "triage_corrections",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("ticket_id", sa.Integer(), nullable=False),
        sa.Column("old_queue", sa.String(length=20), nullable=False),
        sa.Column("new_queue", sa.String(length=20), nullable=False),
        sa.Column("old_priority", sa.String(length=16), nullable=False),
        sa.Column("new_priority", sa.String(length=16), nullable=False),
        sa.Column("language", sa.String(length=8), nullable=True),
        sa.Column("corrected_by_id", sa.Integer(), nullable=True),
        sa.Column("created_at", crm_store.models.base.UTCDateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["ticket_id"],
            ["tickets.id"],
            name=op.f("fk_triage_corrections_ticket_id_tickets"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["corrected_by_id"],
            ["users.id"],
            name=op.f("fk_triage_corrections_corrected_by_id_users"),
            ondelete="SET NULL",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_triage_corrections")),
    )
    with op.batch_alter_table("triage_corrections", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_triage_corrections_ticket_id"), ["ticket_id"], unique=False)
        batch_op.create_index(batch_op.f("ix_triage_corrections_created_at"), ["created_at"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("triage_corrections", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_triage_corrections_created_at"))
        batch_op.drop_index(batch_op.f("ix_triage_corrections_ticket_id"))
    op.drop_table("triage_corrections")
