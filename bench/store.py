"""Store benchmark: bulk import speed and the latency of the three hot queries.

    python -m bench.store --backend both --scale 0.1

Generates (at scale 1.0) 20k organisations, 100k contacts (+ e-mails and name tokens), 1M activities,
50k deals and 200k tickets and bulk-loads them the way a real import should: PostgreSQL ``COPY``,
SQLite ``executemany`` in one transaction per table without fsync, secondary indexes built and foreign
keys checked once at the end (that time counts). Then times ~200 each of: forgiving name lookup
(``find_contacts``), the pipeline report (``ReportService.pipeline``) and a contact's last 20
activities (``ActivityService.recent_for_contact``). Prints a table and writes JSON to bench/results/.
Targets: lookup p95 <= 20 ms, pipeline <= 50 ms, history <= 10 ms, import >= 20k rows/s.

``--reuse`` times the queries again on the database the previous run left (no import), handy while
tuning a query.
"""

from __future__ import annotations

import argparse
import json
import operator
import os
import random
import statistics
import sys
import time
from collections.abc import Callable, Iterator
from dataclasses import asdict, dataclass, field
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

from sqlalchemy import JSON, Column, ForeignKeyConstraint, Index, Table, create_engine, insert, text
from sqlalchemy.engine import Connection
from sqlalchemy.schema import AddConstraint, DropConstraint
from tqdm import tqdm

from crm_store.db import Database
from crm_store.models import (
    ACTIVITY_TYPES,
    DEFAULT_PROBABILITY,
    PRIORITIES,
    QUEUES,
    STAGES,
    TICKET_STATUSES,
    Activity,
    Contact,
    ContactEmail,
    Deal,
    NameToken,
    Organization,
    Team,
    Ticket,
    User,
)
from crm_store.models.base import UTCDateTime
from crm_store.names import fold, org_tokens, tokens
from crm_store.services import Actor
from crm_store.services.activities import ActivityService
from crm_store.services.reports import ReportService
from crm_store.services.search import find_contacts, token_rows

RESULTS = Path(__file__).with_name("results")
DEFAULT_PG = "postgresql+psycopg://postgres@127.0.0.1:5432/crm_bench"
BATCH = 5000
NOW = datetime(2026, 3, 2, 12, 0, tzinfo=UTC)
TARGETS_MS = {"lookup": 20.0, "pipeline": 50.0, "history": 10.0}
TARGET_ROWS_PER_S = 20_000
BASE_COUNTS = {
    "organizations": 20_000,
    "contacts": 100_000,
    "activities": 1_000_000,
    "deals": 50_000,
    "tickets": 200_000,
}

