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
from nlu.pipeline_query import PipelineQuery, from_message, period_of, to_date

if TYPE_CHECKING:
    from actions.registry import ActionDeps
    from crm_store.services.reports import PipelineAnswer, PipelineReport

Period = tuple[date, date]  # [from, to): ``to`` exclusive, as in the contract's time periods
STALLED_DAYS = 30  # the overview's default; Settings.pipeline_stalled_days in the app
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
    # --- answers to pipeline questions (nlu.pipeline_query): one sentence first ------------------------
    "this_month": {"en": "this month", "de": "diesen Monat"},
    "last_month": {"en": "last month", "de": "letzten Monat"},
    "next_month": {"en": "next month", "de": "nächsten Monat"},
    "this_quarter": {"en": "this quarter", "de": "dieses Quartal"},
    "last_quarter": {"en": "last quarter", "de": "letztes Quartal"},
    "next_quarter": {"en": "next quarter", "de": "nächstes Quartal"},
    "this_year": {"en": "this year", "de": "dieses Jahr"},
    "in_month": {"en": "in {month}", "de": "im {month}"},
    "deals_n": {"en": "{n} deals", "de": "{n} Deals"},
    "deals_1": {"en": "1 deal", "de": "1 Deal"},
    "won_some": {"en": "{We} won {deals} worth {total}{filters}{when}.",
                 "de": "{When}haben {wir} {deals}{filters} über {total} gewonnen."},
    "won_none": {"en": "{We} won no deals{filters}{when}.", "de": "{When}haben {wir} keine Deals{filters} gewonnen."},
    "lost_some": {"en": "{We} lost {deals} worth {total}{filters}{when}.",
                  "de": "{When}haben {wir} {deals}{filters} über {total} verloren."},
    "lost_none": {"en": "{We} lost no deals{filters}{when}.",
                  "de": "{When}haben {wir} keine Deals{filters} verloren."},
    "we": {"en": "We", "de": "wir"},
    "you": {"en": "You", "de": "Sie"},
    "open_1": {"en": "1 open deal", "de": "1 offener Deal"},
    "open_n": {"en": "{n} open deals", "de": "{n} offene Deals"},
    "risk_some": {"en": "{deals}{filters} worth {total} {verb} at risk{why}.",
                  "de": "{deals}{filters} über {total} {verb} gefährdet{why}."},
    "risk_none": {"en": "No open deals{filters} are at risk{why}.",
                  "de": "Keine offenen Deals{filters} sind gefährdet{why}."},
    "stalled_some": {"en": "{deals}{filters} worth {total} {have} had no activity for {d}+ days.",
                     "de": "{deals}{filters} über {total} {verb} seit {d} Tagen ohne Aktivität."},
    "overdue_some": {"en": "{deals}{filters} worth {total} {verb} past the close date.",
                     "de": "{deals}{filters} über {total} {verb} überfällig (Abschlussdatum überschritten)."},
    "stage_age_some": {"en": "{deals}{filters} worth {total} {have} been in their stage for over {d} days.",
                       "de": "{deals}{filters} über {total} {verb} seit über {d} Tagen in derselben Phase."},
    "has": {"en": "has", "de": "hat"},
    "have": {"en": "have", "de": "haben"},
    "open_some": {"en": "{deals}{filters}: {total} in total, weighted forecast {weighted}.",
                  "de": "{deals}{filters}: insgesamt {total}, gewichtete Prognose {weighted}."},
    "open_none": {"en": "No deals{filters}.", "de": "Keine Deals{filters}."},
    "weighted_some": {"en": "Weighted forecast{filters}: {weighted} from {deals} worth {total}.",
                      "de": "Gewichtete Prognose{filters}: {weighted} aus {deals} über {total}."},
    "count_some": {"en": "{deals}{filters}, worth {total}.", "de": "{deals}{filters}, zusammen {total}."},
    "top_one": {"en": "The {adj} deal{filters} is {deal}.", "de": "Der {adj} Deal{filters} ist {deal}."},
    "top_some": {"en": "The {k} {adj} of {deals}{filters} ({total} in total):",
                 "de": "Die {k} {adjs} von {deals}{filters} (insgesamt {total}):"},
    "sorted": {"en": "{deals}{filters}, {first} first ({total} in total):",
               "de": "{deals}{filters}, die {first} zuerst (insgesamt {total}):"},
    "shown": {"en": "The {k} biggest are listed.", "de": "Die {k} größten sind aufgeführt."},
    "biggest": {"en": "biggest", "de": "größte"},
    "biggests": {"en": "biggest", "de": "größten"},
    "smallest": {"en": "smallest", "de": "kleinste"},
    "smallests": {"en": "smallest", "de": "kleinsten"},
    "likeliest": {"en": "most likely", "de": "wahrscheinlichste"},
    "likeliests": {"en": "most likely", "de": "wahrscheinlichsten"},
    "soonest": {"en": "next to close", "de": "nächste"},
    "soonests": {"en": "next to close", "de": "nächsten"},
    "f_stage": {"en": " in {stages}", "de": " in {stages}"},
    "f_owner": {"en": " owned by {names}", "de": " von {names}"},
    "f_mine": {"en": " owned by you", "de": " in Ihrer Verantwortung"},
    "f_team": {"en": " in team {team}", "de": " im Team {team}"},
    "f_org": {"en": " with {names}", "de": " mit {names}"},
    "f_over": {"en": " over {a}", "de": " über {a}"},
    "f_under": {"en": " under {a}", "de": " unter {a}"},
    "f_between": {"en": " between {a} and {b}", "de": " zwischen {a} und {b}"},
    "f_closing": {"en": " closing {when}", "de": " mit Abschluss {when}"},
    "and": {"en": " and ", "de": " und "},
    "or": {"en": " or ", "de": " oder "},
    "is": {"en": "is", "de": "ist"},
    "are": {"en": "are", "de": "sind"},
    "why_stalled": {"en": "no activity for {d}+ days", "de": "seit {d} Tagen keine Aktivität"},
    "why_overdue": {"en": "close date passed", "de": "Abschlussdatum überschritten"},
    "why_stage_age": {"en": "over {d} days in the stage", "de": "über {d} Tage in der Phase"},
    "r_stalled": {"en": "no activity for {d} days", "de": "seit {d} Tagen keine Aktivität"},
    "r_overdue": {"en": "close date passed", "de": "Abschlussdatum überschritten"},
    "r_stage_age": {"en": "{d} days in {stage}", "de": "seit {d} Tagen in {stage}"},
    "unknown": {"en": "I don't know “{name}” as a colleague, team or organisation.",
                "de": "„{name}“ kenne ich nicht als Kollegin oder Kollegen, Team oder Organisation."},
    "col_deal": {"en": "Deal", "de": "Deal"},
    "col_org": {"en": "Organisation", "de": "Organisation"},
    "col_amount": {"en": "Amount", "de": "Betrag"},
    "col_close": {"en": "Close date", "de": "Abschluss"},
    "col_closed": {"en": "Closed", "de": "Abgeschlossen"},
    "col_why": {"en": "Why", "de": "Warum"},
    "col_month": {"en": "Month", "de": "Monat"},
    "title_deals": {"en": "Deals", "de": "Deals"},
    "title_by_stage": {"en": "By stage", "de": "Nach Phase"},
    "title_by_owner": {"en": "By owner", "de": "Nach Verantwortlichen"},
    "title_by_month": {"en": "By close month", "de": "Nach Abschlussmonat"},
}  # fmt: skip
MONTHS_DE = ("Januar", "Februar", "März", "April", "Mai", "Juni", "Juli", "August", "September", "Oktober",
             "November", "Dezember")  # fmt: skip


