"""Pipeline questions as a query: what a manager asked, as filters, a measure, a sort and a limit.

    query = fill(text, entities, lang, today)   # -> PipelineQuery

"which deals are at risk?", "top 5 deals by value in negotiation", "wie viel haben wir diesen Monat
gewonnen?" all parse as ``pipeline_status``; the intent says *that* it is a pipeline question, this
module says *which* one. It reads the parse's entities (``stage``, ``time``, ``amount``, ``currency``,
``person``, ``organization``; contract §2) and adds small rule patterns for the words no entity carries:
"top 5", "größten", "at risk", "gefährdet", "gewonnen", "lost", "by owner", "zwischen 10.000 und 20.000".

The query is plain data (no database, no wall clock): ``today`` is the turn's reference date, used only
to read a single close date ("bis Ende des Jahres") as "closing from today until then". A question with
no filter and no measure ("how does the pipeline look?") is the ``overview``: the full status report.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from decimal import Decimal
from typing import Any, Literal

from nlu.numbers import parse_numeral
from nlu.types import Entity

Measure = Literal["overview", "count", "total", "weighted", "list"]
Status = Literal["open", "won", "lost", "any"]
Risk = Literal["stalled", "overdue", "stage_age"]
SortKey = Literal["amount", "close_date", "probability"]
GroupBy = Literal["stage", "owner", "month"]

STAGES: tuple[str, ...] = ("lead", "qualified", "proposal", "negotiation", "won", "lost")
OPEN_STAGES: tuple[str, ...] = ("lead", "qualified", "proposal", "negotiation")
ALL_RISKS: frozenset[Risk] = frozenset({"stalled", "overdue", "stage_age"})
MAX_LIMIT = 50


@dataclass(frozen=True)
class PipelineQuery:
    """One pipeline question. Empty filters mean "any"; ``close_to`` is exclusive (contract §2 periods).

    ``status`` None means: the stages asked for, else open deals. For won/lost deals the period is when
    they were closed; for open deals, their expected close date. ``risks`` is "at risk" as any of: no
    activity for ``idle_days`` (default from Settings), close date passed, in the stage longer than
    ``stage_age_days`` (default from Settings)."""

    measure: Measure = "overview"
    stages: tuple[str, ...] = ()
    status: Status | None = None
    owners: tuple[str, ...] = ()  # colleagues' names as written
    mine: bool = False  # "my deals", "meine Deals"
    team: str | None = None
    organizations: tuple[str, ...] = ()
    amount_min: Decimal | None = None  # inclusive
    amount_max: Decimal | None = None  # inclusive
    currency: str | None = None
    close_from: date | None = None
    close_to: date | None = None
    risks: frozenset[Risk] = field(default_factory=frozenset)
    idle_days: int | None = None
    stage_age_days: int | None = None
    sort: SortKey | None = None
    descending: bool = True
    limit: int | None = None
    group_by: GroupBy | None = None

    @property
    def period(self) -> tuple[date, date] | None:
        if self.close_from is None or self.close_to is None:
            return None
        return self.close_from, self.close_to

    @property
    def is_overview(self) -> bool:
        return self.measure == "overview"

    def effective_stages(self) -> tuple[str, ...]:
        """The stages the question covers: those named, else those of the status, else the open ones."""
        if self.stages:
            return self.stages
        if self.status == "won":
            return ("won",)
        if self.status == "lost":
            return ("lost",)
        if self.status == "any":
            return STAGES
        return OPEN_STAGES


# --- word patterns (English and German side by side) ------------------------------------------------
def _rx(*alternatives: str) -> re.Pattern[str]:
    return re.compile(r"(?<![\w])(?:" + "|".join(alternatives) + r")(?![\w])", re.IGNORECASE)


_WON = _rx(
    r"won",
    r"win",
    r"wins",
    r"winning",
    r"closed[- ]won",
    r"gewonnen",
    r"gewinnen",
    r"gewonnenen?",
    r"gelandet",
    r"landed",
    r"signed",
    r"unterschrieben(?:e|en)?",
)
_LOST = _rx(
    r"lost", r"lose", r"losing", r"closed[- ]lost", r"verloren(?:e|en)?", r"verlieren", r"abgesagt(?:e|en)?"
)
_OPEN = _rx(r"open", r"offen(?:e|en|er)?", r"active", r"aktiv(?:e|en)?", r"laufend(?:e|en)?")
_ALL_STATUS = _rx(r"all deals", r"alle deals", r"incl(?:uding|\.)? (?:won|closed)")
_AT_RISK = _rx(
    r"at risk",
    r"at-risk",
    r"risky",
    r"in danger",
    r"endangered",
    r"in trouble",
    r"slipping",
    r"gefährdet(?:e|en)?",
    r"risiko(?:reich(?:e|en)?)?",
    r"kritisch(?:e|en)?",
    r"wackel(?:n|ig|ige|igen)",
    r"in gefahr",
    r"brennt",
    r"brennen",
)
_STALLED = _rx(
    r"stalled",
    r"stalling",
    r"stuck",
    r"stagnant",
    r"stagnating",
    r"idle",
    r"dormant",
    r"cold",
    r"no activity",
    r"without activity",
    r"no contact",
    r"(?:haven'?t|have not|hasn'?t|not) moved",
    r"untouched",
    r"neglected",
    r"ohne aktivität",
    r"keine aktivität",
    r"ohne bewegung",
    r"liegen geblieben(?:e|en)?",
    r"liegengeblieben(?:e|en)?",
    r"eingeschlafen(?:e|en)?",
    r"festgefahren(?:e|en)?",
    r"stagnier(?:t|en|ende|enden)",
    r"nichts (?:mehr )?passiert",
    r"nicht (?:mehr )?bewegt",
    r"kein kontakt",
)
_OVERDUE = _rx(
    r"overdue",
    r"past (?:the |their |its )?close date",
    r"close date (?:has )?passed",
    r"close date in the past",
    r"missed (?:the |their |its )?close date",
    r"slipped",
    r"überfällig(?:e|en)?",
    r"abschlussdatum (?:ist )?(?:überschritten|vorbei|verpasst)",
    r"abschlussdatum in der vergangenheit",
    r"verpasst(?:e|en)?",
)
_STAGE_AGE = _rx(
    r"too long in",
    r"for too long",
    r"stuck in",
    r"zu lange? in",
    r"zu lange?",
    r"seit langem in",
    r"hängen (?:in|im|seit)",
    r"hängt (?:in|im|seit)",
    r"hängen geblieben",
)
_DAYS = re.compile(
    r"(?:for|in|over|more than|at least|since|seit|über|mehr als|länger als|mindestens)\s+(?:the last\s+)?"
    r"(?P<n>\d{1,3}|a|an|one|two|three|four|five|six|eight|ten|twelve|einem|einer|zwei|drei|vier|fünf|sechs|"
    r"acht|zehn|zwölf)\+?\s*(?P<unit>days?|tag(?:e|en)?|weeks?|woche(?:n)?|months?|monat(?:e|en)?)(?![\w])",
    re.IGNORECASE,
)
_SMALL = {
    "a": 1,
    "an": 1,
    "one": 1,
    "einem": 1,
    "einer": 1,
    "two": 2,
    "zwei": 2,
    "three": 3,
    "drei": 3,
    "four": 4,
    "vier": 4,
    "five": 5,
    "fünf": 5,
    "six": 6,
    "sechs": 6,
    "eight": 8,
    "acht": 8,
    "ten": 10,
    "zehn": 10,
    "twelve": 12,
    "zwölf": 12,
}
_COUNT = _rx(r"how many", r"number of", r"count", r"wie viele", r"wieviele", r"anzahl")
_WEIGHTED = _rx(
    r"weighted",
    r"forecast",
    r"forecasts",
    r"gewichtet(?:e|en|er)?",
    r"prognose",
    r"forecast(?:s)?",
    r"hochrechnung",
    r"expected revenue",
    r"erwartete[nr]? umsatz",
)
_TOTAL = _rx(
    r"how much",
    r"total",
    r"sum",
    r"wie viel",
    r"wieviel",
    r"summe",
    r"gesamt(?:e|en|wert|summe)?",
    r"insgesamt",
    r"value of",
    r"worth of",
    r"volume",
    r"volumen",
    r"revenue",
    r"umsatz",
    r"wert der",
    r"wert aller",
)
_LIST = _rx(
    r"which",
    r"what deals",
    r"list",
    r"show me (?:the |all )?deals",
    r"welche[nrs]?",
    r"liste",
    r"zeig(?:e)? (?:mir )?(?:die |alle )?deals",
    r"was für deals",
    r"which ones",
)
_N = r"\d{1,2}|one|two|three|four|five|six|eight|ten|twelve|zwei|drei|vier|fünf|sechs|acht|zehn|zwölf"
_TOP_N = re.compile(
    r"(?<![\w])(?:top[\s-]*(?P<a>" + _N + r")|(?:the|die|den|meine|my|our|unsere)\s+(?P<b>" + _N + r")\s+"
    r"(?:biggest|largest|best|top|größten|grössten|wichtigsten|dicksten|höchsten|likeliest|most)|"
    r"(?P<c>" + _N + r")\s+(?:biggest|largest|größten|grössten|wichtigsten|dicksten|höchsten))(?![\w])",
    re.IGNORECASE,
)
_TOP = _rx(
    r"top",
    r"biggest",
    r"largest",
    r"größten",
    r"grössten",
    r"größte[rn]?",
    r"grösste[rn]?",
    r"dicksten",
    r"wichtigsten",
    r"highest value",
    r"höchsten wert",
)
_ONE_SMALLEST = _rx(
    r"the smallest deal", r"smallest deal", r"der kleinste deal", r"den kleinsten deal", r"kleinster deal"
)
_ONE_BIGGEST = _rx(
    r"the biggest deal",
    r"the largest deal",
    r"der größte deal",
    r"den größten deal",
    r"größter deal",
    r"biggest deal",
    r"largest deal",
    r"der grösste deal",
)
_SMALLEST = _rx(r"smallest", r"kleinsten", r"kleinste[rn]?")
_SORT_AMOUNT = _rx(
    r"by value", r"by amount", r"by size", r"nach wert", r"nach betrag", r"nach volumen", r"nach größe"
)
_SORT_CLOSE = _rx(
    r"by close date",
    r"by closing date",
    r"closing soonest",
    r"closing first",
    r"soonest",
    r"nach abschlussdatum",
    r"nach datum",
    r"als nächstes",
    r"zuerst schließen",
)
_SORT_PROB = _rx(
    r"by probability",
    r"most likely",
    r"likeliest",
    r"highest probability",
    r"nach wahrscheinlichkeit",
    r"wahrscheinlichsten",
    r"höchste(?:n)? wahrscheinlichkeit",
)
_BY_STAGE = _rx(
    r"by stage",
    r"per stage",
    r"each stage",
    r"by phase",
    r"nach phasen?",
    r"pro phase",
    r"je phase",
    r"nach stufen?",
    r"pro stufe",
    r"stage by stage",
)
_BY_OWNER = _rx(
    r"by owner",
    r"per owner",
    r"by rep",
    r"per rep",
    r"by salesperson",
    r"per salesperson",
    r"by person",
    r"per person",
    r"each rep",
    r"by seller",
    r"nach verantwortliche[nm]?",
    r"nach vertriebler(?:n)?",
    r"pro vertriebler",
    r"nach mitarbeiter(?:n|in|innen)?",
    r"pro mitarbeiter(?:in)?",
    r"pro kopf",
    r"nach person(?:en)?",
    r"pro person",
    r"nach owner",
    r"je vertriebler",
    r"nach verkäufer(?:n)?",
)
_BY_MONTH = _rx(
    r"by month",
    r"per month",
    r"monthly",
    r"month by month",
    r"nach monat(?:en)?",
    r"pro monat",
    r"monatlich",
    r"je monat",
)
_MINE = _rx(r"my", r"mine", r"i have", r"do i", r"meine[nmrs]?", r"mein", r"habe ich", r"hab ich")
_TEAM = re.compile(r"(?<![\w])(?i:team|vertriebsteam|sales team)\s+(?P<name>[A-ZÄÖÜ][\w-]{1,40})")
_TEAM_STOP = frozenset({"Pipeline", "Pipe", "Forecast", "Prognose", "Deals", "Umsatz", "Summe"})

_NUM = r"(?P<{g}>\d{{1,3}}(?:[.,' ]\d{{3}})+(?:[.,]\d{{1,2}})?|\d+(?:[.,]\d+)?)\s?(?P<{g}m>k|tsd\.?|tausend|thousand|m|mio\.?|mn|million(?:en)?|mrd\.?|bn)?"
_CUR = r"(?:\s?(?:€|\$|£|eur|euro|usd|chf|gbp|dollars?))?"
_CUR_BEFORE = r"(?:(?:€|\$|£|eur|usd|chf|gbp)\s?)?"
_BETWEEN = re.compile(
    rf"(?:between|zwischen|from|von)\s+{_CUR_BEFORE}{_NUM.format(g='a')}{_CUR}\s*(?:and|und|to|bis|-|–)\s*"
    rf"{_CUR_BEFORE}{_NUM.format(g='b')}",
    re.IGNORECASE,
)
_ABOVE = re.compile(
    rf"(?:over|above|more than|greater than|bigger than|larger than|at least|upwards of|>\s?|>=\s?|"
    rf"über|mehr als|größer als|grösser als|mindestens|ab|oberhalb von)\s+{_CUR_BEFORE}{_NUM.format(g='a')}",
    re.IGNORECASE,
)
_BELOW = re.compile(
    rf"(?:under|below|less than|smaller than|at most|up to|<\s?|<=\s?|unter|unterhalb von|weniger als|"
    rf"kleiner als|höchstens|bis zu|maximal)\s+{_CUR_BEFORE}{_NUM.format(g='a')}",
    re.IGNORECASE,
)
_MULTIPLIERS = {"k": 1_000, "tsd": 1_000, "tausend": 1_000, "thousand": 1_000, "m": 1_000_000,
                "mio": 1_000_000, "mn": 1_000_000, "million": 1_000_000, "millionen": 1_000_000,
                "mrd": 1_000_000_000, "bn": 1_000_000_000}  # fmt: skip
_CLOSE_CUE = re.compile(r"\b(?:clos\w*|schließ\w*|schliess\w*|abschluss\w*|abgeschlossen)\b", re.IGNORECASE)


def _money(number: str, multiplier: str | None, lang: str) -> Decimal | None:
    factor = _MULTIPLIERS.get((multiplier or "").lower().rstrip("."), 1)
    value = parse_numeral(number, lang, scaled=factor != 1)
    if value is None:
        return None
    return Decimal(str(round(value * factor, 2)))


def _amount_range(text: str, lang: str) -> tuple[Decimal | None, Decimal | None]:
    m = _BETWEEN.search(text)
    if m:
        a, b = _money(m["a"], m["am"], lang), _money(m["b"], m["bm"], lang)
        if a is not None and b is not None and m["am"] is None and m["bm"]:  # "between 10 and 20k"
            a = _money(m["a"], m["bm"], lang)
        if a is not None and b is not None:
            return min(a, b), max(a, b)
    low = high = None
    for m in _ABOVE.finditer(text):
        if _is_days(text, m.end()):
            continue
        low = _money(m["a"], m["am"], lang)
    for m in _BELOW.finditer(text):
        if _is_days(text, m.end()):
            continue
        high = _money(m["a"], m["am"], lang)
    return low, high


def _is_days(text: str, end: int) -> bool:
    """ "over 30 days" is an age, not an amount."""
    return (
        re.match(
            r"\+?\s*(?:days?|tagen?|weeks?|wochen?|months?|monaten?|%|prozent|percent)\b",
            text[end:],
            re.IGNORECASE,
        )
        is not None
    )


def _days(text: str) -> tuple[int, tuple[int, int]] | None:
    """A duration ("for 30 days", "seit drei Wochen") in days, and where it stands in the text."""
    m = _DAYS.search(text)
    if not m:
        return None
    raw, unit = m["n"].lower(), m["unit"].lower()
    n = int(raw) if raw.isdigit() else _SMALL[raw]
    if unit.startswith(("week", "woche")):
        n *= 7
    elif unit.startswith(("month", "monat")):
        n *= 30
    return (n, m.span()) if n > 0 else None


def _limit(text: str) -> int | None:
    m = _TOP_N.search(text)
    if m:
        raw = (m["a"] or m["b"] or m["c"]).lower()
        n = int(raw) if raw.isdigit() else _SMALL.get(raw, 5)
        return max(1, min(n, MAX_LIMIT))
    if _ONE_BIGGEST.search(text) or _ONE_SMALLEST.search(text):
        return 1
    return None


def _value(e: Entity | Mapping[str, Any], key: str) -> Any:
    return getattr(e, key) if isinstance(e, Entity) else e.get(key)


def to_date(value: Any) -> date | None:
    """An ISO date or date-time (an entity value, a stored column) as a date; None when it is not one."""
    text = str(value or "").strip()
    if not text:
        return None
    try:
        return datetime.fromisoformat(text).date() if "T" in text else date.fromisoformat(text[:10])
    except ValueError:
        return None


def period_of(value: Any, today: date | None = None) -> tuple[date, date] | None:
    """A ``time`` entity value as [from, to): a period as given. A single day is that day; with ``today``
    (a close period: "bis Ende des Jahres", "closing by Friday") it is "from today until then", or that day
    when it lies in the past."""
    if isinstance(value, Mapping):
        start, end = to_date(value.get("from")), to_date(value.get("to"))
        if start and end:
            return start, end
        if start:
            return start, start + timedelta(days=1)
        return (end - timedelta(days=1), end) if end else None
    day = to_date(value)
    if day is None:
        return None
    return (min(today, day) if today else day, day + timedelta(days=1))


def _stage_words(text: str, lang: str) -> tuple[str, ...]:
    """Open-stage words the entity rules leave alone outside a deal context ("in proposal", "im Angebot",
    "leads"): a pipeline question is that context. Won/lost are the status, read elsewhere."""
    from nlu.rule_entities import lexicon  # the same word lists as the entity rules

    lex = lexicon("de" if lang == "de" else "en")
    words = {**lex.stage_weak, **lex.stage_strong, "leads": "lead", "proposals": "proposal"}
    found = [
        stage
        for word, stage in sorted(words.items(), key=lambda kv: -len(kv[0]))
        if stage in OPEN_STAGES and re.search(rf"(?<![\w]){re.escape(word)}(?![\w])", text, re.IGNORECASE)
    ]
    return _unique(found)


def _overlaps(e: Entity | Mapping[str, Any], span: tuple[int, int]) -> bool:
    start, end = _value(e, "start"), _value(e, "end")
    if not isinstance(start, int) or not isinstance(end, int) or span == (0, 0):
        return False
    return start < span[1] and end > span[0]


def _year_back(day: date) -> date:
    try:
        return day.replace(year=day.year - 1)
    except ValueError:  # 29 February
        return day.replace(year=day.year - 1, day=28)


def _unique(values: Iterable[Any]) -> tuple[str, ...]:
    out: list[str] = []
    for v in values:
        s = str(v or "").strip()
        if s and s not in out:
            out.append(s)
    return tuple(out)


def fill(
    text: str,
    entities: Sequence[Entity | Mapping[str, Any]],
    lang: str,
    today: date,
) -> PipelineQuery:
    """The query a pipeline question asks. ``entities`` as in a ParseResult (objects or their dicts);
    a button payload (``/pipeline_status{...}``) contributes its entities only."""
    words = "" if text.lstrip().startswith("/") else text
    by_kind: dict[str, list[Any]] = {}
    for e in entities:
        by_kind.setdefault(str(_value(e, "entity")), []).append(_value(e, "value"))

    stages = tuple(s for s in _unique(by_kind.get("stage", [])) if s in STAGES) or _stage_words(words, lang)
    status: Status | None = None
    if _WON.search(words) or stages == ("won",):
        status = "won"
    elif _LOST.search(words) or stages == ("lost",):
        status = "lost"
    elif _OPEN.search(words):
        status = "open"
    elif _ALL_STATUS.search(words):
        status = "any"
    if status in ("won", "lost"):
        stages = ()  # "closed-won" is the status, not a stage filter next to it

    risks: set[Risk] = set()
    if _STALLED.search(words):
        risks.add("stalled")
    if _OVERDUE.search(words):
        risks.add("overdue")
    if _STAGE_AGE.search(words):
        risks.add("stage_age")
        if all(m.group(0).lower() == "stuck" for m in _STALLED.finditer(words)):
            risks.discard("stalled")  # "stuck in negotiation for too long": the stage, not the silence
    if _AT_RISK.search(words):
        risks |= ALL_RISKS
    found = _days(words) if words else None
    if found is not None and not risks and _CLOSE_CUE.search(words):
        found = None  # "closing in 30 days" is a close period, not an age
    days, span = found if found is not None else (None, (0, 0))
    idle_days = stage_age_days = None
    if days is not None and not risks:
        risks.add("stalled")  # "deals without activity for 30+ days", "seit 3 Wochen nichts"
    if days is not None:
        if "stage_age" in risks and "stalled" not in risks:
            stage_age_days = days
        else:
            idle_days = days
    if risks and status in ("won", "lost"):
        status = None  # a closed deal is no longer at risk: "lost" here was "we might lose"

    low, high = _amount_range(words, lang) if words else (None, None)
    if low is None and high is None and not _TOTAL.search(words):
        # a bare amount in a pipeline question ("deals 50k+"): the amount entity as a lower bound
        plus = re.search(r"\d\s?(?:k|tsd\.?)?\s?\+", words)
        amounts = by_kind.get("amount", [])
        if plus and amounts:
            low = Decimal(str(amounts[0]))
    currency = next(iter(_unique(by_kind.get("currency", []))), None)

    close_from = close_to = None
    times = [
        _value(e, "value")
        for e in entities
        if _value(e, "entity") == "time" and not _overlaps(e, span)  # "haven't moved in two weeks"
    ]
    if times:
        period = period_of(times[0], today)
        if period is not None:
            close_from, close_to = period
            if status in ("won", "lost") and close_from > today and (close_to - close_from).days <= 366:
                # closed deals lie in the past: "im November verloren" in December is last November
                close_from, close_to = _year_back(close_from), _year_back(close_to)

    limit = _limit(words)
    sort: SortKey | None = None
    descending = True
    if _SORT_PROB.search(words):
        sort = "probability"
    elif _SORT_CLOSE.search(words):
        sort, descending = "close_date", False
    elif _SMALLEST.search(words):
        sort, descending = "amount", False
    elif _SORT_AMOUNT.search(words) or _TOP.search(words) or limit is not None:
        sort = "amount"
    if sort is not None and limit is None and _TOP.search(words):
        limit = 5 if re.search(r"deals|opportunities|abschlüsse|chancen", words, re.IGNORECASE) else 1

    group_by: GroupBy | None = None
    if _BY_STAGE.search(words):
        group_by = "stage"
    elif _BY_OWNER.search(words):
        group_by = "owner"
    elif _BY_MONTH.search(words):
        group_by = "month"

    team = None
    for m in _TEAM.finditer(words):
        if m["name"] not in _TEAM_STOP:
            team = m["name"]
            break

    measure: Measure
    if _COUNT.search(words):
        measure = "count"
    elif _WEIGHTED.search(words):
        measure = "weighted"
    elif _TOTAL.search(words) and not (limit or sort):
        measure = "total"
    elif _LIST.search(words) or limit or sort or risks:
        measure = "list"
    else:
        measure = "overview"
    owners = _unique(by_kind.get("person", []))
    organizations = _unique(by_kind.get("organization", []))
    mine = bool(_MINE.search(words))
    filtered = any((stages, status, owners, team, organizations, low, high, risks, sort, limit, group_by))
    if measure == "overview" and filtered:
        measure = "total" if group_by else "list"
    if measure == "overview" and group_by is None and status is None and _CLOSE_CUE.search(words) and times:
        measure = "list"  # "what's closing next week?"
    return PipelineQuery(
        measure=measure,
        stages=stages,
        status=status,
        owners=owners,
        mine=mine,
        team=team,
        organizations=organizations,
        amount_min=low,
        amount_max=high,
        currency=currency,
        close_from=close_from,
        close_to=close_to,
        risks=frozenset(risks),
        idle_days=idle_days,
        stage_age_days=stage_age_days,
        sort=sort,
        descending=descending,
        limit=limit,
        group_by=group_by,
    )


def from_message(message: Mapping[str, Any], lang: str, today: date) -> PipelineQuery:
    """The query of a parsed message in Rasa's format (``text``, ``entities``), e.g. a tracker's latest."""
    entities = [e for e in message.get("entities") or [] if isinstance(e, Mapping)]
    return fill(str(message.get("text") or ""), entities, lang, today)
