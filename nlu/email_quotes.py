"""Where the new text of a mail ends: quoted history, forwarded headers and signatures (German and English).

    parts = split_reply(text)        # ReplyParts(new, history, forwarded, marker)
    core = strip_signature(parts.new)  # without the closing, the name block and "Sent from my iPhone"
    subject_kind("AW: Ihre Rechnung")  # "reply"; clean_subject(...) -> "Ihre Rechnung"

The history starts at the earliest of: an Outlook/Thunderbird/Apple separator ("-----Original
Message-----", "-----Ursprüngliche Nachricht-----", "---------- Forwarded message ---------",
"Anfang der weitergeleiteten Nachricht:", a line of underscores), a header block of at least two of
"From:/Von:", "Sent:/Gesendet:/Date:/Datum:", "To:/An:", "Subject:/Betreff:", "Cc:" on consecutive
lines, an attribution line ("On ... wrote:", "Am ... schrieb ...:", possibly folded over two lines),
or the first run of ``>`` quoted lines. Quoted lines interleaved with new text are dropped, the
answers between them kept. A forwarded message's own body (after its header block) is returned as
``forwarded``: for a forward with no comment of its own that is what the mail is about.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Literal

SubjectKind = Literal["reply", "forward", "new"]

_SEPARATOR = re.compile(
    r"^\s*(?:[-=_*]{2,}\s*)?(?:original message|original-nachricht|ursprüngliche nachricht|"
    r"forwarded message|weitergeleitete nachricht|message d'origine|reply message)(?:\s*[-=_*]{2,})?\s*:?\s*$|"
    r"^\s*(?:begin forwarded message|anfang der weitergeleiteten (?:nachricht|e-mail))\s*:\s*$|"
    r"^\s*_{10,}\s*$|^\s*-{10,}\s*$",
    re.IGNORECASE,
)
_HEADER_LINE = re.compile(
    r"^\s*[*>]*\s*(from|von|sent|gesendet|date|datum|to|an|subject|betreff|cc|kopie|reply-to|antwort an)"
    r"\s*[*]*\s*:\s*[*]*\s*\S",
    re.IGNORECASE,
)
_FROM_LINE = re.compile(r"^\s*[*>]*\s*(?:from|von)\s*[*]*\s*:", re.IGNORECASE)
_ATTRIBUTION = re.compile(
    r"^\s*(?:on\b.{4,200}\bwrote|am\b.{4,200}\bschrieb\b.{0,120}|.{0,120}\bschrieb am\b.{4,200}|"
    r".{2,120} <[^>\s]+@[^>\s]+> (?:wrote|schrieb)|.{2,200}\b(?:wrote|schrieb)\s*:?\s*$)\s*:\s*$",
    re.IGNORECASE,
)
_ATTRIBUTION_START = re.compile(r"^\s*(?:on|am)\s+\S.{4,}$", re.IGNORECASE)
_QUOTED = re.compile(r"^\s*>")

_SIGNATURE_DASHES = re.compile(r"^--\s?$|^—\s*$|^_{2,9}\s*$")
_MOBILE = re.compile(
    r"^\s*(?:sent from (?:my )?\S.{0,40}|sent with .{2,40}|get outlook for \S+|"
    r"von meinem \S.{0,40} gesendet|gesendet von (?:meinem )?\S.{0,40}|"
    r"diese (?:nachricht|e-mail) wurde von meinem .{2,60} gesendet\.?|"
    r"von (?:meinem )?(?:iphone|ipad|android|smartphone|handy|samsung).{0,40}(?:gesendet|geschickt)\.?)\s*$",
    re.IGNORECASE,
)
_CLOSING = re.compile(
    r"^\s*(?:(?:mit )?(?:freundliche[nm]?|besten?|vielen?|liebe[n]?|herzliche[n]?|sonnige[n]?|schöne[n]?)\s+"
    r"(?:grü(?:ß|ss)e[n]?|gruß|gruss|dank)|(?:viele|beste|liebe|herzliche)?\s*grü(?:ß|ss)e|"
    r"(?:lg|vg|mfg|bg)|gruß|gruss|danke(?: schön| und gruß)?|vielen dank(?: im voraus)?|"
    r"(?:best|kind|warm|many thanks and)?\s*regards|best(?: wishes)?|cheers|thanks(?: in advance)?|"
    r"thank you(?: in advance)?|sincerely|yours(?: sincerely| truly)?|many thanks|thx)"
    r"\s*[,.!]?\s*(?:\S+(?: \S+){0,2})?\s*$",
    re.IGNORECASE,
)
SIGNATURE_MAX_LINES = 12  # a closing further up than this is part of the message, not its end
SIGNATURE_LINE_WORDS = 10  # a longer line after a closing is message text ("Thanks, but now ...")

_SUBJECT_PREFIX = re.compile(
    r"^\s*(?:(re|aw|antw|antwort|sv|vs|wg|fw|fwd|wtr|tr|weiterleitung)\s*(?:\[\d+\]|\(\d+\))?\s*:\s*)",
    re.IGNORECASE,
)
_FORWARD_PREFIXES = frozenset({"wg", "fw", "fwd", "wtr", "tr", "weiterleitung"})


@dataclass(frozen=True, slots=True)
class ReplyParts:
    new: str  # what the sender wrote this time (interleaved quotes removed)
    history: str  # everything from the first quote marker on
    forwarded: str  # the body of a forwarded/quoted message, without its header block
    marker: str | None  # "separator", "header", "attribution", "quote" or None


def split_reply(text: str) -> ReplyParts:
    """Split ``text`` at the first marker of quoted or forwarded history; see the module docstring."""
    lines = text.replace("\r\n", "\n").replace("\r", "\n").split("\n")
    cut, marker = _first_marker(lines)
    if cut is None:
        new_lines = [line for line in lines if not _QUOTED.match(line)]
        return ReplyParts(
            _tidy("\n".join(new_lines)), "", "", "quote" if len(new_lines) < len(lines) else None
        )
    head = [line for line in lines[:cut] if not _QUOTED.match(line)]
    history = lines[cut:]
    forwarded = _forwarded_body(history)
    return ReplyParts(_tidy("\n".join(head)), _tidy("\n".join(history)), forwarded, marker)


def _first_marker(lines: list[str]) -> tuple[int | None, str | None]:
    for index, line in enumerate(lines):
        if _SEPARATOR.match(line):
            return index, "separator"
        if _FROM_LINE.match(line) and _header_block_length(lines, index) >= 2:
            return index, "header"
        if _ATTRIBUTION.match(line):
            return index, "attribution"
        if (
            _ATTRIBUTION_START.match(line)
            and index + 1 < len(lines)
            and _ATTRIBUTION.match(f"{line} {lines[index + 1].strip()}")
        ):
            return index, "attribution"
        if _QUOTED.match(line) and _quote_run(lines, index) >= 2 and not _has_text_after(lines, index):
            return index, "quote"
    return None, None


def _header_block_length(lines: list[str], start: int) -> int:
    count = 0
    for line in lines[start : start + 8]:
        if _HEADER_LINE.match(line):
            count += 1
        elif line.strip():
            break
    return count


def _quote_run(lines: list[str], start: int) -> int:
    run = 0
    for line in lines[start:]:
        if not _QUOTED.match(line):
            break
        run += 1
    return run


def _has_text_after(lines: list[str], start: int) -> bool:
    """True when unquoted, non-signature text follows a quote: an inline answer, not a trailing quote."""
    tail = [line for line in lines[start:] if line.strip() and not _QUOTED.match(line)]
    return bool(strip_signature("\n".join(tail)).strip()) and len(tail) > 0


def _forwarded_body(history: list[str]) -> str:
    """The first quoted message's body: the history without separator, header block and ``>``."""
    index = 0
    while index < len(history) and (not history[index].strip() or _SEPARATOR.match(history[index])):
        index += 1
    while index < len(history) and (_HEADER_LINE.match(history[index]) or _ATTRIBUTION.match(history[index])):
        index += 1
    body: list[str] = []
    for line in history[index:]:
        if body and (_SEPARATOR.match(line) or (_FROM_LINE.match(line) and _header_block_length([line], 0))):
            break  # the next message down the chain
        body.append(re.sub(r"^\s*>+ ?", "", line))
    return _tidy("\n".join(body))