FIRST = (
    "Anna",
    "Jürgen",
    "Jörg",
    "Sören",
    "Björn",
    "Günther",
    "Käthe",
    "Uwe",
    "Lena",
    "Maximilian",
    "Sophie",
    "Florian",
    "Katharina",
    "Matthias",
    "Jana",
    "Tobias",
    "Hannah",
    "Stefan",
    "Julia",
    "Andreas",
    "Claudia",
    "Thomas",
    "Miriam",
    "Dominik",
    "Özlem",
    "René",
    "Zoë",
    "Olivia",
    "James",
    "Amelia",
    "Oliver",
    "Isla",
    "Harry",
    "Emily",
    "George",
    "Sarah",
    "Michael",
    "Jessica",
    "David",
    "Chloe",
    "Daniel",
    "Grace",
    "Ryan",
    "Priya",
    "Liam",
    "Aoife",
    "Carlos",
    "Mehmet",
    "Fatma",
    "Luca",
    "Giulia",
    "Pierre",
    "Camille",
    "Jan",
    "Agnieszka",
    "Piotr",
    "Eva",
    "Martin",
    "Petra",
    "Klaus",
)
LAST = (
    "Müller",
    "Schmidt",
    "Schröder",
    "Weiß",
    "Groß",
    "Köhler",
    "Bäcker",
    "Jäger",
    "Fuchs",
    "Schulz",
    "Hoffmann",
    "Krämer",
    "Günther",
    "Böhm",
    "Lehmann",
    "Meyer",
    "Wagner",
    "Becker",
    "Schäfer",
    "Koch",
    "Richter",
    "Wolf",
    "Neumann",
    "Schwarz",
    "Zimmermann",
    "Krüger",
    "Hartmann",
    "Lange",
    "Yılmaz",
    "Smith",
    "Jones",
    "O'Brien",
    "Taylor",
    "Clarke",
    "Patel",
    "Nguyen",
    "Johnson",
    "Williams",
    "Brown",
    "Davies",
)
STEMS = (
    "Kessel",
    "Linden",
    "Stein",
    "Berg",
    "Wald",
    "Rosen",
    "Eich",
    "Brunn",
    "Hein",
    "Kirch",
    "Mühl",
    "Acker",
    "Feld",
    "Hof",
    "Bach",
    "Sommer",
    "Winter",
    "Hasel",
    "Dorn",
    "Grün",
    "Lauter",
    "Ober",
    "Nieder",
    "Birk",
)
ENDINGS = (
    "mann",
    "bauer",
    "berg",
    "meier",
    "huber",
    "brink",
    "hagen",
    "stedt",
    "feld",
    "haus",
    "ner",
    "ler",
    "inger",
    "er",
    "rich",
    "wald",
    "ing",
    "ert",
)
ORG_WORDS = (
    "Acme",
    "Globex",
    "Initech",
    "Nordlicht",
    "Alpen",
    "Rhein",
    "Thames",
    "Pennine",
    "Redwood",
    "Lakeside",
    "Bergmann",
    "Fischer",
    "Stark",
    "Helvetia",
    "Brightwater",
    "Oakridge",
    "Umbrella",
    "Vandelay",
    "Zürcher",
    "Wiener",
    "Grünwald",
    "Krüger",
    "Becker",
    "Hoffmann",
)
ORG_KINDS = (
    "Maschinenbau",
    "Logistik",
    "Software",
    "Energie",
    "Pharma",
    "Bau",
    "Medien",
    "Analytics",
    "Robotics",
    "Foods",
    "Engineering",
    "Retail",
    "Consulting",
    "Systems",
    "Elektronik",
    "Treuhand",
)
ORG_SUFFIX = ("GmbH", "AG", "Ltd.", "Inc.", "KG", "SE", "GmbH & Co. KG", "plc")


@dataclass
class Timing:
    name: str
    n: int
    p50_ms: float
    p95_ms: float
    max_ms: float
    target_ms: float | None = None

    @property
    def ok(self) -> bool:
        return self.target_ms is None or self.p95_ms <= self.target_ms


@dataclass
class BackendResult:
    backend: str
    scale: float
    rows: dict[str, int] = field(default_factory=dict)
    seconds: dict[str, float] = field(default_factory=dict)
    import_rows_per_s: float = 0.0
    import_client_cpu_s: float = 0.0
    load_average: list[float] = field(
        default_factory=list
    )  # 1-minute load before import, before queries, after
    timings: list[Timing] = field(default_factory=list)
    lookup_hit_at_10: float = 0.0  # the very contact among the first ten
    lookup_name_hit_at_10: float = 0.0  # ... or a namesake (same first and last name): a human would ask


