"""Time expressions in English and German, resolved against the message time in the user's zone.

``extract_times`` returns ``time`` entities whose value is one of (contract §2):

- an ISO date, ``"2026-12-04"``, for a day ("Friday", "morgen", "5.3.", "end of March");
- an ISO date-time with offset, ``"2026-12-01T10:00:00+01:00"``, when a time of day is given;
- a period ``{"from": "2026-10-01", "to": "2027-01-01"}`` (``to`` exclusive) for weeks, months, quarters,
  years, rolling windows ("last 30 days") and "since ..." ranges.

Our own rules cover English and German; dateparser misreads German ("nächsten Dienstag" eleven months
away) and costs milliseconds per call, so it only serves other languages.

Resolution choices (the same in both languages):

- A bare weekday ("Friday", "am Freitag", "by Friday", "this Friday", "diesen Freitag") is today if today
  is that day, else its next occurrence. "next Friday"/"nächsten Freitag" is the next occurrence strictly
  after today (1-7 days ahead); "Friday next week"/"nächste Woche Freitag" is that day in next calendar
  week; "last Friday"/"letzten Freitag" the last one strictly before today.
- Weeks start on Monday (ISO); "KW 12" is ISO week 12. "end of the week" is its Friday (next week's
  Friday once this one has passed).
- Without a year, months, quarters, calendar weeks and day-month dates resolve to the occurrence that is
  current or still to come (``prefer="future"``) or current or already begun (``prefer="past"``, e.g. for
  reports); "since ..."/"seit ..." always looks back and yields ``{"from": <that day>, "to": <tomorrow>}``.
- "last 30 days" is the 30 days ending today (today included); "next 7 days" starts today.
- Hours 1-6 without am/pm or a part of day are afternoon ("um 3" = 15:00, "halb drei" = 14:30); parts of
  day: morning 09:00, forenoon 10:00, noon 12:00, afternoon 15:00, evening 18:00, night 21:00.
- A time of day without a day is today if still ahead, else tomorrow.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable
from dataclasses import dataclass, replace
from datetime import date, datetime, timedelta
from functools import cache
from typing import Any, Literal
from zoneinfo import ZoneInfo

from nlu.numbers import parse_number_word
from nlu.types import Entity

EXTRACTOR = "TimeExtractor"
Prefer = Literal["future", "past"]

# ---------------------------------------------------------------- vocabulary

_WEEKDAYS: dict[str, int] = {
    "monday": 0, "tuesday": 1, "wednesday": 2, "thursday": 3, "friday": 4, "saturday": 5, "sunday": 6,
    "montag": 0, "dienstag": 1, "mittwoch": 2, "donnerstag": 3, "freitag": 4, "samstag": 5,
    "sonnabend": 5, "sonntag": 6,
}  # fmt: skip
_MONTHS_FULL: dict[str, int] = {
    "january": 1, "february": 2, "march": 3, "april": 4, "may": 5, "june": 6, "july": 7, "august": 8,
    "september": 9, "october": 10, "november": 11, "december": 12,
    "januar": 1, "jänner": 1, "jaenner": 1, "februar": 2, "feber": 2, "märz": 3, "maerz": 3, "mai": 5,
    "juni": 6, "juli": 7, "oktober": 10, "dezember": 12,
}  # fmt: skip
_MONTHS_SHORT: dict[str, int] = {
    "jan": 1, "feb": 2, "mar": 3, "mär": 3, "apr": 4, "jun": 6, "jul": 7, "aug": 8, "sep": 9,
    "sept": 9, "oct": 10, "okt": 10, "nov": 11, "dec": 12, "dez": 12,
}  # fmt: skip
_MONTHS: dict[str, int] = _MONTHS_FULL | _MONTHS_SHORT
_POD_HOURS: dict[str, int] = {
    "morning": 9, "morgen": 9, "morgens": 9, "früh": 9, "frueh": 9, "vormittag": 10, "vormittags": 10,
    "noon": 12, "midday": 12, "mittag": 12, "mittags": 12, "afternoon": 15, "nachmittag": 15,
    "nachmittags": 15, "evening": 18, "tonight": 18, "abend": 18, "abends": 18, "night": 21,
    "nacht": 21, "nachts": 21,
}  # fmt: skip
_PM_PODS = frozenset({"afternoon", "nachmittag", "nachmittags", "evening", "tonight", "abend", "abends"})
_NIGHT_PODS = frozenset({"night", "nacht", "nachts"})
_ORDINALS: dict[str, int] = {
    "first": 1, "second": 2, "third": 3, "fourth": 4, "last": 4,
    "erste": 1, "ersten": 1, "erstes": 1, "zweite": 2, "zweiten": 2, "zweites": 2, "dritte": 3,
    "dritten": 3, "drittes": 3, "vierte": 4, "vierten": 4, "viertes": 4, "letzte": 4, "letzten": 4,
}  # fmt: skip


def _alt(words: Iterable[str]) -> str:
    return "|".join(sorted({re.escape(w) for w in words}, key=len, reverse=True))


_WD = _alt(_WEEKDAYS)
_MON_FULL = _alt(_MONTHS_FULL)
_MON_ANY = _alt(_MONTHS)
_NUM_EN = r"\d{1,3}|a|an|one|two|three|four|five|six|seven|eight|nine|ten|eleven|twelve|fifteen|twenty|thirty|a\s+couple\s+of|a\s+few"
_NUM_DE = r"\d{1,3}|ein|eine|einem|einer|einen|zwei|drei|vier|fünf|fuenf|sechs|sieben|acht|neun|zehn|elf|zwölf|zwoelf|vierzehn|fünfzehn|zwanzig|dreißig|dreissig|paar|ein\s+paar"
_HOUR_WORD = r"\d{1,2}|one|two|three|four|five|six|seven|eight|nine|ten|eleven|twelve|eins|ein|zwei|drei|vier|fünf|fuenf|sechs|sieben|acht|neun|zehn|elf|zwölf|zwoelf"
_YEAR = r"(?:19|20)\d\d"
_NEXT_DE = r"nächste[nmrs]?|naechste[nmrs]?|kommende[nmrs]?"
_LAST_DE = r"letzte[nmrs]?|vergangene[nmrs]?|vorige[nmrs]?|vorherige[nmrs]?"
_THIS_DE = r"diese[nmrs]?|laufende[nmrs]?|aktuelle[nmrs]?"


def _count(word: str, lang: str) -> int | None:
    word = re.sub(r"\s+", " ", word.lower())
    if word.isdigit():
        return int(word)
    if word in ("a couple of", "paar", "ein paar"):
        return 2
    if word == "a few":
        return 3
    return parse_number_word(word, lang)


# ---------------------------------------------------------------- calendar helpers


def _add_months(d: date, months: int) -> date:
    index = d.year * 12 + d.month - 1 + months
    year, month = divmod(index, 12)
    return date(year, month + 1, min(d.day, _month_length(year, month + 1)))


def _month_length(year: int, month: int) -> int:
    return ((date(year, month, 1) + timedelta(days=32)).replace(day=1) - timedelta(days=1)).day


def _week_start(d: date) -> date:
    return d - timedelta(days=d.weekday())


def _unit_period(today: date, unit: str, offset: int) -> tuple[date, date]:
    """The calendar week/month/quarter/year containing today, shifted by ``offset`` units."""
    if unit == "week":
        start = _week_start(today) + timedelta(weeks=offset)
        return start, start + timedelta(weeks=1)
    if unit == "month":
        start = _add_months(today.replace(day=1), offset)
        return start, _add_months(start, 1)
    if unit == "quarter":
        start = _add_months(date(today.year, 3 * ((today.month - 1) // 3) + 1, 1), 3 * offset)
        return start, _add_months(start, 3)
    start = date(today.year + offset, 1, 1)
    return start, date(start.year + 1, 1, 1)


def _unit_of(word: str) -> str:
    w = word.lower()
    for unit, stems in (
        ("week", ("week", "woche", "kw")),
        ("month", ("month", "monat")),
        ("quarter", ("quarter", "quartal")),
        ("year", ("year", "jahr")),
        ("day", ("day", "tag")),
        ("hour", ("hour", "hr", "stunde", "std")),
        ("minute", ("min",)),
    ):
        if w.startswith(stems):
            return unit
    raise ValueError(word)


def _offset_of(modifier: str | None) -> int:
    m = (modifier or "").lower()
    if m.startswith(("next", "coming", "nächst", "naechst", "kommend")):
        return 1
    if m.startswith(("last", "past", "previous", "letzt", "vergangen", "vorig", "vorherig")):
        return -1
    return 0


# ---------------------------------------------------------------- pieces


@dataclass(frozen=True, slots=True)
class _Piece:
    """A matched span and what it says; adjacent day/clock/part-of-day pieces combine into one entity."""

    start: int
    end: int
    day: date | None = None
    clock: tuple[int, int] | None = None
    meridiem: str | None = None  # "am"/"pm" when written
    pod: str | None = None
    period: tuple[date, date] | None = None
    moment: datetime | None = None
    exact_clock: bool = False  # "07:00": no afternoon guess


@dataclass(frozen=True, slots=True)
class _Context:
    text: str
    lang: str
    now: datetime
    today: date
    zone: ZoneInfo
    prefer: Prefer

    def looks_back(self, start: int) -> bool:
        return self.prefer == "past" or _SINCE_BEFORE.search(self.text, 0, start) is not None

    def yearly(self, make: Callable[[int], tuple[date, date]], start: int) -> tuple[date, date]:
        """The occurrence of a yearly period (month, quarter, week, day) that fits the preference."""
        this = make(self.today.year)
        if self.looks_back(start):
            return make(self.today.year - 1) if this[0] > self.today else this
        return make(self.today.year + 1) if this[1] <= self.today else this


_SINCE_BEFORE = re.compile(r"(?:\bsince|\bseit(?:\s+dem|\s+der|\s+den)?|\bab\s+dem)\s+$", re.IGNORECASE)

Handler = Callable[[re.Match[str], _Context], _Piece | None]


def _day(m: re.Match[str], d: date | None) -> _Piece | None:
    return None if d is None else _Piece(m.start(), m.end(), day=d)


def _period(m: re.Match[str], start: date, end: date) -> _Piece:
    return _Piece(m.start(), m.end(), period=(start, end))


def _safe_date(year: int, month: int, day: int) -> date | None:
    try:
        return date(year, month, day)
    except ValueError:
        return None


def _year_of(raw: str | None) -> int | None:
    if not raw:
        return None
    year = int(raw)
    return year + 2000 if year < 100 else year


def _day_month(m: re.Match[str], ctx: _Context, day: int, month: int, year: int | None) -> _Piece | None:
    if not (1 <= month <= 12 and 1 <= day <= 31):
        return None
    if year is not None:
        return _day(m, _safe_date(year, month, day))
    if _safe_date(2024, month, day) is None:  # 2024 is a leap year: 29 Feb exists
        return None

    def occurrence(y: int) -> tuple[date, date]:
        d = _safe_date(y, month, day) or date(y, month, 28)
        return d, d + timedelta(days=1)

    return _day(m, ctx.yearly(occurrence, m.start())[0])


# ---------------------------------------------------------------- handlers: days


def _relative_day(m: re.Match[str], ctx: _Context) -> _Piece | None:
    word = re.sub(r"\s+", " ", m["w"].lower())
    if word == "morgen":
        before = ctx.text[max(0, m.start() - 12) : m.start()].lower()
        if re.search(r"\b(?:guten|gute|am|jeden|den|diesen|einen|schönen|heute|gestern|vom)\s+$", before):
            return None
    offsets = {
        "today": 0, "tonight": 0, "heute": 0, "tomorrow": 1, "morgen": 1, "day after tomorrow": 2,
        "the day after tomorrow": 2, "übermorgen": 2, "uebermorgen": 2, "yesterday": -1, "gestern": -1,
        "day before yesterday": -2, "the day before yesterday": -2, "vorgestern": -2,
    }  # fmt: skip
    day = ctx.today + timedelta(days=offsets[word])
    return _Piece(m.start(), m.end(), day=day, pod="tonight" if word == "tonight" else None)


def _weekday(m: re.Match[str], ctx: _Context) -> _Piece | None:
    wd = _WEEKDAYS[m["wd"].lower()]
    week = m["wk"]
    if week:
        start = _week_start(ctx.today) + timedelta(weeks=_offset_of(week))
        return _day(m, start + timedelta(days=wd))
    mod = _offset_of(m["mod"])
    ahead = (wd - ctx.today.weekday()) % 7
    if mod == 1:
        return _day(m, ctx.today + timedelta(days=ahead or 7))
    behind = (ctx.today.weekday() - wd) % 7
    if mod == -1:
        return _day(m, ctx.today - timedelta(days=behind or 7))
    if ctx.looks_back(m.start()):
        return _day(m, ctx.today - timedelta(days=behind))
    return _day(m, ctx.today + timedelta(days=ahead))


def _iso_date(m: re.Match[str], ctx: _Context) -> _Piece | None:
    d = _safe_date(int(m["y"]), int(m["m"]), int(m["d"]))
    if d is None:
        return None
    if m["H"] is not None:
        hour, minute = int(m["H"]), int(m["M"])
        if hour > 23 or minute > 59:
            return None
        return _Piece(m.start(), m.end(), day=d, clock=(hour, minute), exact_clock=True)
    return _day(m, d)


def _numeric_dmy(m: re.Match[str], ctx: _Context) -> _Piece | None:
    return _day_month(m, ctx, int(m["d"]), int(m["m"]), _year_of(m["y"]))


def _numeric_mdy(m: re.Match[str], ctx: _Context) -> _Piece | None:
    return _day_month(m, ctx, int(m["d"]), int(m["m"]), _year_of(m["y"]))


def _named_day_month(m: re.Match[str], ctx: _Context) -> _Piece | None:
    return _day_month(m, ctx, int(m["d"]), _MONTHS[m["mon"].lower().rstrip(".")], _year_of(m["y"]))


def _day_of_month(m: re.Match[str], ctx: _Context) -> _Piece | None:
    day = int(m["d"])
    if not 1 <= day <= 31:
        return None
    candidates = [_add_months(ctx.today.replace(day=1), k) for k in (-1, 0, 1, 2)]
    days = [d.replace(day=day) for d in candidates if day <= _month_length(d.year, d.month)]
    if ctx.looks_back(m.start()):
        return _day(m, max(d for d in days if d <= ctx.today))
    return _day(m, min(d for d in days if d >= ctx.today))


def _named_month(m: re.Match[str], ctx: _Context) -> _Piece | None:
    word = m["mon"]
    if word == "may" and not m["y"]:  # lower-case "may" is the modal verb
        return None
    month = _MONTHS_FULL[word.lower()]
    pre = re.sub(r"\s+", " ", (m["pre"] or "").lower())
    year = _year_of(m["y"])

    def occurrence(y: int) -> tuple[date, date]:
        start = date(y, month, 1)
        return start, _add_months(start, 1)

    if year is not None:
        start, end = occurrence(year)
    elif pre in ("next", "nächsten", "naechsten", "kommenden"):
        start, end = occurrence(ctx.today.year if month > ctx.today.month else ctx.today.year + 1)
    elif pre in ("last", "letzten", "vergangenen", "vorigen"):
        start, end = occurrence(ctx.today.year if month < ctx.today.month else ctx.today.year - 1)
    elif pre in ("this", "diesen"):
        start, end = occurrence(ctx.today.year)
    else:
        start, end = ctx.yearly(occurrence, m.start())
    last = end - timedelta(days=1)
    if pre.endswith(("end of", "ende", "late")):
        return _day(m, last)
    if pre.endswith(("mid", "middle of", "mitte")):
        return _day(m, start.replace(day=15))
    if pre.endswith(("beginning of", "start of", "early", "anfang")):
        return _day(m, start)
    return _period(m, start, end)


def _edge_of(m: re.Match[str], ctx: _Context) -> _Piece | None:
    edge = m["edge"].lower()
    unit = _unit_of(m["unit"])
    start, end = _unit_period(ctx.today, unit, _offset_of(m["mod"]))
    if edge in ("end", "ende") and unit == "week":
        friday = start + timedelta(days=4)
        return _day(m, friday if friday >= ctx.today or _offset_of(m["mod"]) else friday + timedelta(weeks=1))
    if edge in ("end", "ende"):
        return _day(m, end - timedelta(days=1))
    if edge in ("middle", "mid", "mitte"):
        return _day(m, start + (end - start) / 2)
    return _day(m, start)


def _compound_edge(m: re.Match[str], ctx: _Context) -> _Piece | None:
    word = m[0].lower()
    unit = _unit_of(word)
    start, end = _unit_period(ctx.today, unit, 0)
    if word.endswith("ende"):
        return _day(m, end - timedelta(days=1))
    if word.endswith("mitte"):
        return _day(m, start + (end - start) / 2)
    return _day(m, start)


def _end_of_day(m: re.Match[str], ctx: _Context) -> _Piece | None:
    return _day(m, ctx.today)


# ---------------------------------------------------------------- handlers: periods


def _relative_unit(m: re.Match[str], ctx: _Context) -> _Piece | None:
    start, end = _unit_period(ctx.today, _unit_of(m["unit"]), _offset_of(m["mod"]))
    return _period(m, start, end)


def _this_year(m: re.Match[str], ctx: _Context) -> _Piece | None:
    start, end = _unit_period(ctx.today, "year", 0)
    return _period(m, start, end)


def _weekend(m: re.Match[str], ctx: _Context) -> _Piece | None:
    saturday = _week_start(ctx.today) + timedelta(days=5, weeks=_offset_of(m["mod"]))
    return _period(m, saturday, saturday + timedelta(days=2))


def _rolling(m: re.Match[str], ctx: _Context) -> _Piece | None:
    n = _count(m["n"], ctx.lang)
    if not n:
        return None
    unit = _unit_of(m["unit"])
    if unit not in ("day", "week", "month", "year"):
        return None
    months = {"month": n, "year": 12 * n}.get(unit, 0)
    days = {"day": n, "week": 7 * n}.get(unit, 0)
    tomorrow = ctx.today + timedelta(days=1)
    if _offset_of(m["mod"]) < 0:
        start = (
            _add_months(tomorrow, -months) - timedelta(days=days)
            if months
            else tomorrow - timedelta(days=days)
        )
        return _period(m, start, tomorrow)
    end = _add_months(ctx.today, months) + timedelta(days=days)
    return _period(m, ctx.today, end)


def _quarter(m: re.Match[str], ctx: _Context) -> _Piece | None:
    raw = (m["q"] or "").lower()
    quarter = int(raw) if raw.isdigit() else _ORDINALS.get(raw)
    if quarter is None or not 1 <= quarter <= 4:
        return None

    def occurrence(y: int) -> tuple[date, date]:
        start = date(y, 3 * quarter - 2, 1)
        return start, _add_months(start, 3)

    year = _year_of(m["y"])
    start, end = occurrence(year) if year else ctx.yearly(occurrence, m.start())
    return _period(m, start, end)


def _calendar_week(m: re.Match[str], ctx: _Context) -> _Piece | None:
    week = int(m["w"])
    if not 1 <= week <= 53:
        return None

    def occurrence(y: int) -> tuple[date, date]:
        w = min(week, date(y, 12, 28).isocalendar().week)
        start = date.fromisocalendar(y, w, 1)
        return start, start + timedelta(weeks=1)

    year = _year_of(m["y"])
    start, end = occurrence(year) if year else ctx.yearly(occurrence, m.start())
    return _period(m, start, end)


def _year(m: re.Match[str], ctx: _Context) -> _Piece | None:
    year = int(m["y"])
    return _period(m, date(year, 1, 1), date(year + 1, 1, 1))


def _offset(m: re.Match[str], ctx: _Context) -> _Piece | None:
    n = _count(m["n"], ctx.lang)
    if n is None or n > 999:
        return None
    unit = _unit_of(m["unit"])
    sign = -1 if m["ago"] else 1
    if unit in ("hour", "minute"):
        delta = timedelta(hours=n) if unit == "hour" else timedelta(minutes=n)
        moment = (ctx.now + sign * delta).replace(second=0, microsecond=0)
        return _Piece(m.start(), m.end(), moment=moment)
    if unit in ("month", "year", "quarter"):
        months = {"month": 1, "quarter": 3, "year": 12}[unit] * n
        return _day(m, _add_months(ctx.today, sign * months))
    days = n * (7 if unit == "week" else 1)
    return _day(m, ctx.today + timedelta(days=sign * days))


# ---------------------------------------------------------------- handlers: times of day


def _hour_value(word: str, lang: str) -> int | None:
    value = int(word) if word.isdigit() else parse_number_word(word, lang)
    return value if value is not None and 0 <= value <= 24 else None


def _clock(m: re.Match[str], ctx: _Context) -> _Piece | None:
    hour = int(m["h"])
    groups = m.groupdict()
    minute = int(groups["m"]) if groups.get("m") else 0
    meridiem = groups["ap"].lower().replace(".", "").replace(" ", "") if groups.get("ap") else None
    if meridiem and ctx.lang == "de" and meridiem == "am" and not re.fullmatch(r"\d+am", m[0].strip()):
        return None  # German "10 am Freitag": "am" is a preposition
    if meridiem and not 1 <= hour <= 12:
        return None
    if hour > 24 or minute > 59:
        return None
    exact = m["h"].startswith("0") or hour == 0
    return _Piece(m.start(), m.end(), clock=(hour % 24, minute), meridiem=meridiem, exact_clock=exact)


def _fraction_clock(m: re.Match[str], ctx: _Context) -> _Piece | None:
    hour = _hour_value(
        m["hw"], "de" if m["kind"].lower() in ("halb", "viertel nach", "viertel vor") else "en"
    )
    if hour is None or not 1 <= hour <= 12:
        return None
    kind = re.sub(r"\s+", " ", m["kind"].lower())
    hour_minute = {
        "halb": (hour - 1, 30), "half past": (hour, 30), "viertel nach": (hour, 15),
        "quarter past": (hour, 15), "viertel vor": (hour - 1, 45), "quarter to": (hour - 1, 45),
    }[kind]  # fmt: skip
    return _Piece(m.start(), m.end(), clock=(hour_minute[0] % 24, hour_minute[1]))


def _named_clock(m: re.Match[str], ctx: _Context) -> _Piece | None:
    word = m["w"].lower()
    return _Piece(
        m.start(), m.end(), clock=(0, 0) if word in ("midnight", "mitternacht") else (12, 0), exact_clock=True
    )


def _part_of_day(m: re.Match[str], ctx: _Context) -> _Piece | None:
    word = m["pod"].lower()
    lead = (m["lead"] or "").lower().strip()
    if lead.startswith("this"):
        return _Piece(m.start(), m.end(), day=ctx.today, pod=word)
    if not lead and not word.endswith("s"):
        # "Guten Morgen", "good morning", "zu früh": a part of day needs a day or a preposition
        before = ctx.text[max(0, m.start() - 20) : m.start()].lower()
        if not re.search(
            rf"(?:\b(?:{_WD}|today|tomorrow|yesterday|heute|morgen|gestern|übermorgen|uebermorgen)|\d)\s+$",
            before,
        ):
            return None
    return _Piece(m.start(), m.end(), pod=word)


def _part_of_day_de(m: re.Match[str], ctx: _Context) -> _Piece | None:
    lead = (m["lead"] or "").lower().strip()
    if lead == "heute":
        return _Piece(m.start(), m.end(), day=ctx.today, pod=m["pod"].lower())
    if lead == "am" and m["pod"].lower() in ("früh", "frueh"):
        return None
    return _part_of_day(m, ctx)


def _clock_m2(m: re.Match[str], ctx: _Context) -> _Piece | None:
    piece = _clock(m, ctx)
    if piece is None or not m["m2"]:
        return piece
    minute = int(m["m2"])
    return None if minute > 59 else replace(piece, clock=(piece.clock[0] if piece.clock else 0, minute))


def _quarter_y2(m: re.Match[str], ctx: _Context) -> _Piece | None:
    return _quarter(_YearMatch(m), ctx)


def _quarter_ordinal(m: re.Match[str], ctx: _Context) -> _Piece | None:
    raw = m["q"].lower()
    digits = re.match(r"\d", raw)
    return _quarter(_YearMatch(m, q=digits[0] if digits else raw), ctx)


def _week_y2(m: re.Match[str], ctx: _Context) -> _Piece | None:
    return _calendar_week(_YearMatch(m), ctx)


def _edge_of_word(m: re.Match[str], ctx: _Context, edge: str) -> _Piece | None:
    return _edge_of(_YearMatch(m, edge=edge), ctx)


class _YearMatch:
    """A match whose year may sit in ``y`` or ``y2`` and whose groups can be overridden."""

    def __init__(self, m: re.Match[str], **overrides: str) -> None:
        self._m = m
        self._overrides = overrides

    def __getitem__(self, key: str | int) -> Any:
        if isinstance(key, str) and key in self._overrides:
            return self._overrides[key]
        groups = self._m.groupdict()
        if key == "y":
            return groups.get("y") or groups.get("y2")
        if isinstance(key, str) and key not in groups:
            return None
        return self._m[key]

    def start(self) -> int:
        return self._m.start()

    def end(self) -> int:
        return self._m.end()


# ---------------------------------------------------------------- rules


def _rule(pattern: str) -> re.Pattern[str]:
    return re.compile(rf"(?<![\w]){pattern}(?![\w])", re.IGNORECASE)


_NOT_NUMBER_BEFORE = r"(?<![\w.,/#+:€$£-])"
_NOT_AMOUNT_AFTER = r"(?![\d%€$£]|[.,:/]\d|\s*[%€$£]|\s*(?:k|m|mio|tsd|eur|usd|chf|gbp|euros?|dollars?|prozent|percent|people|persons|users|participants|seats|licen[cs]es|leute|personen|nutzer|teilnehmer|lizenzen|plätze)\b)"

_COMMON: list[tuple[re.Pattern[str], Handler]] = [
    (
        _rule(
            _NOT_NUMBER_BEFORE
            + r"(?P<y>\d{4})-(?P<m>\d{1,2})-(?P<d>\d{1,2})(?:[T ](?P<H>\d{2}):(?P<M>\d{2})(?::\d{2}(?:\.\d+)?)?(?:Z|[+-]\d{2}:?\d{2})?)?"
        ),
        _iso_date,
    ),
    (
        _rule(_NOT_NUMBER_BEFORE + r"(?P<d>\d{1,2})\.(?P<m>\d{1,2})\.(?:(?P<y>\d{4}|\d{2})(?!\d))?(?!\d)"),
        _numeric_dmy,
    ),
    (_rule(r"q(?P<q>[1-4])(?:\s+(?P<y>" + _YEAR + r")|\s*[/'’-]\s*(?P<y2>\d{2}))?"), _quarter_y2),
    (_rule(r"(?:kw|cw)\s*(?P<w>\d{1,2})(?:\s*/\s*(?P<y>\d{4}|\d{2})|\s+(?P<y2>" + _YEAR + "))?"), _week_y2),
    (
        _rule(
            r"(?P<h>\d{1,2}):(?P<m>\d{2})(?:\s*(?P<ap>a\.?\s?m\.?|p\.?\s?m\.?)|\s*(?:uhr|h))?"
            + _NOT_AMOUNT_AFTER
        ),
        _clock,
    ),
    (_rule(r"(?P<h>\d{1,2})\s*(?P<ap>a\.?m\.?|p\.?m\.?)"), _clock),
]

_EN: list[tuple[re.Pattern[str], Handler]] = [
    (
        _rule(
            r"(?P<w>today|tonight|tomorrow|yesterday|(?:the\s+)?day\s+after\s+tomorrow|(?:the\s+)?day\s+before\s+yesterday)"
        ),
        _relative_day,
    ),
    (
        _rule(
            rf"(?:(?P<mod>next|this|coming|last|past|previous)\s+)?(?P<wd>{_WD})(?:\s+(?P<wk>next|last|this)\s+week)?"
        ),
        _weekday,
    ),
    (_rule(rf"(?P<wk>next|last|this)\s+week(?:\s+on)?\s+(?P<wd>{_WD})"), _weekday),
    (
        _rule(r"(?P<mod>this|next|last|past|previous|coming|current)\s+(?P<unit>week|month|quarter|year)"),
        _relative_unit,
    ),
    (
        _rule(
            r"(?:the\s+)?(?P<mod>last|past|previous|next|coming)\s+(?P<n>"
            + _NUM_EN
            + r")\s+(?P<unit>days?|weeks?|months?|years?)"
        ),
        _rolling,
    ),
    (_rule(r"(?:(?P<mod>this|next|last|the)\s+)?weekend"), _weekend),
    (
        _rule(
            r"(?:(?P<pre>in|during|for|since|until|till|by|through|throughout|early|mid|late|(?:the\s+)?end\s+of|(?:the\s+)?beginning\s+of|(?:the\s+)?start\s+of|(?:the\s+)?middle\s+of|next|last|this)(?:\s+|-))?(?P<mon>"
            + _MON_FULL
            + r")(?:\s+(?P<y>"
            + _YEAR
            + "))?"
        ),
        lambda m, c: _named_month(m, c) if m["pre"] or m["y"] else None,
    ),
    (
        _rule(
            r"(?P<d>\d{1,2})(?:st|nd|rd|th)?(?:\s+of)?\s+(?P<mon>"
            + _MON_ANY
            + r")\.?(?:,?\s+(?P<y>"
            + _YEAR
            + "))?"
        ),
        _named_day_month,
    ),
    (
        _rule(
            r"(?P<mon>"
            + _MON_ANY
            + r")\.?\s+(?:the\s+)?(?P<d>\d{1,2})(?:st|nd|rd|th)?(?!\d)(?:,?\s+(?P<y>"
            + _YEAR
            + "))?"
        ),
        _named_day_month,
    ),
    (
        _rule(_NOT_NUMBER_BEFORE + r"(?P<m>\d{1,2})/(?P<d>\d{1,2})(?:/(?P<y>\d{4}|\d{2}))?(?![\d/])"),
        _numeric_mdy,
    ),
    (_rule(r"(?:on\s+)?the\s+(?P<d>\d{1,2})(?:st|nd|rd|th)"), _day_of_month),
    (
        _rule(
            r"(?:by\s+)?(?:the\s+)?(?P<edge>end|beginning|start|middle)\s+of\s+(?:the\s+)?(?:(?P<mod>this|next|last|current)\s+)?(?P<unit>week|month|quarter|year)"
        ),
        _edge_of,
    ),
    (_rule(r"(?P<unit>month|quarter|year)[\s-]end"), lambda m, c: _edge_of_word(m, c, "end")),
    (_rule(r"(?:eod|eob|cob|end\s+of\s+(?:the\s+)?(?:business\s+)?day|close\s+of\s+business)"), _end_of_day),
    (
        _rule(
            r"(?:calendar\s+week|week)\s*(?P<w>\d{1,2})(?:\s*/\s*(?P<y>\d{4}|\d{2})|\s+(?P<y2>"
            + _YEAR
            + "))?"
        ),
        _week_y2,
    ),
    (
        _rule(
            r"(?:the\s+)?(?P<q>first|second|third|fourth|last|[1-4](?:st|nd|rd|th))\s+quarter(?:\s+(?:of\s+)?(?P<y>"
            + _YEAR
            + "))?"
        ),
        _quarter_ordinal,
    ),
    (_rule(r"(?:in|during|for|year)\s+(?P<y>" + _YEAR + ")"), _year),
    (
        _rule(
            r"in\s+(?P<n>"
            + _NUM_EN
            + r")\s+(?P<unit>minutes?|mins?|hours?|hrs?|days?|weeks?|months?|years?)(?P<ago>)"
        ),
        _offset,
    ),
    (
        _rule(
            r"(?P<n>"
            + _NUM_EN
            + r")\s+(?P<unit>minutes?|mins?|hours?|hrs?|days?|weeks?|months?|years?)\s+(?:(?P<ago>ago)|from\s+now)"
        ),
        _offset,
    ),
    (
        _rule(
            r"(?:at|around|by)\s+(?P<h>\d{1,2})(?:\s*o'?clock|(?::(?P<m>\d{2})))?(?:\s*(?P<ap>a\.?m\.?|p\.?m\.?))?"
            + _NOT_AMOUNT_AFTER
        ),
        _clock,
    ),
    (_rule(r"(?P<h>\d{1,2})\s*o'?clock(?P<m>)(?P<ap>)"), _clock),
    (
        _rule(r"(?:at\s+)?(?P<kind>half\s+past|quarter\s+past|quarter\s+to)\s+(?P<hw>" + _HOUR_WORD + ")"),
        _fraction_clock,
    ),
    (_rule(r"(?:at\s+)?(?P<w>noon|midday|midnight)"), _named_clock),
    (
        _rule(r"(?P<lead>in\s+the\s+|this\s+|during\s+the\s+)?(?P<pod>morning|afternoon|evening|night)"),
        _part_of_day,
    ),
]

_DE: list[tuple[re.Pattern[str], Handler]] = [
    (_rule(r"(?P<w>heute|übermorgen|uebermorgen|morgen|gestern|vorgestern)"), _relative_day),
    (
        _rule(
            rf"(?:(?P<mod>{_NEXT_DE}|{_THIS_DE}|{_LAST_DE})\s+)?(?P<wd>{_WD})(?:\s+(?:(?:in\s+)?der\s+)?(?P<wk>{_NEXT_DE}|{_LAST_DE}|{_THIS_DE})\s+woche)?"
        ),
        _weekday,
    ),
    (_rule(rf"(?P<wk>{_NEXT_DE}|{_LAST_DE}|{_THIS_DE})\s+woche(?:\s+am)?\s+(?P<wd>{_WD})"), _weekday),
    (
        _rule(rf"(?P<mod>{_THIS_DE}|{_NEXT_DE}|{_LAST_DE})\s+(?P<unit>woche|monat|quartal|jahr)"),
        _relative_unit,
    ),
    (_rule(r"heuer"), _this_year),
    (
        _rule(
            rf"(?P<mod>{_LAST_DE}|{_NEXT_DE})\s+(?P<n>"
            + _NUM_DE
            + r")\s+(?P<unit>tage?n?|wochen|monate?n?|jahre?n?)"
        ),
        _rolling,
    ),
    (_rule(rf"(?:(?:am|an\s+diesem|am\s+(?P<mod>{_NEXT_DE}|{_LAST_DE}))\s+)?wochenende"), _weekend),
    (
        _rule(
            r"(?:(?P<pre>im|in|seit|bis|ab|anfang|mitte|ende|nächsten|naechsten|kommenden|letzten|vergangenen|vorigen|diesen)\s+)?(?P<mon>"
            + _MON_FULL
            + r")(?:\s+(?P<y>"
            + _YEAR
            + "))?"
        ),
        lambda m, c: _named_month(m, c) if m["pre"] or m["y"] else None,
    ),
    (
        _rule(r"(?P<d>\d{1,2})\.?\s*(?P<mon>" + _MON_ANY + r")\.?(?:\s+(?P<y>" + _YEAR + "))?"),
        _named_day_month,
    ),
    (_rule(r"am\s+(?P<d>\d{1,2})\.(?!\d)"), _day_of_month),
    (
        _rule(
            rf"(?P<edge>ende|anfang|mitte)\s+(?:(?:des|der|dem)\s+)?(?:(?P<mod>{_THIS_DE}|{_NEXT_DE}|{_LAST_DE})\s+)?(?P<unit>woche|monats?|quartals?|jahres?)"
        ),
        _edge_of,
    ),
    (_rule(r"(?:monats|quartals|jahres)(?:ende|anfang|mitte)"), _compound_edge),
    (
        _rule(r"(?:kalenderwoche)\s*(?P<w>\d{1,2})(?:\s*/\s*(?P<y>\d{4}|\d{2})|\s+(?P<y2>" + _YEAR + "))?"),
        _week_y2,
    ),
    (_rule(r"(?P<w>\d{1,2})\.\s*(?:kw|kalenderwoche)(?P<y>)(?P<y2>)"), _week_y2),
    (
        _rule(
            r"(?P<q>\d|erste[nms]?|zweite[nms]?|dritte[nms]?|vierte[nms]?|letzte[nms]?)\.?\s+quartals?(?:\s+(?P<y>"
            + _YEAR
            + "))?"
        ),
        _quarter_ordinal,
    ),
    (_rule(r"quartal\s+(?P<q>[1-4])(?:\s+(?P<y>" + _YEAR + "))?"), _quarter_ordinal),
    (_rule(r"(?:im(?:\s+jahr)?|in|jahr)\s+(?P<y>" + _YEAR + ")"), _year),
    (
        _rule(
            r"in\s+(?P<n>"
            + _NUM_DE
            + r")\s+(?P<unit>minuten|min|stunden?|std|tage?n?|wochen?|monate?n?|jahre?n?)(?P<ago>)"
        ),
        _offset,
    ),
    (
        _rule(
            r"(?P<ago>vor)\s+(?P<n>"
            + _NUM_DE
            + r")\s+(?P<unit>minuten|min|stunden?|std|tage?n?|wochen?|monate?n?|jahre?n?)"
        ),
        _offset,
    ),
    (
        _rule(
            r"(?:um|gegen|ab|bis)\s+(?P<h>\d{1,2})(?:\s*uhr(?:\s+(?P<m>\d{1,2})(?!\d))?|[:.](?P<m2>\d{2})(?:\s*uhr)?)?(?P<ap>)"
            + _NOT_AMOUNT_AFTER
        ),
        _clock_m2,
    ),
    (_rule(r"(?P<h>\d{1,2})(?:[.:](?P<m2>\d{2}))?\s*uhr(?:\s+(?P<m>\d{1,2})(?!\d))?(?P<ap>)"), _clock_m2),
    (
        _rule(r"(?:um\s+|gegen\s+)?(?P<kind>halb|viertel\s+nach|viertel\s+vor)\s+(?P<hw>" + _HOUR_WORD + ")"),
        _fraction_clock,
    ),
    (_rule(r"(?:um\s+)?(?P<w>mitternacht)"), _named_clock),
    (
        _rule(
            r"(?P<lead>am\s+|heute\s+)?(?P<pod>morgens|vormittags|mittags|nachmittags|abends|nachts|morgen|vormittag|mittag|nachmittag|abend|nacht|früh|frueh)"
        ),
        _part_of_day_de,
    ),
]


# ---------------------------------------------------------------- assembly

_JOINER = re.compile(r"[\s,]*(?:(?:at|um|gegen|around|on|am|ab|from|von|in\s+the)\s+)?[\s,]*", re.IGNORECASE)


def _choose(pieces: list[_Piece]) -> list[_Piece]:
    chosen: list[_Piece] = []
    for piece in sorted(pieces, key=lambda p: (p.start - p.end, p.start)):
        if all(piece.end <= c.start or piece.start >= c.end for c in chosen):
            chosen.append(piece)
    return sorted(chosen, key=lambda p: p.start)


def _combinable(a: _Piece, b: _Piece, text: str) -> bool:
    if a.period or b.period or a.moment or b.moment:
        return False
    if (a.day and b.day) or (a.clock and b.clock) or (a.pod and b.pod and not (a.clock or b.clock)):
        return False
    return _JOINER.fullmatch(text, a.end, b.start) is not None


def _merge(a: _Piece, b: _Piece) -> _Piece:
    return _Piece(
        start=a.start,
        end=b.end,
        day=a.day or b.day,
        clock=a.clock or b.clock,
        meridiem=a.meridiem or b.meridiem,
        pod=b.pod if b.pod and b.pod != "tonight" else a.pod or b.pod,
        exact_clock=a.exact_clock or b.exact_clock,
    )


def _combine(pieces: list[_Piece], text: str) -> list[_Piece]:
    out: list[_Piece] = []
    for piece in pieces:
        if out and _combinable(out[-1], piece, text):
            out[-1] = _merge(out[-1], piece)
        else:
            out.append(piece)
    return out


_EDGE_BEFORE = re.compile(
    r"(?:\b(?:by\s+)?(?:the\s+)?(?P<edge>end|beginning|start|middle)\s+of\s+(?:the\s+)?"
    r"|\b(?P<edge_de>ende|anfang|mitte)\s+(?:(?:des|der|dem)\s+)?)$",
    re.IGNORECASE,
)


def _apply_edges(pieces: list[_Piece], text: str) -> list[_Piece]:
    """ "end of Q4", "Ende KW 12": the edge of a period is a day."""
    out = []
    for piece in pieces:
        edge = _EDGE_BEFORE.search(text, 0, piece.start) if piece.period else None
        if piece.period is None or edge is None:
            out.append(piece)
            continue
        start, end = piece.period
        word = (edge["edge"] or edge["edge_de"]).lower()
        day = end - timedelta(days=1) if word in ("end", "ende") else start
        if word in ("middle", "mitte"):
            day = start + (end - start) / 2
        out.append(_Piece(edge.start(), piece.end, day=day))
    return out


def _hour(piece: _Piece) -> tuple[int, int]:
    if piece.clock is None:
        return _POD_HOURS[piece.pod or "morning"], 0
    hour, minute = piece.clock
    if piece.meridiem:
        hour = hour % 12 + (12 if piece.meridiem.startswith("p") else 0)
    elif piece.pod in _PM_PODS or (piece.pod in _NIGHT_PODS and hour >= 6):
        hour = hour + 12 if hour < 12 else hour
    elif piece.pod is None and not piece.exact_clock and 1 <= hour <= 6:
        hour += 12
    return hour % 24, minute


def _value(piece: _Piece, ctx: _Context) -> Any:
    since = _SINCE_BEFORE.search(ctx.text, 0, piece.start)
    if piece.moment is not None:
        return piece.moment.isoformat()
    if piece.period is not None and since is None:
        return {"from": piece.period[0].isoformat(), "to": piece.period[1].isoformat()}
    start_day = piece.period[0] if piece.period else piece.day
    if since is not None and start_day is not None and start_day <= ctx.today:
        return {"from": start_day.isoformat(), "to": (ctx.today + timedelta(days=1)).isoformat()}
    if piece.period is not None:
        return {"from": piece.period[0].isoformat(), "to": piece.period[1].isoformat()}
    if piece.clock is None and piece.pod is None:
        return piece.day.isoformat() if piece.day else None
    hour, minute = _hour(piece)
    day = piece.day
    if day is None:
        if piece.clock is None:
            return None  # a bare part of day ("abends") is too vague to resolve
        day = ctx.today
        if datetime(
            day.year, day.month, day.day, hour, minute, tzinfo=ctx.zone
        ) < ctx.now and not ctx.looks_back(piece.start):
            day += timedelta(days=1)
    return datetime(day.year, day.month, day.day, hour, minute, tzinfo=ctx.zone).isoformat()


def _span(piece: _Piece, ctx: _Context) -> tuple[int, int]:
    since = _SINCE_BEFORE.search(ctx.text, 0, piece.start)
    return (since.start() if since else piece.start), piece.end


@cache
def _rules(lang: str) -> list[tuple[re.Pattern[str], Handler]]:
    return _COMMON + (_DE if lang == "de" else _EN)


def extract_times(
    text: str,
    lang: str,
    *,
    now: datetime,
    tz: str = "Europe/Berlin",
    prefer: Prefer = "future",
) -> list[Entity]:
    """Find time expressions in ``text`` and resolve them against ``now`` (aware) in the zone ``tz``."""
    zone = ZoneInfo(tz)
    local_now = now.astimezone(zone)
    ctx = _Context(text=text, lang=lang, now=local_now, today=local_now.date(), zone=zone, prefer=prefer)
    if lang not in ("en", "de"):
        return _extract_with_dateparser(ctx)
    pieces: list[_Piece] = []
    for pattern, handler in _rules(lang):
        for match in pattern.finditer(text):
            piece = handler(match, ctx)
            if piece is not None:
                pieces.append(piece)
    entities: list[Entity] = []
    for piece in _apply_edges(_combine(_choose(pieces), text), text):
        value = _value(piece, ctx)
        if value is None:
            continue
        start, end = _span(piece, ctx)
        entities.append(Entity("time", value, start, end, EXTRACTOR, text=text[start:end]))
    return entities


@cache
def _dateparser_search() -> Callable[..., Any]:
    from dateparser.search import search_dates  # slow to import: only for languages without rules

    return search_dates


def _extract_with_dateparser(ctx: _Context) -> list[Entity]:
    settings = {
        "PREFER_DATES_FROM": "past" if ctx.prefer == "past" else "future",
        "RELATIVE_BASE": ctx.now.replace(tzinfo=None),
        "TIMEZONE": str(ctx.zone),
        "RETURN_AS_TIMEZONE_AWARE": True,
    }
    try:
        found = _dateparser_search()(ctx.text, languages=[ctx.lang], settings=settings) or []
    except Exception:  # dateparser raises assorted errors on odd input; a missed date is not fatal
        return []
    entities: list[Entity] = []
    cursor = 0
    for surface, moment in found:
        start = ctx.text.find(surface, cursor)
        if start < 0:
            continue
        cursor = start + len(surface)
        has_time = moment.hour or moment.minute
        value = moment.isoformat() if has_time else moment.date().isoformat()
        entities.append(Entity("time", value, start, cursor, EXTRACTOR, text=surface))
    return entities
