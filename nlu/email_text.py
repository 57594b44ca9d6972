"""Inbound e-mail to plain values: one ``ParsedMail`` per RFC 5322 message.

``parse_mail`` never raises on what arrives from the outside world: broken MIME, unknown or lying
charsets and malformed headers become entries in ``ParsedMail.defects``. ``new_text`` is the part
the sender actually wrote this time (quotes, forwarded history and signatures removed).
"""

from __future__ import annotations

import email.utils
import hashlib
import html
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from email.errors import HeaderParseError
from email.header import decode_header, make_header
from email.message import Message
from email.parser import BytesParser
from email.policy import default as default_policy
from html.parser import HTMLParser

from mailparser_reply import EmailReplyParser

MAX_TEXT_CHARS = 200_000  # bodies beyond this are cut: classification needs the start, not 20 MB
REPLY_LANGUAGES = ["de", "en"]


@dataclass(frozen=True, slots=True)
class Attachment:
    name: str | None
    content_type: str
    size: int
    payload: bytes = field(repr=False)


@dataclass(slots=True)
class ParsedMail:
    message_id: str | None = None
    in_reply_to: str | None = None
    references: list[str] = field(default_factory=list)
    subject: str = ""
    from_name: str = ""
    from_addr: str = ""
    to: list[str] = field(default_factory=list)
    date: datetime | None = None
    text: str = ""
    new_text: str = ""
    headers: dict[str, str] = field(default_factory=dict)  # lower-case names; repeated ones joined by ", "
    attachments: list[Attachment] = field(default_factory=list)
    defects: list[str] = field(default_factory=list)
    content_type: str = "text/plain"  # of the top-level entity, e.g. ``multipart/report``
    part_types: list[str] = field(default_factory=list)  # every MIME entity's content type, in order


def parse_mail(raw: bytes) -> ParsedMail:
    """Parse one RFC 5322 message; problems are recorded in ``defects``, never raised."""
    defects: list[str] = []
    message = BytesParser(policy=default_policy).parsebytes(raw)
    headers = _headers(message, defects)
    mail = _from_headers(headers, defects)
    mail.content_type = message.get_content_type()
    plain, html_parts = _walk(message, mail, defects)
    mail.text = _best_text(plain, html_parts)
    mail.new_text = extract_new_text(mail.text)
    defects.extend(_defect_names(message))
    mail.defects = list(dict.fromkeys(defects))
    return mail


def parse_mail_dict(headers: Mapping[str, str], body: str) -> ParsedMail:
    """A ``ParsedMail`` from already decoded headers and a plain-text body (the YAML training data)."""
    defects: list[str] = []
    lowered = {name.lower(): str(value) for name, value in headers.items()}
    mail = _from_headers(lowered, defects)
    mail.text = _clip(body.replace("\r\n", "\n"))
    mail.new_text = extract_new_text(mail.text)
    mail.defects = defects
    return mail


# --- headers -----------------------------------------------------------------------------------


def _headers(message: Message, defects: list[str]) -> dict[str, str]:
    out: dict[str, str] = {}
    for name, value in message.raw_items():  # raw: never trips over a malformed structured header
        decoded = decode_header_value(str(value), defects).replace("\x00", "")  # no store keeps NUL in text
        key = name.lower()
        out[key] = f"{out[key]}, {decoded}" if key in out else decoded
    return out


def decode_header_value(value: str, defects: list[str] | None = None) -> str:
    """Decode RFC 2047 encoded words and unfold; undecodable pieces are kept as written."""
    unfolded = re.sub(r"\r?\n[ \t]+", " ", value).strip()
    if "=?" not in unfolded:
        return unfolded
    try:
        return str(make_header(decode_header(unfolded)))
    except (LookupError, UnicodeError, ValueError, HeaderParseError) as exc:
        if defects is not None:
            defects.append(f"header-decoding: {type(exc).__name__}")
        return unfolded


def _from_headers(headers: Mapping[str, str], defects: list[str]) -> ParsedMail:
    from_name, from_addr = email.utils.parseaddr(headers.get("from", ""))
    return ParsedMail(
        message_id=next(iter(_message_ids(headers.get("message-id", ""))), None),
        in_reply_to=next(iter(_message_ids(headers.get("in-reply-to", ""))), None),
        references=_message_ids(headers.get("references", "")),
        subject=headers.get("subject", "").strip(),
        from_name=from_name.strip(),
        from_addr=from_addr.strip().lower(),
        to=[addr.lower() for _, addr in email.utils.getaddresses([headers.get("to", "")]) if addr],
        date=_date(headers.get("date"), defects),
        headers=dict(headers),
    )


