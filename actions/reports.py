"""Managers ask for the pipeline and for activity counts; reps get the same reports for themselves."""

from __future__ import annotations

from datetime import date, datetime, timedelta
from typing import TYPE_CHECKING, Any

from rasa_sdk import Action
from rasa_sdk.events import EventType

from actions import charts
from actions.base import CrmAction, Turn
from actions.contacts import message_words
from actions.labels import label
from crm_store.models import OPEN_STAGES, STAGES

if TYPE_CHECKING:
    from actions.registry import ActionDeps
    from crm_store.services.reports import PipelineReport

Period = tuple[date, date]  # [from, to): ``to`` exclusive, as in the contract's time periods
STALLED_DAYS = 30
QUARTER_WORDS = frozenset(
    {"quarter", "quarterly", "quartal", "quartals", "quartalsende", "q1", "q2", "q3", "q4"}
)
WORDS: dict[str, dict[str, str]] = {
    "between": {"en": "between {a} and {b}", "de": "zwischen {a} und {b}"},
    "on": {"en": "on {a}", "de": "am {a}"},
    "team": {"en": "Team pipeline", "de": "Team-Pipeline"},
    "own": {"en": "Your pipeline", "de": "Deine Pipeline"},
    "team_activities": {"en": "Team activities", "de": "Team-Aktivitäten"},
    "own_activities": {"en": "Your activities", "de": "Deine Aktivitäten"},
    "stage": {"en": "Stage", "de": "Phase"},
    "deals": {"en": "Deals", "de": "Deals"},
    "total": {"en": "Total", "de": "Summe"},
    "weighted": {"en": "Weighted", "de": "Gewichtet"},
    "owner": {"en": "Owner", "de": "Verantwortlich"},
    "person": {"en": "Person", "de": "Person"},
    "chart_title": {"en": "Pipeline by stage", "de": "Pipeline nach Phase"},
}


def word(key: str, lang: str, **kwargs: Any) -> str:
    entry = WORDS[key]
    return (entry.get(lang) or entry["en"]).format(**kwargs)


# --- periods --------------------------------------------------------------------------------------------
def local_today(turn: Turn) -> date:
    return datetime.now(turn.tz).date()


def _to_date(value: Any) -> date | None:
    text = str(value or "").strip()
    if not text:
        return None
    try:
        return datetime.fromisoformat(text).date() if "T" in text else date.fromisoformat(text[:10])
    except ValueError:
        return None


def period_of(value: Any) -> Period | None:
    """A ``time`` entity value as [from, to): a period as given, a single day as that day."""
    if isinstance(value, dict):
        start, end = _to_date(value.get("from")), _to_date(value.get("to"))
        if start and end:
            return start, end
        if start:
            return start, start + timedelta(days=1)
        return (end - timedelta(days=1), end) if end else None
    day = _to_date(value)
    return (day, day + timedelta(days=1)) if day else None


def month_of(day: date) -> Period:
    start = day.replace(day=1)
    return start, (start + timedelta(days=32)).replace(day=1)


