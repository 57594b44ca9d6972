"""Tamper-evident audit log: every write appends one keyed, chained entry in the same transaction.

Why each piece exists (issue 11):

- **Keyed chain.** Each entry's ``hash`` is HMAC-SHA256 under the audit key over *every* field: position
  (``id``, ``seq``), ``prev_hash``, ``at``, ``actor``, ``action``, ``entity``, ``entity_id``, the payload digest,
  whether a payload (and so a salt) was written, and the key id. The key lives outside the database
  (:func:`resolve_key`), so someone who can edit the database cannot recompute the chain.
- **Salted digests.** ``payload_digest`` is HMAC(key, salt ‖ canonical payload) with a random salt per entry.
  An erasure removes the payload *and* its salt, so nobody (not even a key holder) can confirm a guessed
  payload of an erased person against the digest that stays in the chain.
- **Redaction is itself an entry.** :func:`redact_payloads` / :func:`redact_where` empty the payloads and add
  the ids to a chained ``redact`` entry (``entity="audit"``, payload ``{"ids": [[first, last], ...], "reason"}``,
  never redacted itself). :func:`verify` accepts a missing payload only for entries named by a later valid
  redact entry, so the ``redacted`` flag is no longer a loophole.
- **External anchor.** After each commit that wrote entries the head (id, hash, count) is appended to an
  anchor file outside the database (``fsync``'d, ``flock``'d) and logged on ``crm.audit.anchor``;
  ``verify(anchor=...)`` reports a chain that is shorter than, or differs from, the anchored head.

Key (first match): ``CRM_AUDIT_KEY``; else derived from ``CRM_SECRET_KEY`` with its own label; else a key file
(``CRM_AUDIT_KEY_FILE``, default ``<sqlite file>.audit-key`` beside a SQLite database, ``$CRM_MODEL_DIR/audit.key``
(``./models``) for a server database), generated on the first write. A generated key file next to the data only
stops an attacker who cannot read that file: production sets ``CRM_AUDIT_KEY``.

Anchor: ``CRM_AUDIT_ANCHOR``; else ``<sqlite file>.audit-anchor`` beside a SQLite database; a server database
(PostgreSQL) has no file by default (only the log line) because its working directory is no place of its own.
"""

from __future__ import annotations

import bisect
import fcntl
import hashlib
import hmac
import json
import logging
import os
import secrets
import threading
import time
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

from sqlalchemy import ColumnElement, event, select, text, update
from sqlalchemy.engine import URL, make_url
from sqlalchemy.orm import Session

from crm_store.models import AuditEntry, utcnow
from crm_store.services.actor import Actor

GENESIS = "0" * 64
SCHEME = "crm-audit-v1"
REDACT_ACTION = "redact"
REDACT_ENTITY = "audit"
KEY_ENV = "CRM_AUDIT_KEY"
KEY_FILE_ENV = "CRM_AUDIT_KEY_FILE"
SECRET_ENV = "CRM_SECRET_KEY"
ANCHOR_ENV = "CRM_AUDIT_ANCHOR"
MODEL_DIR_ENV = "CRM_MODEL_DIR"
_DERIVE_LABEL = b"crm-audit-chain-key/v1"  # CRM_SECRET_KEY also signs tokens and seals: a key of its own
_PG_AUDIT_LOCK = 0x43524D41  # "CRMA"
_SALT_BYTES = 16

log = logging.getLogger(__name__)
anchor_log = logging.getLogger("crm.audit.anchor")


# --- the key ---------------------------------------------------------------------------------------------
class AuditKeyMissing(RuntimeError):
    """No audit key is configured and none was generated: the chain cannot be checked (never 'passes')."""


@dataclass(frozen=True)
class AuditKey:
    secret: bytes = field(repr=False)
    source: str  # where it came from, for messages: "CRM_AUDIT_KEY", "CRM_SECRET_KEY", "file /x/crm.db.audit-key"

    @property
    def key_id(self) -> str:
        """A fingerprint stored in each entry: says 'written with another key' instead of 'altered'."""
        return hmac.new(self.secret, b"crm-audit-key-id", hashlib.sha256).hexdigest()[:16]

    def mac(self, data: bytes) -> str:
        return hmac.new(self.secret, data, hashlib.sha256).hexdigest()


def _sqlite_file(url: URL) -> Path | None:
    if not url.get_backend_name().startswith("sqlite") or url.database in (None, "", ":memory:"):
        return None
    return Path(url.database).resolve()


