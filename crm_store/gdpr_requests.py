"""Carrying out a data-subject request end to end: the service's transaction, then what cannot run inside it.

An erasure (Art. 17) is one transaction in :class:`crm_store.services.gdpr.GdprService`; making the deleted
rows unreadable in the database files (SQLite ``VACUUM`` and WAL truncation, PostgreSQL ``VACUUM``) needs an
autocommit connection *after* it has committed, and can fail when another connection holds the SQLite file.
So the step is owed until it has run: ``gdpr_requests.pages_freed_at`` stays empty, and
:func:`free_owed_pages` (the daily retention schedule, or the CLI again) finishes it. The REST API, the CLI
and the scheduler all go through here, so there is one way to erase.
"""

from __future__ import annotations

import logging
from typing import Any

from sqlalchemy import select
from sqlalchemy.exc import DBAPIError, OperationalError

from crm_store.db import Database
from crm_store.models import GdprRequest
from crm_store.models.base import utcnow
from crm_store.models.data_classes import TABLES
from crm_store.services import Actor, CrmServices
from crm_store.services.gdpr import request_row

log = logging.getLogger(__name__)

PEOPLE_TABLES = tuple(t for t, info in TABLES.items() if info.subject in ("contact", "mentions"))


def free_pages(db: Database, tables: list[str], request_ids: list[int]) -> list[str]:
    """Run the free-page step for ``tables`` and mark the requests done with it; on failure the steps say
    why and the requests stay owed (the next run finishes them)."""
    try:
        steps = db.reclaim_free_pages(tables or list(PEOPLE_TABLES))
    except (OperationalError, DBAPIError) as exc:
        log.warning("free-page step after an erasure not done (%s); it is retried", type(exc).__name__)
        return [f"not done ({type(exc).__name__}); it is retried by the daily schedule or the next "
                "`crm-assistant gdpr erase`"]
    if request_ids:
        with db.session() as session:
            for req in session.execute(select(GdprRequest).where(GdprRequest.id.in_(request_ids))).scalars():
                req.pages_freed_at = utcnow()
    return steps


def carry_out(db: Database, actor: Actor, request_id: int) -> dict[str, Any]:
    """Fulfil one verified request as ``actor`` (the service checks the role and the identity proof):
    access -> ``{"request", "export"}``; erasure -> ``{"request", "erasure"}`` with the report and its
    free-page steps; restriction, objection, rectification -> ``{"request"}``."""
    with db.session() as session:
        crm = CrmServices(session, actor)
        req = crm.gdpr.get_request(request_id)
        kind = req.kind
        result: dict[str, Any] = {}
        if kind == "access":
            result["export"] = crm.gdpr.export_request(request_id)
        elif kind == "erasure":
            crm.gdpr.confirm_erasure(request_id)
            result["erasure"] = crm.gdpr.last_report
        else:
            crm.gdpr.complete_request(request_id)
        result["request"] = request_row(crm.gdpr.get_request(request_id))
    if kind == "erasure":
        report = result["erasure"]
        report["free_pages"] = free_pages(db, list(report["tables"]), [request_id])
    return result


def free_owed_pages(db: Database) -> list[str]:
    """Finish the free-page step of every erasure done without it (one run for all of them)."""
    with db.session() as session:
        owed = list(
            session.execute(
                select(GdprRequest.id).where(
                    GdprRequest.kind == "erasure",
                    GdprRequest.status == "done",
                    GdprRequest.pages_freed_at.is_(None),
                )
            ).scalars()
        )
    if not owed:
        return []
    steps = free_pages(db, list(PEOPLE_TABLES), owed)
    log.info("free-page step owed by %s erasure(s): %s", len(owed), ", ".join(steps))
    return steps
