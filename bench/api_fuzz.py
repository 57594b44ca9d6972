"""Schemathesis against the real REST API: no 5xx, every response as ``/api/openapi.json`` documents it.

    python -m bench.api_fuzz [--examples 250] [--seed 10] [--db URL] [--json]

Serves the whole app (``assistant.server.build_app``) on a loopback port in a thread, loads the OpenAPI
document it serves, and for every operation sends Schemathesis-generated requests as four callers: a staff
admin token and a signed customer token (``cus_...``, which the REST API refuses with 401), each with valid
(positive) and invalid (negative) data. ``--examples`` is per caller and mode, so the default 250 makes
≥ 1,000 cases per operation (fewer where the schema allows fewer distinct requests, e.g. ``/health``).
Checks: ``not_a_server_error``, ``status_code_conformance``, ``response_schema_conformance`` and
``content_type_conformance``. Prints one line per operation (cases, statuses seen, failures) and a
summary; exits 1 when anything failed. ``tests/integration/test_api_fuzz.py`` is the short CI run.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import sys
import tempfile
import threading
import time
from collections import Counter
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import requests
import schemathesis
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis import seed as hypothesis_seed
from hypothesis.errors import Unsatisfiable
from schemathesis import GenerationMode
from schemathesis.checks import (
    content_type_conformance,
    not_a_server_error,
    response_schema_conformance,
    status_code_conformance,
)
from schemathesis.core.failures import FailureGroup

from connectors import customer_auth

CHECKS = [not_a_server_error, status_code_conformance, response_schema_conformance, content_type_conformance]
SECRET = "api-fuzz-secret-key-0123456789abcdef"  # signs the customer token of this run only
RESULTS = Path(__file__).parent / "results"


@dataclass
class Tally:
    """What one operation saw: cases sent, status codes, and each distinct failure with an example."""

    operation: str
    cases: int = 0
    statuses: Counter[int] = field(default_factory=Counter)
    failures: dict[str, str] = field(default_factory=dict)  # failure title -> curl of the first case

    def line(self) -> str:
        codes = " ".join(f"{code}x{n}" for code, n in sorted(self.statuses.items()))
        state = f"{len(self.failures)} FAILED" if self.failures else "ok"
        return f"{self.operation:<42} {self.cases:>6} cases  {state:<9} {codes}"


@contextmanager
def served(db_url: str) -> Iterator[str]:
    """The real app over ``db_url`` on 127.0.0.1:<free port>, in a thread with its own event loop."""
    from aiohttp import web

    from assistant.server import build_app
    from assistant.settings import Settings

    ready = threading.Event()
    state: dict[str, Any] = {}

    async def main() -> None:
        app = build_app(Settings(database_url=db_url, secret_key=SECRET))
        runner = web.AppRunner(app)
        await runner.setup()
        site = web.TCPSite(runner, "127.0.0.1", 0)
        await site.start()
        state["port"] = runner.addresses[0][1]
        state["stop"] = asyncio.Event()
        ready.set()
        await state["stop"].wait()
        await runner.cleanup()

    loop = asyncio.new_event_loop()
    thread = threading.Thread(target=loop.run_until_complete, args=(main(),), daemon=True)
    thread.start()
    if not ready.wait(30):
        raise RuntimeError("the app did not start")
    try:
        yield f"http://127.0.0.1:{state['port']}"
    finally:
        loop.call_soon_threadsafe(state["stop"].set)
        thread.join(30)
        loop.close()


def seed_store(db_url: str) -> dict[str, str]:
    """A migrated store with one record of each kind (so ids 1.. exist) and the callers' tokens."""
    from crm_store.db import Database
    from crm_store.services import Actor, CrmServices

    db = Database(db_url)
    try:
        db.create_all()
        with db.session() as s:
            crm = CrmServices(s, Actor.system("api-fuzz"))
            admin = crm.users.create({"email": "fuzz-admin@x.example", "name": "Fuzz Admin", "role": "admin"})
            org = crm.organizations.create({"name": "Fuzz GmbH", "domain": "fuzz.example"})
            contact = crm.contacts.create({"first_name": "Anna", "last_name": "Fuzz", "email": "anna@fuzz.example",
                                           "organization_id": org.id})
            crm.deals.create({"name": "Fuzz deal", "organization_id": org.id, "contact_id": contact.id})
            crm.tasks.create({"title": "Call Anna", "contact_id": contact.id})
            crm.activities.create({"type": "note", "contact_id": contact.id, "summary": "met at a fair"})
            crm.tickets.create({"subject": "Invoice wrong", "requester_contact_id": contact.id})
            staff = crm.users.issue_token(admin.id, "api-fuzz")
            customer = customer_auth.issue(contact.id, SECRET, ttl_seconds=24 * 3600)
    finally:
        db.dispose()
    return {"staff": staff, "customer": customer}