def _env(environ: Mapping[str, str] | None) -> Mapping[str, str]:
    return os.environ if environ is None else environ


def key_file_path(url: str | URL, environ: Mapping[str, str] | None = None) -> Path:
    env = _env(environ)
    if env.get(KEY_FILE_ENV):
        return Path(env[KEY_FILE_ENV])
    sqlite = _sqlite_file(make_url(url))
    if sqlite is not None:
        return sqlite.with_name(sqlite.name + ".audit-key")
    return Path(env.get(MODEL_DIR_ENV) or "models") / "audit.key"


def resolve_key(url: str | URL, *, create: bool, environ: Mapping[str, str] | None = None) -> AuditKey:
    """The audit key for this database; ``create`` (the write path) generates the key file when nothing is
    configured. ``verify`` passes ``create=False`` and gets :class:`AuditKeyMissing` instead of a new key."""
    env = _env(environ)
    if env.get(KEY_ENV):
        return AuditKey(env[KEY_ENV].encode(), KEY_ENV)
    if env.get(SECRET_ENV):
        return AuditKey(hmac.new(env[SECRET_ENV].encode(), _DERIVE_LABEL, hashlib.sha256).digest(), SECRET_ENV)
    path = key_file_path(url, environ)
    if not path.exists():
        if not create:
            raise AuditKeyMissing(
                f"no audit key: set {KEY_ENV} (or {SECRET_ENV}) as the writers had it, or give the key file "
                f"({path} does not exist)"
            )
        _create_key_file(path)
    try:
        secret = bytes.fromhex(path.read_text().strip())
    except ValueError as exc:
        raise AuditKeyMissing(f"the audit key file {path} is not a hex key") from exc
    if len(secret) < 16:
        raise AuditKeyMissing(f"the audit key file {path} holds fewer than 16 bytes")
    return AuditKey(secret, f"file {path}")


def _create_key_file(path: Path) -> None:
    """Write a fresh key atomically: several processes may race for the first write; one key wins."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.{secrets.token_hex(4)}")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    try:
        os.write(fd, (secrets.token_hex(32) + "\n").encode())
        os.fsync(fd)
    finally:
        os.close(fd)
    try:
        os.link(tmp, path)  # fails if another process won the race: theirs is the key
        log.warning(
            "generated an audit key in %s: anyone who can read it can recompute the audit chain; "
            "set %s (kept apart from the database) in production",
            path,
            KEY_ENV,
        )
    except FileExistsError:
        pass
    finally:
        tmp.unlink(missing_ok=True)


_KEYS: dict[tuple[str, ...], AuditKey] = {}
_KEYS_LOCK = threading.Lock()


def _writer_key(url: URL) -> AuditKey:
    """The write path's key, cached per database and configuration (a few dict lookups per commit)."""
    env = os.environ
    cache_key = (str(url), *(env.get(n, "") for n in (KEY_ENV, SECRET_ENV, KEY_FILE_ENV, MODEL_DIR_ENV)))
    key = _KEYS.get(cache_key)
    if key is None:
        with _KEYS_LOCK:
            key = _KEYS.get(cache_key) or resolve_key(url, create=True)
            _KEYS[cache_key] = key
    return key


# --- digests and MACs ------------------------------------------------------------------------------------
def _canonical(payload: Any) -> str:
    return json.dumps(payload, sort_keys=True, separators=(",", ":"), default=str, ensure_ascii=False)


def payload_digest(key: AuditKey, salt: str | None, payload: Any) -> str:
    """HMAC(key, salt ‖ canonical payload): without the salt (erased with the payload) nothing is confirmable."""
    return key.mac(bytes.fromhex(salt or "") + _canonical(payload).encode())


def entry_mac(
    key: AuditKey,
    *,
    entry_id: int,
    seq: int,
    prev_hash: str,
    at: datetime,
    actor: str,
    action: str,
    entity: str,
    entity_id: str | None,
    digest: str,
    salted: bool,
) -> str:
    fields = [SCHEME, key.key_id, entry_id, seq, prev_hash, at.isoformat(timespec="microseconds"), actor,
              action, entity, entity_id, digest, salted]
    return key.mac(json.dumps(fields, separators=(",", ":"), ensure_ascii=False).encode())


def _mac_of(key: AuditKey, e: AuditEntry, *, salted: bool) -> str:
    return entry_mac(key, entry_id=e.id, seq=e.seq or 0, prev_hash=e.prev_hash, at=e.at, actor=e.actor,
                     action=e.action, entity=e.entity, entity_id=e.entity_id, digest=e.payload_digest,
                     salted=salted)