MAX_MESSAGE_ID = 900  # the store keeps up to 998 (RFC 5322's line limit); longer ids are shortened, still unique


def _bounded_id(value: str) -> str:
    if len(value) <= MAX_MESSAGE_ID:
        return value
    digest = hashlib.sha256(value.encode("utf-8", "surrogateescape")).hexdigest()[:32]
    return f"{value[: MAX_MESSAGE_ID - 33]}#{digest}"


def _message_ids(value: str) -> list[str]:
    ids = re.findall(r"<([^<>\s]+)>", value)
    if ids:
        return [_bounded_id(i) for i in ids]
    bare = value.strip()
    return [_bounded_id(bare)] if bare and " " not in bare else []


def _date(value: str | None, defects: list[str]) -> datetime | None:
    if not value:
        return None
    try:
        return email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError, IndexError):
        defects.append("invalid-date")
        return None


# --- bodies ------------------------------------------------------------------------------------


def _walk(message: Message, mail: ParsedMail, defects: list[str]) -> tuple[list[str], list[str]]:
    plain: list[str] = []
    html_parts: list[str] = []
    mail.part_types = [part.get_content_type() for part in message.walk()]
    for part in _leaves(message):
        content_type = part.get_content_type()
        disposition = (part.get_content_disposition() or "").lower()
        is_text = content_type in ("text/plain", "text/html")
        if disposition == "attachment" or not is_text:
            payload = _payload_bytes(part, defects)
            mail.attachments.append(Attachment(_filename(part), content_type, len(payload), payload))
            continue
        text = _decode_part(part, defects)
        if content_type == "text/html":
            html_parts.append(text)
        else:
            plain.append(text)
    return plain, html_parts


def _leaves(message: Message) -> Iterable[Message]:
    for part in message.walk():
        if part.is_multipart():
            continue
        if part.get_content_type() == "message/rfc822":
            continue  # its inner parts come through walk() as well
        yield part


def _filename(part: Message) -> str | None:
    try:
        name = part.get_filename()
    except (LookupError, ValueError, UnicodeError):
        return None
    return decode_header_value(name) if name else None


def _payload_bytes(part: Message, defects: list[str]) -> bytes:
    try:
        payload = part.get_payload(decode=True)
    except (ValueError, TypeError, LookupError):  # pragma: no cover - defensive: stdlib decodes leniently
        defects.append("payload-decoding")
        return b""
    if isinstance(payload, bytes):
        return payload
    raw = part.get_payload()
    return raw.encode("utf-8", "replace") if isinstance(raw, str) else b""


def _decode_part(part: Message, defects: list[str]) -> str:
    payload = _payload_bytes(part, defects)
    charset = _charset(part, defects)
    return _clip(decode_bytes(payload, charset, defects))


def _charset(part: Message, defects: list[str]) -> str | None:
    try:
        return part.get_content_charset()
    except (LookupError, ValueError, UnicodeError):
        defects.append("invalid-charset")
        return None


# Charsets that mail clients declare while actually sending Windows-1252 (as browsers assume).
_LATIN1_ALIASES = {
    "iso-8859-1",
    "iso8859-1",
    "latin-1",
    "latin1",
    "us-ascii",
    "ascii",
    "windows-1252",
    "cp1252",
}


def decode_bytes(payload: bytes, charset: str | None, defects: list[str] | None = None) -> str:
    """Bytes to text: the declared charset first, then UTF-8, then Windows-1252; never raises."""
    candidates: list[str] = []
    if charset:
        name = charset.strip().strip('"').lower()
        candidates.append("cp1252" if name in _LATIN1_ALIASES else name)
    candidates += ["utf-8", "cp1252"]
    for candidate in candidates:
        try:
            return payload.decode(candidate)
        except LookupError:
            if defects is not None:
                defects.append(f"unknown-charset: {candidate}")
        except UnicodeDecodeError:
            continue
    return payload.decode("latin-1")  # maps every byte; the last resort cannot fail


def _best_text(plain: list[str], html_parts: list[str]) -> str:
    text = "\n\n".join(p.strip() for p in plain if p.strip())
    if not text and html_parts:
        text = "\n\n".join(html_to_text(h) for h in html_parts)
    return _normalise_text(text)


