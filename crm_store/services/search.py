"""Fast, forgiving name lookup over contacts and organisations, backed by the ``name_tokens`` index.

Candidates come from indexed prefix ranges on folded tokens and phonetic codes; rapidfuzz ranks them.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from rapidfuzz import fuzz
from sqlalchemy import and_, case, delete, exists, func, literal_column, select, union_all
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
    return [{"kind": kind, "ref_id": ref_id, "token": t[:120], "phonetic": phonetic(t)} for t in dict.fromkeys(toks) if t]


def _prefix_upper(prefix: str) -> str:
    return prefix[:-1] + chr(ord(prefix[-1]) + 1)


def _candidate_ids(
    session: Session, kind: str, query_tokens: list[str], limit: int, *, enough: int | None = None
) -> list[int]:
    """The ``limit`` names that cover the query best, ranked in SQL.

    Each query token earns a name at most 3 points: 3 for an equal token, 2 for a prefix ("kath" finds
    "katharina"), 1 for the same Cologne code ("schmitt" finds "schmidt"). Ranking by the sum puts every
    Anna Müller ahead of the thousands of other Annas and Müllers, so no arbitrary cut drops her.

    Only tokens that match no name literally are looked up by sound: a short code such as "06" ("anna",
    "jan", "jana", ...) matches a large share of all names and would dominate the cost. Initials ("A.
    Schmidt") only fetch candidates when nothing longer was typed; the fuzzy scorer still weighs them.
    Once ``enough`` names are in, lower rank tiers are left out (ties stay together for the scorer).
    """
    enough = limit if enough is None else enough
    toks = list(dict.fromkeys(t for t in query_tokens if t))
    if any(len(t) > 1 for t in toks):
        toks = [t for t in toks if len(t) > 1]
    if not toks:
        return []
    parts = []
    for i, t in enumerate(toks):
        prefix = and_(NameToken.token >= t, NameToken.token < _prefix_upper(t))
        q = literal_column(str(i)).label("q")
        parts.append(
            select(NameToken.ref_id, q, case((NameToken.token == t, 3), else_=2).label("pts")).where(
                NameToken.kind == kind, prefix
            )
        )
        code = phonetic(t)
        if len(code) >= 2 and len(t) >= 3:  # by sound, only if no name has the token (evaluated once)
            other = aliased(NameToken)
            spelled = exists().where(other.kind == kind, other.token >= t, other.token < _prefix_upper(t))
            parts.append(
                select(NameToken.ref_id, q, literal_column("1").label("pts")).where(
                    NameToken.kind == kind, NameToken.phonetic == code, ~spelled
                )
            )
    if not parts:
        return []
    hits = union_all(*parts).subquery()
    rank = sum(
        (func.coalesce(func.max(case((hits.c.q == i, hits.c.pts))), 0) for i in range(1, len(toks))),
        func.coalesce(func.max(case((hits.c.q == 0, hits.c.pts))), 0),
    )
    stmt = (
        select(hits.c.ref_id, rank.label("rank"))
        .group_by(hits.c.ref_id)
        .order_by(rank.desc(), hits.c.ref_id)
        .limit(limit)
    )
    ids: list[int] = []
    last_rank = None
    for ref_id, r in session.execute(stmt):
        if len(ids) >= enough and r != last_rank:
            break
        ids.append(ref_id)
        last_rank = r
    return ids


def _score(query: str, name: str) -> float:
    q, n = fold(query), fold(name)
    return float(max(fuzz.token_set_ratio(q, n), fuzz.WRatio(q, n) * 0.95))


def find_contacts(session: Session, query: str, *, limit: int = 10, candidates: int = 200) -> list[Match]:
    q = query.strip()
    if not q:
        return []
    if "@" in q:
        row = session.execute(
            select(Contact).join(ContactEmail).where(ContactEmail.address == q.lower())
        ).scalar_one_or_none()
        return [Match("contact", row.id, row.full_name, 100.0, row.organization.name if row.organization else None)] if row else []
    qtoks = person_query_tokens(q)
    ids = _candidate_ids(session, "c", qtoks, candidates, enough=limit)
    if not ids:
        return []
    rows = session.execute(
        select(Contact.id, Contact.first_name, Contact.last_name, Organization.name)
        .outerjoin(Organization, Organization.id == Contact.organization_id)
        .where(Contact.id.in_(ids), Contact.erased_at.is_(None))
    ).all()
    qtext = " ".join(qtoks)
    scored = []
    for cid, first, last, org in rows:
        full = f"{first} {last}".strip()
        score = _score(qtext, full)
        if len(qtoks) == 1:  # a single word: a full match on first or last name counts fully
            score = max(score, 100.0 if qtoks[0] in (fold(first), fold(last)) else score)
        scored.append(Match("contact", cid, full, round(score, 1), org))
    scored.sort(key=lambda m: (-m.score, m.name, m.id))
    return [m for m in scored if m.score >= 60][:limit]


def find_organizations(session: Session, query: str, *, limit: int = 10, candidates: int = 200) -> list[Match]:
    qtoks = org_tokens(query)
    ids = _candidate_ids(session, "o", qtoks, candidates, enough=limit)
    if not ids:
        return []
    rows = session.execute(select(Organization.id, Organization.name).where(Organization.id.in_(ids))).all()
    qtext = " ".join(qtoks)
    scored = [Match("organization", oid, name, round(_score(qtext, " ".join(org_tokens(name))), 1)) for oid, name in rows]
    scored.sort(key=lambda m: (-m.score, m.name, m.id))
    return [m for m in scored if m.score >= 60][:limit]