# --- data generation --------------------------------------------------------------------------------------
class Generator:
    def __init__(self, scale: float, seed: int = 7) -> None:
        self.rng = random.Random(seed)
        self.n = {k: max(10, int(v * scale)) for k, v in BASE_COUNTS.items()}
        self.user_ids = list(range(1, 13))
        self.contact_org: list[int] = []  # index = contact id - 1
        self.names: list[tuple[str, str]] = []

    def last_name(self) -> str:
        if self.rng.random() < 0.5:
            return self.rng.choice(LAST)
        return self.rng.choice(STEMS) + self.rng.choice(ENDINGS)

    def when(self, days: int) -> datetime:
        return NOW - timedelta(seconds=self.rng.randrange(days * 86400))

    def teams_and_users(self) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
        teams = [
            {"id": i, "name": f"Team {i}", "timezone": "Europe/Berlin", "created_at": NOW, "updated_at": NOW}
            for i in (1, 2, 3)
        ]
        users = [
            {
                "id": uid,
                "email": f"user{uid}@bench.example",
                "name": f"Rep {uid}",
                "role": "rep" if uid > 2 else ("admin" if uid == 1 else "manager"),
                "team_id": 1 + uid % 3,
                "language": "de",
                "timezone": "Europe/Berlin",
                "languages_spoken": ["de"],
                "is_active": True,
                "is_available": True,
                "created_at": NOW,
                "updated_at": NOW,
            }
            for uid in self.user_ids
        ]
        return teams, users

    def organizations(self) -> Iterator[tuple[dict[str, Any], list[dict[str, Any]]]]:
        for oid in range(1, self.n["organizations"] + 1):
            name = (
                f"{self.rng.choice(ORG_WORDS)} {self.rng.choice(STEMS)}{self.rng.choice(ENDINGS)} "
                f"{self.rng.choice(ORG_KINDS)} {self.rng.choice(ORG_SUFFIX)}"
            )
            row = {
                "id": oid,
                "name": name,
                "domain": f"org{oid}.example",
                "industry": self.rng.choice(ORG_KINDS),
                "segment": self.rng.choice(("smb", "mid-market", "enterprise")),
                "vip": oid % 50 == 0,
                "parent_id": self.rng.randrange(1, oid) if oid > 100 and oid % 10 == 0 else None,
                "owner_id": self.rng.choice(self.user_ids),
                "custom_fields": {},
                "created_at": NOW,
                "updated_at": NOW,
            }
            yield row, token_rows("o", oid, org_tokens(name))

    def contacts(self) -> Iterator[tuple[dict[str, Any], list[dict[str, Any]]]]:
        n_orgs = self.n["organizations"]
        for cid in range(1, self.n["contacts"] + 1):
            first, last = self.rng.choice(FIRST), self.last_name()
            org = self.rng.randrange(1, n_orgs + 1)
            self.contact_org.append(org)
            self.names.append((first, last))
            row = {
                "id": cid,
                "first_name": first,
                "last_name": last,
                "job_title": "Buyer",
                "language": "de",
                "organization_id": org,
                "owner_id": self.rng.choice(self.user_ids),
                "tags": [],
                "custom_fields": {},
                "is_customer_login": False,
                "created_at": NOW,
                "updated_at": NOW,
            }
            extra = [
                {
                    "id": cid,
                    "contact_id": cid,
                    "address": f"{fold(first)}.{fold(last)}.{cid}@mail.example",
                    "label": "work",
                    "is_primary": True,
                }
            ]
            yield row, [*extra, *token_rows("c", cid, tokens(f"{first} {last}"))]

    def activities(self) -> Iterator[dict[str, Any]]:
        n_c = self.n["contacts"]
        for aid in range(1, self.n["activities"] + 1):
            cid = self.rng.randrange(1, n_c + 1)
            at = self.when(730)
            yield {
                "id": aid,
                "type": ACTIVITY_TYPES[aid % 5],
                "contact_id": cid,
                "organization_id": self.contact_org[cid - 1],
                "deal_id": None,
                "user_id": self.rng.choice(self.user_ids),
                "occurred_at": at,
                "summary": "Called about the quote, follow up next week.",
                "outcome": None,
                "channel": None,
                "created_at": at,
                "updated_at": at,
            }

    def deals(self) -> Iterator[dict[str, Any]]:
        n_c = self.n["contacts"]
        for did in range(1, self.n["deals"] + 1):
            cid = self.rng.randrange(1, n_c + 1)
            stage = self.rng.choice(STAGES)
            yield {
                "id": did,
                "name": f"Deal {did}",
                "organization_id": self.contact_org[cid - 1],
                "contact_id": cid,
                "owner_id": self.rng.choice(self.user_ids),
                "amount": Decimal(self.rng.randrange(10, 500) * 500),
                "currency": "EUR" if self.rng.random() < 0.85 else self.rng.choice(("CHF", "USD")),
                "stage": stage,
                "probability": DEFAULT_PROBABILITY[stage],
                "expected_close_date": NOW.date() + timedelta(days=self.rng.randint(-180, 180)),
                "closed_at": None,
                "last_activity_at": self.when(90),
                "created_at": self.when(365),
                "updated_at": NOW,
            }

    def tickets(self) -> Iterator[dict[str, Any]]:
        n_c = self.n["contacts"]
        for tid in range(1, self.n["tickets"] + 1):
            cid = self.rng.randrange(1, n_c + 1)
            at = self.when(730)
            status = self.rng.choice(TICKET_STATUSES)
            yield {
                "id": tid,
                "number": 1000 + tid,
                "subject": "Cannot log in",
                "description": "",
                "status": status,
                "priority": self.rng.choice(PRIORITIES),
                "queue": self.rng.choice(QUEUES),
                "language": "de",
                "requester_contact_id": cid,
                "organization_id": self.contact_org[cid - 1],
                "channel": "email",
                "needs_human": False,
                "first_response_due_at": at + timedelta(hours=8),
                "resolution_due_at": at + timedelta(hours=72),
                "solved_at": at + timedelta(days=1) if status in ("solved", "closed") else None,
                "created_at": at,
                "updated_at": at,
            }