# --- id ranges (the redact entry's payload) --------------------------------------------------------------
def _ranges(ids: Iterable[int]) -> list[list[int]]:
    out: list[list[int]] = []
    for i in sorted(set(ids)):
        if out and out[-1][1] == i - 1:
            out[-1][1] = i
        else:
            out.append([i, i])
    return out


class _IdSet:
    """Sorted disjoint ranges; a retention run may redact millions of entries in a few ranges."""

    def __init__(self) -> None:
        self._starts: list[int] = []
        self._ends: list[int] = []

    def add_ranges(self, ranges: Iterable[list[int]]) -> None:
        merged = sorted([*zip(self._starts, self._ends, strict=True), *((a, b) for a, b in ranges)])
        self._starts, self._ends = [], []
        for a, b in merged:
            if self._ends and a <= self._ends[-1] + 1:
                self._ends[-1] = max(self._ends[-1], b)
            else:
                self._starts.append(a)
                self._ends.append(b)

    def __contains__(self, i: object) -> bool:
        if not isinstance(i, int):
            return False
        k = bisect.bisect_right(self._starts, i) - 1
        return k >= 0 and i <= self._ends[k]


def _parse_redact_payload(payload: Any, before: int) -> list[list[int]] | None:
    """The ranges a redact entry names, or None when malformed (ids must precede the redact entry)."""
    if not isinstance(payload, dict) or not isinstance(payload.get("ids"), list):
        return None
    ranges: list[list[int]] = []
    for r in payload["ids"]:
        if not (isinstance(r, list) and len(r) == 2 and all(type(x) is int for x in r)):
            return None
        if not 0 < r[0] <= r[1] < before:
            return None
        ranges.append([r[0], r[1]])
    return ranges


# --- the write path --------------------------------------------------------------------------------------
_PENDING = "crm_audit_pending"
_REDACTED = "crm_audit_redacted"  # (actor label, reason) -> ids emptied in this transaction
_HEAD = "crm_audit_head"


@dataclass(frozen=True)
class _Pending:
    at: datetime
    actor: str
    action: str
    entity: str
    entity_id: str | None
    payload: dict[str, Any] | None


def record(
    session: Session,
    actor: Actor,
    action: str,
    entity: str,
    entity_id: object | None,
    payload: dict[str, Any] | None = None,
) -> None:
    """Note an entry for this transaction; it is chained and written just before the commit, so the
    global chain lock is held only for that moment, and a rolled-back change leaves no entry."""
    session.info.setdefault(_PENDING, []).append(
        _Pending(
            at=utcnow(),
            actor=actor.label,
            action=action,
            entity=entity,
            entity_id=None if entity_id is None else str(entity_id),
            payload=payload,
        )
    )


def _bind_url(session: Session) -> URL:
    bind = session.get_bind()
    return getattr(bind, "engine", bind).url


def _write_pending(session: Session, *, redactions: bool = True) -> None:
    """Chain and insert the noted entries (and, at the commit, one redact entry per actor and reason)."""
    pending: list[_Pending] = session.info.pop(_PENDING, [])
    redacted: dict[tuple[str, str], set[int]] = session.info.pop(_REDACTED, {}) if redactions else {}
    for (label, reason), ids in redacted.items():
        pending.append(_Pending(utcnow(), label, REDACT_ACTION, REDACT_ENTITY, None,
                                {"ids": _ranges(ids), "reason": reason}))
    if not pending:
        return
    url = _bind_url(session)
    key = _writer_key(url)
    session.flush()  # SQLite: from here this transaction holds the write lock, so the head read is current
    if url.get_backend_name() == "postgresql":
        session.execute(text("SELECT pg_advisory_xact_lock(:k)"), {"k": _PG_AUDIT_LOCK})
    head = session.execute(
        select(AuditEntry.id, AuditEntry.seq, AuditEntry.hash).order_by(AuditEntry.id.desc()).limit(1)
    ).first()
    prev_id, prev_seq, prev = (head.id, head.seq or head.id, head.hash) if head else (0, 0, GENESIS)
    for p in pending:
        prev_id += 1  # explicit ids under the lock: the id is under the MAC, so it must be known before insert
        prev_seq += 1
        salt = secrets.token_hex(_SALT_BYTES) if p.payload is not None else None
        digest = payload_digest(key, salt, p.payload)
        mac = entry_mac(key, entry_id=prev_id, seq=prev_seq, prev_hash=prev, at=p.at, actor=p.actor,
                        action=p.action, entity=p.entity, entity_id=p.entity_id, digest=digest,
                        salted=salt is not None)
        session.add(
            AuditEntry(id=prev_id, seq=prev_seq, at=p.at, actor=p.actor, action=p.action, entity=p.entity,
                       entity_id=p.entity_id, payload=p.payload, payload_digest=digest, salt=salt,
                       key_id=key.key_id, prev_hash=prev, hash=mac)
        )
        prev = mac
    session.flush()
    session.info[_HEAD] = (url, key, prev_id, prev, prev_seq)