def _normalise_text(text: str) -> str:
    text = text.replace("\r\n", "\n").replace("\r", "\n").replace("\xa0", " ")
    text = re.sub(r"[ \t]+\n", "\n", text)
    return re.sub(r"\n{3,}", "\n\n", text).strip()


def _clip(text: str) -> str:
    return text.replace("\x00", "")[:MAX_TEXT_CHARS]


def _defect_names(message: Message) -> list[str]:
    names: list[str] = []
    for part in message.walk():
        names.extend(type(defect).__name__ for defect in getattr(part, "defects", []))
    return names


# --- HTML --------------------------------------------------------------------------------------

_BLOCK_TAGS = frozenset(
    {"p", "div", "br", "li", "tr", "table", "h1", "h2", "h3", "h4", "h5", "h6", "ul", "ol", "hr", "pre"}
)
_PARAGRAPH_TAGS = frozenset({"p", "table", "ul", "ol", "h1", "h2", "h3", "h4", "h5", "h6", "pre"})
_SKIP_TAGS = frozenset({"script", "style", "head", "title"})


class _TextExtractor(HTMLParser):
    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.lines: list[str] = [""]
        self._skip = 0
        self._quote = 0

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag in _SKIP_TAGS:
            self._skip += 1
        elif tag == "blockquote":
            self._quote += 1
            self._newline()
        elif tag in _BLOCK_TAGS:
            self._newline()
        elif tag == "td":
            self._append(" ")

    def handle_endtag(self, tag: str) -> None:
        if tag in _SKIP_TAGS:
            self._skip = max(0, self._skip - 1)
        elif tag == "blockquote":
            self._quote = max(0, self._quote - 1)
            self._newline()
        elif tag in _BLOCK_TAGS:
            self._newline(blank=tag in _PARAGRAPH_TAGS)

    def handle_data(self, data: str) -> None:
        if not self._skip:
            self._append(re.sub(r"\s+", " ", data))

    def _append(self, data: str) -> None:
        if not self.lines[-1] and self._quote:
            self.lines[-1] = "> " * self._quote
        self.lines[-1] += data

    def _newline(self, *, blank: bool = False) -> None:
        if self.lines[-1].strip(" >"):
            self.lines.append("")
        if blank and len(self.lines) > 1 and self.lines[-2].strip(" >"):
            self.lines.append("")


def html_to_text(markup: str) -> str:
    """Readable text from an HTML body; ``<blockquote>`` content comes out as ``> `` quoted lines."""
    parser = _TextExtractor()
    try:
        parser.feed(markup)
        parser.close()
    except (AssertionError, ValueError):  # pragma: no cover - HTMLParser is lenient
        return html.unescape(re.sub(r"<[^>]+>", " ", markup))
    lines = [line.strip() for line in parser.lines]
    return _normalise_text("\n".join(lines))


# --- quotes and signatures ---------------------------------------------------------------------

_SEPARATOR_LINE = re.compile(r"^\s*(?:-{2,}|_{4,}|={4,}).*$|^>+\s?$", re.MULTILINE)
_QUOTED_LINE = re.compile(r"^\s*>.*$\n?", re.MULTILINE)
_reply_parser = EmailReplyParser(languages=REPLY_LANGUAGES)


def extract_new_text(text: str) -> str:
    """What the sender wrote now: quoted history, forwarded headers and the signature removed.

    Uses mail-parser-reply; when that leaves nothing (a mail that is all quote or all forward),
    falls back to the text without ``>`` lines, then to the whole text.
    """
    if not text.strip():
        return ""
    try:
        message = _reply_parser.read(text[:20_000])
        latest = message.replies[0].body if message.replies else ""
    except (IndexError, ValueError, re.error):  # pragma: no cover - defensive
        latest = ""
    latest = _strip_trailing_separators(latest)
    if latest:
        return latest
    unquoted = _normalise_text(_QUOTED_LINE.sub("", text))
    return unquoted or text.strip()


def _strip_trailing_separators(text: str) -> str:
    lines = text.rstrip().split("\n")
    while lines and (not lines[-1].strip() or _SEPARATOR_LINE.fullmatch(lines[-1])):
        lines.pop()
    return "\n".join(lines).strip()


__all__ = [
    "Attachment",
    "ParsedMail",
    "decode_bytes",
    "decode_header_value",
    "extract_new_text",
    "html_to_text",
    "parse_mail",
    "parse_mail_dict",
]
