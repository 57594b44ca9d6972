"""lookup and pipeline indexes

Name-token indexes carry ref_id so the ranked candidate query is index-only; the pipeline report gets
covering indexes and an amount index for its top-ten lists.

Revision ID: 0004
Revises: 0003
Create Date: 2026-11-28 08:50:00.000000
"""

from __future__ import annotations

from alembic import op

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("name_tokens", schema=None) as batch_op:
        batch_op.drop_index("ix_name_tokens_kind_token")
        batch_op.drop_index("ix_name_tokens_kind_phonetic")
        batch_op.create_index("ix_name_tokens_kind_token", ["kind", "token", "ref_id"], unique=False)
        batch_op.create_index("ix_name_tokens_kind_phonetic", ["kind", "phonetic", "ref_id"], unique=False)

    with op.batch_alter_table("deals", schema=None) as batch_op:
        batch_op.drop_index("ix_deals_close")
        batch_op.create_index(
            "ix_deals_close",
            ["expected_close_date", "currency", "stage", "owner_id", "probability", "amount"],
            unique=False,
        )
        batch_op.create_index(
            "ix_deals_pipeline",
            ["currency", "stage", "owner_id", "probability", "expected_close_date", "amount"],
            unique=False,
        )
        batch_op.create_index("ix_deals_amount", ["amount"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("deals", schema=None) as batch_op:
        batch_op.drop_index("ix_deals_amount")
        batch_op.drop_index("ix_deals_pipeline")
        batch_op.drop_index("ix_deals_close")
        batch_op.create_index("ix_deals_close", ["expected_close_date"], unique=False)

    with op.batch_alter_table("name_tokens", schema=None) as batch_op:
        batch_op.drop_index("ix_name_tokens_kind_phonetic")
        batch_op.drop_index("ix_name_tokens_kind_token")
        batch_op.create_index("ix_name_tokens_kind_phonetic", ["kind", "phonetic"], unique=False)
        batch_op.create_index("ix_name_tokens_kind_token", ["kind", "token"], unique=False)