def fuzz(base_url: str, tokens: dict[str, str], *, examples: int, seed: int = 10,
         modes: Sequence[GenerationMode] = (GenerationMode.POSITIVE, GenerationMode.NEGATIVE)) -> list[Tally]:
    """Run every operation of the served document as every caller in every mode; never stops at a failure."""
    document = requests.get(f"{base_url}/api/openapi.json", timeout=30).json()
    schema = schemathesis.openapi.from_dict(document)
    tallies: list[Tally] = []
    with requests.Session() as session:
        for result in schema.get_all_operations():
            operation = result.ok()
            tally = Tally(f"{operation.method.upper()} {operation.path}")
            tallies.append(tally)
            for who, token in tokens.items():
                for mode in modes:
                    _run(operation, mode, tally, session, base_url, {"Authorization": f"Bearer {token}"},
                         examples=examples, seed=seed, who=who)
    return tallies


def _run(operation: Any, mode: GenerationMode, tally: Tally, session: requests.Session, base_url: str,
         headers: dict[str, str], *, examples: int, seed: int, who: str) -> None:
    @hypothesis_seed(seed)
    @settings(max_examples=examples, deadline=None, database=None, derandomize=False,
              phases=[Phase.explicit, Phase.generate], suppress_health_check=list(HealthCheck))
    @given(case=operation.as_strategy(generation_mode=mode))
    def one(case: Any) -> None:
        response = case.call(base_url=base_url, session=session, headers=headers, timeout=30)
        tally.cases += 1
        tally.statuses[response.status_code] += 1
        try:
            case.validate_response(response, checks=CHECKS, headers=headers)
        except (Exception, FailureGroup) as exc:  # a check failed: remember it and keep going (no shrinking)
            found = exc.exceptions if isinstance(exc, FailureGroup) else (exc,)
            for failure in found:
                what = getattr(failure, "title", "") or (str(failure).strip().splitlines() or [""])[0]
                title = f"[{who}/{mode.value}] {what or type(failure).__name__} (HTTP {response.status_code})"
                tally.failures.setdefault(title[:240], case.as_curl_command(headers=headers)[:2000])

    # an operation with nothing to make invalid (no parameters, no body) has no negative cases
    with contextlib.suppress(Unsatisfiable):
        one()


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--examples", type=int, default=250, help="cases per operation, caller and mode")
    parser.add_argument("--seed", type=int, default=10)
    parser.add_argument("--db", default=None, help="an empty store's URL (default: a fresh SQLite file)")
    parser.add_argument("--json", action="store_true", help=f"also write {RESULTS}/api_fuzz.json")
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory() as tmp:
        db_url = args.db or f"sqlite:///{Path(tmp) / 'fuzz.db'}"
        tokens = seed_store(db_url)
        started = time.perf_counter()
        with served(db_url) as base_url:
            tallies = fuzz(base_url, tokens, examples=args.examples, seed=args.seed)
        elapsed = time.perf_counter() - started
    for tally in tallies:
        print(tally.line())
        for title, curl in tally.failures.items():
            print(f"    {title}\n      {curl}")
    total = sum(t.cases for t in tallies)
    failed = [t for t in tallies if t.failures]
    print(f"\n{len(tallies)} operations, {total} cases in {elapsed:.0f} s "
          f"(min {min(t.cases for t in tallies)}, max {max(t.cases for t in tallies)} per operation); "
          f"{sum(len(t.failures) for t in failed)} distinct failures in {len(failed)} operations")
    if args.json:
        RESULTS.mkdir(exist_ok=True)
        (RESULTS / "api_fuzz.json").write_text(json.dumps(
            {"seed": args.seed, "examples": args.examples, "seconds": round(elapsed, 1),
             "operations": {t.operation: {"cases": t.cases, "statuses": dict(t.statuses),
                                          "failures": list(t.failures)} for t in tallies}}, indent=2))
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
