"""Demo data: every kind of record is there, the users can log in, and a seed always gives the same data."""

from __future__ import annotations

import shutil
from datetime import UTC, datetime
from pathlib import Path

import pytest
from sqlalchemy import func, select

from crm_store.db import Database
from crm_store.demo_data import generate_demo, snapshot
from crm_store.models import (
    ACTIVITY_TYPES,
    PRIORITIES,
    QUEUES,
    STAGES,
    TICKET_STATUSES,
    Activity,
    ConsentRecord,
    Deal,
    KnowledgeArticle,
    Organization,
    Task,
    Ticket,
    TicketMessage,
)
from crm_store.services import CrmServices
from crm_store.services.audit import verify
from crm_store.services.users import actor_for, authenticate

NOW = datetime(2026, 3, 2, 9, 30, tzinfo=UTC)


def test_tiny_demo_has_every_kind_of_record(db: Database) -> None:
    info = generate_demo(db, seed=7, now=NOW, size="tiny")
    assert set(info.tokens) == {"admin", "manager", "rep", "rep2", "agent"}
    with db.session() as s:

        def distinct(col: object) -> set[object]:
            return set(s.execute(select(col).distinct()).scalars())  # type: ignore[call-overload]

        assert distinct(Activity.type) == set(ACTIVITY_TYPES)
        assert distinct(Deal.stage) == set(STAGES)
        assert {"EUR", "CHF", "USD"} <= distinct(Deal.currency)
        assert distinct(Ticket.status) == set(TICKET_STATUSES)
        assert distinct(Ticket.queue) == set(QUEUES)
        assert distinct(Ticket.priority) == set(PRIORITIES)
        assert distinct(KnowledgeArticle.language) == {"en", "de"}
        assert (
            s.execute(select(func.count()).select_from(TicketMessage)).scalar_one() > info.counts["tickets"]
        )
        assert s.execute(select(func.count()).where(Organization.parent_id.is_not(None))).scalar_one() >= 1
        assert (
            s.execute(select(func.count()).where(Task.status == "open", Task.due_at < NOW)).scalar_one() >= 1
        )
        assert s.execute(select(func.count()).where(ConsentRecord.granted.is_(False))).scalar_one() >= 1
        assert max(s.execute(select(Activity.occurred_at)).scalars()) <= NOW
        for role, token in info.tokens.items():
            user = authenticate(s, token)
            assert user is not None and user.role == role.rstrip("2")
        manager = authenticate(s, info.tokens["manager"])
        assert manager is not None
        report = CrmServices(s, actor_for(manager)).reports.pipeline(now=NOW)
        assert report.open_count > 0 and report.stalled
        lookup = CrmServices(s, actor_for(manager)).contacts.lookup("Juergen Mueller")
        assert lookup and lookup[0].name == "Jürgen Müller"
        assert verify(s).ok


def test_same_seed_same_data(db: Database, tmp_path: Path, sqlite_template: Path) -> None:
    generate_demo(db, seed=3, now=NOW, size="tiny")
    shutil.copy(sqlite_template, tmp_path / "second.db")
    second = Database(f"sqlite:///{tmp_path / 'second.db'}")
    try:
        generate_demo(second, seed=3, now=NOW, size="tiny")
        with db.session() as a, second.session() as b:
            assert snapshot(a) == snapshot(b)
    finally:
        second.dispose()


def test_demo_refuses_a_store_with_data(sqlite_db: Database) -> None:
    generate_demo(sqlite_db, seed=1, now=NOW, size="tiny")
    with pytest.raises(ValueError, match="not empty"):
        generate_demo(sqlite_db, seed=1, now=NOW, size="tiny")


@pytest.mark.slow
def test_small_demo_matches_the_brief(sqlite_db: Database) -> None:
    info = generate_demo(sqlite_db, seed=42, now=NOW)
    assert info.counts["organizations"] == 30 and info.counts["contacts"] == 120
    assert info.counts["knowledge_articles"] >= 24
