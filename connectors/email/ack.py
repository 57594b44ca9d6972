"""Acknowledgements for triaged mail: one short message in the customer's language, by SMTP.

Whether a mail may be acknowledged is decided (and counted against the sender's hourly limit, in the
store) by ``TriageService``; ``TriageResult.ack`` carries the verdict. This module writes and sends:
the ticket number goes into the subject (``[#1042]``) so the customer's reply threads back, and the
headers ``Auto-Submitted: auto-replied`` (RFC 3834) and ``In-Reply-To`` keep robots from answering.
"""

from __future__ import annotations

import logging
import secrets
from dataclasses import dataclass
from email.message import EmailMessage
from email.utils import format_datetime, formataddr

import aiosmtplib

from connectors.email.triage import AUTH_FAILED, TriageResult
from crm_store.models import utcnow
from nlu.email_autoreply import is_no_reply_address

log = logging.getLogger(__name__)

# User-facing wording, English and German side by side.
SUBJECTS: dict[str, str] = {
    "en": "[#{number}] We received your message: {subject}",
    "de": "[#{number}] Wir haben Ihre Nachricht erhalten: {subject}",
}
BODIES: dict[str, str] = {
    "en": (
        "Hello,\n\nthank you for your message. We have opened ticket #{number} and will get back to you "
        "as soon as possible.\nTo add information, simply reply to this e-mail and keep [#{number}] in "
        "the subject.\n\nKind regards\n{team}\n"
    ),
    "de": (
        "Guten Tag,\n\nvielen Dank für Ihre Nachricht. Wir haben das Ticket #{number} angelegt und melden "
        "uns so bald wie möglich.\nWenn Sie etwas ergänzen möchten, antworten Sie einfach auf diese E-Mail "
        "und lassen [#{number}] im Betreff stehen.\n\nFreundliche Grüße\n{team}\n"
    ),
}
# added to the acknowledgement of a data-protection request: a mail's From: does not prove who wrote it
IDENTITY_NOTES: dict[str, str] = {
    "en": (
        "\nYour data-protection request is recorded; we answer it within one month. Before we disclose or "
        "erase any data we need to confirm that the request comes from you: open our web chat and repeat "
        "it there (we send a one-time code to this address), or wait for our colleague to contact you.\n"
    ),
    "de": (
        "\nIhre Datenschutz-Anfrage ist erfasst; wir beantworten sie innerhalb eines Monats. Bevor wir Daten "
        "herausgeben oder löschen, müssen wir bestätigen, dass die Anfrage von Ihnen stammt: Öffnen Sie "
        "unseren Web-Chat und stellen Sie sie dort erneut (wir senden einen Einmal-Code an diese Adresse), "
        "oder warten Sie, bis unsere Kollegin oder unser Kollege Sie kontaktiert.\n"
    ),
}
NO_ACK_QUEUES = frozenset({"auto_reply", "spam"})


@dataclass(frozen=True, slots=True)
class SmtpSettings:
    host: str = "127.0.0.1"
    port: int = 25
    username: str | None = None
    password: str | None = None
    start_tls: bool | None = None  # None: use STARTTLS when the server offers it
    use_tls: bool = False
    timeout: float = 30.0


@dataclass(frozen=True, slots=True)
class AckSettings:
    from_addr: str = "support@example-crm.com"
    from_name: str = "Customer Support"
    smtp: SmtpSettings = SmtpSettings()


def should_ack(result: TriageResult) -> bool:
    """The last check before sending; the triage verdict (limits included) must already say yes.

    Never for a mail that failed SPF/DKIM/DMARC: its From: is likely forged, and our reply would land
    in an innocent mailbox (backscatter).
    """
    return (
        result.ack
        and AUTH_FAILED not in result.flags
        and result.ticket_number is not None
        and result.automatic is None
        and result.queue not in NO_ACK_QUEUES
        and bool(result.from_addr)
        and not is_no_reply_address(result.from_addr)
    )


def build_ack(result: TriageResult, settings: AckSettings) -> EmailMessage:
    language = result.language if result.language in SUBJECTS else "en"
    subject = " ".join(result.subject.split())[:150] or "-"
    message = EmailMessage()
    message["From"] = formataddr((settings.from_name, settings.from_addr))
    message["To"] = result.from_addr
    message["Subject"] = SUBJECTS[language].format(number=result.ticket_number, subject=subject)
    message["Date"] = format_datetime(utcnow())
    message["Message-ID"] = f"<ticket-{result.ticket_number}.{secrets.token_hex(8)}@{_domain(settings)}>"
    if not result.message_id.startswith("sha256:"):
        message["In-Reply-To"] = f"<{result.message_id}>"
        message["References"] = f"<{result.message_id}>"
    message["Auto-Submitted"] = "auto-replied"
    message["X-Auto-Response-Suppress"] = "All"
    message["Content-Language"] = language
    body = BODIES[language].format(number=result.ticket_number, team=settings.from_name)
    if result.gdpr_request_id is not None:
        head, _, closing = body.rpartition("\n\n")  # the note goes before the greeting
        body = f"{head}\n{IDENTITY_NOTES[language]}\n{closing}"
    message.set_content(body)
    return message


class AckSender:
    def __init__(self, settings: AckSettings) -> None:
        self.settings = settings

    async def send(self, result: TriageResult) -> EmailMessage | None:
        """Send the acknowledgement when one is due; returns what was sent (``None``: nothing)."""
        if not should_ack(result):
            return None
        message = build_ack(result, self.settings)
        smtp = self.settings.smtp
        await aiosmtplib.send(
            message,
            hostname=smtp.host,
            port=smtp.port,
            username=smtp.username,
            password=smtp.password,
            start_tls=smtp.start_tls,
            use_tls=smtp.use_tls,
            timeout=smtp.timeout,
        )
        log.info("acknowledged ticket #%s", result.ticket_number)
        return message


def _domain(settings: AckSettings) -> str:
    return settings.from_addr.rsplit("@", 1)[-1] or "localhost"


__all__ = ["AckSender", "AckSettings", "SmtpSettings", "build_ack", "should_ack"]
