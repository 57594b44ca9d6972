"""Where a triaged mail goes: rules (YAML) pick a team and a priority boost; assignment picks an agent.

Rules are data (``routing.yml`` next to this module is the default). Assignment inside a team is
``round_robin`` (a counter in the store, so restarts keep the rotation) or ``fewest_open`` (open
tickets per agent), among active, available team members who speak the mail's language; when
nobody does, among all available members; when nobody is available, the ticket stays unassigned.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

import yaml
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from crm_store.models import Team, Ticket, User
from crm_store.services.tickets import next_number

DEFAULT_RULES_FILE = Path(__file__).with_name("routing.yml")
PRIORITY_ORDER: tuple[str, ...] = ("low", "normal", "high", "urgent")
OPEN_STATUSES: tuple[str, ...] = ("new", "open", "pending")
Strategy = Literal["round_robin", "fewest_open"]
MATCH_KEYS = frozenset({"queue", "language", "segment", "vip"})


@dataclass(frozen=True, slots=True)
class RoutingRule:
    match: Mapping[str, frozenset[Any]]
    team: str | None = None
    priority_boost: int = 0

    def applies(self, facts: Mapping[str, Any]) -> bool:
        return all(facts.get(key) in allowed for key, allowed in self.match.items())


@dataclass(frozen=True, slots=True)
class Route:
    team: str | None
    priority: str
    matched: tuple[int, ...] = ()  # the numbers (from 1, in file order) of the rules that applied


@dataclass(frozen=True, slots=True)
class Assignment:
    team_id: int | None
    assignee_id: int | None


class Router:
    def __init__(
        self,
        rules: Sequence[RoutingRule] = (),
        *,
        default_team: str | None = None,
        assignment: Strategy = "fewest_open",
    ) -> None:
        if assignment not in ("round_robin", "fewest_open"):
            raise ValueError(f"unknown assignment strategy {assignment!r}")
        self.rules = tuple(rules)
        self.default_team = default_team
        self.assignment: Strategy = assignment

    @classmethod
    def from_mapping(cls, document: Mapping[str, Any]) -> Router:
        rules: list[RoutingRule] = []
        for number, raw in enumerate(document.get("rules") or [], start=1):
            match = dict(raw.get("match") or {})
            unknown = set(match) - MATCH_KEYS
            if unknown:
                raise ValueError(f"routing rule {number}: unknown match key(s) {sorted(unknown)}")
            rules.append(
                RoutingRule(
                    match={k: frozenset(v if isinstance(v, list) else [v]) for k, v in match.items()},
                    team=raw.get("team"),
                    priority_boost=int(raw.get("priority_boost", 0)),
                )
            )
        return cls(
            rules,
            default_team=document.get("default_team"),
            assignment=document.get("assignment", "fewest_open"),
        )

    @classmethod
    def from_yaml(cls, path: Path = DEFAULT_RULES_FILE) -> Router:
        return cls.from_mapping(yaml.safe_load(Path(path).read_text(encoding="utf-8")) or {})

    def route(
        self, *, queue: str, priority: str, language: str, segment: str | None = None, vip: bool = False
    ) -> Route:
        facts = {"queue": queue, "language": language, "segment": segment, "vip": vip}
        team: str | None = None
        boost = 0
        matched: list[int] = []
        for number, rule in enumerate(self.rules, start=1):
            if rule.applies(facts):
                matched.append(number)
                boost += rule.priority_boost
                if team is None and rule.team:
                    team = rule.team
        return Route(team=team or self.default_team, priority=boost_priority(priority, boost), matched=tuple(matched))

    def assign(
        self, session: Session, team_name: str | None, language: str, *, cache: TeamCache | None = None
    ) -> Assignment:
        """The team's id and an agent for a new ticket; ``None``s when the team does not exist.

        ``cache`` (a dict the caller keeps for one transaction, e.g. a batch of mails) saves looking
        up the same team and its available members again; open-ticket counts are always read fresh.
        """
        if not team_name:
            return Assignment(None, None)
        if cache is not None and team_name in cache:
            team_id, members = cache[team_name]
        else:
            team_id, members = _team_members(session, team_name)
            if cache is not None:
                cache[team_name] = (team_id, members)
        if team_id is None:
            return Assignment(None, None)
        speakers = [m for m in members if language in m.languages]
        candidates = speakers or members
        if not candidates:
            return Assignment(team_id, None)
        if self.assignment == "round_robin":
            turn = next_number(session, f"rr-team-{team_id}")
            return Assignment(team_id, candidates[turn % len(candidates)].id)
        return Assignment(team_id, _fewest_open(session, candidates).id)


@dataclass(frozen=True, slots=True)
class Member:
    id: int
    languages: tuple[str, ...]


TeamCache = dict[str, tuple[int | None, tuple[Member, ...]]]


def _team_members(session: Session, team_name: str) -> tuple[int | None, tuple[Member, ...]]:
    team_id = session.execute(select(Team.id).where(Team.name == team_name)).scalar_one_or_none()
    if team_id is None:
        return None, ()
    rows = session.execute(
        select(User.id, User.languages_spoken, User.language)
        .where(User.team_id == team_id, User.is_active.is_(True), User.is_available.is_(True))
        .order_by(User.id)
    ).all()
    return team_id, tuple(Member(uid, tuple(spoken or [language])) for uid, spoken, language in rows)


def _fewest_open(session: Session, candidates: Sequence[Member]) -> Member:
    ids = [m.id for m in candidates]
    counts = dict(
        session.execute(
            select(Ticket.assignee_id, func.count(Ticket.id))
            .where(Ticket.assignee_id.in_(ids), Ticket.status.in_(OPEN_STATUSES))
            .group_by(Ticket.assignee_id)
        ).all()
    )
    return min(candidates, key=lambda m: (counts.get(m.id, 0), m.id))


def boost_priority(priority: str, steps: int) -> str:
    index = PRIORITY_ORDER.index(priority) if priority in PRIORITY_ORDER else 1
    return PRIORITY_ORDER[max(0, min(len(PRIORITY_ORDER) - 1, index + steps))]


__all__ = [
    "DEFAULT_RULES_FILE",
    "Assignment",
    "Member",
    "Route",
    "Router",
    "RoutingRule",
    "TeamCache",
    "boost_priority",
]
