"""SQL parameters are personal data: a failing statement's exception text, traceback and SQL log carry none
of its values (SQLite and PostgreSQL), unless ``CRM_SQL_SHOW_PARAMETERS`` asks for them."""

from __future__ import annotations

import logging
import traceback

import pytest
from sqlalchemy import text
from sqlalchemy.exc import DBAPIError

from crm_store.db import Database, scrub_values, show_parameters_requested
from crm_store.models import User

SECRET_EMAIL = "anna.geheim@secret.example"
SECRET_TEXT = "geheim-4711"


def _failures(db: Database) -> list[str]:
    """Every way this store reports three failing statements: str(), the traceback, the chained cause."""
    reports: list[str] = []
    with db.session() as s:
        s.add(User(email=SECRET_EMAIL, name="Anna", role="rep"))
    attempts = [
        ("INSERT INTO users (email, name, role, language, timezone, languages_spoken, is_active, is_available,"
         " created_at, updated_at) VALUES (:e, :n, 'rep', 'en', 'UTC', '[]', true, true, :t, :t)",
         {"e": SECRET_EMAIL, "n": SECRET_TEXT, "t": "2026-01-01 00:00:00"}),  # unique e-mail
        ("INSERT INTO users (email, name, role) VALUES (:e, NULL, 'rep')", {"e": SECRET_TEXT}),  # NOT NULL
        ("SELECT CAST(:x AS INTEGER) + id FROM users WHERE email = :e",  # PostgreSQL: invalid integer
         {"x": SECRET_TEXT, "e": SECRET_EMAIL}),
    ]
    for statement, params in attempts:
        try:
            with db.session() as s:
                s.execute(text(statement), params)
        except DBAPIError as exc:
            reports.append(str(exc))
            reports.append("".join(traceback.format_exception(exc)))
    return reports


def test_attack_failing_statements_leak_no_values(db: Database, caplog: pytest.LogCaptureFixture) -> None:
    """Attack: make a statement fail and read the values back from the logged traceback. Before the fix the
    traceback held ``[parameters: ('anna.geheim@...', ...)]`` and PostgreSQL's ``DETAIL: Key (email)=(...)``."""
    echoing = Database(db.url, echo=True)
    try:
        with caplog.at_level(logging.INFO, logger="sqlalchemy.engine"):
            reports = _failures(echoing)
    finally:
        echoing.dispose()
    assert len(reports) >= 4  # SQLite casts the text silently; PostgreSQL refuses all three
    logged = caplog.text
    for report in [*reports, logged]:
        assert SECRET_EMAIL not in report and SECRET_TEXT not in report, report
    assert any("hidden" in r for r in reports)
    assert any("users" in r for r in reports)  # the statement and constraint names stay, for debugging


def test_a_developer_may_ask_for_the_values(db: Database) -> None:
    shown = Database(db.url, show_parameters=True)
    try:
        reports = _failures(shown)
    finally:
        shown.dispose()
    assert any(SECRET_EMAIL in r for r in reports)


def test_scrubbing_keeps_names_and_drops_values() -> None:
    message = ('duplicate key value violates unique constraint "users_email_key"\n'
               "DETAIL:  Key (email)=(a@b.example) already exists.")
    assert scrub_values(message) == 'duplicate key value violates unique constraint "users_email_key"'
    assert scrub_values('invalid input syntax for type integer: "4711x"') == (
        "invalid input syntax for type integer: [value hidden]")
    assert show_parameters_requested({"CRM_SQL_SHOW_PARAMETERS": "1"})
    assert not show_parameters_requested({})
