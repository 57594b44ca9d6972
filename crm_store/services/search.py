"""Fast, forgiving name lookup over contacts and organisations, backed by the ``name_tokens`` index.

Candidates come from indexed prefix ranges on folded tokens and phonetic codes, ranked in SQL by how
many query tokens they cover; rapidfuzz orders the best of them.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from functools import lru_cache
from typing import Any

from rapidfuzz import fuzz
from sqlalchemy import (
    Integer,
    Row,
    Select,
    String,
    Subquery,
    bindparam,
    case,
    delete,
    exists,
    func,
    literal_column,
    select,
    union_all,
)
from sqlalchemy.orm import Session, aliased

from crm_store.models import Contact, ContactEmail, NameToken, Organization
from crm_store.names import fold, org_tokens, person_query_tokens, phonetic, tokens


@dataclass(frozen=True, slots=True)
class Match:
    kind: str  # "contact" / "organization"
    id: int
    name: str
    score: float
    organization: str | None = None
    organization_id: int | None = None


def index_contact(session: Session, contact: Contact) -> None:
    _replace_tokens(session, "c", contact.id, tokens(f"{contact.first_name} {contact.last_name}"))


def index_organization(session: Session, org: Organization) -> None:
    _replace_tokens(session, "o", org.id, org_tokens(org.name))


def _replace_tokens(session: Session, kind: str, ref_id: int, toks: Iterable[str]) -> None:
    session.execute(delete(NameToken).where(NameToken.kind == kind, NameToken.ref_id == ref_id))
    seen: set[str] = set()
    for t in toks:
        if t in seen or not t:
            continue
        seen.add(t)
        session.add(NameToken(kind=kind, ref_id=ref_id, token=t[:120], phonetic=phonetic(t)))


def token_rows(kind: str, ref_id: int, toks: Iterable[str]) -> list[dict[str, object]]:
    """Rows for a bulk insert (imports, benchmarks)."""
    return [
        {"kind": kind, "ref_id": ref_id, "token": t[:120], "phonetic": phonetic(t)}
        for t in dict.fromkeys(toks)
        if t
    ]


def _prefix_upper(prefix: str) -> str:
    return prefix[:-1] + chr(ord(prefix[-1]) + 1)


def _query_params(query_tokens: list[str]) -> tuple[tuple[bool, ...], dict[str, Any]]:
    """The statement's shape (which tokens may also match by sound) and its parameters."""
    toks = list(dict.fromkeys(t for t in query_tokens if t))
    if any(len(t) > 1 for t in toks):
        toks = [t for t in toks if len(t) > 1]
    shape, params = [], {}
    for i, t in enumerate(toks):
        code = phonetic(t)
        by_sound = len(code) >= 2 and len(t) >= 3
        shape.append(by_sound)
        params |= {f"t{i}": t, f"u{i}": _prefix_upper(t)} | ({f"c{i}": code} if by_sound else {})
    return tuple(shape), params


@lru_cache(maxsize=128)
def _ranked(kind: str, shape: tuple[bool, ...]) -> Subquery:
    """``(ref_id, rank)`` of the ``:limit`` names that cover the query best, ranked in SQL.

    Each query token earns a name at most 3 points: 3 for an equal token, 2 for a prefix ("kath" finds
    "katharina"), 1 for the same Cologne code ("schmitt" finds "schmidt"). Ranking by the sum puts every
    Anna Müller ahead of the thousands of other Annas and Müllers, so no arbitrary cut drops her.

    A token is looked up by sound only when no name contains it literally (a one-time check inside the
    same statement): a short code such as "06" ("anna", "jan", "jana", ...) matches a large share of all
    names and would dominate the cost. Initials ("A. Schmidt") only fetch candidates when nothing longer
    was typed; the fuzzy scorer still weighs them. Every branch reads one index and never the table.
    Built once per shape (number of tokens, which may sound alike) with bound parameters.
    """
    parts = []
    for i, by_sound in enumerate(shape):
        t, upper = bindparam(f"t{i}", type_=String), bindparam(f"u{i}", type_=String)
        q = literal_column(str(i)).label("q")
        parts.append(
            select(NameToken.ref_id, q, case((NameToken.token == t, 3), else_=2).label("pts")).where(
                NameToken.kind == kind, NameToken.token >= t, NameToken.token < upper
            )
        )
        if by_sound:
            other = aliased(NameToken)
            spelled = exists().where(other.kind == kind, other.token >= t, other.token < upper)
            parts.append(
                select(NameToken.ref_id, q, literal_column("1").label("pts")).where(
                    NameToken.kind == kind, NameToken.phonetic == bindparam(f"c{i}", type_=String), ~spelled
                )
            )
    hits = union_all(*parts).subquery()
    rank = sum(
        (func.coalesce(func.max(case((hits.c.q == i, hits.c.pts))), 0) for i in range(1, len(shape))),
        func.coalesce(func.max(case((hits.c.q == 0, hits.c.pts))), 0),
    )
    return (
        select(hits.c.ref_id, rank.label("rank"))
        .group_by(hits.c.ref_id)
        .order_by(rank.desc(), hits.c.ref_id)
        .limit(bindparam("limit", type_=Integer))
        .subquery()
    )


