"""The weekly pipeline digest, posted to a configured channel through the outbox.

    config = digest_config(settings, os.environ)     # None when no channel is configured
    next_run(now, config.schedule)                   # pure: the next Monday 08:00 in the team's zone

The scheduler task waits exactly until the next run (re-checking at least hourly, so a changed clock
or a suspended machine cannot make it miss a week by much), then claims the ISO week in the store
(``ProcessedEvent(source="slack_digest", key="2026-W14")``) and queues the summary and its chart in
the same transaction: a restart, or a second server process, never posts a week twice. A run missed
while the server was down is caught up if it is at most ``catch_up`` old.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, time, timedelta
from typing import TYPE_CHECKING, Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from sqlalchemy.exc import IntegrityError

from actions import charts
from actions.labels import label
from assistant.settings import Settings, SettingsError
from connectors.slack import wording
from connectors.slack.outbox import SlackOutbox, posts
from connectors.slack.render import escape, table_text
from crm_store.db import Database
from crm_store.models import OPEN_STAGES, STAGES, ProcessedEvent, utcnow
from crm_store.services import Actor, CrmServices
from crm_store.tasks import cancel_and_wait

if TYPE_CHECKING:
    from crm_store.services.reports import PipelineReport

log = logging.getLogger(__name__)

SOURCE = "slack_digest"
WEEKDAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
DEFAULT_SCHEDULE = "mon 08:00"
MAX_WAIT_SECONDS = 3600.0
STALLED_DAYS = 30
LIST_LIMIT = 5


@dataclass(frozen=True)
class Schedule:
    weekday: int  # 0 = Monday
    at: time
    tz: ZoneInfo


@dataclass(frozen=True)
class DigestConfig:
    channel: str
    schedule: Schedule
    lang: str = "en"
    currency: str = "EUR"
    catch_up: timedelta = timedelta(hours=12)


def parse_schedule(text: str, tz: str) -> Schedule:
    """``"mon 08:00"`` in the zone ``tz``; SettingsError when either is not understood."""
    try:
        day, clock = text.strip().lower().split()
        hour, minute = (int(p) for p in clock.split(":"))
        return Schedule(weekday=WEEKDAYS.index(day[:3]), at=time(hour, minute), tz=ZoneInfo(tz))
    except (ValueError, ZoneInfoNotFoundError) as exc:
        raise SettingsError(
            f"bad Slack digest schedule {text!r} in time zone {tz!r} (e.g. 'mon 08:00')"
        ) from exc


def digest_config(settings: Settings, environ: Mapping[str, str]) -> DigestConfig | None:
    """From ``settings.extra`` (``slack_digest_channel``, ``slack_digest_schedule``, ...) or the
    environment (``SLACK_DIGEST_CHANNEL``, ``SLACK_DIGEST_SCHEDULE``); the zone is ``CRM_TIMEZONE``."""
    extra = settings.extra
    channel = extra.get("slack_digest_channel") or environ.get("SLACK_DIGEST_CHANNEL", "")
    if not channel:
        return None
    schedule = extra.get("slack_digest_schedule") or environ.get("SLACK_DIGEST_SCHEDULE") or DEFAULT_SCHEDULE
    lang = extra.get("slack_digest_language") or settings.default_language
    return DigestConfig(
        channel=channel,
        schedule=parse_schedule(schedule, settings.default_timezone),
        lang=lang if lang in ("en", "de") else "en",
        currency=(extra.get("slack_digest_currency") or "EUR").upper(),
    )


def _slot(day: Any, schedule: Schedule) -> datetime:
    return datetime.combine(day, schedule.at, tzinfo=schedule.tz).astimezone(UTC)


def next_run(now: datetime, schedule: Schedule) -> datetime:
    """The first scheduled time strictly after ``now`` (aware, UTC); local wall-clock time across DST."""
    local = now.astimezone(schedule.tz)
    day = local.date() + timedelta(days=(schedule.weekday - local.weekday()) % 7)
    run = _slot(day, schedule)
    return run if run > now else _slot(day + timedelta(days=7), schedule)


def last_run(now: datetime, schedule: Schedule) -> datetime:
    """The latest scheduled time at or before ``now``."""
    local = now.astimezone(schedule.tz)
    day = local.date() - timedelta(days=(local.weekday() - schedule.weekday) % 7)
    run = _slot(day, schedule)
    return run if run <= now else _slot(day - timedelta(days=7), schedule)


def week_key(run: datetime, schedule: Schedule) -> str:
    year, week, _ = run.astimezone(schedule.tz).isocalendar()
    return f"{year}-W{week:02d}"


# --- the message ---------------------------------------------------------------------------------------
def money(amount: float, currency: str, lang: str) -> str:
    if lang == "de":
        return f"{amount:,.0f} {currency}".replace(",", ".")
    return f"{currency} {amount:,.0f}"


def _section(text: str) -> dict[str, Any]:
    return {"type": "section", "text": {"type": "mrkdwn", "text": text[:3000]}}


def _deal_lines(deals: list[dict[str, Any]], lang: str) -> str:
    return "\n".join(
        f"• {escape(str(d['name']))}: {money(d['amount'], d['currency'], lang)} ({label(d['stage'], lang)})"
        for d in deals[:LIST_LIMIT]
    )


def digest_blocks(report: PipelineReport, *, week: str, lang: str) -> tuple[str, list[dict[str, Any]]]:
    """Fallback text and Block Kit for one week's digest."""
    cur = report.currency
    title = wording.say("digest_title", lang, week=week.split("-W")[-1].lstrip("0"))
    summary = wording.say(
        "digest_summary",
        lang,
        open_count=str(report.open_count),
        open_total=money(float(report.open_total), cur, lang),
        weighted=money(float(report.weighted_total), cur, lang),
        won=money(float(report.won_total), cur, lang),
    )
    table = table_text(
        {
            "columns": [wording.say(k, lang) for k in ("stage", "deals", "total", "weighted")],
            "rows": [
                [
                    label(r["stage"], lang),
                    r["count"],
                    money(r["total"], cur, lang),
                    money(r["weighted"], cur, lang),
                ]
                for r in report.by_stage
            ],
        }
    )
    blocks: list[dict[str, Any]] = [
        {"type": "header", "text": {"type": "plain_text", "text": title}},
        _section(summary),
        _section(f"```{escape(table)}```"),
    ]
    if report.closing:
        blocks.append(
            _section(wording.say("digest_closing", lang) + "\n" + _deal_lines(report.closing, lang))
        )
    if report.stalled:
        heading = wording.say("digest_stalled", lang, days=str(STALLED_DAYS))
        blocks.append(_section(heading + "\n" + _deal_lines(report.stalled, lang)))
    return f"{title}: {summary.replace('*', '')}", blocks


