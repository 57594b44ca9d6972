"""How well a name someone typed matches a contact's full name: honestly, by first and last name.

    name_match("Hannah Koch", "Hannah Koch")      -> "exact"
    name_match("Juergen Mueller", "Jürgen Müller") -> "exact"   (spelling variants fold together)
    name_match("Hannah Koh", "Hannah Koch")       -> "near"    (a typo in one part)
    name_match("Emailed Hannah Koch", "Hannah Koch") -> "near" (the full name, a stray word before it)
    name_match("Hannah Weber", "Hannah Becker")   -> "other_surname"
    name_match("Hannah", "Hannah Koch")           -> "first_only"
    name_match("Koch", "Hannah Koch")             -> "surname_only"

Only "exact" and "near" (and a unique surname, "Frau Koch") may be used without asking; the others are
offered as a choice next to "create a new contact".
"""

from __future__ import annotations

import re
from difflib import SequenceMatcher

from crm_store.names import fold

NEAR = 0.84  # SequenceMatcher ratio of a name part with one typo ("koh"/"koch" 0.86, "becker"/"weber" 0.73)
TITLES = frozenset({"mr", "mrs", "ms", "dr", "prof", "herr", "frau", "herrn"})
_PART = re.compile(r"[^\W\d_]+(?:[-'][^\W\d_]+)*")


def _parts(name: str) -> list[str]:
    return [p for p in (fold(w) for w in _PART.findall(name or "")) if p.strip(".") not in TITLES]


def _close(a: str, b: str) -> bool:
    return a == b or (min(len(a), len(b)) >= 3 and SequenceMatcher(None, a, b).ratio() >= NEAR)


def name_match(asked: str, full_name: str) -> str:
    """exact / near / surname_only / first_only / other_surname / other (see the module docstring)."""
    want, have = _parts(asked), _parts(full_name)
    if not want or not have:
        return "other"
    if want == have:
        return "exact"
    if len(want) > len(have) >= 2 and want[-len(have) :] == have:
        return "near"  # "Emailed Hannah Becker": a word before the full name was read as part of it
    if len(want) == 1:
        if want[0] == have[-1]:
            return "surname_only"
        if want[0] == have[0]:
            return "first_only"
        return "other"
    first_ok = _close(want[0], have[0])
    last_ok = _close(want[-1], have[-1])
    if first_ok and last_ok:
        return "near"
    if first_ok:
        return "other_surname"
    return "other"
