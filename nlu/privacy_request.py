"""Which data-protection right a privacy message asks for, beyond what the intent says.

The contract has three privacy intents (``gdpr_access``, ``gdpr_erasure``, ``unsubscribe``). Two more rights
reach us in the same words: a *restriction* of processing (Art. 18: keep the data, stop using it) and an
*objection* (Art. 21: stop processing for marketing or profiling). The intent classifier files them under
the nearest intent ("please restrict the processing of my data" reads like access or erasure, "I object to
profiling" like unsubscribe); these cues tell the privacy actions which right it is. They are deliberately
narrow: a cue must name the right (restrict/einschränken/sperren, object/widersprechen) or say "stop using
it but keep it"; anything else keeps the intent's own meaning.
"""

from __future__ import annotations

import re
from typing import Literal

Right = Literal["restriction", "objection"]

_RESTRICTION = re.compile(
    r"""
    \brestrict\w*\b.{0,40}\b(process\w*|data|use|using)\b
    | \b(process\w*|use)\s+of\s+my\s+data\b.{0,30}\brestrict\w*
    | \blimit\w*\s+(the\s+)?(processing|use)\b
    | \b(block|freeze)\s+my\s+(personal\s+)?data\b
    | \bstop\s+(using|processing)\s+my\s+(personal\s+)?data\b.{0,40}\b(not|don'?t|without)\s+(delet|eras|remov)
    | \beinschr(ä|ae)nk\w*
    | \bschr(ä|ae)nken\b.{0,60}\bein\b
    | \b(daten|verarbeitung)\b.{0,30}\bsperren\b
    | \bsperren\s+sie\b.{0,30}\bdaten\b
    | \bnicht\s+(mehr\s+)?(verwenden|nutzen|verarbeiten)\b.{0,40}\baber\b.{0,30}\bnicht\s+l(ö|oe)schen\b
    """,
    re.IGNORECASE | re.VERBOSE | re.DOTALL,
)

_OBJECTION = re.compile(
    r"""
    \bi\s+(hereby\s+)?object\b
    | \bobject(ing|ion)?\s+to\b.{0,60}\b(process\w*|profil\w*|marketing|advertis\w*|use|data)\b
    | \b(raise|lodge|file)\s+an?\s+objection\b
    | \bwiderspr(e|i)ch\w*
    | \bwiderspruch\b
    """,
    re.IGNORECASE | re.VERBOSE | re.DOTALL,
)


def requested_right(text: str) -> Right | None:
    """``restriction`` or ``objection`` when the message names that right, else None (a restriction cue
    wins: "restrict, do not delete" is not an objection)."""
    if not text or len(text) > 2000:
        return None
    if _RESTRICTION.search(text):
        return "restriction"
    if _OBJECTION.search(text):
        return "objection"
    return None
