"""Fast, forgiving name lookup over contacts and organisations, backed by the ``name_tokens`` index.

Candidates come from indexed prefix ranges on folded tokens and phonetic codes; rapidfuzz ranks them.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from rapidfuzz import fuzz
from sqlalchemy import ColumnElement, and_, case, delete, func, or_, select
from sqlalchemy.orm import Session

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


def _candidate_ids(session: Session, kind: str, query_tokens: list[str], limit: int) -> list[int]:
    """The ``limit`` best-covered names, ranked in SQL so a common first name cannot crowd out the match.

    Every query token earns a name at most 3 points: 3 for an equal token, 2 for a prefix ("kath" ->
    "katharina"), 1 for the same Cologne code ("schmitt" -> "schmidt"). Names are ranked by their sum,
    so "Anna Müller" puts every Anna Müller ahead of the thousands of other Annas and Müllers.
    Initials ("A. Schmidt") only fetch candidates when nothing longer was typed; the fuzzy scorer
    still weighs them.
    """
    toks = list(dict.fromkeys(t for t in query_tokens if t))
    if any(len(t) > 1 for t in toks):
        toks = [t for t in toks if len(t) > 1]
    conds, points = [], []
    for t in toks:
        prefix = and_(NameToken.token >= t, NameToken.token < _prefix_upper(t))
        whens: list[tuple[ColumnElement[bool], int]] = [(NameToken.token == t, 3), (prefix, 2)]
        code = phonetic(t)
        if len(code) >= 2 and len(t) >= 3:
            conds.append(or_(prefix, NameToken.phonetic == code))
            whens.append((NameToken.phonetic == code, 1))
        else:
            conds.append(prefix)
        points.append(func.max(case(*whens, else_=0)))
    if not conds:
        return []
    rank = sum(points[1:], points[0])
    stmt = (
        select(NameToken.ref_id)
        .where(NameToken.kind == kind, or_(*conds))
        .group_by(NameToken.ref_id)
        .order_by(rank.desc(), NameToken.ref_id)
        .limit(limit)
    )
    return list(session.execute(stmt).scalars())


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
    ids = _candidate_ids(session, "c", qtoks, candidates)
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
    ids = _candidate_ids(session, "o", qtoks, candidates)
    if not ids:
        return []
    rows = session.execute(select(Organization.id, Organization.name).where(Organization.id.in_(ids))).all()
    qtext = " ".join(qtoks)
    scored = [Match("organization", oid, name, round(_score(qtext, " ".join(org_tokens(name))), 1)) for oid, name in rows]
    scored.sort(key=lambda m: (-m.score, m.name, m.id))
    return [m for m in scored if m.score >= 60][:limit]
