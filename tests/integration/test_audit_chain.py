"""Attacks on the audit log (issue 11): each test tampers with a real SQLite/PostgreSQL store the way someone
with database access would, then checks that ``verify`` and ``crm-assistant audit verify`` name the first bad
entry (exit 1), while an intact log and a legitimate GDPR erasure still verify (exit 0)."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner, Result
from sqlalchemy import delete, insert, select, update

from assistant.cli.main import cli
from crm_store.db import Database
from crm_store.migrate import upgrade
from crm_store.models import AuditEntry, utcnow
from crm_store.services import Actor, CrmServices
from crm_store.services import audit as audit_mod
from crm_store.services.audit import (
    REDACT_ACTION,
    AuditKey,
    AuditKeyMissing,
    entry_mac,
    payload_digest,
    resolve_key,
    verify,
)

TEST_KEY = "test-audit-key-kept-outside-the-database"


@pytest.fixture
def anchor(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Path:
    """A key from the environment and an anchor file of this test's own (PostgreSQL has none by default)."""
    path = tmp_path / "audit.anchor"
    monkeypatch.setenv("CRM_AUDIT_KEY", TEST_KEY)
    monkeypatch.delenv("CRM_SECRET_KEY", raising=False)
    monkeypatch.setenv("CRM_AUDIT_ANCHOR", str(path))
    return path


def _key() -> AuditKey:
    return AuditKey(TEST_KEY.encode(), "test")


def _history(db: Database, system: Actor) -> list[AuditEntry]:
    """Five units of work, so five commits and five anchored heads."""
    with db.session() as s:
        c = CrmServices(s, system).contacts.create(
            {"first_name": "Anna", "last_name": "Schmidt", "email": "anna@acme.example"})
    with db.session() as s:
        CrmServices(s, system).contacts.update(c.id, {"job_title": "CFO"})
    with db.session() as s:
        CrmServices(s, system).activities.create({"type": "call", "contact_id": c.id, "summary": "wants a quote"})
    with db.session() as s:
        CrmServices(s, system).contacts.create({"first_name": "Bob", "last_name": "Stone"})
    with db.session() as s:
        CrmServices(s, system).tasks.create({"title": "Send proposal", "contact_id": c.id})
    return _entries(db)


def _entries(db: Database) -> list[AuditEntry]:
    with db.session() as s:
        return list(s.execute(select(AuditEntry).order_by(AuditEntry.id)).scalars())


def _tamper(db: Database, stmt: Any) -> None:
    with db.session() as s:
        s.execute(stmt)


def _check(db: Database, anchor_file: Path | None = None) -> audit_mod.VerifyResult:
    with db.session() as s:
        return verify(s, anchor=anchor_file)


def _cli(db: Database, *args: str) -> Result:
    return CliRunner().invoke(cli, ["audit", "verify", "--db", db.url, *args])


def _assert_altered(db: Database, entry_id: int, words: str, anchor_file: Path | None = None) -> None:
    result = _check(db, anchor_file)
    assert not result.ok and result.bad_entry_id == entry_id, result
    assert words in result.reason, result.reason
    cli_result = _cli(db)
    assert cli_result.exit_code == 1, cli_result.output
    assert f"ALTERED at entry {entry_id}:" in cli_result.output and words in cli_result.output


def test_intact_log_verifies_and_every_commit_is_anchored(db: Database, system: Actor, anchor: Path) -> None:
    entries = _history(db, system)
    assert [e.seq for e in entries] == [1, 2, 3, 4, 5] and all(e.key_id == _key().key_id for e in entries)
    assert all(e.salt and len(e.salt) == 32 for e in entries)  # every payload has a salt of its own
    assert len({e.salt for e in entries}) == 5
    assert _check(db, anchor).ok
    heads = [json.loads(line) for line in anchor.read_text().splitlines()]
    assert [h["id"] for h in heads] == [e.id for e in entries] and heads[-1]["hash"] == entries[-1].hash
    result = _cli(db)
    assert result.exit_code == 0 and "audit log intact: 5 entries verified" in result.output


def test_attack_edit_a_payload(db: Database, system: Actor, anchor: Path) -> None:
    entries = _history(db, system)
    _tamper(db, update(AuditEntry).where(AuditEntry.id == entries[1].id).values(payload={"job_title": "CEO"}))
    _assert_altered(db, entries[1].id, "payload was altered")


