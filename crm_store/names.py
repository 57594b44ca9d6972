"""Name folding for forgiving lookup: case, umlauts and transliteration, honorifics, legal suffixes.

"Müller", "Mueller" and "MULLER" fold to the same key; "Fr. Schmidt" searches for "schmidt";
"ACME Corp." indexes as "acme". A Cologne-phonetics code catches spellings like "Schmitt"/"Schmidt".
"""

from __future__ import annotations

import re

from unidecode import unidecode

HONORIFICS = frozenset({
    "mr", "mrs", "ms", "miss", "dr", "prof", "sir", "frau", "fr", "herr", "hr", "hrn", "fräulein", "frl",
    "mag", "ing", "dipl", "dipl-ing", "di", "mme", "m", "sig", "sra", "sr",
})
LEGAL_SUFFIXES = frozenset({
    "gmbh", "ag", "kg", "ohg", "gbr", "ug", "se", "ev", "e.v", "co", "mbh", "ltd", "limited", "inc",
    "incorporated", "llc", "llp", "plc", "corp", "corporation", "company", "sa", "sarl", "sas", "bv", "nv",
    "spa", "srl", "oy", "ab", "as", "kgaa", "haftungsbeschrankt", "group", "holding",
})
_TOKEN_RE = re.compile(r"[a-z0-9]+")
_DIGRAPHS = (("ae", "a"), ("oe", "o"), ("ue", "u"))


def fold(text: str) -> str:
    """Lower-case ASCII with German digraphs collapsed: 'Müller' == 'Mueller' == 'muller'."""
    s = unidecode(text).lower()
    for a, b in _DIGRAPHS:
        s = s.replace(a, b)
    return s


def tokens(text: str) -> list[str]:
    return _TOKEN_RE.findall(fold(text))


def person_query_tokens(text: str) -> list[str]:
    return [t for t in tokens(text) if t not in HONORIFICS]


def org_tokens(name: str) -> list[str]:
    toks = [t for t in tokens(name) if t not in LEGAL_SUFFIXES]
    return toks or tokens(name)


_COLOGNE = {
    **dict.fromkeys("aeijouy", "0"), "h": "", "b": "1", "f": "3", "v": "3", "w": "3",
    "g": "4", "k": "4", "q": "4", "l": "5", "m": "6", "n": "6", "r": "7", "s": "8", "z": "8",
}


def phonetic(word: str) -> str:
    """Kölner Phonetik (Cologne phonetics), good for German and fair for English names."""
    w = unidecode(word).lower()
    w = "".join(ch for ch in w if ch.isalpha())
    codes: list[str] = []
    for i, ch in enumerate(w):
        prev = w[i - 1] if i > 0 else ""
        nxt = w[i + 1] if i + 1 < len(w) else ""
        if ch in _COLOGNE:
            code = _COLOGNE[ch]
        elif ch == "p":
            code = "3" if nxt == "h" else "1"
        elif ch in "dt":
            code = "8" if nxt in "csz" else "2"
        elif ch == "c":
            if i == 0:
                code = "4" if nxt in "ahkloqrux" else "8"
            else:
                code = "8" if prev in "sz" or nxt not in "ahkoqux" else "4"
        elif ch == "x":
            code = "8" if prev in "ckq" else "48"
        else:
            code = ""
        codes.append(code)
    out: list[str] = []
    for code in codes:
        for c in code:
            if not out or out[-1] != c:
                out.append(c)
    if not out:
        return ""
    head, rest = out[0], [c for c in out[1:] if c != "0"]
    return "".join([head, *rest])[:20]
