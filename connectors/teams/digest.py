"""The weekly pipeline digest in a Teams channel, proactively through the Teams outbox.

    config = digest_config(settings, os.environ)   # TEAMS_DIGEST_CONVERSATION (+ TEAMS_DIGEST_SCHEDULE)

The schedule, the once-per-week claim and the report are the Slack digest's (``connectors/slack/digest.py``:
``DigestScheduler``); only the rendering (an Adaptive Card with the stage table and the chart) and the
delivery (a stored conversation reference: the bot must have been added to that channel, which is how
Teams lets a bot post there) are Teams'. A week whose channel the bot has never seen is not claimed, so
it is posted once the bot is there (within the catch-up window).
"""

from __future__ import annotations

import asyncio
import base64
from collections.abc import Mapping
from dataclasses import replace
from datetime import datetime
from typing import TYPE_CHECKING, Any

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError

from actions.labels import label
from assistant.settings import Settings
from connectors.slack import digest as shared
from connectors.slack import wording as digest_wording
from connectors.teams import outbox
from connectors.teams.render import card, table_elements
from crm_store.models import ProcessedEvent, TeamsConversationRef

if TYPE_CHECKING:
    from crm_store.services.reports import PipelineReport

SOURCE = "teams_digest"


def digest_config(settings: Settings, environ: Mapping[str, str]) -> shared.DigestConfig | None:
    extra = settings.extra
    conversation = extra.get("teams_digest_conversation") or environ.get("TEAMS_DIGEST_CONVERSATION", "")
    if not conversation:
        return None
    schedule = (
        extra.get("teams_digest_schedule") or environ.get("TEAMS_DIGEST_SCHEDULE") or shared.DEFAULT_SCHEDULE
    )
    slack_like = replace(
        settings, extra={**extra, "slack_digest_channel": conversation, "slack_digest_schedule": schedule}
    )
    return shared.digest_config(slack_like, {})


def digest_activity(report: PipelineReport, *, week: str, lang: str, chart: bytes) -> dict[str, Any]:
    """One message: an Adaptive Card (title, totals, the stage table) and the chart as a PNG."""
    text, _blocks = shared.digest_blocks(report, week=week, lang=lang)
    cur = report.currency
    title, _, summary = text.partition(": ")
    table = {
        "columns": [digest_wording.say(k, lang) for k in ("stage", "deals", "total", "weighted")],
        "rows": [
            [
                label(r["stage"], lang),
                str(r["count"]),
                shared.money(r["total"], cur, lang),
                shared.money(r["weighted"], cur, lang),
            ]
            for r in report.by_stage
        ],
    }
    body: list[dict[str, Any]] = [
        {"type": "TextBlock", "text": title, "weight": "Bolder", "size": "Medium", "wrap": True},
        {"type": "TextBlock", "text": summary, "wrap": True},
        *table_elements(table),
    ]
    png = "data:image/png;base64," + base64.b64encode(chart).decode()
    return {
        "type": "message",
        "summary": text[:200],
        "attachments": [card(body), {"contentType": "image/png", "contentUrl": png, "name": f"{week}.png"}],
    }


class TeamsDigestScheduler(shared.DigestScheduler):
    """The Slack digest's scheduler, posting to a Teams channel."""

    outbox: outbox.TeamsOutbox  # type: ignore[assignment]

    async def post(self, run: datetime) -> bool:
        key = shared.week_key(run, self.config.schedule)
        ref_id = await asyncio.to_thread(self._ref)
        if ref_id is None or await asyncio.to_thread(self._done, key):
            return False
        report = await asyncio.to_thread(self._report, run)
        chart = await asyncio.to_thread(shared.digest_chart, report, self.config.lang)
        activity = digest_activity(report, week=key, lang=self.config.lang, chart=chart)

        def claim_and_queue() -> bool:
            try:
                with self.db.session() as session:
                    session.add(ProcessedEvent(source=SOURCE, key=key, result=self.config.channel[:200]))
                    session.flush()
                    session.add(outbox.message(ref_id, activity))
            except IntegrityError:
                return False
            return True

        queued = await asyncio.to_thread(claim_and_queue)
        if queued:
            self.outbox.wake()
        return queued

    def _ref(self) -> int | None:
        with self.db.session() as session:
            return session.execute(
                select(TeamsConversationRef.id).where(
                    TeamsConversationRef.conversation_id == self.config.channel
                )
            ).scalar_one_or_none()

    def _done(self, key: str) -> bool:
        with self.db.session() as session:
            found = session.execute(
                select(ProcessedEvent.id).where(ProcessedEvent.source == SOURCE, ProcessedEvent.key == key)
            ).first()
            return found is not None