def _discard_pending(session: Session, *_args: Any) -> None:
    for name in (_PENDING, _REDACTED, _HEAD):
        session.info.pop(name, None)


def _anchor_after_commit(session: Session) -> None:
    head = session.info.pop(_HEAD, None)
    if head is not None:
        url, key, head_id, head_hash, count = head
        write_anchor(url, key, head_id=head_id, head_hash=head_hash, count=count)


def _before_commit(session: Session) -> None:
    _write_pending(session)


event.listen(Session, "before_commit", _before_commit)
event.listen(Session, "after_commit", _anchor_after_commit)
event.listen(Session, "after_rollback", _discard_pending)
event.listen(Session, "after_soft_rollback", _discard_pending)


def flush_pending(session: Session) -> None:
    """Write the noted entries now (for code that must read its own transaction's entries)."""
    _write_pending(session)


# --- the anchor ------------------------------------------------------------------------------------------
def anchor_path(url: str | URL, environ: Mapping[str, str] | None = None) -> Path | None:
    """Where heads are anchored for this database (None: only the ``crm.audit.anchor`` log line)."""
    env = _env(environ)
    if env.get(ANCHOR_ENV):
        return Path(env[ANCHOR_ENV])
    sqlite = _sqlite_file(make_url(url))
    return sqlite.with_name(sqlite.name + ".audit-anchor") if sqlite is not None else None


def database_label(url: str | URL) -> str:
    """Names the database in anchor lines (no user, no password), so one file may serve several."""
    u = make_url(url)
    sqlite = _sqlite_file(u)
    if sqlite is not None:
        return f"sqlite:{sqlite}"
    return f"{u.get_backend_name()}:{u.host or ''}:{u.port or ''}/{u.database or ''}"


def _anchor_body(db: str, head_id: int, head_hash: str, count: int, key_id: str) -> bytes:
    return json.dumps([db, head_id, head_hash, count, key_id], separators=(",", ":")).encode()


# An fsync costs about 1 ms, paid after every commit on the request path. Each line is written at once (in the
# page cache it is visible to every process and survives a crash of ours); the fsync runs at most every
# ANCHOR_SYNC_SECONDS per process. An anchor must not get ahead of the database: SQLite runs with
# synchronous=NORMAL, so after a power cut its last commits may be gone, and an anchor fsync'd on every commit
# would then report a truncation that never happened. Lagging a moment only narrows what the anchor catches.
ANCHOR_SYNC_SECONDS = 0.2
_last_sync: dict[Path, float] = {}


def write_anchor(url: URL, key: AuditKey, *, head_id: int, head_hash: str, count: int) -> None:
    """Append the head after the commit: one line, ``flock``'d (several processes), ``fsync``'d (at most every
    ANCHOR_SYNC_SECONDS). The commit has happened, so a failing anchor is logged, not raised."""
    db = database_label(url)
    line = {"at": utcnow().isoformat(timespec="seconds"), "db": db, "id": head_id, "hash": head_hash,
            "count": count, "key_id": key.key_id,
            "mac": key.mac(_anchor_body(db, head_id, head_hash, count, key.key_id))}
    text_line = json.dumps(line, separators=(",", ":"))
    anchor_log.info("%s", text_line)
    path = anchor_path(url)
    if path is None:
        return
    try:
        fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o600)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX)
            os.write(fd, (text_line + "\n").encode())
            now = time.monotonic()
            if now - _last_sync.get(path, -ANCHOR_SYNC_SECONDS) >= ANCHOR_SYNC_SECONDS:
                os.fsync(fd)
                _last_sync[path] = now
        finally:
            os.close(fd)  # releases the lock
    except OSError:
        log.exception("could not append the audit head to %s", path)