def _batches(rows: Iterator[Any], size: int = BATCH) -> Iterator[list[Any]]:
    batch: list[Any] = []
    for row in rows:
        batch.append(row)
        if len(batch) >= size:
            yield batch
            batch = []
    if batch:
        yield batch


class Clock:
    """Accumulates the time spent inside the database calls only (row generation is not the import)."""

    def __init__(self) -> None:
        self.wall = 0.0
        self.cpu = 0.0

    def run(self, fn: Callable[[], Any]) -> None:
        w, c = time.perf_counter(), time.process_time()
        fn()
        self.wall += time.perf_counter() - w
        self.cpu += time.process_time() - c


Getter = Callable[[dict[str, Any]], Any]


class Writer:
    """Bulk-writes rows: PostgreSQL ``COPY ... FROM STDIN`` (psycopg 3), SQLite ``executemany``.

    Rows are the generator's dicts; columns they leave out get the model's Python default, as with
    ``insert()``. Values pass through the column types' own bind processors, so the stored bytes equal
    an ORM insert's; only ``UTCDateTime`` on SQLite takes a faster path to the same text
    ("2026-03-02 12:00:00.000000"), since formatting three timestamps a row was most of the client time.
    """

    def __init__(self, conn: Connection) -> None:
        self.conn = conn
        self.pg = conn.dialect.name == "postgresql"
        self._plans: dict[tuple[str, tuple[str, ...]], tuple[str, list[Getter]]] = {}

    def write(self, table: Table, rows: list[dict[str, Any]]) -> None:
        if not rows:
            return
        sql, getters = self._plan(table, rows[0])
        raw = self.conn.connection.driver_connection
        cur = raw.cursor()
        try:
            if self.pg:
                with cur.copy(sql) as copy:
                    for row in rows:
                        copy.write_row([get(row) for get in getters])
            else:
                cur.executemany(sql, [[get(row) for get in getters] for row in rows])
        finally:
            cur.close()

    def _plan(self, table: Table, sample: dict[str, Any]) -> tuple[str, list[Getter]]:
        key = (table.name, tuple(sample))
        if key not in self._plans:
            cols = [
                col
                for col in table.columns
                if col.key in sample or (col.default is not None and not col.primary_key)
            ]
            names = ", ".join(f'"{col.name}"' for col in cols)
            if self.pg:
                sql = f"COPY {table.name} ({names}) FROM STDIN"
            else:
                sql = f"INSERT INTO {table.name} ({names}) VALUES ({', '.join('?' for _ in cols)})"
            self._plans[key] = (sql, [self._getter(col, col.key in sample) for col in cols])
        return self._plans[key]

    def _getter(self, col: Column[Any], given: bool) -> Getter:
        if self.pg:
            convert: Callable[[Any], Any] | None = _json if isinstance(col.type, JSON) else None
        elif isinstance(col.type, UTCDateTime):
            convert = _sqlite_utc
        else:
            convert = col.type.dialect_impl(self.conn.dialect).bind_processor(self.conn.dialect)
        key, default = col.key, _python_default(col)
        if given and convert is None:
            return operator.itemgetter(key)
        if given:
            return lambda row: None if row[key] is None else convert(row[key])  # type: ignore[misc]
        return lambda row: default() if convert is None else convert(default())


