"""The data commands through click's CliRunner: demo, import/export, gdpr export/erase/retention."""

from __future__ import annotations

import json
from pathlib import Path

from click.testing import CliRunner

from assistant.cli.main import cli
from crm_store.db import Database
from crm_store.services import Actor, CrmServices


def _anna(db: Database, system: Actor) -> int:
    with db.session() as s:
        crm = CrmServices(s, system)
        anna = crm.contacts.create(
            {"first_name": "Anna", "last_name": "Schmidt", "email": "anna@acme.example"}
        )
        crm.contacts.create({"first_name": "Bob", "last_name": "Stone", "email": "bob@acme.example"})
        crm.activities.create({"type": "call", "contact_id": anna.id, "summary": "Anna wants a quote"})
        crm.deals.create({"name": "Acme rollout", "contact_id": anna.id, "amount": 40000})
        return anna.id


def test_gdpr_export_prints_one_json_document(db: Database, system: Actor) -> None:
    anna = _anna(db, system)
    result = CliRunner().invoke(
        cli, ["gdpr", "export", "--db", db.url, "--contact-email", "Anna@Acme.example"]
    )
    assert result.exit_code == 0, result.output
    doc = json.loads(result.output)
    assert doc["contact"]["id"] == anna and doc["activities"][0]["summary"] == "Anna wants a quote"
    assert "bob@acme.example" not in result.output


def test_gdpr_erase_then_the_audit_log_still_verifies(db: Database, system: Actor) -> None:
    _anna(db, system)
    runner = CliRunner()
    result = runner.invoke(
        cli, ["gdpr", "erase", "--db", db.url, "--contact-email", "anna@acme.example", "--yes"]
    )
    assert result.exit_code == 0, result.output
    assert "erased contact" in result.output
    assert runner.invoke(cli, ["audit", "verify", "--db", db.url]).exit_code == 0
    again = runner.invoke(cli, ["gdpr", "export", "--db", db.url, "--contact-email", "anna@acme.example"])
    assert again.exit_code == 1 and "no contact" in again.output
    with db.session() as s:
        assert CrmServices(s, system).contacts.by_email("bob@acme.example") is not None


def test_gdpr_erase_asks_without_yes(db: Database, system: Actor) -> None:
    _anna(db, system)
    result = CliRunner().invoke(
        cli, ["gdpr", "erase", "--db", db.url, "--contact-email", "anna@acme.example"], input="n\n"
    )
    assert result.exit_code == 1
    with db.session() as s:
        assert CrmServices(s, system).contacts.by_email("anna@acme.example") is not None


def test_import_reports_bad_rows_and_export_writes_them_back(db: Database, tmp_path: Path) -> None:
    src = tmp_path / "in.csv"
    src.write_text(
        "E-Mail,Vorname,Nachname\nanna@acme.example,Anna,Schmidt\nbroken,Bob,Stone\n", encoding="utf-8"
    )
    runner = CliRunner()
    dry = runner.invoke(cli, ["import", "contacts", str(src), "--db", db.url, "--dry-run"])
    assert dry.exit_code == 0 and "would import 1 of 2" in dry.output and "row 3: email" in dry.output
    done = runner.invoke(cli, ["import", "contacts", str(src), "--db", db.url])
    assert "imported 1 of 2 contacts" in done.output
    out = tmp_path / "out.csv"
    exported = runner.invoke(cli, ["export", "contacts", "--db", db.url, "--out", str(out)])
    assert exported.exit_code == 0 and "exported 1 contacts" in exported.output
    assert "anna@acme.example" in out.read_text(encoding="utf-8-sig")


def test_retention_dry_run_lists_every_rule(db: Database) -> None:
    result = CliRunner().invoke(cli, ["gdpr", "retention", "--db", db.url, "--dry-run", "--json"])
    assert result.exit_code == 0, result.output
    report = json.loads(result.output)
    assert report["dry_run"] and {r["rule"] for r in report["rules"]} >= {
        "closed_ticket_messages",
        "activities_without_deal",
        "audit_payloads",
        "processed_events",
    }


def test_demo_without_serving_prints_the_tokens(tmp_path: Path) -> None:
    runner = CliRunner()
    with runner.isolated_filesystem(temp_dir=tmp_path):
        result = runner.invoke(cli, ["demo", "--no-serve", "--size", "tiny"])
        assert result.exit_code == 0, result.output
        assert Path("demo-data/crm-demo.db").exists()
    tokens = [
        line.split()[-1]
        for line in result.output.splitlines()
        if line.strip().startswith(("admin", "manager", "rep", "agent"))
    ]
    assert len(tokens) == 5 and all(t.startswith("crm_") for t in tokens)


def test_retention_redacts_old_audit_payloads_and_the_chain_still_verifies(db: Database, system: Actor) -> None:
    """Retention empties old audit payloads through the chain's own redaction (a chained ``redact`` entry),
    not by flipping a flag behind the chain's back: ``audit verify`` passes afterwards."""
    from datetime import UTC, datetime, timedelta

    from crm_store.models import AuditEntry
    from crm_store.services import audit
    from crm_store.services.retention import RetentionService

    _anna(db, system)
    later = datetime.now(UTC) + timedelta(days=3650)
    with db.session() as s:
        report = RetentionService(s, Actor.system("retention")).apply(later, dry_run=False)
    assert next(r for r in report.to_dict()["rules"] if r["rule"] == "audit_payloads")["count"] > 0
    with db.session() as s:
        assert audit.verify(s).ok
        assert s.query(AuditEntry).filter(AuditEntry.action == "redact").count() >= 1