def strip_signature(text: str) -> str:
    """``text`` without a ``-- `` signature, mobile signatures and a closing with the name block."""
    lines = text.split("\n")
    for index, line in enumerate(lines):
        if _SIGNATURE_DASHES.match(line) and index > 0:
            lines = lines[:index]
            break
    lines = [line for line in lines if not _MOBILE.match(line)]
    start = max(1, len(lines) - SIGNATURE_MAX_LINES)
    for index in range(start, len(lines)):
        if (
            _CLOSING.match(lines[index])
            and "\n".join(lines[:index]).strip()
            and _name_block(lines[index + 1 :])
        ):
            lines = lines[:index]
            break
    return _tidy("\n".join(lines))


def _name_block(lines: list[str]) -> bool:
    """Lines after a closing that look like a name/company block, not more of the message."""
    rest = [line.strip() for line in lines if line.strip()]
    return all(len(line.split()) <= SIGNATURE_LINE_WORDS and not line.endswith("?") for line in rest)


def subject_kind(subject: str) -> SubjectKind:
    """``"forward"`` for WG:/FW:/Fwd:, ``"reply"`` for RE:/AW:/Antw:/SV:, else ``"new"`` (outermost wins)."""
    match = _SUBJECT_PREFIX.match(subject or "")
    if match is None:
        return "new"
    return "forward" if match.group(1).lower() in _FORWARD_PREFIXES else "reply"


def clean_subject(subject: str) -> str:
    """The subject without any number of reply/forward prefixes."""
    previous = None
    out = subject or ""
    while previous != out:
        previous, out = out, _SUBJECT_PREFIX.sub("", out, count=1)
    return out.strip()


def _tidy(text: str) -> str:
    text = re.sub(r"[ \t]+\n", "\n", text)
    return re.sub(r"\n{3,}", "\n\n", text).strip()


__all__ = [
    "ReplyParts",
    "clean_subject",
    "split_reply",
    "strip_signature",
    "subject_kind",
]