def word(key: str, lang: str, **kwargs: Any) -> str:
    entry = WORDS[key]
    return (entry.get(lang) or entry["en"]).format(**kwargs)


# --- periods --------------------------------------------------------------------------------------------
def reference_time(turn: Turn) -> datetime:
    """When the user spoke (the tracker's user event), in their time zone: the same "now" the NLU resolved
    "this month" against, so an answer never straddles midnight differently from its question."""
    for event in reversed(turn.tracker.events or []):
        if event.get("event") == "user" and isinstance(event.get("timestamp"), int | float):
            return datetime.fromtimestamp(float(event["timestamp"]), turn.tz)
    return datetime.now(turn.tz)  # a tracker without its user event (a bare action call)


def local_today(turn: Turn) -> date:
    return reference_time(turn).date()


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
    """Pipeline questions answered as asked (``nlu.pipeline_query``): a sentence first, a table when
    several deals or groups answer it, a chart for breakdowns. A question without filters or a measure
    ("how does the pipeline look?") gets the status overview."""

    NAME = "action_pipeline_status"

    def __init__(self, store: Any, *, stalled_days: int = STALLED_DAYS, stage_age_days: int = 60) -> None:
        super().__init__(store)
        self.stalled_days = stalled_days
        self.stage_age_days = stage_age_days

    def act(self, turn: Turn) -> list[EventType]:
        now = reference_time(turn)
        query = from_message(turn.tracker.latest_message or {}, turn.lang, now.date())
        if query.is_overview:
            return self._overview(turn, now.date())
        currency = str(query.currency or turn.slot("currency") or "EUR").upper()
        with self.crm(turn) as crm:  # the service limits the answer to what the speaker may see
            answer = crm.reports.pipeline_query(
                query,
                now=now,
                tz=str(turn.tz),
                currency=currency,
                stalled_days=self.stalled_days,
                stage_age_days=self.stage_age_days,
            )
        if answer.unknown:
            turn.say_text(word("unknown", turn.lang, name=answer.unknown[0]))
            return turn.done()
        answer_pipeline(turn, query, answer, now.date())
        return turn.done()

    def _overview(self, turn: Turn, today: date) -> list[EventType]:
        period = pipeline_period(turn, today)
        currency = str(turn.slot("currency") or "EUR").upper()
        with self.crm(turn) as crm:  # the service limits the report to what the speaker may see
            report = crm.reports.pipeline(
                period=period, currency=currency, stalled_days=self.stalled_days, now=reference_time(turn)
            )
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
                "utter_pipeline_stalled", days=self.stalled_days, lines=self._deal_lines(turn, report.stalled)
            )
        return turn.done()

    @staticmethod
    def _deal_lines(turn: Turn, deals: list[dict[str, Any]]) -> str:
        lines = []
        for d in deals:
            close = to_date(d.get("expected_close_date"))
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


