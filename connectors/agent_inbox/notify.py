"""The hand-over notifier of a running server: the bot's hand-overs and the customer's messages during one
reach the agent inbox at once (``live``), and a new hand-over is posted to the team's Slack channel where
the Slack agent console is configured (``connectors/slack/agent_console.py``)."""

from __future__ import annotations

import logging
from typing import Any, Protocol

from actions.handover import HandoverNotice
from connectors.agent_inbox.live import LiveHub

log = logging.getLogger(__name__)


class TicketPoster(Protocol):
    def post_ticket(self, ticket_id: int) -> None: ...


class InboxNotifier:
    def __init__(self, hub: LiveHub, *, wait_seconds: int = 300, slack: TicketPoster | None = None) -> None:
        self.hub = hub
        self.wait_seconds = wait_seconds
        self.slack = slack

    def notify(self, user_id: int | None, text: str) -> None:
        self.hub.publish({"type": "handover", "text": text}, user_id=user_id)

    def notify_ticket(self, notice: HandoverNotice) -> None:
        event: dict[str, Any] = {
            "type": notice.kind,
            "ticket": notice.ticket_id,
            "number": notice.number,
            "text": notice.text,
        }
        self.hub.publish(event, user_id=notice.user_id, team_id=notice.team_id)
        if notice.user_id is not None:  # everyone else's list changes too (the live hand-over view)
            self.hub.publish({"type": "ticket", "ticket": notice.ticket_id})
        if notice.kind == "handover" and self.slack is not None:
            try:
                self.slack.post_ticket(notice.ticket_id)
            except Exception:  # Slack is a convenience: the inbox already knows
                log.exception("could not queue the Slack post of ticket %s", notice.ticket_id)
