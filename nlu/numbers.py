"""Numbers as people write them in English and German chat messages.

``parse_numeral`` reads digit strings with either language's separators ("40.000", "1,2", "40,000.50");
``parse_number_word`` reads spelled-out numbers ("fünfzigtausend", "zwei", "twenty-five").
"""

from __future__ import annotations

import re

_EN_UNITS: dict[str, int] = {
    "zero": 0, "a": 1, "an": 1, "one": 1, "two": 2, "three": 3, "four": 4, "five": 5, "six": 6,
    "seven": 7, "eight": 8, "nine": 9, "ten": 10, "eleven": 11, "twelve": 12, "thirteen": 13,
    "fourteen": 14, "fifteen": 15, "sixteen": 16, "seventeen": 17, "eighteen": 18, "nineteen": 19,
}  # fmt: skip
_EN_TENS: dict[str, int] = {
    "twenty": 20, "thirty": 30, "forty": 40, "fifty": 50, "sixty": 60, "seventy": 70, "eighty": 80,
    "ninety": 90,
}  # fmt: skip
_EN_SCALES: dict[str, int] = {"hundred": 100, "thousand": 1000, "million": 1_000_000}

_DE_UNITS: dict[str, int] = {
    "null": 0, "ein": 1, "eins": 1, "eine": 1, "einen": 1, "einem": 1, "einer": 1, "zwei": 2, "zwo": 2,
    "drei": 3, "vier": 4, "fünf": 5, "fuenf": 5, "sechs": 6, "sieben": 7, "acht": 8, "neun": 9,
    "zehn": 10, "elf": 11, "zwölf": 12, "zwoelf": 12, "dreizehn": 13, "vierzehn": 14, "fünfzehn": 15,
    "fuenfzehn": 15, "sechzehn": 16, "siebzehn": 17, "achtzehn": 18, "neunzehn": 19,
}  # fmt: skip
_DE_TENS: dict[str, int] = {
    "zwanzig": 20, "dreißig": 30, "dreissig": 30, "vierzig": 40, "fünfzig": 50, "fuenfzig": 50,
    "sechzig": 60, "siebzig": 70, "achtzig": 80, "neunzig": 90,
}  # fmt: skip
_DE_ONES_IN_COMPOUND: dict[str, int] = {k: v for k, v in _DE_UNITS.items() if 1 <= v <= 9} | {"ein": 1}


def _de_below_100(word: str) -> int | None:
    if word in _DE_UNITS:
        return _DE_UNITS[word]
    if word in _DE_TENS:
        return _DE_TENS[word]
    ones, sep, tens = word.partition("und")
    if sep and ones in _DE_ONES_IN_COMPOUND and tens in _DE_TENS:
        return _DE_ONES_IN_COMPOUND[ones] + _DE_TENS[tens]
    return None


def _de_below_1000(word: str) -> int | None:
    if "hundert" not in word:
        return _de_below_100(word)
    head, _, tail = word.partition("hundert")
    hundreds = 1 if head == "" else _de_below_100(head)
    if hundreds is None or hundreds > 9:
        return None
    if tail.startswith("und"):  # "hundertundzwanzig"
        tail = tail[3:]
    rest = 0 if tail == "" else _de_below_100(tail)
    return None if rest is None else hundreds * 100 + rest


def _de_word(word: str) -> int | None:
    if "tausend" not in word:
        return _de_below_1000(word)
    head, _, tail = word.partition("tausend")
    thousands = 1 if head == "" else _de_below_1000(head)
    if thousands is None:
        return None
    if tail.startswith("und"):
        tail = tail[3:]
    rest = 0 if tail == "" else _de_below_1000(tail)
    return None if rest is None else thousands * 1000 + rest


def _en_words(text: str) -> int | None:
    tokens = [t for t in re.split(r"[\s-]+", text) if t and t != "and"]
    if not tokens:
        return None
    total = current = 0
    for token in tokens:
        if token in _EN_UNITS:
            current += _EN_UNITS[token]
        elif token in _EN_TENS:
            current += _EN_TENS[token]
        elif token == "hundred":
            current = max(current, 1) * 100
        elif token in _EN_SCALES:
            total += max(current, 1) * _EN_SCALES[token]
            current = 0
        else:
            return None
    return total + current


def parse_number_word(text: str, lang: str) -> int | None:
    """Read a spelled-out number: "fünfzigtausend" -> 50000, "twenty-five" -> 25; ``None`` if it isn't one."""
    word = text.strip().lower()
    if not word:
        return None
    if lang == "de":
        return _de_word(word.replace(" ", ""))
    return _en_words(word)


_GROUPED_DOT = re.compile(r"\d{1,3}(?:\.\d{3})+")
_GROUPED_COMMA = re.compile(r"\d{1,3}(?:,\d{3})+")
_GROUPED_SPACE = re.compile(r"\d{1,3}(?:[ \u00a0\u202f']\d{3})+")


def parse_numeral(text: str, lang: str, *, scaled: bool = False) -> float | None:
    """Read a digit string written with English or German separators; ``None`` if it isn't a number.

    "40.000" -> 40000 in both languages (a dot followed by groups of exactly three digits is a thousands
    separator) unless ``scaled`` (a multiplier follows: "1.250 Mio." is 1.25 million); "1,2" -> 1.2;
    "40,000" -> 40000 in English and 40.0 in German; "40.000,50" -> 40000.5; "40,000.50" -> 40000.5.
    """
    s = text.strip().rstrip(",-–").strip()
    if not s:
        return None
    if _GROUPED_SPACE.fullmatch(s):
        s = re.sub(r"[ \u00a0\u202f']", "", s)
    if "," in s and "." in s:
        # whichever separator comes last is the decimal mark
        s = s.replace(".", "").replace(",", ".") if s.rfind(",") > s.rfind(".") else s.replace(",", "")
    elif "." in s:
        if not scaled and _GROUPED_DOT.fullmatch(s):
            s = s.replace(".", "")
    elif "," in s:
        if _GROUPED_COMMA.fullmatch(s) and (lang != "de" or s.count(",") > 1):
            s = s.replace(",", "")
        else:
            s = s.replace(",", ".")
    try:
        return float(s)
    except ValueError:
        return None


def as_number(value: float) -> int | float:
    """An integer when the value is whole (40000.0 -> 40000), else the float rounded to cents."""
    rounded = round(value, 2)
    return int(rounded) if rounded == int(rounded) else rounded