def _sqlite_utc(value: datetime) -> str:
    return value.astimezone(UTC).replace(tzinfo=None).isoformat(" ", "microseconds")


def _python_default(col: Column[Any]) -> Callable[[], Any]:
    default = col.default
    if default is None:
        return lambda: None
    if getattr(default, "is_callable", False):
        return lambda: default.arg(None)  # type: ignore[attr-defined]
    return lambda: default.arg  # type: ignore[attr-defined]


def _json(value: Any) -> str | None:
    return None if value is None else json.dumps(value, separators=(",", ":"), default=str)


LOADED_TABLES = (
    Organization.__table__,
    Contact.__table__,
    ContactEmail.__table__,
    NameToken.__table__,
    Activity.__table__,
    Deal.__table__,
    Ticket.__table__,
)


class BulkLoad:
    """Secondary indexes and foreign keys off while the rows go in, rebuilt and checked afterwards.

    Building an index once from sorted data is far cheaper than a million random b-tree inserts, and
    re-adding a foreign key validates it in one join instead of a trigger per row. SQLite keeps its
    constraints in the table definition, so there foreign keys are switched off for the load and
    ``PRAGMA foreign_key_check`` verifies the result. Both steps count as import time.
    """

    def __init__(self, conn: Connection) -> None:
        self.conn = conn
        self.pg = conn.dialect.name == "postgresql"
        self.indexes: list[Index] = [
            ix for t in LOADED_TABLES for ix in sorted(t.indexes, key=lambda i: i.name)
        ]
        self.fks: list[ForeignKeyConstraint] = [
            fk for t in LOADED_TABLES for fk in sorted(t.foreign_key_constraints, key=lambda f: f.name)
        ]

    def before(self) -> None:
        if not self.pg:  # only takes effect outside a transaction, so first
            self.conn.exec_driver_sql("PRAGMA foreign_keys=OFF")
        for ix in self.indexes:
            ix.drop(self.conn)
        if self.pg:
            for fk in self.fks:
                self.conn.execute(DropConstraint(fk))

    def after(self) -> None:
        for ix in self.indexes:
            ix.create(self.conn)
        if self.pg:
            for fk in self.fks:
                self.conn.execute(AddConstraint(fk))
            return
        broken = self.conn.exec_driver_sql("PRAGMA foreign_key_check").fetchall()
        self.conn.exec_driver_sql("PRAGMA foreign_keys=ON")
        if broken:
            raise RuntimeError(f"generated rows break foreign keys: {broken[:5]}")


def _bar(table: Table) -> Any:
    """Rows written so far, on stderr and only on a terminal (a 1M-row load takes minutes)."""
    return tqdm(desc=f"loading {table.name}", unit=" rows", file=sys.stderr, disable=None, leave=False)


def _load(clock: Clock, writer: Writer, table: Table, rows: Iterator[dict[str, Any]]) -> int:
    n = 0
    with _bar(table) as bar:
        for batch in _batches(rows):
            clock.run(lambda b=batch: writer.write(table, b))  # type: ignore[misc]
            n += len(batch)
            bar.update(len(batch))
    return n


