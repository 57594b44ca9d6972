"""Entities that rules find better than a model: e-mail, phone, amount + currency, ticket id, stage,
activity type and priority, in English and German (values as in contract §2).

Word lists are built in and extended by ``training_data/nlu/<lang>/synonyms.yml`` (Rasa synonyms) when
that file exists, so the training data and the rules agree. Rules favour precision: a word that is
only sometimes a stage ("proposal", "Angebot", "lead", "won") counts only in a deal context, and
currency words other than ISO codes count only next to a number.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass
from functools import cache
from pathlib import Path

import phonenumbers
import yaml

from nlu.numbers import as_number, parse_number_word, parse_numeral
from nlu.types import ACTIVITY_TYPES, PRIORITIES, STAGES, Entity

EXTRACTOR = "RuleEntityExtractor"
DATA_DIR = Path(__file__).resolve().parent.parent / "training_data" / "nlu"

# ---------------------------------------------------------------- built-in word lists

_ACTIVITY: dict[str, dict[str, str]] = {
    "en": {
        "call": "call", "calls": "call", "called": "call", "calling": "call", "phoned": "call",
        "rang": "call", "phone call": "call", "on the phone": "call", "telephoned": "call",
        "meeting": "meeting", "meetings": "meeting", "met": "meeting", "met with": "meeting",
        "emailed": "email", "e-mailed": "email", "mailed": "email", "sent an email": "email",
        "sent a mail": "email", "wrote an email": "email", "sent an e-mail": "email",
        "visit": "visit", "visits": "visit", "visited": "visit", "on site": "visit", "on-site": "visit",
        "onsite": "visit", "site visit": "visit", "note": "note", "notes": "note",
    },
    "de": {
        "call": "call", "calls": "call", "anruf": "call", "anrufe": "call", "angerufen": "call",
        "anrufen": "call", "telefoniert": "call", "telefonat": "call", "telefonate": "call",
        "telefonieren": "call", "telefongespräch": "call", "rückruf": "call", "zurückgerufen": "call",
        "meeting": "meeting", "meetings": "meeting", "termin": "meeting", "termine": "meeting",
        "besprechung": "meeting", "getroffen": "meeting",
        "mail geschickt": "email", "e-mail geschickt": "email", "email geschickt": "email",
        "mail geschrieben": "email", "e-mail geschrieben": "email", "email geschrieben": "email",
        "e-mail gesendet": "email", "mail gesendet": "email", "gemailt": "email",
        "besuch": "visit", "besucht": "visit", "besuchen": "visit", "kundenbesuch": "visit",
        "vor ort": "visit", "vor-ort-termin": "visit", "notiz": "note", "notizen": "note",
        "vermerk": "note", "notiere": "note",
    },
}  # fmt: skip
_STAGE_STRONG: dict[str, dict[str, str]] = {
    "en": {
        "negotiation": "negotiation", "negotiations": "negotiation", "negotiation stage": "negotiation",
        "in negotiation": "negotiation", "closed won": "won", "closed-won": "won", "closed lost": "lost",
        "closed-lost": "lost", "proposal stage": "proposal", "proposal phase": "proposal",
        "qualified": "qualified", "qualification stage": "qualified", "lead stage": "lead",
    },
    "de": {
        "verhandlung": "negotiation", "verhandlungen": "negotiation", "verhandlungsphase": "negotiation",
        "angebotsphase": "proposal", "angebotsstadium": "proposal", "qualifiziert": "qualified",
        "closed won": "won", "closed-won": "won", "closed lost": "lost", "closed-lost": "lost",
    },
}  # fmt: skip
_STAGE_WEAK: dict[str, dict[str, str]] = {
    "en": {
        "lead": "lead", "qualification": "qualified", "proposal": "proposal", "won": "won",
        "lost": "lost",
    },
    "de": {
        "lead": "lead", "qualifizierung": "qualified", "angebot": "proposal", "gewonnen": "won",
        "verloren": "lost", "won": "won", "lost": "lost",
    },
}  # fmt: skip
_PRIORITY: dict[str, dict[str, str]] = {
    "en": {
        "urgent": "urgent", "urgently": "urgent", "asap": "urgent", "a.s.a.p.": "urgent",
        "critical": "urgent", "emergency": "urgent", "immediately": "urgent", "right away": "urgent",
        "top priority": "urgent", "highest priority": "urgent", "prio 1": "urgent",
        "high priority": "high", "high prio": "high", "important": "high", "priority high": "high",
        "normal priority": "normal", "medium priority": "normal", "priority normal": "normal",
        "low priority": "low", "low prio": "low", "not urgent": "low", "no rush": "low",
        "no hurry": "low", "not important": "low", "priority low": "low",
    },
    "de": {
        "dringend": "urgent", "dringende": "urgent", "dringenden": "urgent", "dringender": "urgent",
        "sofort": "urgent", "asap": "urgent", "kritisch": "urgent", "kritische": "urgent",
        "kritischer": "urgent", "eilig": "urgent", "eilt": "urgent", "notfall": "urgent",
        "umgehend": "urgent", "schnellstmöglich": "urgent", "so schnell wie möglich": "urgent",
        "höchste priorität": "urgent", "prio 1": "urgent", "wichtig": "high", "wichtige": "high",
        "wichtiger": "high", "hohe priorität": "high", "hohe prio": "high", "high prio": "high",
        "priorität hoch": "high", "prio hoch": "high", "normale priorität": "normal",
        "mittlere priorität": "normal", "priorität normal": "normal", "niedrige priorität": "low",
        "niedrige prio": "low", "geringe priorität": "low", "low prio": "low", "nicht dringend": "low",
        "nicht so dringend": "low", "nicht wichtig": "low", "keine eile": "low", "hat zeit": "low",
    },
}  # fmt: skip
# Words that are a synonym only in context; the synonym file may list them, the rules skip them.
_CONTEXT_ONLY = frozenset({
    "phone", "sync", "meet", "try", "dead", "mail", "email", "e-mail", "treffen", "geschickt", "hoch",
    "niedrig", "fr", "zoom",
})  # fmt: skip

_CURRENCY: dict[str, str] = {
    "€": "EUR", "eur": "EUR", "euro": "EUR", "euros": "EUR", "$": "USD", "us$": "USD", "usd": "USD",
    "dollar": "USD", "dollars": "USD", "bucks": "USD", "£": "GBP", "gbp": "GBP", "pound": "GBP",
    "pounds": "GBP", "chf": "CHF", "franken": "CHF", "fr.": "CHF", "sfr.": "CHF", "sfr": "CHF",
}  # fmt: skip
_STANDALONE_CURRENCY = re.compile(r"(?<![\w])(?:EUR|USD|GBP|CHF|[Ee]uros?|[Dd]ollars?)(?![\w])")
_MULTIPLIERS: dict[str, int] = {
    "k": 1_000, "tsd": 1_000, "tsd.": 1_000, "tausend": 1_000, "thousand": 1_000, "grand": 1_000,
    "m": 1_000_000, "mn": 1_000_000, "mio": 1_000_000, "mio.": 1_000_000, "million": 1_000_000,
    "millions": 1_000_000, "millionen": 1_000_000, "bn": 1_000_000_000, "billion": 1_000_000_000,
    "mrd": 1_000_000_000, "mrd.": 1_000_000_000, "milliarden": 1_000_000_000,
    "milliarde": 1_000_000_000,
}  # fmt: skip

# ---------------------------------------------------------------- lexicon (built-in + synonyms.yml)


@dataclass(frozen=True, slots=True)
class _Lexicon:
    activity: dict[str, str]
    stage_strong: dict[str, str]
    stage_weak: dict[str, str]
    priority: dict[str, str]
    currency: dict[str, str]
    pattern: re.Pattern[str]
    amount: re.Pattern[str]


def _read_synonyms(path: Path) -> dict[str, list[str]]:
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
    except (OSError, yaml.YAMLError):
        return {}
    out: dict[str, list[str]] = {}
    for item in data.get("nlu") or []:
        if isinstance(item, dict) and "synonym" in item and isinstance(item.get("examples"), str):
            lines = (line.strip() for line in item["examples"].splitlines())
            words = [line[1:].strip().lower() for line in lines if line.startswith("-")]
            out.setdefault(str(item["synonym"]), []).extend(w for w in words if w)
    return out


def _alternation(words: Iterable[str]) -> str:
    escaped = (re.escape(w).replace(r"\ ", r"\s+") for w in sorted(set(words), key=len, reverse=True))
    return "|".join(escaped)


@cache
def lexicon(lang: str, data_dir: Path = DATA_DIR) -> _Lexicon:
    """The word lists for ``lang`` (built-in defaults plus ``<data_dir>/<lang>/synonyms.yml``), built once."""
    base = lang if lang in _ACTIVITY else "en"
    activity = dict(_ACTIVITY[base])
    strong = dict(_STAGE_STRONG[base])
    weak = dict(_STAGE_WEAK[base])
    priority = dict(_PRIORITY[base])
    currency = dict(_CURRENCY)
    for value, words in _read_synonyms(data_dir / lang / "synonyms.yml").items():
        for word in words:
            if word in _CONTEXT_ONLY:
                continue
            if value in ACTIVITY_TYPES:
                activity.setdefault(word, value)
            elif value in PRIORITIES:
                priority.setdefault(word, value)
            elif value in STAGES and word not in strong and word not in weak:
                (strong if " " in word or "-" in word else weak)[word] = value
            elif re.fullmatch(r"[A-Z]{3}", value):
                currency.setdefault(word, value)
    words = [*activity, *strong, *weak, *priority]
    pattern = re.compile(rf"(?<![\w@.-])(?:{_alternation(words)})(?![\w@-])", re.IGNORECASE)
    return _Lexicon(activity, strong, weak, priority, currency, pattern, _amount_pattern(currency))


# ---------------------------------------------------------------- patterns

_EMAIL = re.compile(r"(?<![\w.+-])[\w.%+-]+@[\w-]+(?:\.[\w-]+)*\.[A-Za-z]{2,}(?![\w])")
_PHONE = re.compile(r"(?<![\w+#/.,:€$£-])(?:\+|00)?\(?\d[\d \t/()\-–]{5,24}\d(?![\w.,]\d|[\w€$£%])")
_ISO_DATE = re.compile(r"\d{4}-\d{1,2}-\d{1,2}")
_TICKET = re.compile(
    r"(?<![\w&])(?:#\s?(?P<hash>\d{2,})"
    r"|(?:tickets?|case|fall|vorgang|incident|ticketnummer|ticket-?nr\.?|ticket-?id"
    r"|(?:ticket|case|request|fall|vorgang|anfrage)\s+(?:no\.?|nr\.?|number|nummer|id|#))"
    r"\s*[:#]?\s*(?P<word>\d{2,}(?:-\d{2,})?)"
    r"|(?:TCK|TKT|TIC|INC|SR|T)-(?P<prefix>\d{2,}))(?![\w])",
    re.IGNORECASE,
)
_NUMBER = r"(?P<num>\d{1,3}(?:[.,'’\u00a0\u202f ]\d{3})+(?:[.,]\d{1,2})?|\d+(?:[.,]\d+)?)"
_MULT = (
    r"(?P<mult>k|mn|m|mio\.?|millions?|millionen|milliarden?|mrd\.?|bn|billion|tsd\.?|tausend|thousand|grand)"
)
_CUES = r"(?:amount|betrag|volumen|volume|value|wert|worth|budget|umsatz|revenue|deal\s+size|dealwert|auftragswert)"


def _amount_pattern(currency: dict[str, str]) -> re.Pattern[str]:
    cur = _alternation(currency)
    return re.compile(
        rf"(?<![\w.,#+/:-])(?:(?P<cb>{cur})\s?)?{_NUMBER}(?:\s?{_MULT}(?![\w]))?"
        rf"(?:\s?(?:,-|,–|,--))?(?:\s?(?P<ca>{cur})(?![\w]))?(?![\w.,]\d|\w)",
        re.IGNORECASE,
    )


_CUE_BEFORE = re.compile(
    rf"{_CUES}\s*(?:of|von|is|ist|to|auf|:|=|about|ca\.?|around|rund|circa)?\s*$", re.IGNORECASE
)
_WORD_AMOUNT_DE = re.compile(
    r"(?<![\w])(?P<w>[a-zäöüß]*(?:tausend|hundert)[a-zäöüß]*|(?:ein|eine|zwei|drei|vier|fünf|sechs|sieben|acht|neun|zehn|zwanzig|fünfzig|hundert)\s+(?:millionen|million|milliarden|milliarde))(?![\w])",
    re.IGNORECASE,
)
_WORD_AMOUNT_EN = re.compile(
    r"(?<![\w])(?P<w>(?:(?:a|one|two|three|four|five|six|seven|eight|nine|ten|eleven|twelve|fifteen|twenty|thirty|forty|fifty|sixty|seventy|eighty|ninety|hundred)[\s-]+)+(?:thousand|million|billion))(?![\w])",
    re.IGNORECASE,
)

# ---------------------------------------------------------------- extractors


def _entity(kind: str, value: str | int | float, text: str, start: int, end: int) -> Entity:
    surface = text[start:end]
    return Entity(kind, value, start, end, EXTRACTOR, text=None if surface == str(value) else surface)


def _emails(text: str) -> list[Entity]:
    out = []
    for m in _EMAIL.finditer(text):
        end = m.end()
        while text[end - 1] in ".-":
            end -= 1
        out.append(_entity("email", text[m.start() : end].lower(), text, m.start(), end))
    return out


def _phones(text: str, lang: str) -> list[Entity]:
    out = []
    for m in _PHONE.finditer(text):
        raw = m.group(0)
        start, end = m.start(), m.end()
        if raw.count("(") != raw.count(")"):
            start += raw.startswith("(")
            raw = text[start:end]
        digits = re.sub(r"\D", "", raw)
        if not 7 <= len(digits) <= 15 or _ISO_DATE.fullmatch(raw) or "  " in raw.strip():
            continue
        out.append(_entity("phone", _normalise_phone(raw, digits, lang), text, start, end))
    return out


def _normalise_phone(raw: str, digits: str, lang: str) -> str:
    cleaned = raw.replace("(0)", "").strip()
    if cleaned.startswith("00"):
        cleaned = "+" + cleaned[2:]
    region = None if cleaned.startswith("+") else "DE" if cleaned.startswith("0") or lang == "de" else None
    if region is None and not cleaned.startswith("+"):
        return digits
    try:
        number = phonenumbers.parse(cleaned, region)
    except phonenumbers.NumberParseException:
        return digits
    if not phonenumbers.is_possible_number(number):
        return digits
    return phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164)


def _tickets(text: str) -> list[Entity]:
    out = []
    for m in _TICKET.finditer(text):
        number = m["hash"] or m["word"] or m["prefix"]
        # As annotated: "#4711" and "TCK-4711" whole, after a keyword ("ticket 4711") the number only.
        start = m.start("word") if m["word"] else m.start()
        if m["word"] and "#" in text[m.start() : start]:
            start = text.rindex("#", m.start(), start)
        out.append(_entity("ticket_id", number, text, start, m.end()))
    return out


def _amounts(text: str, lang: str, lex: _Lexicon) -> list[Entity]:
    out: list[Entity] = []
    for m in lex.amount.finditer(text):
        cur_word = m["cb"] or m["ca"]
        mult = (m["mult"] or "").lower()
        raw = m["num"]
        if mult == "m" and not cur_word and not text[m.start("mult") - 1].isdigit():
            mult = ""  # "5 m" is metres or minutes more often than millions
        if not (cur_word or mult or _CUE_BEFORE.search(text, 0, m.start())):
            continue
        if re.search(r"\d[\s\u00a0\u202f]\d", raw) and not cur_word:
            continue
        number = parse_numeral(raw, lang, scaled=bool(mult))
        if number is None:
            continue
        value = as_number(number * _MULTIPLIERS.get(mult, 1))
        num_end = m.end("mult") if mult else m.end("num")
        out.append(_entity("amount", value, text, m.start("num"), num_end))
        for group in ("cb", "ca"):
            if m[group]:
                code = lex.currency[re.sub(r"\s+", " ", m[group].lower())]
                out.append(_entity("currency", code, text, m.start(group), m.end(group)))
    pattern = _WORD_AMOUNT_DE if lang == "de" else _WORD_AMOUNT_EN
    for m in pattern.finditer(text):
        value = _word_amount(m["w"], lang)
        if value is not None and value >= 100:
            out.append(_entity("amount", value, text, m.start("w"), m.end("w")))
            after = re.match(rf"\s*({_alternation(lex.currency)})(?![\w])", text[m.end() :], re.IGNORECASE)
            if after:
                start = m.end() + after.start(1)
                code = lex.currency[after[1].lower()]
                out.append(_entity("currency", code, text, start, start + len(after[1])))
    for m in _STANDALONE_CURRENCY.finditer(text):
        out.append(_entity("currency", _CURRENCY[m[0].lower()], text, m.start(), m.end()))
    return out


def _word_amount(words: str, lang: str) -> int | None:
    lowered = re.sub(r"\s+", " ", words.lower()).strip()
    head, _, scale = lowered.rpartition(" ")
    if scale in _MULTIPLIERS and scale not in ("tausend",):
        base = parse_number_word(head, lang) if head else 1
        return None if base is None else base * _MULTIPLIERS[scale]
    return parse_number_word(lowered, lang)


_DEAL_CONTEXT = re.compile(
    r"\b(?:deals?|opportunit(?:y|ies)|opps?|oppty|pipeline|stage|phase|status|auftrag|aufträge|geschäft|"
    r"verkaufschance|chance|zuschlag|contract|vertrag)\b",
    re.IGNORECASE,
)
_STAGE_CUE_BEFORE = re.compile(
    r"(?:\b(?:to|into|as|stage|status|phase|auf|in\s+die|in\s+den|nach|als|stufe)\s+(?:the\s+|die\s+|den\s+|das\s+)?)$",
    re.IGNORECASE,
)
_STAGE_CUE_AFTER = re.compile(
    r"^\s*(?:stage|phase|setzen|gesetzt|verschieben|verschoben|schieben|stellen|gestellt|markieren|markiert)\b",
    re.IGNORECASE,
)
_STAGE_VERB = re.compile(
    r"\b(?:move|moved|set|put|mark|marked|change|changed|update|updated|push|pushed|verschieb\w*|setz\w*|"
    r"stell\w*|änder\w*|markier\w*|schieb\w*)\b",
    re.IGNORECASE,
)
_EMAIL_NOUN = re.compile(r"(?<![\w@.-])(?:e-?mail|mail)(?![\w@-])", re.IGNORECASE)
_EMAIL_CUE_BEFORE = re.compile(r"\b(?:an|a|one|eine|einer|per|via|by|log|logge|new|neue)\s+$", re.IGNORECASE)
_EMAIL_CUE_AFTER = re.compile(
    r"^(?:\s+\w+){0,3}?\s+(?:geschickt|gesendet|geschrieben|verschickt|sent|written)\b", re.IGNORECASE
)
_RUF_AN = re.compile(r"(?<![\w])(?:ruf|rufe|ruft|rufen|rief)(?=\s(?:.*\s)?(?:an|zurück)\b)", re.IGNORECASE)
_TREFFEN_CUE = re.compile(r"\b(?:ein|das|dem|beim|zum|unser|unserem|nach\s+dem)\s+$", re.IGNORECASE)


def _words(text: str, lex: _Lexicon) -> list[Entity]:
    out: list[Entity] = []
    deal_context = _DEAL_CONTEXT.search(text) is not None
    stage_verb = _STAGE_VERB.search(text) is not None
    for m in lex.pattern.finditer(text):
        word = re.sub(r"\s+", " ", m[0].lower())
        start, end = m.start(), m.end()
        if word in lex.priority:
            out.append(_entity("priority", lex.priority[word], text, start, end))
        elif word in lex.stage_strong:
            out.append(_entity("stage", lex.stage_strong[word], text, start, end))
        elif word in lex.activity:
            out.append(_entity("activity_type", lex.activity[word], text, start, end))
        elif word in lex.stage_weak:
            cued = _STAGE_CUE_BEFORE.search(text, 0, start) or _STAGE_CUE_AFTER.match(text[end:])
            outcome = lex.stage_weak[word] in ("won", "lost")
            if (cued and (deal_context or stage_verb)) or (outcome and deal_context):
                out.append(_entity("stage", lex.stage_weak[word], text, start, end))
    for m in _EMAIL_NOUN.finditer(text):
        if _EMAIL_CUE_BEFORE.search(text, 0, m.start()) or _EMAIL_CUE_AFTER.match(text[m.end() :]):
            out.append(_entity("activity_type", "email", text, m.start(), m.end()))
    for m in re.finditer(r"(?<![\w])treffen(?![\w])", text, re.IGNORECASE):
        if _TREFFEN_CUE.search(text, 0, m.start()) or re.match(r"\s+mit\b", text[m.end() :]):
            out.append(_entity("activity_type", "meeting", text, m.start(), m.end()))
    separable = _RUF_AN.search(text)  # "Ruf Anna morgen an", "rief zurück"
    if separable:
        out.append(_entity("activity_type", "call", text, separable.start(), separable.end()))
    return out


# ---------------------------------------------------------------- public API

_SPECIFICITY = {
    "email": 0, "time": 1, "ticket_id": 2, "phone": 3, "amount": 4, "currency": 5, "stage": 6,
    "priority": 7, "activity_type": 8,
}  # fmt: skip


def merge_entities(*lists: Iterable[Entity]) -> list[Entity]:
    """Join entity lists and drop overlaps: the longer span wins, then the more specific type
    (email, time, ticket_id, phone, amount, currency, stage, priority, activity_type, then others);
    the result is sorted by position."""
    chosen: list[Entity] = []
    candidates = [e for entities in lists for e in entities]
    candidates.sort(key=lambda e: (e.start - e.end, _SPECIFICITY.get(e.entity, 9), e.start))
    for entity in candidates:
        if all(entity.end <= c.start or entity.start >= c.end for c in chosen):
            chosen.append(entity)
    return sorted(chosen, key=lambda e: (e.start, e.end))


def extract_rule_entities(text: str, lang: str) -> list[Entity]:
    """E-mail, phone, amount, currency, ticket id, stage, activity type and priority found in ``text``."""
    lex = lexicon(lang)
    return merge_entities(
        _emails(text),
        _tickets(text),
        _amounts(text, lang, lex),
        _phones(text, lang),
        _words(text, lex),
    )