# --- answers to pipeline questions -------------------------------------------------------------------------
def answer_pipeline(turn: Turn, query: PipelineQuery, answer: PipelineAnswer, today: date) -> None:
    """Say the answer: the sentence, then the deals or groups as a table when there are several, and a
    chart for a breakdown (by stage, owner or month)."""
    money = lambda v: turn.fmt_money(float(v), answer.currency)  # noqa: E731 - a local formatter
    lang = turn.lang
    when = _when(turn, query, today)
    filters = _filters(turn, query, money, with_period=query.status not in ("won", "lost"))
    n = answer.count
    deals = word("deals_1", lang) if n == 1 else word("deals_n", lang, n=n)
    open_deals = deals
    if query.status == "open":
        open_deals = word("open_1", lang) if n == 1 else word("open_n", lang, n=n)
    total, weighted = money(answer.total), money(answer.weighted)
    rows = answer.rows
    listed = ""
    if query.status in ("won", "lost"):
        key = f"{query.status}_{'some' if n else 'none'}"
        suffix = f" {when}" if when else ""
        when_de = f"{when[:1].upper()}{when[1:]} " if when else ""
        subject = word("you" if answer.scope == "own" else "we", lang)  # a rep hears about their own deals
        text = word(
            key,
            lang,
            deals=deals,
            total=total,
            filters=filters,
            when=suffix,
            When=when_de,
            We=subject,
            wir=subject,
        )
        if lang == "de" and not when:
            text = text[:1].upper() + text[1:]
    elif query.risks and len(query.risks) == 1 and n:
        [risk] = query.risks
        days = answer.idle_days if risk == "stalled" else answer.stage_age_days
        verb = word("is" if n == 1 else "are", lang)
        have = word("has" if n == 1 else "have", lang)
        text = word(
            f"{risk}_some", lang, deals=open_deals, total=total, filters=filters, verb=verb, have=have, d=days
        )
    elif query.risks:
        why = _risk_words(turn, query, answer)
        verb = word("is" if n == 1 else "are", lang)
        text = word(
            "risk_some" if n else "risk_none",
            lang,
            deals=open_deals,
            total=total,
            filters=filters,
            verb=verb,
            why=why,
        )
    elif not n:
        text = word("open_none", lang, filters=filters)
    elif query.limit == 1 and rows:
        adj = _sort_adjective(query, lang, plural=False)
        text = word("top_one", lang, adj=adj, filters=filters, deal=_deal_phrase(turn, rows[0]))
        rows = []
    elif query.limit and query.sort and n <= len(rows):
        text = word(
            "sorted",
            lang,
            deals=open_deals,
            filters=filters,
            total=total,
            first=_sort_adjective(query, lang, plural=True),
        )
    elif query.limit and query.sort:
        adjs = _sort_adjective(query, lang, plural=True)
        text = word(
            "top_some", lang, k=len(rows), adj=adjs, adjs=adjs, deals=open_deals, filters=filters, total=total
        )
    elif query.measure == "weighted":
        text = word("weighted_some", lang, weighted=weighted, deals=open_deals, total=total, filters=filters)
    elif query.measure == "count":
        text = word("count_some", lang, deals=open_deals, filters=filters, total=total)
    else:
        text = word("open_some", lang, deals=open_deals, filters=filters, total=total, weighted=weighted)
    if query.group_by:
        turn.say_text(text)
        _say_groups(turn, query, answer, money)
        return
    if len(rows) == 1 and not query.limit:
        text += "\n• " + _deal_phrase(turn, rows[0])
        rows = []
    if len(rows) > 1 and n > len(rows) and not query.limit:
        listed = " " + word("shown", lang, k=len(rows))
    table = _deals_table(turn, query, rows, money) if len(rows) > 1 else None
    turn.say_text(text + listed, json_message=table)


