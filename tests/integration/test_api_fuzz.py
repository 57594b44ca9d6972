"""Schemathesis against the real app on a real port: the short CI run of ``bench/api_fuzz.py``.

A few cases per operation, caller (staff admin token, signed customer token) and mode (valid and invalid
data), with a fixed seed: no 5xx, every status and body as ``/api/openapi.json`` documents it. The long
run (≥ 1,000 cases per operation) is ``python -m bench.api_fuzz``.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from bench.api_fuzz import fuzz, seed_store, served

EXAMPLES = 6
SEED = 10


@pytest.mark.timeout(120)
def test_attack_fuzz_every_operation_as_staff_and_customer(tmp_path: Path) -> None:
    """Attack: malformed and valid-but-odd requests to every operation; any 5xx or undocumented answer fails.
    Runs on SQLite; the bench runs the long version (and takes ``--db`` for PostgreSQL)."""
    db_url = f"sqlite:///{tmp_path / 'fuzz.db'}"
    tokens = seed_store(db_url)
    with served(db_url) as base_url:
        tallies = fuzz(base_url, tokens, examples=EXAMPLES, seed=SEED)
    assert len(tallies) >= 37  # 7 resources x 5 operations, /health, /api/openapi.json (and newer ones)
    assert all(t.cases >= 1 for t in tallies)
    assert sum(t.cases for t in tallies) >= 20 * len(tallies)
    failures = {t.operation: t.failures for t in tallies if t.failures}
    assert failures == {}, "\n".join(f"{op}: {title}\n  {curl}" for op, found in failures.items()
                                     for title, curl in found.items())
    statuses = {code for t in tallies for code in t.statuses}
    assert {200, 201, 401, 404, 422} <= statuses and not any(code >= 500 for code in statuses)


def test_attack_null_for_a_required_field_is_a_422_not_a_500(tmp_path: Path) -> None:
    """Found by the fuzzer: ``PATCH /api/v1/organizations/1 {"name": null}`` was a 500 (None reached the
    name index). Every resource's required fields are tried: 422 naming the field, the record unchanged."""
    import requests

    from connectors.rest_api.inputs import not_nullable
    from connectors.rest_api.resources import RESOURCES

    db_url = f"sqlite:///{tmp_path / 'fuzz.db'}"
    tokens = seed_store(db_url)
    headers = {"Authorization": f"Bearer {tokens['staff']}"}
    with served(db_url) as base_url, requests.Session() as http:
        for res in RESOURCES:
            before = http.get(f"{base_url}/api/v1/{res.name}/1", headers=headers, timeout=10).json()
            for name in sorted(not_nullable(res.create_schema) & res.patch_schema.model_fields.keys()):
                for method in ("PATCH", "PUT"):
                    resp = http.request(method, f"{base_url}/api/v1/{res.name}/1", json={name: None},
                                        headers=headers, timeout=10)
                    assert resp.status_code == 422, (res.name, name, resp.text)
                    assert resp.json()["errors"][0]["field"] == name
            assert http.get(f"{base_url}/api/v1/{res.name}/1", headers=headers, timeout=10).json() == before