def quarter_of(day: date) -> Period:
    first_month = 3 * ((day.month - 1) // 3) + 1
    start = date(day.year, first_month, 1)
    end = date(day.year + 1, 1, 1) if first_month == 10 else date(day.year, first_month + 3, 1)
    return start, end


def last_week(day: date) -> Period:
    monday = day - timedelta(days=day.weekday())
    return monday - timedelta(days=7), monday


def period_text(turn: Turn, period: Period) -> str:
    start, end = period[0], period[1] - timedelta(days=1)
    if start >= end:
        return word("on", turn.lang, a=turn.fmt_date(start))
    return word("between", turn.lang, a=turn.fmt_date(start), b=turn.fmt_date(end))


def pipeline_period(turn: Turn, today: date) -> Period:
    """The time entity's period; a single day means "closing by then"; else this quarter or month."""
    value = turn.slot("time")
    period = period_of(value)
    if period is not None and not isinstance(value, dict):
        return min(today, period[0]), period[1]
    if period is not None:
        return period
    if set(message_words(turn.text)) & QUARTER_WORDS:
        return quarter_of(today)
    return month_of(today)


# --- pipeline -------------------------------------------------------------------------------------------
class ActionPipelineStatus(CrmAction):
    NAME = "action_pipeline_status"

    def act(self, turn: Turn) -> list[EventType]:
        period = pipeline_period(turn, local_today(turn))
        currency = str(turn.slot("currency") or "EUR").upper()
        with self.crm(turn) as crm:  # the service limits the report to what the speaker may see
            report = crm.reports.pipeline(period=period, currency=currency, stalled_days=STALLED_DAYS)
        everyone = report.scope != "own"
        when = period_text(turn, period)
        money = lambda v: turn.fmt_money(v, currency)  # noqa: E731 - a local formatter
        png = self._chart(turn, report)
        table = {
            "type": "table",
            "title": word("chart_title", turn.lang),
            "columns": [word(k, turn.lang) for k in ("stage", "deals", "total", "weighted")],
            "rows": [
                [label(r["stage"], turn.lang), r["count"], money(r["total"]), money(r["weighted"])]
                for r in report.by_stage
            ],
            "chart_png_b64": charts.as_b64(png),
        }
        turn.say(
            "utter_pipeline_summary",
            scope=word("team" if everyone else "own", turn.lang),
            period=when,
            open_count=report.open_count,
            open_total=money(float(report.open_total)),
            weighted=money(float(report.weighted_total)),
            won=money(float(report.won_total)),
            image=charts.as_data_url(png),
            json_message=table,
        )
        if everyone and report.by_owner:
            owners = {
                "type": "table",
                "columns": [word(k, turn.lang) for k in ("owner", "deals", "total", "weighted")],
                "rows": [
                    [o["owner"], o["count"], money(o["total"]), money(o["weighted"])] for o in report.by_owner
                ],
            }
            lines = "\n".join(f"• {o['owner']}: {o['count']} · {money(o['total'])}" for o in report.by_owner)
            turn.say("utter_pipeline_by_owner", lines=lines, json_message=owners)
        if report.closing:
            turn.say("utter_pipeline_closing", period=when, lines=self._deal_lines(turn, report.closing))
        if report.stalled:
            turn.say(
                "utter_pipeline_stalled", days=STALLED_DAYS, lines=self._deal_lines(turn, report.stalled)
            )
        return turn.done()

    @staticmethod
    def _deal_lines(turn: Turn, deals: list[dict[str, Any]]) -> str:
        lines = []
        for d in deals:
            close = _to_date(d.get("expected_close_date"))
            when = f", {turn.fmt_date(close)}" if close else ""
            lines.append(
                f"• {d['name']}: {turn.fmt_money(d['amount'], d['currency'])} "
                f"({label(d['stage'], turn.lang)}{when})"
            )
        return "\n".join(lines)

    @staticmethod
    def _chart(turn: Turn, report: PipelineReport) -> bytes:
        shown = [r for r in report.by_stage if r["stage"] in (*OPEN_STAGES, "won")]
        order = {s: i for i, s in enumerate(STAGES)}
        shown.sort(key=lambda r: order[r["stage"]])
        return charts.bar_chart_png(
            [label(r["stage"], turn.lang) for r in shown],
            [
                (word("total", turn.lang), [r["total"] for r in shown]),
                (word("weighted", turn.lang), [r["weighted"] for r in shown]),
            ],
            title=word("chart_title", turn.lang),
            ylabel=report.currency,
        )


# --- activities -----------------------------------------------------------------------------------------
class ActionActivityReport(CrmAction):
    NAME = "action_activity_report"

    def act(self, turn: Turn) -> list[EventType]:
        from actions.activities import normalise_activity_type

        period = period_of(turn.slot("time")) or last_week(local_today(turn))
        kind = normalise_activity_type(turn.slot("activity_type")) if turn.slot("activity_type") else None
        since = datetime.combine(period[0], datetime.min.time(), tzinfo=turn.tz)
        until = datetime.combine(period[1], datetime.min.time(), tzinfo=turn.tz)
        with self.crm(turn) as crm:  # the service limits the counts to what the speaker may see
            everyone = crm.reports.read_scope() != "own"
            rows = crm.reports.activity_counts(since=since, until=until, type=kind)
        when = period_text(turn, period)
        if not rows:
            turn.say("utter_activity_report_empty", period=when)
            return turn.done()
        kinds = sorted({r["type"] for r in rows}, key=lambda k: (k != "call", k))
        people: dict[str, dict[str, int]] = {}
        for r in rows:
            people.setdefault(r["user"], {})[r["type"]] = r["count"]
        table_rows = [
            [person, *(counts.get(k, 0) for k in kinds), sum(counts.values())]
            for person, counts in sorted(people.items(), key=lambda p: -sum(p[1].values()))
        ]
        lines = "\n".join(
            f"• {row[0]}: "
            + ", ".join(f"{n} {label(k, turn.lang)}" for k, n in zip(kinds, row[1:-1], strict=True) if n)
            for row in table_rows
        )
        table = {
            "type": "table",
            "columns": [
                word("person", turn.lang),
                *(label(k, turn.lang) for k in kinds),
                word("total", turn.lang),
            ],
            "rows": table_rows,
        }
        turn.say(
            "utter_activity_report",
            scope=word("team_activities" if everyone else "own_activities", turn.lang),
            period=when,
            total=sum(r["count"] for r in rows),
            lines=lines,
            json_message=table,
        )
        return turn.done()


def actions(deps: ActionDeps) -> list[Action]:
    return [ActionPipelineStatus(deps.store), ActionActivityReport(deps.store)]