def _say_groups(turn: Turn, query: PipelineQuery, answer: PipelineAnswer, money: Any) -> None:
    lang = turn.lang
    head = {"stage": "stage", "owner": "owner", "month": "col_month"}[query.group_by or "stage"]
    title = word(f"title_by_{query.group_by}", lang)

    def name(g: dict[str, Any]) -> str:
        if query.group_by == "stage":
            return label(str(g["key"]), lang)
        if query.group_by == "month":
            return _month_name(date.fromisoformat(g["key"]), lang) if g["key"] else "-"
        return str(g["label"])

    groups = answer.groups
    table: dict[str, Any] = {
        "type": "table",
        "title": title,
        "columns": [word(k, lang) for k in (head, "deals", "total", "weighted")],
        "rows": [[name(g), g["count"], money(g["total"]), money(g["weighted"])] for g in groups],
    }
    image = None
    if len(groups) > 1:
        png = charts.bar_chart_png(
            [name(g) for g in groups],
            [
                (word("total", lang), [g["total"] for g in groups]),
                (word("weighted", lang), [g["weighted"] for g in groups]),
            ],
            title=title,
            ylabel=answer.currency,
        )
        table["chart_png_b64"] = charts.as_b64(png)
        image = charts.as_data_url(png)
    if groups:
        turn.say_text("", json_message=table, image=image)


def _deals_table(turn: Turn, query: PipelineQuery, rows: list[dict[str, Any]], money: Any) -> dict[str, Any]:
    lang = turn.lang
    closed = query.status in ("won", "lost")
    columns = ["col_deal", "col_org", "stage", "col_amount", "col_closed" if closed else "col_close", "owner"]
    if query.risks:
        columns.append("col_why")
    out_rows = []
    for r in rows:
        close = to_date(
            r.get("closed_at") if closed and r.get("closed_at") else r.get("expected_close_date")
        )
        row = [
            r["name"],
            r.get("organization") or "-",
            label(r["stage"], lang),
            money(r["amount"]),
            _short_date(close, lang),
            r.get("owner") or "-",
        ]
        if query.risks:
            row.append(", ".join(_reasons(turn, r)))
        out_rows.append(row)
    return {
        "type": "table",
        "title": word("title_deals", lang),
        "columns": [word(c, lang) for c in columns],
        "rows": out_rows,
    }


def _reasons(turn: Turn, row: dict[str, Any]) -> list[str]:
    out = []
    for risk in row.get("risks") or []:
        d = row.get("idle_days") if risk == "stalled" else row.get("stage_days")
        out.append(word(f"r_{risk}", turn.lang, d=d, stage=label(row["stage"], turn.lang)))
    return out