def test_attack_flip_the_redacted_flag(db: Database, system: Actor, anchor: Path) -> None:
    """The old verify skipped the payload check of any entry flagged redacted: now the flag must be backed by
    a chained redact entry."""
    entries = _history(db, system)
    _tamper(db, update(AuditEntry).where(AuditEntry.id == entries[2].id).values(redacted=True))
    _assert_altered(db, entries[2].id, "marked redacted, but no redact entry names it")


def test_attack_null_a_payload(db: Database, system: Actor, anchor: Path) -> None:
    entries = _history(db, system)
    _tamper(db, update(AuditEntry).where(AuditEntry.id == entries[0].id).values(payload=None))
    _assert_altered(db, entries[0].id, "payload was removed, but no redact entry names this entry")


def test_attack_silent_redaction_imitating_an_erasure(db: Database, system: Actor, anchor: Path) -> None:
    """Payload, salt and flag changed exactly like an erasure does, but without the chained redact entry."""
    entries = _history(db, system)
    _tamper(db, update(AuditEntry).where(AuditEntry.id == entries[3].id)
            .values(payload=None, salt=None, redacted=True))
    _assert_altered(db, entries[3].id, "silent redaction")


def test_attack_delete_a_middle_row(db: Database, system: Actor, anchor: Path) -> None:
    entries = _history(db, system)
    _tamper(db, delete(AuditEntry).where(AuditEntry.id == entries[2].id))
    _assert_altered(db, entries[3].id, "link to the previous entry is broken")


def test_attack_delete_the_last_rows_is_caught_by_the_anchor(db: Database, system: Actor, anchor: Path) -> None:
    entries = _history(db, system)
    _tamper(db, delete(AuditEntry).where(AuditEntry.id >= entries[3].id))
    assert _check(db).ok  # the chain alone cannot know it had a tail: that is what the anchor is for
    _assert_altered(db, entries[3].id, "truncated", anchor)
    assert f"anchored entry {entries[-1].id}" in _check(db, anchor).reason


def test_attack_delete_every_row_is_caught_by_the_anchor(db: Database, system: Actor, anchor: Path) -> None:
    entries = _history(db, system)
    _tamper(db, delete(AuditEntry))
    _assert_altered(db, entries[0].id, "truncated", anchor)


def test_attack_rewrite_with_the_key_is_caught_by_the_anchor(db: Database, system: Actor, anchor: Path) -> None:
    """An insider with the key edits entry 2 and recomputes every MAC after it: the chain verifies, the head
    anchored outside the database does not match."""
    entries = _history(db, system)
    key = _key()
    with db.session() as s:
        rows = list(s.execute(select(AuditEntry).order_by(AuditEntry.id)).scalars())
        rows[1].payload = {"job_title": "CEO"}
        rows[1].payload_digest = payload_digest(key, rows[1].salt, rows[1].payload)
        prev = rows[0].hash
        for r in rows[1:]:
            r.prev_hash = prev
            r.hash = entry_mac(key, entry_id=r.id, seq=r.seq or 0, prev_hash=prev, at=r.at, actor=r.actor,
                               action=r.action, entity=r.entity, entity_id=r.entity_id,
                               digest=r.payload_digest, salted=r.salt is not None)
            prev = r.hash
    assert _check(db).ok
    _assert_altered(db, entries[-1].id, "chain was rewritten", anchor)


def test_attack_insert_a_forged_row(db: Database, system: Actor, anchor: Path) -> None:
    entries = _history(db, system)
    last = entries[-1]
    payload = {"first_name": "Mallory"}
    digest = hashlib.sha256(json.dumps(payload).encode()).hexdigest()
    forged = {"id": last.id + 1, "seq": 6, "at": utcnow(), "actor": "user:1", "action": "delete",
              "entity": "contact", "entity_id": "1", "payload": payload, "payload_digest": digest,
              "redacted": False, "salt": "00" * 16, "key_id": last.key_id, "prev_hash": last.hash,
              "hash": hashlib.sha256(f"{last.hash}|forged".encode()).hexdigest()}
    _tamper(db, insert(AuditEntry).values(**forged))
    _assert_altered(db, last.id + 1, "MAC mismatch")
    _tamper(db, update(AuditEntry).where(AuditEntry.id == last.id + 1).values(key_id=None))
    _assert_altered(db, last.id + 1, "not under the keyed chain")


