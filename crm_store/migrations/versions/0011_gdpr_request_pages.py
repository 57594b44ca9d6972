"""gdpr requests: free-page step tracked; due dates for requests made before due dates existed

Revision ID: 0011
Revises: 0009
Create Date: 2026-12-08 00:50:00
"""

from __future__ import annotations

import calendar
from datetime import datetime

import sqlalchemy as sa
from alembic import op

import crm_store.models.base

revision = "0011"
down_revision = "0009"
branch_labels = None
depends_on = None


def due_date(received: datetime) -> datetime:
    year, month = (received.year + 1, 1) if received.month == 12 else (received.year, received.month + 1)
    return received.replace(year=year, month=month, day=min(received.day, calendar.monthrange(year, month)[1]))


def upgrade() -> None:
    with op.batch_alter_table("gdpr_requests", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column("pages_freed_at", crm_store.models.base.UTCDateTime(timezone=True), nullable=True)
        )
    # Requests recorded before migration 0007 have no due date: receipt + one calendar month (Art. 12(3)),
    # the same rule the service applies to new ones (written out here: a migration must not change later).
    conn = op.get_bind()
    requests = sa.table(
        "gdpr_requests",
        sa.column("id", sa.Integer()),
        sa.column("requested_at", crm_store.models.base.UTCDateTime(timezone=True)),
        sa.column("due_at", crm_store.models.base.UTCDateTime(timezone=True)),
    )
    rows = conn.execute(sa.select(requests.c.id, requests.c.requested_at).where(requests.c.due_at.is_(None)))
    for row_id, requested_at in list(rows):
        if requested_at is not None:
            conn.execute(
                sa.update(requests).where(requests.c.id == row_id).values(due_at=due_date(requested_at))
            )


def downgrade() -> None:
    with op.batch_alter_table("gdpr_requests", schema=None) as batch_op:
        batch_op.drop_column("pages_freed_at")