@lru_cache(maxsize=128)
def _contacts_stmt(shape: tuple[bool, ...]) -> Select[Any]:
    ranked = _ranked("c", shape)
    return (
        select(
            ranked.c.rank, Contact.id, Contact.first_name, Contact.last_name, Organization.name.label("org"),
            Contact.organization_id
        )
        .join(Contact, Contact.id == ranked.c.ref_id)
        .outerjoin(Organization, Organization.id == Contact.organization_id)
        .where(Contact.erased_at.is_(None))
        .order_by(ranked.c.rank.desc(), Contact.id)
    )


@lru_cache(maxsize=128)
def _organizations_stmt(shape: tuple[bool, ...]) -> Select[Any]:
    ranked = _ranked("o", shape)
    return (
        select(ranked.c.rank, Organization.id, Organization.name)
        .join(Organization, Organization.id == ranked.c.ref_id)
        .order_by(ranked.c.rank.desc(), Organization.id)
    )


def _whole_tiers(rows: Sequence[Row[Any]], enough: int) -> Sequence[Row[Any]]:
    """Rows (best rank first) until ``enough`` are in, then the rest of that rank: ties stay together."""
    if len(rows) <= enough:
        return rows
    last = rows[enough - 1].rank
    end = enough
    while end < len(rows) and rows[end].rank == last:
        end += 1
    return rows[:end]


@lru_cache(maxsize=8192)
def _folded(name: str) -> str:
    return fold(name)


def _score(folded_query: str, name: str) -> float:
    n = _folded(name)
    return float(max(fuzz.token_set_ratio(folded_query, n), fuzz.WRatio(folded_query, n) * 0.95))


def find_contacts(session: Session, query: str, *, limit: int = 10, candidates: int = 200) -> list[Match]:
    """Contacts whose name matches ``query`` forgivingly, best first; one query (an e-mail: exact match)."""
    q = query.strip()
    if not q:
        return []
    if "@" in q:
        row = session.execute(
            select(Contact).join(ContactEmail).where(ContactEmail.address == q.lower())
        ).scalar_one_or_none()
        if row is None:
            return []
        return [
            Match(
                "contact", row.id, row.full_name, 100.0, row.organization.name if row.organization else None,
                row.organization_id,
            )
        ]
    qtoks = person_query_tokens(q)
    shape, params = _query_params(qtoks)
    if not shape:
        return []
    rows = session.execute(_contacts_stmt(shape), params | {"limit": candidates}).all()
    qtext = fold(" ".join(qtoks))
    scored = []
    for _, cid, first, last, org, org_id in _whole_tiers(rows, limit):
        full = f"{first} {last}".strip()
        score = _score(qtext, full)
        if len(qtoks) == 1:  # a single word: a full match on first or last name counts fully
            score = max(score, 100.0 if qtoks[0] in (_folded(first), _folded(last)) else score)
        scored.append(Match("contact", cid, full, round(score, 1), org, org_id))
    scored.sort(key=lambda m: (-m.score, m.name, m.id))
    return [m for m in scored if m.score >= 60][:limit]


def find_organizations(
    session: Session, query: str, *, limit: int = 10, candidates: int = 200
) -> list[Match]:
    qtoks = org_tokens(query)
    shape, params = _query_params(qtoks)
    if not shape:
        return []
    rows = session.execute(_organizations_stmt(shape), params | {"limit": candidates}).all()
    qtext = fold(" ".join(qtoks))
    scored = [
        Match("organization", oid, name, round(_score(qtext, " ".join(org_tokens(name))), 1))
        for _, oid, name in _whole_tiers(rows, limit)
    ]
    scored.sort(key=lambda m: (-m.score, m.name, m.id))
    return [m for m in scored if m.score >= 60][:limit]