@dataclass(frozen=True)
class AnchoredHead:
    id: int
    hash: str
    count: int
    at: str


@dataclass(frozen=True)
class AnchorReading:
    head: AnchoredHead | None
    lines: int = 0
    other_databases: int = 0
    unverifiable: int = 0  # malformed lines or lines whose MAC does not verify under this key


def read_anchor(path: Path, url: str | URL, key: AuditKey) -> AnchorReading:
    """The highest valid head anchored for this database (lines of several processes may interleave)."""
    db = database_label(url)
    best: AnchoredHead | None = None
    lines = other = bad = 0
    with path.open(encoding="utf-8", errors="replace") as fh:
        for raw in fh:
            lines += 1
            try:
                d = json.loads(raw)
                if d["db"] != db:
                    other += 1
                    continue
                body = _anchor_body(d["db"], int(d["id"]), str(d["hash"]), int(d["count"]), str(d["key_id"]))
                if not hmac.compare_digest(key.mac(body), str(d["mac"])):
                    bad += 1
                    continue
            except (ValueError, KeyError, TypeError):
                bad += 1
                continue
            if best is None or int(d["id"]) > best.id:
                best = AnchoredHead(int(d["id"]), str(d["hash"]), int(d["count"]), str(d.get("at", "")))
    return AnchorReading(best, lines, other, bad)


# --- verification ----------------------------------------------------------------------------------------
@dataclass(frozen=True)
class VerifyResult:
    ok: bool
    checked: int
    bad_entry_id: int | None = None
    reason: str = ""
    notes: tuple[str, ...] = ()


def _redactions(session: Session, key: AuditKey) -> tuple[_IdSet, dict[int, _IdSet]]:
    """Ids named by redact entries with a valid MAC and digest; and, to word the message, what each invalid
    redact entry claims. The main walk re-checks the redact entries themselves too."""
    named = _IdSet()
    claimed: dict[int, _IdSet] = {}
    rows = session.execute(select(AuditEntry).where(AuditEntry.action == REDACT_ACTION)).scalars()
    for e in rows:
        ranges = _parse_redact_payload(e.payload, e.id)
        valid = (
            e.key_id == key.key_id
            and e.salt is not None
            and hmac.compare_digest(_mac_of(key, e, salted=True), e.hash)
            and hmac.compare_digest(payload_digest(key, e.salt, e.payload), e.payload_digest)
        )
        if ranges and valid:
            named.add_ranges(ranges)
        elif ranges:
            claimed.setdefault(e.id, _IdSet()).add_ranges(ranges)
    return named, claimed


def _invalid_claim(entry_id: int, claimed: dict[int, _IdSet]) -> str:
    by = [rid for rid, ids in claimed.items() if entry_id in ids]
    return f" (redact entry {by[0]} names it, but that entry was altered)" if by else ""


def _check_entry(
    e: AuditEntry, key: AuditKey, prev: str, seq: int, named: _IdSet, claimed: dict[int, _IdSet]
) -> str | None:
    """Why this entry is bad, or None."""
    if e.key_id is None:
        return ("entry is not under the keyed chain (a forged row, or written before migration 0006 on a log "
                "that was already broken)")
    if e.key_id != key.key_id:
        return f"entry was written with another audit key (key id {e.key_id}; this check uses {key.key_id})"
    if e.prev_hash != prev:
        return "link to the previous entry is broken (an entry before it was deleted or inserted)"
    if e.seq != seq:
        return f"entry is out of sequence (position {e.seq}, expected {seq}): an entry was deleted or inserted"
    is_named = e.id in named and e.action != REDACT_ACTION
    salted = e.salt is not None or is_named
    if not hmac.compare_digest(_mac_of(key, e, salted=salted), e.hash):
        if e.salt is None and hmac.compare_digest(_mac_of(key, e, salted=True), e.hash):
            return ("payload and salt were removed, but no valid redact entry names this entry (silent "
                    "redaction)" + _invalid_claim(e.id, claimed))
        return "entry was altered (MAC mismatch: edited, forged, or recomputed without the audit key)"
    if is_named:
        if e.payload is not None or e.salt is not None:
            return "a redacted payload is back (a redact entry names this entry)"
        if not e.redacted:
            return "the redacted flag was cleared on an entry a redact entry names"
        return None
    if e.redacted:
        return "entry is marked redacted, but no redact entry names it" + _invalid_claim(e.id, claimed)
    if e.salt is None:
        return None if e.payload is None else "a payload appeared on an entry written without one"
    if e.payload is None:
        return "payload was removed, but no redact entry names this entry"
    if not hmac.compare_digest(payload_digest(key, e.salt, e.payload), e.payload_digest):
        return "payload was altered (digest mismatch)"
    if e.action == REDACT_ACTION and _parse_redact_payload(e.payload, e.id) is None:
        return "redact entry names no valid earlier entries"
    return None