def digest_chart(report: PipelineReport, lang: str) -> bytes:
    order = {s: i for i, s in enumerate(STAGES)}
    shown = sorted(
        (r for r in report.by_stage if r["stage"] in (*OPEN_STAGES, "won")), key=lambda r: order[r["stage"]]
    )
    return charts.bar_chart_png(
        [label(r["stage"], lang) for r in shown],
        [
            (wording.say("total", lang), [r["total"] for r in shown]),
            (wording.say("weighted", lang), [r["weighted"] for r in shown]),
        ],
        title=wording.say("digest_chart", lang),
        ylabel=report.currency,
    )


# --- the scheduler -------------------------------------------------------------------------------------
class DigestScheduler:
    def __init__(
        self,
        *,
        db: Database,
        outbox: SlackOutbox,
        config: DigestConfig,
        clock: Callable[[], datetime] = utcnow,
    ) -> None:
        self.db = db
        self.outbox = outbox
        self.config = config
        self.clock = clock
        self._task: asyncio.Task[None] | None = None
        self.waiting = asyncio.Event()  # set while it waits for the next run (tests)

    def start(self) -> None:
        if self._task is None:
            self._task = asyncio.create_task(self._run(), name="slack-digest")

    async def stop(self) -> None:
        task, self._task = self._task, None
        await cancel_and_wait(task)

    async def _run(self) -> None:
        schedule = self.config.schedule
        while True:
            now = self.clock()
            run = last_run(now, schedule)
            if now - run <= self.config.catch_up:
                try:
                    await self.post(run)
                except Exception:
                    log.exception("the Slack pipeline digest for %s failed", week_key(run, schedule))
            now = self.clock()
            wait = (next_run(now, schedule) - now).total_seconds()
            self.waiting.set()
            await asyncio.sleep(min(max(wait, 0.0), MAX_WAIT_SECONDS))
            self.waiting.clear()

    async def post(self, run: datetime) -> bool:
        """Queue the digest for the week of ``run`` unless it was queued before; True when queued now."""
        key = week_key(run, self.config.schedule)
        if await asyncio.to_thread(self._done, key):
            return False
        report = await asyncio.to_thread(self._report, run)
        text, blocks = digest_blocks(report, week=key, lang=self.config.lang)
        png = await asyncio.to_thread(digest_chart, report, self.config.lang)
        messages = posts(
            channel=self.config.channel,
            text=text,
            blocks=blocks,
            images=[(png, f"{wording.say('digest_chart', self.config.lang)} {key}.png")],
        )

        def claim_and_queue() -> bool:
            try:
                with self.db.session() as session:
                    session.add(ProcessedEvent(source=SOURCE, key=key, result=self.config.channel[:200]))
                    session.flush()
                    session.add_all(messages)
            except IntegrityError:
                return False
            return True

        queued = await asyncio.to_thread(claim_and_queue)
        if queued:
            log.info("pipeline digest %s queued for Slack", key)
            self.outbox.wake()
        return queued

    def _done(self, key: str) -> bool:
        from sqlalchemy import select

        with self.db.session() as session:
            return (
                session.execute(
                    select(ProcessedEvent.id).where(
                        ProcessedEvent.source == SOURCE, ProcessedEvent.key == key
                    )
                ).first()
                is not None
            )

    def _report(self, run: datetime) -> PipelineReport:
        with self.db.session() as session:
            return CrmServices(session, Actor.system(SOURCE)).reports.pipeline(
                currency=self.config.currency, stalled_days=STALLED_DAYS, now=run, list_limit=LIST_LIMIT
            )
