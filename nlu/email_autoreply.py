"""Mail written by machines: bounces, out-of-office replies and bulk mail.

Headers decide first (RFC 3834 ``Auto-Submitted``, the de-facto ``X-Autoreply``/``X-Autorespond``
and ``Precedence``, RFC 3464 delivery reports, list headers); when a sender's software sets none,
phrases in the subject and the first lines of the body do (English and German).
Nothing here answers such a mail: the caller must not acknowledge it, or two robots talk forever.
"""

from __future__ import annotations

import re
from typing import Literal

from nlu.email_text import ParsedMail

Automatic = Literal["bounce", "auto_reply", "bulk"]
Evidence = Literal["header", "content"]  # headers/MIME structure, or only phrases a person might write too

BOUNCE: Automatic = "bounce"
AUTO_REPLY: Automatic = "auto_reply"
BULK: Automatic = "bulk"

_NO_REPLY_LOCAL = re.compile(
    r"^(?:no[-_.]?reply|do[-_.]?not[-_.]?reply|dont[-_.]?reply|mailer[-_.]?daemon|postmaster|"
    r"bounces?|notifications?[-_.]?noreply|[a-z0-9._-]*[-_.]no[-_.]?reply|no[-_.]?reply[-_.][a-z0-9._-]*|"
    r"bounces?[-+_.][a-z0-9._=+-]*|[a-z0-9._-]*[-_.]bounces?|[a-z0-9._-]*-noreply)$",
    re.IGNORECASE,
)
_DAEMON_LOCAL = re.compile(r"^(?:mailer[-_.]?daemon|postmaster)$", re.IGNORECASE)

_BOUNCE_SUBJECT = re.compile(
    r"delivery status notification|undeliver(?:able|ed)|delivery (?:has )?failed|failure notice|"
    r"returned mail|mail delivery (?:failed|failure|system)|delayed mail|"
    r"unzustellbar|nicht zustellbar|zustellung fehlgeschlagen|zustellungsfehler|"
    r"benachrichtigung zum übermittlungsstatus|rückläufer",
    re.IGNORECASE,
)
_BOUNCE_BODY = re.compile(
    r"could not be delivered to one or more recipients|wasn't delivered to|delivery has failed to these|"
    r"message could not be delivered|recipient address rejected|address not found|"
    r"this is the mail system at host|delivery to the following recipients? (?:failed|has been delayed)|"
    r"die zustellung an folgende empfänger ist fehlgeschlagen|konnte nicht (?:an alle empfänger )?zugestellt werden",
    re.IGNORECASE,
)
_AUTO_REPLY_SUBJECT = re.compile(
    r"^\s*(?:automatic reply|auto(?:matic)?[- ]?(?:reply|response)|autoreply|out of (?:the )?office|"
    r"abwesenheits?(?:notiz|meldung)?|automatische antwort|abwesend|auto:|"
    r"(?:urlaubs|abwesenheits)benachrichtigung|read:|gelesen:|lesebestätigung)",
    re.IGNORECASE,
)
_AUTO_REPLY_BODY = re.compile(
    r"\b(?:i am|i'm|i will be) (?:currently )?(?:out of (?:the )?office|away from (?:the|my) (?:office|desk)|"
    r"on (?:annual |parental |sick |maternity )?(?:leave|holiday|vacation))|"
    r"\bout of (?:the )?office (?:until|from|till)\b|"
    r"\bi no longer work (?:at|for)\b|your (?:e-?mail|message) will not be forwarded|"
    r"\bich bin (?:vom .{1,40} )?bis .{1,40} nicht im büro|\bnicht im büro\b|\babwesenheitsnotiz\b|"
    r"\bich befinde mich (?:bis .{1,40} )?(?:im urlaub|in elternzeit|auf geschäftsreise)|"
    r"ihre (?:e-?mail|nachricht) wird nicht (?:automatisch )?weitergeleitet|"
    r"\bbin (?:ich )?(?:derzeit|zurzeit|momentan) (?:nicht erreichbar|in elternzeit|im urlaub)|"
    r"\bnicht mehr (?:bei der .{1,60} )?tätig\b",
    re.IGNORECASE,
)
_BULK_PRECEDENCE = frozenset({"bulk", "junk", "list"})
BODY_CHARS = 1500  # robots say it at the top; a human quoting an OOO further down is not one


def detect_automatic(mail: ParsedMail) -> Automatic | None:
    """``"bounce"``, ``"auto_reply"``, ``"bulk"`` or ``None`` for mail a person wrote."""
    return _by_headers(mail) or _by_content(mail)


def automatic_evidence(mail: ParsedMail) -> tuple[Automatic | None, Evidence | None]:
    """``detect_automatic`` and what it rests on: ``"header"`` evidence (RFC 3834 Auto-Submitted,
    X-Autoreply, Precedence, list headers, a DSN, mailer-daemon) may drop a mail without a ticket;
    ``"content"`` (phrases only) may not, since a person can write them too."""
    verdict = _by_headers(mail)
    if verdict is not None:
        return verdict, "header"
    verdict = _by_content(mail)
    return verdict, ("content" if verdict is not None else None)


def is_no_reply_address(addr: str) -> bool:
    """True for addresses nobody reads: noreply@, no-reply@, donotreply@, mailer-daemon@, bounces..."""
    local = addr.strip().strip("<>").rsplit("@", 1)[0] if addr else ""
    return bool(local) and bool(_NO_REPLY_LOCAL.match(local))


def _by_headers(mail: ParsedMail) -> Automatic | None:
    headers = mail.headers
    content_type = headers.get("content-type", "").lower()
    if (mail.content_type == "multipart/report" and "delivery-status" in content_type) or (
        "message/delivery-status" in mail.part_types
    ):
        return BOUNCE
    local = mail.from_addr.rsplit("@", 1)[0]
    if _DAEMON_LOCAL.match(local) or (not mail.from_addr and headers.get("return-path", "").strip() == "<>"):
        return BOUNCE
    auto_submitted = headers.get("auto-submitted", "").strip().lower()
    precedence = headers.get("precedence", "").strip().lower()
    if auto_submitted and auto_submitted != "no":
        return BOUNCE if _looks_like_bounce(mail) else AUTO_REPLY
    if _truthy(headers.get("x-autoreply")) or _truthy(headers.get("x-autorespond")):
        return AUTO_REPLY
    if "x-auto-response-suppress" in headers and _AUTO_REPLY_SUBJECT.search(mail.subject):
        return AUTO_REPLY
    if precedence == "auto_reply":
        return AUTO_REPLY
    if precedence in _BULK_PRECEDENCE or "list-id" in headers or "list-unsubscribe" in headers:
        return AUTO_REPLY if _looks_like_auto_reply(mail) else BULK
    return None


def _by_content(mail: ParsedMail) -> Automatic | None:
    if _looks_like_bounce(mail):
        return BOUNCE
    if _looks_like_auto_reply(mail):
        return AUTO_REPLY
    return None


def _looks_like_bounce(mail: ParsedMail) -> bool:
    return bool(_BOUNCE_SUBJECT.search(mail.subject) or _BOUNCE_BODY.search(mail.text[:BODY_CHARS]))


def _looks_like_auto_reply(mail: ParsedMail) -> bool:
    if _AUTO_REPLY_SUBJECT.search(mail.subject):
        return True
    return bool(_AUTO_REPLY_BODY.search(mail.new_text[:BODY_CHARS] or mail.text[:BODY_CHARS]))


def _truthy(value: str | None) -> bool:
    return value is not None and value.strip().lower() not in ("", "no", "false", "0")