def _load_with_side_rows(
    clock: Clock, writer: Writer, table: Table, pairs: Iterator[tuple[dict[str, Any], list[dict[str, Any]]]]
) -> int:
    """Main rows plus their e-mail and name-token rows (told apart by their keys)."""
    n = 0
    email_table, token_table = ContactEmail.__table__, NameToken.__table__
    bar = _bar(table)
    for batch in _batches(pairs, BATCH):
        bar.update(len(batch))
        side = [r for _, extra in batch for r in extra]
        mails = [r for r in side if "address" in r]
        toks = [r for r in side if "token" in r]
        main_rows = [row for row, _ in batch]
        clock.run(lambda: writer.write(table, main_rows))  # noqa: B023
        clock.run(lambda: writer.write(email_table, mails))  # type: ignore[arg-type]  # noqa: B023
        clock.run(lambda: writer.write(token_table, toks))  # type: ignore[arg-type]  # noqa: B023
        n += len(batch) + len(mails) + len(toks)
    bar.close()
    return n


def _reset_sequences(conn: Connection) -> None:
    for tbl in (
        "organizations",
        "contacts",
        "contact_emails",
        "name_tokens",
        "activities",
        "deals",
        "tickets",
        "users",
        "teams",
    ):
        conn.execute(
            text(
                f"SELECT setval(pg_get_serial_sequence('{tbl}', 'id'), "
                f"(SELECT coalesce(max(id), 1) FROM {tbl}))"
            )
        )


def populate(db: Database, gen: Generator, result: BackendResult, log: Callable[[str], None]) -> None:
    """Bulk-load every table on one connection, one transaction per table.

    The import rate counts database time (commits, index builds and constraint checks included), not
    row generation.
    """
    total_rows = 0
    total_s = total_cpu = 0.0
    with db.engine.connect() as conn:
        writer, bulk = Writer(conn), BulkLoad(conn)

        def timed(label: str, fn: Callable[[Clock], int]) -> None:
            nonlocal total_rows, total_s, total_cpu
            clock = Clock()
            n = fn(clock)
            clock.run(conn.commit)
            if label != "indexes":
                result.rows[label] = n
            result.seconds[label] = round(clock.wall, 2)
            total_rows += n
            total_s += clock.wall
            total_cpu += clock.cpu
            rate = f"{n / clock.wall:,.0f} rows/s; " if n else ""
            log(f"  {label:<14} {n:>9} rows in {clock.wall:6.1f} s  ({rate}client CPU {clock.cpu:.1f} s)")

        if (
            db.is_sqlite
        ):  # no fsync, a 256 MB page cache and in-memory sorts while loading; restored afterwards
            conn.exec_driver_sql("PRAGMA synchronous=OFF")
            conn.exec_driver_sql("PRAGMA cache_size=-262144")
            conn.exec_driver_sql("PRAGMA temp_store=MEMORY")
        teams, users = gen.teams_and_users()
        conn.execute(insert(Team.__table__), teams)
        conn.execute(insert(User.__table__), users)
        conn.commit()
        timed(
            "organizations",
            lambda k: (
                _both(k, bulk.before)
                + _load_with_side_rows(k, writer, Organization.__table__, gen.organizations())
            ),
        )
        timed("contacts", lambda k: _load_with_side_rows(k, writer, Contact.__table__, gen.contacts()))
        timed("activities", lambda k: _load(k, writer, Activity.__table__, gen.activities()))
        timed("deals", lambda k: _load(k, writer, Deal.__table__, gen.deals()))
        timed("tickets", lambda k: _load(k, writer, Ticket.__table__, gen.tickets()))
        timed("indexes", lambda k: _both(k, bulk.after))
        if db.is_sqlite:
            conn.exec_driver_sql("PRAGMA synchronous=NORMAL")
        result.import_rows_per_s = round(total_rows / total_s)
        result.import_client_cpu_s = round(total_cpu, 1)
        start = time.perf_counter()
        if db.is_sqlite:
            conn.exec_driver_sql("PRAGMA temp_store=DEFAULT")
            conn.execute(text("ANALYZE"))
        else:
            _reset_sequences(conn)
        conn.commit()
    if not db.is_sqlite:  # what autovacuum does soon after a load: statistics and the visibility map
        with db.engine.connect().execution_options(isolation_level="AUTOCOMMIT") as auto:
            auto.exec_driver_sql("VACUUM (ANALYZE)")
    log(f"  {'ANALYZE' if db.is_sqlite else 'VACUUM (ANALYZE)'} in {time.perf_counter() - start:.1f} s")


