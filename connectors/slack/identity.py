"""Which Slack workspace a request speaks for, and the chat account the link service is asked about.

A Slack user id means something only inside its workspace (team) or Enterprise Grid organisation, and in
a Slack Connect channel people from other organisations talk next to ours. So every request yields a
``Workspace``: the speaker's own team (``user_team`` on events, ``user.team_id`` on interactions, else the
request's ``team_id``) and, when the speaker belongs to the installing organisation, its enterprise id.
A link (``User.slack_team_id``) counts only for that same workspace (``LinkService.resolve``), and with
``SLACK_TEAM_IDS`` set nobody else is heard at all.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from crm_store.services.links import ChatAccount


def _id(value: Any) -> str:
    return value if isinstance(value, str) else ""


@dataclass(frozen=True)
class Workspace:
    team: str
    enterprise: str = ""

    @property
    def key(self) -> str:
        """Where a new link is bound: the enterprise (a grid user moves between its workspaces), else the team."""
        return self.enterprise or self.team

    def allowed(self, allowed: tuple[str, ...]) -> bool:
        """Heard at all: any workspace when ``allowed`` is empty (the bot token limits it to installs)."""
        if not allowed:
            return bool(self.team or self.enterprise)
        return bool(({self.team, self.enterprise} - {""}) & set(allowed))

    def account(self, user: str, allowed: tuple[str, ...]) -> ChatAccount:
        """The chat account for the link service. A link made before workspaces were recorded is adopted
        only when the operator named the workspaces (``SLACK_TEAM_IDS``) and this is one of them."""
        return ChatAccount(
            channel="slack",
            external_id=user,
            workspace=self.key,
            other_workspaces=(self.team,) if self.enterprise else (),
            adopt_legacy=bool(allowed) and self.allowed(allowed),
        )

    @classmethod
    def of_event(cls, body: dict[str, Any], event: dict[str, Any]) -> Workspace:
        outer = _id(body.get("team_id"))
        team = _id(event.get("user_team")) or _id(event.get("team")) or outer
        return cls(team=team, enterprise=_id(body.get("enterprise_id")) if team == outer else "")

    @classmethod
    def of_command(cls, body: dict[str, Any]) -> Workspace:
        return cls(team=_id(body.get("team_id")), enterprise=_id(body.get("enterprise_id")))

    @classmethod
    def of_interaction(cls, body: dict[str, Any]) -> Workspace:
        outer = _id((body.get("team") or {}).get("id"))
        team = _id((body.get("user") or {}).get("team_id")) or outer
        enterprise = _id((body.get("enterprise") or {}).get("id")) if team == outer else ""
        return cls(team=team, enterprise=enterprise)