def verify(
    session: Session, *, key: AuditKey | None = None, anchor: Path | None = None, batch: int = 5000
) -> VerifyResult:
    """Walk the chain from the start; the first entry whose MAC, link, position, payload or redaction state is
    wrong fails. With ``anchor`` (a file :func:`write_anchor` appends to), a chain shorter than the anchored head
    or with another hash at its id fails too. Raises :class:`AuditKeyMissing` when there is no key."""
    url = _bind_url(session)
    key = key or resolve_key(url, create=False)
    reading = read_anchor(anchor, url, key) if anchor is not None else None
    anchored = reading.head if reading else None
    notes: list[str] = [f"key id {key.key_id} from {key.source}"]
    if reading is not None:
        if reading.unverifiable:
            notes.append(f"{reading.unverifiable} anchor line(s) in {anchor} did not verify and were ignored")
        if anchored is None:
            notes.append(f"{anchor} holds no head for this database ({reading.other_databases} line(s) for others)")
    named, claimed = _redactions(session, key)
    prev, seq, last_id = GENESIS, 0, 0
    for rows in _batches(session, batch):
        for e in rows:
            seq += 1
            why = _check_entry(e, key, prev, seq, named, claimed)
            if why is not None:
                return VerifyResult(False, seq - 1, e.id, why, tuple(notes))
            if anchored is not None and e.id == anchored.id and e.hash != anchored.hash:
                return VerifyResult(False, seq - 1, e.id, f"entry differs from the head anchored in {anchor} at "
                                    f"{anchored.at} (the chain was rewritten)", tuple(notes))
            prev, last_id = e.hash, e.id
    if anchored is not None and (last_id < anchored.id or seq < anchored.count):
        return VerifyResult(
            False, seq, last_id + 1,
            f"the chain ends at entry {last_id} ({seq} entries) but {anchor} anchored entry {anchored.id} "
            f"({anchored.count} entries) at {anchored.at}: entries were deleted from the end (truncated)",
            tuple(notes))
    return VerifyResult(True, seq, notes=tuple(notes))


def _batches(session: Session, batch: int) -> Iterator[list[AuditEntry]]:
    last_id = 0
    while True:
        rows = list(
            session.execute(select(AuditEntry).where(AuditEntry.id > last_id).order_by(AuditEntry.id).limit(batch))
            .scalars()
        )
        if not rows:
            return
        yield rows
        last_id = rows[-1].id
        session.expunge_all()


# --- redaction -------------------------------------------------------------------------------------------
def redact_where(
    session: Session, where: ColumnElement[bool], *, actor: Actor | None = None, reason: str = "erasure"
) -> int:
    """Empty the payload and salt of every entry matching ``where`` and note the ids: one chained ``redact``
    entry naming them is written at the commit. Redact entries (ids only) are never redacted."""
    _write_pending(session, redactions=False)  # this transaction's own entries too
    ids = list(
        session.execute(
            select(AuditEntry.id).where(
                where, AuditEntry.salt.is_not(None), AuditEntry.action != REDACT_ACTION,
                AuditEntry.redacted.is_(False),
            )
        ).scalars()
    )
    if not ids:
        return 0
    for chunk in (ids[i:i + 1000] for i in range(0, len(ids), 1000)):
        session.execute(
            update(AuditEntry).where(AuditEntry.id.in_(chunk))
            .values(payload=None, salt=None, redacted=True)
            .execution_options(synchronize_session="fetch")
        )
    label = actor.label if actor is not None else "system:audit"
    session.info.setdefault(_REDACTED, {}).setdefault((label, reason[:40]), set()).update(ids)
    return len(ids)


def redact_payloads(
    session: Session, entity: str, entity_id: object, *, actor: Actor | None = None, reason: str = "erasure"
) -> int:
    """Drop the personal payloads of one record's entries (erasure); a chained redact entry names them."""
    return redact_where(session, (AuditEntry.entity == entity) & (AuditEntry.entity_id == str(entity_id)),
                        actor=actor, reason=reason)