def _both(clock: Clock, fn: Callable[[], Any]) -> int:
    clock.run(fn)
    return 0


# --- queries ------------------------------------------------------------------------------------------------
def lookup_queries(gen: Generator, n: int, rng: random.Random) -> list[tuple[str, int]]:
    """(query, expected contact id): full names, honorifics, transliteration, case, phonetic misspellings."""
    out: list[tuple[str, int]] = []
    swaps = (("ü", "ue"), ("ö", "oe"), ("ä", "ae"), ("ß", "ss"), ("dt", "tt"), ("ei", "ai"))
    for i in range(n):
        cid = rng.randrange(1, len(gen.names) + 1)
        first, last = gen.names[cid - 1]
        variant = i % 6
        if variant == 0:
            q = f"{first} {last}"
        elif variant == 1:
            q = f"{rng.choice(('Fr.', 'Herr', 'Dr.', 'Mr', 'Ms.'))} {first} {last}"
        elif variant == 2:
            q = f"{first} {last}".lower()
            for a, b in swaps[:4]:
                q = q.replace(a, b)
        elif variant == 3:
            q = f"{first} {last}".upper()
        elif variant == 4:
            q = f"{first} {last}"
            for a, b in swaps[4:]:
                q = q.replace(a, b, 1)
        else:
            q = f"{fold(first)} {fold(last)}"
        out.append((q, cid))
    return out


def _time(fn: Callable[[], Any], n: int) -> list[float]:
    samples = []
    for _ in range(n):
        start = time.perf_counter()
        fn()
        samples.append((time.perf_counter() - start) * 1000)
    return samples


def _summary(name: str, samples: list[float]) -> Timing:
    ordered = sorted(samples)
    p95 = ordered[min(len(ordered) - 1, round(0.95 * (len(ordered) - 1)))]
    return Timing(
        name,
        len(samples),
        round(statistics.median(ordered), 2),
        round(p95, 2),
        round(ordered[-1], 2),
        TARGETS_MS.get(name),
    )


def measure(db: Database, gen: Generator, result: BackendResult, n: int) -> None:
    rng = random.Random(11)
    system = Actor.system("bench")
    queries = lookup_queries(gen, n + 5, rng)  # the first five warm up
    hits = name_hits = 0
    it = iter(queries)

    def lookup() -> None:
        nonlocal hits, name_hits
        q, cid = next(it)
        with db.session() as s:
            found = find_contacts(s, q)
        hits += cid in {m.id for m in found}
        name_hits += " ".join(gen.names[cid - 1]) in {m.name for m in found}

    def pipeline() -> None:
        owner = rng.choice([None, None, *gen.user_ids])
        period = rng.choice(
            [None, (date(2026, 1, 1), date(2026, 4, 1)), (date(2026, 4, 1), date(2026, 7, 1))]
        )
        with db.session() as s:
            ReportService(s, system).pipeline(now=NOW, owner_id=owner, period=period)

    def history() -> None:
        with db.session() as s:
            ActivityService(s, system).recent_for_contact(rng.randrange(1, gen.n["contacts"] + 1), 20)

    for fn in (lookup, pipeline, history):  # warm caches and the connection pool
        for _ in range(5):
            fn()
    hits = name_hits = 0
    result.timings.append(_summary("lookup", _time(lookup, n)))
    result.lookup_hit_at_10 = round(hits / n, 3)
    result.lookup_name_hit_at_10 = round(name_hits / n, 3)
    result.timings.append(_summary("pipeline", _time(pipeline, n)))
    result.timings.append(_summary("history", _time(history, n)))


