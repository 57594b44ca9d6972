"""Every column of the store is classified, and erasure has a way to find every table that holds people."""

from __future__ import annotations

from crm_store.models import Base
from crm_store.models.data_classes import (
    COLUMNS,
    PURPOSES,
    TABLES,
    DataClass,
    Erasure,
    columns_of,
    personal_columns,
    unclassified,
)
from crm_store.services.gdpr import LOCATORS


def test_every_column_of_the_metadata_has_a_class() -> None:
    """A new column (or table) without an entry in data_classes.py fails here, naming it."""
    assert unclassified(Base.metadata) == []


def test_no_entry_names_a_column_that_does_not_exist() -> None:
    real = {f"{t.name}.{c.name}" for t in Base.metadata.sorted_tables for c in t.columns}
    assert sorted(set(COLUMNS) - real) == []


def test_every_table_has_a_purpose_and_a_subject() -> None:
    names = {t.name for t in Base.metadata.sorted_tables}
    assert set(TABLES) == names
    assert {info.purpose for info in TABLES.values()} <= set(PURPOSES)


def test_personal_columns_say_what_erasure_does() -> None:
    for key, col in COLUMNS.items():
        if col.is_personal:
            assert col.erasure is not Erasure.NOT_APPLICABLE, key
        if col.erasure is Erasure.KEEP:
            assert col.reason, f"{key} is kept without a reason"
        if col.data_class is DataClass.NONE:
            assert col.erasure in (Erasure.NOT_APPLICABLE, Erasure.KEEP), key


def test_erasure_can_find_every_table_with_personal_data() -> None:
    """Erasure is driven by the classification: each table with personal data of customers has a locator."""
    for table, info in TABLES.items():
        if personal_columns(table) and info.subject in ("contact", "mentions"):
            assert table in LOCATORS, f"gdpr.py has no locator for {table}"
        if info.subject in ("staff", "none"):
            assert table not in LOCATORS, table


def test_the_new_trust_boundary_columns_are_classified() -> None:
    for key in (
        "conversation_grants.conversation",
        "account_links.external_id",
        "ticket_messages.author_address",
        "ticket_messages.recipients",
        "tickets.related_ticket_id",
        "tickets.review_reason",
        "api_tokens.expires_at",
        "users.slack_team_id",
        "users.teams_tenant_id",
    ):
        assert key in COLUMNS, key
    assert columns_of("ticket_messages")["author_address"].is_personal