def _recompute_everything(db: Database, key: AuditKey | None) -> None:
    """What an attacker with write access does to hide an edit: rebuild every digest and link, here with plain
    SHA-256 (the old, unkeyed rule) or with a key of their own."""
    with db.session() as s:
        prev = audit_mod.GENESIS
        for r in s.execute(select(AuditEntry).order_by(AuditEntry.id)).scalars():
            if r.entity == "contact" and r.action == "create":
                r.payload = {**(r.payload or {}), "first_name": "Changed"}
            canonical = json.dumps(r.payload, sort_keys=True, separators=(",", ":"), default=str)
            if key is None:
                r.payload_digest = hashlib.sha256(canonical.encode()).hexdigest()
                line = "|".join([prev, r.at.isoformat(timespec="microseconds"), r.actor, r.action, r.entity,
                                 r.entity_id or "", r.payload_digest])
                r.hash = hashlib.sha256(line.encode()).hexdigest()
            else:
                r.payload_digest = payload_digest(key, r.salt, r.payload)
                r.key_id = key.key_id
                r.hash = entry_mac(key, entry_id=r.id, seq=r.seq or 0, prev_hash=prev, at=r.at, actor=r.actor,
                                   action=r.action, entity=r.entity, entity_id=r.entity_id,
                                   digest=r.payload_digest, salted=r.salt is not None)
            r.prev_hash = prev
            prev = r.hash


def test_attack_recompute_the_whole_chain_with_plain_sha256(db: Database, system: Actor, anchor: Path) -> None:
    entries = _history(db, system)
    _recompute_everything(db, None)
    _assert_altered(db, entries[0].id, "MAC mismatch")


def test_attack_recompute_the_whole_chain_with_a_wrong_key(db: Database, system: Actor, anchor: Path) -> None:
    entries = _history(db, system)
    _recompute_everything(db, AuditKey(b"the-attackers-own-key", "attacker"))
    _assert_altered(db, entries[0].id, "written with another audit key")


def _erase_anna(db: Database, system: Actor) -> int:
    with db.session() as s:
        anna = CrmServices(s, system).contacts.by_email("anna@acme.example")
        assert anna is not None
        gdpr = CrmServices(s, system).gdpr
        gdpr.confirm_erasure(gdpr.request_erasure(anna.id, via="email", identity="callback").id)
        return anna.id


def test_legitimate_erasure_verifies_and_is_itself_chained(db: Database, system: Actor, anchor: Path) -> None:
    entries = _history(db, system)
    _erase_anna(db, system)
    assert _check(db, anchor).ok and _cli(db).exit_code == 0
    after = _entries(db)
    redacts = [e for e in after if e.action == REDACT_ACTION]
    assert len(redacts) == 1 and redacts[0].actor == system.label and redacts[0].payload is not None
    named = {i for a, b in redacts[0].payload["ids"] for i in range(a, b + 1)}
    about_anna = {e.id for e in entries if e.id != entries[3].id}  # Bob's creation stays
    assert about_anna <= named and entries[3].id not in named and redacts[0].id > max(named)
    assert {e.id for e in after if e.redacted} == named
    assert all(e.payload is None and e.salt is None for e in after if e.id in named)
    assert next(e for e in after if e.id == entries[3].id).payload is not None


def test_attack_after_an_erasure_restore_or_unflag_or_forge_a_redaction(
    db: Database, system: Actor, anchor: Path
) -> None:
    entries = _history(db, system)
    _erase_anna(db, system)
    redact = next(e for e in _entries(db) if e.action == REDACT_ACTION)
    # clear the flag of a redacted entry
    _tamper(db, update(AuditEntry).where(AuditEntry.id == entries[0].id).values(redacted=False))
    _assert_altered(db, entries[0].id, "redacted flag was cleared")
    _tamper(db, update(AuditEntry).where(AuditEntry.id == entries[0].id).values(redacted=True))
    assert _check(db).ok
    # widen the redact entry to also cover Bob's creation (and null that payload)
    _tamper(db, update(AuditEntry).where(AuditEntry.id == redact.id)
            .values(payload={"ids": [[entries[0].id, entries[4].id]], "reason": "erasure"}))
    _tamper(db, update(AuditEntry).where(AuditEntry.id == entries[3].id)
            .values(payload=None, salt=None, redacted=True))
    # the widened redact entry no longer verifies, so it backs none of its ids: the first erased entry fails
    _assert_altered(db, entries[0].id, f"redact entry {redact.id} names it, but that entry was altered")