# --- driver -------------------------------------------------------------------------------------------------
def fresh_database(backend: str, pg_url: str, sqlite_path: Path) -> Database:
    if backend == "sqlite":
        sqlite_path.parent.mkdir(parents=True, exist_ok=True)
        for suffix in ("", "-wal", "-shm"):
            Path(f"{sqlite_path}{suffix}").unlink(missing_ok=True)
        db = Database(f"sqlite:///{sqlite_path}")
    else:
        base, name = pg_url.rsplit("/", 1)
        admin = create_engine(f"{base}/postgres", isolation_level="AUTOCOMMIT")
        with admin.connect() as conn:
            conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
            conn.execute(text(f'CREATE DATABASE "{name}"'))
        admin.dispose()
        db = Database(pg_url)
    db.create_all()
    return db


def run_backend(
    backend: str, scale: float, queries: int, pg_url: str, log: Callable[[str], None], *, reuse: bool = False
) -> BackendResult:
    log(f"[{backend}] scale {scale}" + (" (reusing the loaded database)" if reuse else ""))
    sqlite_path = RESULTS / "bench-store.db"
    if reuse:
        db = Database(f"sqlite:///{sqlite_path}" if backend == "sqlite" else pg_url)
    else:
        db = fresh_database(backend, pg_url, sqlite_path)
    result = BackendResult(backend=backend, scale=scale)
    gen = Generator(scale)
    try:
        result.load_average.append(round(os.getloadavg()[0], 2))
        if reuse:  # replay the generator far enough to know every contact's name
            for _ in (*gen.organizations(), *gen.contacts()):
                pass
        else:
            populate(db, gen, result, log)
        result.load_average.append(round(os.getloadavg()[0], 2))
        measure(db, gen, result, queries)
        result.load_average.append(round(os.getloadavg()[0], 2))
    finally:
        db.dispose()
    return result


def render(results: list[BackendResult]) -> str:
    lines = [f"{'backend':<9} {'measure':<10} {'p50 ms':>8} {'p95 ms':>8} {'max ms':>8} {'target':>10}  ok"]
    for r in results:
        for t in r.timings:
            target = f"<= {t.target_ms:g}" if t.target_ms else "-"
            lines.append(
                f"{r.backend:<9} {t.name:<10} {t.p50_ms:>8.2f} {t.p95_ms:>8.2f} {t.max_ms:>8.2f} "
                f"{target:>10}  {'yes' if t.ok else 'NO'}"
            )
        ok = r.import_rows_per_s >= TARGET_ROWS_PER_S
        if r.rows:
            lines.append(
                f"{r.backend:<9} {'import':<10} {r.import_rows_per_s:>17,.0f} rows/s {'>= 20k':>10}  "
                f"{'yes' if ok else 'NO'}"
            )
        lines.append(
            f"{r.backend:<9} lookup hit@10 {r.lookup_hit_at_10:.1%} (name {r.lookup_name_hit_at_10:.1%})  "
            f"rows {sum(r.rows.values()):,}  "
            f"load average {r.load_average} on {os.cpu_count()} CPUs"
        )
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--backend", choices=("sqlite", "postgres", "both"), default="sqlite")
    parser.add_argument("--scale", type=float, default=1.0)
    parser.add_argument("--queries", type=int, default=200)
    parser.add_argument(
        "--pg-url", default=DEFAULT_PG, help="A scratch database; it is dropped and re-created."
    )
    parser.add_argument(
        "--reuse",
        action="store_true",
        help="Time the queries on the database a previous run at the same scale left behind (no import).",
    )
    args = parser.parse_args(argv)
    backends = ("sqlite", "postgres") if args.backend == "both" else (args.backend,)
    results = [
        run_backend(b, args.scale, args.queries, args.pg_url, print, reuse=args.reuse) for b in backends
    ]
    print(render(results))
    RESULTS.mkdir(parents=True, exist_ok=True)
    stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%S")
    out = RESULTS / f"store-{args.backend}-{args.scale:g}-{stamp}.json"
    out.write_text(
        json.dumps(
            [asdict(r) | {"timings": [asdict(t) | {"ok": t.ok} for t in r.timings]} for r in results],
            indent=2,
        )
    )
    print(f"results: {out}")


if __name__ == "__main__":
    main()
