"""How customers say how urgent a mail is (English and German): cues that move the priority model.

    cues = priority_cues("Seit heute morgen können 40 Mitarbeiter nicht arbeiten, bitte dringend!")
    adjusted = apply_cues(cues, {"low": .2, "normal": .5, "high": .2, "urgent": .1})

A cue is a level (``urgent``, ``high``, ``low``), a weight (probability mass it adds before
renormalising) and a short English reason for the routing explanation. Kinds of cue:

* business impact: production/warehouse/lines standing still, outages, data loss, security incidents
  (urgent); a person or a number of people blocked (high; many people or "nobody" adds to urgent);
* urgency words: "urgent", "asap", "dringend", "eilt", "sofort" (high), unless negated;
* negated urgency and patience: "not urgent", "no rush", "kein Eilfall", "keine Eile", "nicht
  dringend", "wenn Sie Zeit haben" (low; they also cancel the urgency words of the same mail);
* deadlines in the text: "by tomorrow", "bis morgen", "bis Freitag", "Frist ... 12.12." (high);
* escalation, threats to cancel or to involve a lawyer, repeated contact ("third time", "zum
  wiederholten Mal", "noch immer keine Antwort") (high);
* questions, wishes and feedback ("feature request", "wäre schön", "kurze Frage") (low).

The model keeps its say: a cue adds to a class, it does not set it.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass

PRIORITY_LEVELS: tuple[str, ...] = ("low", "normal", "high", "urgent")


@dataclass(frozen=True, slots=True)
class Cue:
    level: str
    weight: float
    reason: str


def _rx(pattern: str) -> re.Pattern[str]:
    return re.compile(pattern, re.IGNORECASE)


_NEGATED_URGENCY = _rx(
    r"\b(?:not|isn'?t|is not|no(?:thing)?|nicht|kein(?:e|en)?)\s+(?:so\s+|sehr\s+|besonders\s+|super\s+|"
    r"really\s+)?(?:urgent|dringend|eilig|eilt|kritisch|critical|pressing|eilfall|rush|hurry|eile)\b|"
    r"\bno (?:rush|hurry)\b|\bkeine eile\b|\bhat (?:keine|noch) zeit\b|\beilt nicht\b|\bkein eilfall\b|"
    r"\b(?:whenever|when(?:ever)? you (?:have|get|find) (?:a )?(?:time|chance|a minute))\b|"
    r"\bwenn sie (?:mal )?zeit haben\b|\bbei gelegenheit\b|\bin ruhe\b|\blow priority\b|"
    r"\bniedrige priorität\b|\bnot time[- ]critical\b|\bnicht zeitkritisch\b"
)
_URGENCY = _rx(
    r"\burgent(?:ly)?\b|\basap\b|\bas soon as possible\b|\bimmediately\b|\bright away\b|\bemergency\b|"
    r"\bcritical\b|\bdringend\w*|\beilt\b|\beilig\w*|\bsofort\w*|\bumgehend\w*|\bschnellstmöglich\w*|"
    r"\bnotfall\w*|\bhöchste priorität\b|\bhigh priority\b|\bprio ?1\b|!!+"
)
_OUTAGE = _rx(
    r"production (?:is |has )?(?:down|stopped|halted)|\bdown in production\b|(?:site|shop|system|server|"
    r"platform|service|api|app|website|store) (?:is |has )?(?:completely |totally )?(?:down|offline|dead)\b|"
    r"complete(?:ly)? (?:down|standstill|outage)|total outage|\boutage\b|nothing works|"
    r"(?:warehouse|lines?|production|plant|factory|shop floor|tills|checkouts?) (?:is |are )?"
    r"(?:down|stopped|at a standstill|standing still|locked out)|"
    r"security (?:incident|breach)|\bhacked\b|data (?:loss|breach)|\bdata leak|lost (?:all )?(?:our )?data|"
    r"systemausfall|produktionsausfall|komplett ausgefallen|totalausfall|\bausgefallen\b|stillstand|"
    r"(?:bänder|linien?|produktion|maschinen|lager|kassen|anlage) (?:steh(?:t|en)|läuft nicht|"
    r"laufen nicht)|nichts geht mehr|geht gar nichts|"
    r"sicherheitsvorfall|gehackt|datenverlust|datenpanne|datenleck|unbefugte[rn]? zugriff|daten (?:sind )?weg"
)
_MANY_BLOCKED = _rx(
    r"\b(?:nobody|no ?one|none of (?:us|our \w+)|all (?:of )?(?:our |the )?(?:users|staff|employees|agents|"
    r"colleagues|people|team)|the whole (?:team|company|office)|niemand|keiner|alle (?:unsere[n]? )?"
    r"(?:mitarbeiter\w*|kollegen|kolleginnen|nutzer\w*|benutzer\w*|anwender\w*)|"
    r"(?:das |die )?(?:ganze|gesamte) (?:team|firma|büro|abteilung|belegschaft))\b[^.!?\n]{0,60}"
    r"\b(?:can(?:no|')?t|can|could|cannot|unable|able|is|are|können|kann|kommt|kommen)\b|"
    r"\b(?:[2-9]\d|\d{3,})\s+(?:users|employees|staff|people|agents|colleagues|mitarbeiter\w*|kollegen|"
    r"nutzer\w*|benutzer\w*|personen|leute)\b"
)
_BLOCKED = _rx(
    r"\blocked out\b|\bcan(?:no|')?t (?:log ?in|sign ?in|work|access|get in|open|send|print|invoice)|"
    r"\bcannot (?:log ?in|sign ?in|work|access)|\bunable to (?:log ?in|sign ?in|work|access)|\bblocked\b|"
    r"\bstuck\b|\bno access\b|\bgesperrt\b|kommen? nicht (?:mehr )?(?:rein|weiter|ran)|"
    r"(?:können|kann) (?:uns |sich |mich )?(?:nicht mehr |nicht )(?:einloggen|anmelden|arbeiten|"
    r"zugreifen|drucken|versenden|rechnungen)|nicht (?:mehr )?einloggen|kein zugriff|kein zugang"
)
_WORK_VERB = _rx(r"log ?in|sign ?in|\bwork|access|scan|print|einlogg|anmeld|arbeit|zugreif|drucken|buchen")
_ESCALATION = _rx(
    r"\bescalat|\blawyer\b|\battorney\b|\blegal action\b|chargeback|final (?:notice|reminder)|"
    r"\bunacceptable\b|\bfurious\b|\b(?:otherwise|or) (?:we|i) (?:will|'ll) (?:cancel|terminate|leave)|"
    r"eskalation|eskalier|\banwalt|\banwältin|inkasso|fristsetzung|letzte frist|unzumutbar|"
    r"inakzeptabel|außerordentlich|fristlos|(?:sonst|andernfalls) (?:kündigen|werden wir kündigen)"
)
_REPEATED = _rx(
    r"\b(?:second|third|fourth|2nd|3rd|4th|\d+(?:st|nd|rd|th)) (?:time|mail|e-?mail|request|attempt)\b|"
    r"\bstill (?:no|not|waiting|haven'?t)\b|\bno (?:one|body) (?:has )?(?:replied|answered|got back)|"
    r"\b(?:again|already) (?:wrote|asked|reported|called)\b|\bas (?:already|previously) (?:reported|mentioned)\b|"
    r"zum (?:wiederholten|zweiten|dritten|x-ten) mal|\bschon (?:mehrfach|zweimal|dreimal|wieder)\b|"
    r"(?:noch )?immer (?:noch )?(?:keine antwort|nicht)|bereits (?:mehrfach|gemeldet|geschrieben)|"
    r"wie (?:bereits|schon) (?:gemeldet|geschrieben|mitgeteilt)"
)
_DEADLINE = _rx(
    r"\b(?:by|until|before|till|no later than|deadline(?: is)?)\s+(?:the\s+)?(?:today|tonight|tomorrow|"
    r"end of (?:the )?(?:day|week)|eod|cob|noon|monday|tuesday|wednesday|thursday|friday|\d{1,2}(?:st|nd|rd|th)?"
    r"[./ ]\s?\w+)|\bdeadline\b|\bdue (?:today|tomorrow)\b|"
    r"\bbis (?:spätestens )?(?:heute|morgen|übermorgen|montag|dienstag|mittwoch|donnerstag|freitag|"
    r"(?:zum )?\d{1,2}\.\s?\d{0,2}\.?|ende der woche|feierabend|mittag)|\bfrist\w*|\bstichtag\b|"
    r"\b(?:heute|morgen) noch\b|\bmuss heute\b|\bneeds? to (?:go out|be done) (?:today|tomorrow)"
)
_LOW = _rx(
    r"\bfeature (?:request|wish|idea)|\bsuggestion\b|\bwould be (?:nice|great|good)\b|\bjust (?:wondering|curious)\b|"
    r"\bquick question\b|\bfeedback\b|\bfyi\b|\bfor your information\b|\bverbesserungsvorschlag|\banregung\b|"
    r"\bwäre (?:schön|toll|super|praktisch)\b|\bkurze frage\b|\bnur (?:eine )?(?:frage|info)\b|\bwunsch\b|"
    r"\bzur info\b"
)


def priority_cues(text: str) -> list[Cue]:
    """Every cue in ``text`` (the new text of a mail, quotes and signature removed)."""
    cues: list[Cue] = []
    negated = bool(_NEGATED_URGENCY.search(text))
    if _OUTAGE.search(text):
        cues.append(Cue("urgent", 0.75, "business impact: outage/standstill/data or security incident"))
    many = _MANY_BLOCKED.search(text)
    blocked = _BLOCKED.search(text) or (many and _WORK_VERB.search(text))  # "nobody can log in"
    if many and (blocked or _OUTAGE.search(text)):
        cues.append(Cue("urgent", 0.35, "many people blocked"))
        cues.append(Cue("high", 0.45, "people blocked"))
    elif blocked:
        cues.append(Cue("high", 0.6, "a user is blocked"))
    if negated:
        cues.append(Cue("low", 0.45, "says it is not urgent"))
    elif _URGENCY.search(text):
        cues.append(Cue("high", 0.35, "urgency words"))
    if _ESCALATION.search(text):
        cues.append(Cue("high", 0.55, "escalation, legal step or threat to cancel"))
    if _REPEATED.search(text):
        cues.append(Cue("high", 0.3, "repeated contact on the same issue"))
    if _DEADLINE.search(text) and not negated:
        cues.append(Cue("high", 0.3, "deadline in the text"))
    if _LOW.search(text) and not cues:
        cues.append(Cue("low", 0.3, "question, wish or feedback"))
    return cues


def apply_cues(cues: Iterable[Cue], probs: Mapping[str, float]) -> dict[str, float]:
    """``probs`` with each cue's weight added to its level, renormalised."""
    adjusted = {name: float(p) for name, p in probs.items()}
    for cue in cues:
        if cue.level in adjusted:
            adjusted[cue.level] += cue.weight
    total = sum(adjusted.values()) or 1.0
    return {name: p / total for name, p in adjusted.items()}


__all__ = ["PRIORITY_LEVELS", "Cue", "apply_cues", "priority_cues"]