def test_attack_confirm_a_guessed_payload_of_an_erased_person(db: Database, system: Actor, anchor: Path) -> None:
    """Before, the unsalted SHA-256 digest of an erased payload stayed in the chain, so a guess such as
    {"email": "anna@acme.example", ...} could be confirmed. Now payload and salt are both gone."""
    entries = _history(db, system)
    with db.session() as s:
        original = s.get(AuditEntry, entries[1].id)
        assert original is not None and original.payload is not None
        guess, salt = dict(original.payload), original.salt
    key = _key()
    assert payload_digest(key, salt, guess) == entries[1].payload_digest  # the key holder could, with the salt
    _erase_anna(db, system)
    with db.session() as s:
        erased = s.get(AuditEntry, entries[1].id)
        assert erased is not None and erased.payload is None and erased.salt is None
        digest = erased.payload_digest
    canonical = json.dumps(guess, sort_keys=True, separators=(",", ":"), default=str, ensure_ascii=False)
    candidates = {
        hashlib.sha256(canonical.encode()).hexdigest(),  # the old rule
        payload_digest(key, None, guess),  # the key without the salt
        payload_digest(AuditKey(b"", "empty"), salt, guess),
    }
    assert digest not in candidates


def test_verify_refuses_without_the_key(db: Database, system: Actor, monkeypatch: pytest.MonkeyPatch,
                                        tmp_path: Path) -> None:
    """No CRM_AUDIT_KEY/CRM_SECRET_KEY: the first write generates a key file; without it verify exits 2
    instead of passing, and a different key is reported as such (exit 1)."""
    key_file = tmp_path / "generated.key"
    for name in ("CRM_AUDIT_KEY", "CRM_SECRET_KEY", "CRM_AUDIT_ANCHOR"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("CRM_AUDIT_KEY_FILE", str(key_file))
    entries = _history(db, system)
    assert key_file.exists() and (key_file.stat().st_mode & 0o077) == 0
    assert _cli(db).exit_code == 0
    key_file.rename(tmp_path / "elsewhere.key")
    result = _cli(db)
    assert result.exit_code == 2 and "no audit key" in result.output
    with pytest.raises(AuditKeyMissing), db.session() as s:
        verify(s)
    monkeypatch.setenv("CRM_AUDIT_KEY", "a-guess")
    result = _cli(db)
    assert result.exit_code == 1 and f"ALTERED at entry {entries[0].id}" in result.output
    assert "another audit key" in result.output


def test_an_empty_log_verifies_without_a_key(db: Database, monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """A store nobody wrote to has no key yet and nothing to check: exit 0, not 'cannot verify'."""
    for name in ("CRM_AUDIT_KEY", "CRM_SECRET_KEY", "CRM_AUDIT_ANCHOR"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("CRM_AUDIT_KEY_FILE", str(tmp_path / "none.key"))
    result = _cli(db)
    assert result.exit_code == 0 and "0 entries" in result.output, result.output


def test_secret_key_derives_a_distinct_audit_key(monkeypatch: pytest.MonkeyPatch) -> None:
    derived = resolve_key("sqlite:///x.db", create=False, environ={"CRM_SECRET_KEY": "s3cret"})
    assert derived.source == "CRM_SECRET_KEY" and derived.secret != b"s3cret"
    assert resolve_key("sqlite:///x.db", create=False, environ={"CRM_AUDIT_KEY": "k"}).secret == b"k"


def test_missing_anchor_file_named_explicitly_cannot_be_checked(
    db: Database, system: Actor, anchor: Path, tmp_path: Path
) -> None:
    _history(db, system)
    result = _cli(db, "--anchor", str(tmp_path / "nope.anchor"))
    assert result.exit_code == 2 and "does not exist" in result.output


# --- migration 0006 ---------------------------------------------------------------------------------------
def _legacy_rows(n: int, *, redacted: int | None = None, tamper: int | None = None) -> list[dict[str, Any]]:
    """Entries as the pre-0006 code wrote them: unkeyed SHA-256 chain, unsalted digests."""
    rows, prev = [], audit_mod.GENESIS
    for i in range(1, n + 1):
        payload: dict[str, Any] | None = {"first_name": f"P{i}", "email": f"p{i}@x.example"}
        canonical = json.dumps(payload, sort_keys=True, separators=(",", ":"), default=str, ensure_ascii=False)
        digest = hashlib.sha256(canonical.encode()).hexdigest()
        at = utcnow()
        line = "|".join([prev, at.isoformat(timespec="microseconds"), "system:test", "create", "contact",
                         str(i), digest])
        h = hashlib.sha256(line.encode()).hexdigest()
        if i == redacted:
            payload = None
        if i == tamper:
            payload = {"first_name": "Tampered"}
        rows.append({"id": i, "at": at, "actor": "system:test", "action": "create", "entity": "contact",
                     "entity_id": str(i), "payload": payload, "payload_digest": digest,
                     "redacted": i == redacted, "prev_hash": prev, "hash": h})
        prev = h
    return rows


def _store_at_0005(tmp_path: Path, rows: list[dict[str, Any]]) -> Database:
    db = Database(f"sqlite:///{tmp_path / 'legacy.db'}")
    upgrade(db, "0005")
    from sqlalchemy import JSON, table
    from sqlalchemy.sql import column

    from crm_store.models.base import UTCDateTime

    types = {"at": UTCDateTime(timezone=True), "payload": JSON()}
    legacy = table("audit_log", *(column(name, types.get(name)) for name in rows[0]))
    with db.engine.begin() as conn:
        conn.execute(insert(legacy), rows)
    return db


def test_migration_0006_rechains_an_intact_legacy_log(tmp_path: Path, anchor: Path, system: Actor) -> None:
    db = _store_at_0005(tmp_path, _legacy_rows(4, redacted=2))
    upgrade(db)
    entries = _entries(db)
    assert [e.seq for e in entries] == [1, 2, 3, 4, 5] and entries[-1].action == REDACT_ACTION
    assert entries[-1].payload == {"ids": [[2, 2]], "reason": "before-0006"}
    assert entries[0].salt and entries[1].salt is None
    assert _check(db).ok
    with db.session() as s:
        CrmServices(s, system).contacts.create({"first_name": "New", "last_name": "Entry"})
    assert _check(db, anchor).ok
    _tamper(db, update(AuditEntry).where(AuditEntry.id == 3).values(payload={"first_name": "X"}))
    _assert_altered(db, 3, "payload was altered")
    db.dispose()


def test_migration_0006_does_not_launder_a_log_altered_before_it(
    tmp_path: Path, anchor: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Attack: alter a pre-0006 entry and hope the upgrade re-chains it under the key. It is left unkeyed."""
    monkeypatch.delenv("CRM_AUDIT_ANCHOR")  # nothing is written here, so nothing was anchored
    db = _store_at_0005(tmp_path, _legacy_rows(4, tamper=3))
    upgrade(db)
    _assert_altered(db, 1, "not under the keyed chain")
    db.dispose()


_WRITER = """
import sys
from crm_store.db import Database
from crm_store.services import Actor, CrmServices
db = Database(sys.argv[1])
for i in range(15):
    with db.session() as s:
        CrmServices(s, Actor.system("proc")).contacts.create({"first_name": f"P{i}", "last_name": sys.argv[2]})
"""


def test_several_processes_share_one_chain_and_one_anchor_file(sqlite_db: Database, anchor: Path) -> None:
    """Two writer processes at once: the chain stays linear and every anchor line is whole (flock)."""
    import os
    import subprocess
    import sys

    procs = [subprocess.Popen([sys.executable, "-c", _WRITER, sqlite_db.url, name], env=dict(os.environ))
             for name in ("Alpha", "Beta")]
    assert all(p.wait(timeout=120) == 0 for p in procs)
    lines = anchor.read_text().splitlines()
    assert len(lines) == 30 and all(json.loads(line)["db"].startswith("sqlite:") for line in lines)
    result = _check(sqlite_db, anchor)
    assert result.ok and result.checked == 30
