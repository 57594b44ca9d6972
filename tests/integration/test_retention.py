"""Retention on a real store through the real CLI: a dry run changes nothing, a real run removes what is past
its limit, legal holds (on a contact or an organisation) keep their people's rows and refuse their erasure
with the hold's reason, the limits come from ``CRM_RETENTION_CONFIG``, and the audit chain still verifies."""

from __future__ import annotations

import json
from datetime import timedelta
from pathlib import Path

import pytest
from click.testing import CliRunner, Result
from sqlalchemy import select

from assistant.cli.main import cli
from crm_store.db import Database
from crm_store.models import Activity, Contact, LegalHold, utcnow
from crm_store.services import Actor, CrmServices
from crm_store.services.errors import ValidationFailed
from crm_store.services.retention import next_run

SYSTEM = Actor.system("test")


@pytest.fixture(autouse=True)
def audit_key(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Path:
    """A key and an anchor file of this test's own, so ``audit verify`` checks the tail too."""
    anchor = tmp_path / "audit.anchor"
    monkeypatch.setenv("CRM_AUDIT_KEY", "retention-test-audit-key")
    monkeypatch.setenv("CRM_AUDIT_ANCHOR", str(anchor))
    monkeypatch.delenv("CRM_RETENTION_CONFIG", raising=False)
    return anchor


def _run(db: Database, *args: str) -> Result:
    """``crm-assistant <command words> --db <url> <options>``: the words are those before the first option."""
    words = 3 if args[1] == "hold" else 2
    return CliRunner().invoke(cli, [*args[:words], "--db", db.url, *args[words:]])


def _people(db: Database) -> dict[str, int]:
    """Three contacts (one in an organisation), each with an activity four years old and no deal."""
    old = utcnow() - timedelta(days=4 * 365)
    with db.session() as s:
        crm = CrmServices(s, SYSTEM)
        org = crm.organizations.create({"name": "Litigation GmbH"})
        ids = {
            "anna": crm.contacts.create({"first_name": "Anna", "last_name": "Held", "email": "anna@a.example"}).id,
            "bob": crm.contacts.create({"first_name": "Bob", "last_name": "Free", "email": "bob@b.example"}).id,
            "carl": crm.contacts.create(
                {"first_name": "Carl", "last_name": "Org", "email": "carl@l.example", "organization_id": org.id}
            ).id,
            "org": org.id,
        }
        for key in ("anna", "bob", "carl"):
            s.add(Activity(type="call", contact_id=ids[key], occurred_at=old, summary=f"old call {key}"))
    return ids


def _activities(db: Database) -> set[int]:
    with db.session() as s:
        return {a for a in s.execute(select(Activity.contact_id)).scalars() if a is not None}


def _rule(report: dict[str, object], name: str) -> dict[str, int]:
    return next(r for r in report["rules"] if r["rule"] == name)  # type: ignore[union-attr, index]


def test_dry_run_counts_and_changes_nothing_then_the_real_run_removes(db: Database) -> None:
    p = _people(db)
    dry = _run(db, "gdpr", "retention", "--dry-run", "--json")
    assert dry.exit_code == 0, dry.output
    report = json.loads(dry.output)
    assert {"now", "dry_run", "total", "rules"} <= set(report) and report["dry_run"] is True
    assert {"rule", "description", "action", "cutoff", "count"} <= set(report["rules"][0])
    assert _rule(report, "activities_without_deal")["count"] == 3
    assert _activities(db) == {p["anna"], p["bob"], p["carl"]}
    real = _run(db, "gdpr", "retention", "--json")
    assert real.exit_code == 0, real.output
    assert _rule(json.loads(real.output), "activities_without_deal")["count"] == 3
    assert _activities(db) == set()


def test_legal_hold_on_a_contact_and_an_organisation_is_skipped_and_said(db: Database) -> None:
    p = _people(db)
    added = _run(db, "gdpr", "hold", "add", "--contact-email", "anna@a.example", "--reason", "case 4 O 17/26")
    assert added.exit_code == 0 and "case 4 O 17/26" in added.output, added.output
    by_org = _run(db, "gdpr", "hold", "add", "--organization-id", str(p["org"]), "--reason", "tax audit")
    assert by_org.exit_code == 0, by_org.output
    listed = json.loads(_run(db, "gdpr", "hold", "list", "--json").output)
    assert [(h["contact_id"], h["organization_id"]) for h in listed] == [(p["anna"], None), (None, p["org"])]

    text = _run(db, "gdpr", "retention", "--dry-run")
    assert "2 kept by legal hold" in text.output and "under legal hold" in text.output, text.output
    report = json.loads(_run(db, "gdpr", "retention", "--json").output)
    rule = _rule(report, "activities_without_deal")
    assert (rule["count"], rule["held"]) == (1, 2) and report["held"] >= 2
    assert _activities(db) == {p["anna"], p["carl"]}

    released = _run(db, "gdpr", "hold", "release", str(listed[0]["id"]))
    assert released.exit_code == 0, released.output
    assert _run(db, "gdpr", "hold", "release", str(listed[0]["id"])).exit_code != 0  # not twice
    _run(db, "gdpr", "retention")
    assert _activities(db) == {p["carl"]}  # the organisation's hold still stands
    assert len(json.loads(_run(db, "gdpr", "hold", "list", "--all", "--json").output)) == 2


def test_attack_erase_a_held_contact_is_refused_with_the_reason(db: Database) -> None:
    """Erasing a person under legal hold (by CLI, and by the service directly) must fail and change nothing."""
    p = _people(db)
    _run(db, "gdpr", "hold", "add", "--contact-email", "anna@a.example", "--reason", "case 4 O 17/26")
    _run(db, "gdpr", "hold", "add", "--organization-id", str(p["org"]), "--reason", "tax audit 2026")
    for email, reason in (("anna@a.example", "case 4 O 17/26"), ("carl@l.example", "tax audit 2026")):
        erased = _run(db, "gdpr", "erase", "--contact-email", email, "--yes", "--json")
        assert erased.exit_code != 0 and reason in erased.output and "legal hold" in erased.output
    with db.session() as s, pytest.raises(ValidationFailed, match="legal hold"):
        CrmServices(s, SYSTEM).gdpr.erase(p["anna"])
    with db.session() as s:
        kept = s.execute(select(Contact).where(Contact.id.in_([p["anna"], p["carl"]]))).scalars().all()
        assert [c.erased_at for c in kept] == [None, None] and {c.last_name for c in kept} == {"Held", "Org"}
        hold = s.execute(select(LegalHold).where(LegalHold.contact_id == p["anna"])).scalar_one()
        hold.released_at = utcnow()
    assert _run(db, "gdpr", "erase", "--contact-email", "anna@a.example", "--yes", "--json").exit_code == 0
    assert _run(db, "gdpr", "erase", "--contact-email", "bob@b.example", "--yes", "--json").exit_code == 0


def test_audit_chain_verifies_after_retention_redacted_every_payload(db: Database) -> None:
    _people(db)
    with db.session() as s:
        CrmServices(s, SYSTEM).consent.record(
            next(iter(s.execute(select(Contact.id)).scalars())), "newsletter", True, "web_form"
        )
    later = (utcnow() + timedelta(days=7 * 365)).isoformat()
    real = _run(db, "gdpr", "retention", "--now", later, "--json")
    assert real.exit_code == 0, real.output
    assert _rule(json.loads(real.output), "audit_payloads")["count"] > 0
    verified = CliRunner().invoke(cli, ["audit", "verify", "--db", db.url])
    assert verified.exit_code == 0, verified.output


def test_limits_come_from_the_config_file(db: Database, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    _people(db)
    config = tmp_path / "retention.yml"
    config.write_text("retention:\n  activities_without_deal: 5000\n", encoding="utf-8")
    monkeypatch.setenv("CRM_RETENTION_CONFIG", str(config))
    report = json.loads(_run(db, "gdpr", "retention", "--dry-run", "--json").output)
    assert _rule(report, "activities_without_deal")["count"] == 0
    config.write_text("activities_without_dael: 1\n", encoding="utf-8")  # a typo must not pass silently
    bad = _run(db, "gdpr", "retention", "--dry-run")
    assert bad.exit_code != 0 and "activities_without_dael" in bad.output


def test_the_schedule_runs_at_the_next_night_never_at_start() -> None:
    now = utcnow().replace(hour=2, minute=59, second=0, microsecond=0)
    assert next_run(now) - now == timedelta(minutes=1)
    after = now.replace(hour=3, minute=0)
    assert next_run(after) - after == timedelta(days=1)