def _deal_phrase(turn: Turn, r: dict[str, Any]) -> str:
    close = to_date(r.get("expected_close_date"))
    parts = [
        p
        for p in (
            r.get("organization"),
            turn.fmt_money(r["amount"], r["currency"]),
            label(r["stage"], turn.lang),
            _short_date(close, turn.lang) if close else None,
            r.get("owner"),
        )
        if p
    ]
    parts += _reasons(turn, r)
    return f"{r['name']} ({', '.join(parts)})"


def _risk_words(turn: Turn, query: PipelineQuery, answer: PipelineAnswer) -> str:
    lang = turn.lang
    parts = []
    if "stalled" in query.risks:
        parts.append(word("why_stalled", lang, d=answer.idle_days))
    if "overdue" in query.risks:
        parts.append(word("why_overdue", lang))
    if "stage_age" in query.risks:
        parts.append(word("why_stage_age", lang, d=answer.stage_age_days))
    if not parts:
        return ""
    listed = ", ".join(parts[:-1]) + word("or", lang) + parts[-1] if len(parts) > 1 else parts[0]
    return f" ({listed})"


def _sort_adjective(query: PipelineQuery, lang: str, *, plural: bool) -> str:
    key = {"probability": "likeliest", "close_date": "soonest"}.get(query.sort or "", "biggest")
    if query.sort == "amount" and not query.descending:
        key = "smallest"
    return word(key + ("s" if plural else ""), lang)


def _filters(turn: Turn, query: PipelineQuery, money: Any, *, with_period: bool) -> str:
    lang = turn.lang
    joiner = word("or", lang)
    parts = []
    if query.stages and query.stages != tuple(OPEN_STAGES):
        parts.append(word("f_stage", lang, stages=joiner.join(label(s, lang) for s in query.stages)))
    if query.mine:
        parts.append(word("f_mine", lang))
    if query.owners:
        parts.append(word("f_owner", lang, names=word("and", lang).join(query.owners)))
    if query.team:
        parts.append(word("f_team", lang, team=query.team))
    if query.organizations:
        parts.append(word("f_org", lang, names=joiner.join(query.organizations)))
    low, high = query.amount_min, query.amount_max
    if low is not None and high is not None:
        parts.append(word("f_between", lang, a=money(low), b=money(high)))
    elif low is not None:
        parts.append(word("f_over", lang, a=money(low)))
    elif high is not None:
        parts.append(word("f_under", lang, a=money(high)))
    if with_period and query.period is not None:
        parts.append(word("f_closing", lang, when=_when(turn, query, local_today(turn))))
    return "".join(parts)


def _when(turn: Turn, query: PipelineQuery, today: date) -> str:
    """The period in words people use ("this month", "letztes Quartal", "im November 2026")."""
    period = query.period
    if period is None:
        return ""
    lang = turn.lang
    month, quarter = month_of(today), quarter_of(today)
    named = {
        month: "this_month",
        month_of(month[0] - timedelta(days=1)): "last_month",
        month_of(month[1]): "next_month",
        quarter: "this_quarter",
        quarter_of(quarter[0] - timedelta(days=1)): "last_quarter",
        quarter_of(quarter[1]): "next_quarter",
        (date(today.year, 1, 1), date(today.year + 1, 1, 1)): "this_year",
    }
    if period in named:
        return word(named[period], lang)
    if period == month_of(period[0]):
        return word("in_month", lang, month=_month_name(period[0], lang))
    return period_text(turn, period)


def _month_name(day: date, lang: str) -> str:
    return f"{MONTHS_DE[day.month - 1]} {day.year}" if lang == "de" else day.strftime("%B %Y")


def _short_date(day: date | None, lang: str) -> str:
    if day is None:
        return "-"
    return day.strftime("%d.%m.%Y") if lang == "de" else day.strftime("%d %b %Y")


def actions(deps: ActionDeps) -> list[Action]:
    from assistant.settings import Settings

    settings = deps.extra.get("settings") or Settings.from_env()  # the at-risk thresholds
    pipeline = ActionPipelineStatus(
        deps.store,
        stalled_days=settings.pipeline_stalled_days,
        stage_age_days=settings.pipeline_stage_age_days,
    )
    return [pipeline, ActionActivityReport(deps.store)]
