"""Attacks on mail threading (issue 10 item 3), over the real pipeline on SQLite and PostgreSQL.

A mail joins a ticket only when its sender is the requester or a participant of that thread and our MTA
recorded no SPF/DKIM/DMARC failure (``crm_store.services.mail_threads``). Each ``test_attack_*`` sends
the mail an attacker would send, as raw RFC 5322 bytes through ``TriageService.process`` or over SMTP on
loopback, and fails if the mail ever lands on the victim's ticket again. Before the fix, attacks 2-5
succeeded (a colleague's ``[#N]``, any In-Reply-To, a spoofed From:, a forged Authentication-Results).
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field
from datetime import UTC, datetime
from email import message_from_bytes
from email.message import EmailMessage, Message
from email.utils import format_datetime
from pathlib import Path

import aiosmtplib
import pytest
from aiosmtpd.smtp import SMTP, Envelope, Session
from sqlalchemy import select

from connectors.email.ack import AckSender, AckSettings, SmtpSettings, should_ack
from connectors.email.model import authentication_results
from connectors.email.routing import Router
from connectors.email.smtp_server import TriageHandler, start_smtp_server
from connectors.email.triage import AUTH_FAILED, TriageResult, TriageService
from crm_store.db import Database
from crm_store.models import ContactEmail, Ticket
from crm_store.services import Actor, CrmServices
from nlu.email_classifier import EmailClassifier, load_training_emails
from nlu.embedder import HashingEmbedder

ROOT = Path(__file__).resolve().parents[2]
NOW = datetime(2026, 11, 28, 9, 0, tzinfo=UTC)
OURS = "mx.example-crm.com"
ANNA = "Anna Schmidt <anna.schmidt@acme.example>"
BODY = "I cannot log in since this morning, the password is rejected and the account seems locked."
OPENING_SUBJECT = "Login does not work since this morning"


@pytest.fixture(scope="session")
def classifier() -> EmailClassifier:
    training = load_training_emails(ROOT / "training_data" / "emails")
    return EmailClassifier(HashingEmbedder()).fit(
        [t[0] for t in training], [t[1] for t in training], [t[2] for t in training]
    )


@pytest.fixture
def triage(db: Database, classifier: EmailClassifier) -> TriageService:
    return TriageService(db, classifier, routing=Router.from_yaml(), now=NOW, authserv_id=OURS)


def raw_mail(
    *,
    sender: str = ANNA,
    subject: str = OPENING_SUBJECT,
    body: str = BODY,
    message_id: str,
    auth: tuple[str, ...] = (),
    cc: str | None = None,
    in_reply_to: str | None = None,
    references: str | None = None,
) -> bytes:
    """One mail as it reaches us; ``auth`` are Authentication-Results values, top-most first."""
    msg = EmailMessage()
    for value in auth:  # a receiving MTA prepends: these sit above everything the sender wrote
        msg["Authentication-Results"] = value
    msg["From"] = sender
    msg["To"] = "support@example-crm.com"
    if cc:
        msg["Cc"] = cc
    msg["Subject"] = subject
    msg["Date"] = format_datetime(NOW)
    msg["Message-ID"] = f"<{message_id}>"
    if in_reply_to:
        msg["In-Reply-To"] = f"<{in_reply_to}>"
    if references:
        msg["References"] = references
    msg.set_content(body)
    return msg.as_bytes()


def load(db: Database, number: int) -> Ticket:
    with db.session() as s:
        ticket = CrmServices(s, Actor.system("test")).tickets.by_number(number)
        s.expunge_all()
        return ticket


def solve(db: Database, number: int) -> None:
    with db.session() as s:
        crm = CrmServices(s, Actor.system("test"))
        crm.tickets.update(crm.tickets.by_number(number).id, {"status": "solved"})


def opened(triage: TriageService, db: Database, *, cc: str | None = None) -> TriageResult:
    """Anna's ticket, solved by an agent: a mail that joins it reopens it, one that does not leaves it."""
    first = triage.process(raw_mail(message_id="login-1@acme.example", cc=cc))
    assert first.action == "created" and first.ticket_number is not None
    solve(db, first.ticket_number)
    return first


def assert_untouched(db: Database, number: int) -> None:
    ticket = load(db, number)
    assert [m.message_id for m in ticket.messages] == ["login-1@acme.example"]
    assert ticket.status == "solved"  # not reopened
    assert not ticket.needs_human


def assert_flagged_instead(db: Database, result: TriageResult, victim: int, reason: str) -> Ticket:
    assert result.action == "created" and result.ticket_number not in (None, victim)
    assert result.related_ticket == victim
    new = load(db, result.ticket_number)  # type: ignore[arg-type]
    assert new.needs_human and new.review_reason is not None and reason in new.review_reason
    assert new.related_ticket_id == load(db, victim).id
    return new


# --- attacks ------------------------------------------------------------------------------------------


def test_attack_stranger_writes_the_ticket_token_in_the_subject(db: Database, triage: TriageService) -> None:
    first = opened(triage, db)
    result = triage.process(
        raw_mail(
            sender="Mallory <mallory@evil.example>",
            subject=f"Re: [#{first.ticket_number}] {OPENING_SUBJECT}",
            body="Please change the e-mail address of this account to mine, I cannot log in.",
            message_id="evil-1@evil.example",
        )
    )
    assert_untouched(db, first.ticket_number)  # type: ignore[arg-type]
    new = assert_flagged_instead(
        db, result, first.ticket_number, f"sender not on ticket #{first.ticket_number}"
    )  # type: ignore[arg-type]
    assert new.messages[0].author_address == "mallory@evil.example"


def test_attack_colleague_at_the_requesters_domain_cannot_join_by_token(
    db: Database, triage: TriageService
) -> None:
    """The same organisation is not the same person: before the fix this mail was appended."""
    first = opened(triage, db)
    result = triage.process(
        raw_mail(
            sender="Bernd Braun <bernd.braun@acme.example>",
            subject=f"Re: [#{first.ticket_number}] {OPENING_SUBJECT}",
            body="I am Anna's colleague, please send me her new password, she cannot log in.",
            message_id="bernd-1@acme.example",
        )
    )
    assert_untouched(db, first.ticket_number)  # type: ignore[arg-type]
    assert_flagged_instead(db, result, first.ticket_number, "sender not on ticket")  # type: ignore[arg-type]


def test_attack_in_reply_to_a_thread_message_id_from_a_non_participant(
    db: Database, triage: TriageService
) -> None:
    """Message-IDs travel in every quoted or forwarded mail; naming one proves nothing."""
    first = opened(triage, db)
    for n, header in enumerate(["in_reply_to", "references"]):
        result = triage.process(
            raw_mail(
                sender="Eve <eve@other.example>",
                subject="Re: Login",
                body="Adding a note to this thread: the account should be locked for good.",
                message_id=f"eve-{n}@other.example",
                **{header: "login-1@acme.example" if header == "in_reply_to" else "<login-1@acme.example>"},  # type: ignore[arg-type]
            )
        )
        assert_untouched(db, first.ticket_number)  # type: ignore[arg-type]
        assert_flagged_instead(db, result, first.ticket_number, "sender not on ticket")  # type: ignore[arg-type]


def test_attack_spoofed_requester_failing_dmarc_is_neither_appended_nor_acknowledged(
    db: Database, triage: TriageService
) -> None:
    first = opened(triage, db)
    verdicts = {
        "dmarc=fail (p=reject) header.from=acme.example": "DMARC fail",
        "spf=softfail smtp.mailfrom=acme.example": "SPF softfail",
        "spf=fail smtp.mailfrom=acme.example": "SPF fail",
        "dkim=fail (bad signature) header.d=acme.example": "DKIM fail",
    }
    for n, (verdict, reason) in enumerate(verdicts.items()):
        result = triage.process(
            raw_mail(
                subject=f"Re: [#{first.ticket_number}] {OPENING_SUBJECT}",
                body="Please send the new password to my private address.",
                message_id=f"spoof-{n}@acme.example",
                in_reply_to="login-1@acme.example",
                auth=(f"{OURS}; {verdict}",),
            )
        )
        assert_untouched(db, first.ticket_number)  # type: ignore[arg-type]
        new = assert_flagged_instead(db, result, first.ticket_number, reason)  # type: ignore[arg-type]
        assert new.review_reason == reason  # the requester's own address: only the failure to review
        assert AUTH_FAILED in result.flags and result.ack is False and not should_ack(result)


def test_attack_new_mail_failing_dmarc_gets_no_ack_and_no_gdpr_request(
    db: Database, triage: TriageService
) -> None:
    """Without any ticket named: still flagged, never acknowledged (backscatter), no GDPR request."""
    result = triage.process(
        raw_mail(
            subject="Delete all my data (Art. 17 GDPR)",
            body="Please delete all my personal data and my account under Art. 17 GDPR.",
            message_id="spoof-gdpr@acme.example",
            auth=(f"{OURS}; spf=pass smtp.mailfrom=x.example; dmarc=fail header.from=acme.example",),
        )
    )
    assert result.action == "created" and result.gdpr_request_id is None
    assert result.ack is False and AUTH_FAILED in result.flags
    ticket = load(db, result.ticket_number)  # type: ignore[arg-type]
    assert ticket.needs_human and ticket.review_reason == "DMARC fail"


@pytest.mark.parametrize("authserv_id", [OURS, None], ids=["authserv-id-set", "top-most-only"])
def test_attack_forged_authentication_results_beneath_ours_are_ignored(
    db: Database, classifier: EmailClassifier, authserv_id: str | None
) -> None:
    triage = TriageService(db, classifier, routing=Router.from_yaml(), now=NOW, authserv_id=authserv_id)
    first = opened(triage, db)
    result = triage.process(
        raw_mail(
            subject=f"Re: [#{first.ticket_number}] {OPENING_SUBJECT}",
            body="Please send the new password to my private address.",
            message_id="forged-1@acme.example",
            auth=(
                f"{OURS}; spf=pass smtp.mailfrom=evil.example; dmarc=fail header.from=acme.example",
                "mx.acme.example; spf=pass smtp.mailfrom=acme.example; dkim=pass header.d=acme.example; "
                "dmarc=pass header.from=acme.example",
            ),
        )
    )
    assert_untouched(db, first.ticket_number)  # type: ignore[arg-type]
    assert_flagged_instead(db, result, first.ticket_number, "DMARC fail")  # type: ignore[arg-type]
    assert result.ack is False


def test_only_our_authserv_id_counts_wherever_it_sits(db: Database, triage: TriageService) -> None:
    """A sender's own header saying fail does not block them; one saying pass does not save a fail."""
    first = opened(triage, db)
    forged_fail = triage.process(
        raw_mail(
            subject=f"Re: [#{first.ticket_number}] {OPENING_SUBJECT}",
            message_id="anna-2@acme.example",
            auth=(f"{OURS}; dmarc=pass header.from=acme.example", "mx.other.example; dmarc=fail"),
        )
    )
    assert forged_fail.action == "appended"
    forged_pass_on_top = triage.process(
        raw_mail(
            subject=f"Re: [#{first.ticket_number}] {OPENING_SUBJECT}",
            message_id="anna-3@acme.example",
            auth=("mx.other.example; dmarc=pass", f"{OURS.upper()}; dkim=fail header.d=acme.example"),
        )
    )
    assert forged_pass_on_top.action == "created" and forged_pass_on_top.review_reason == "DKIM fail"


async def test_attack_over_smtp_strangers_get_no_foreign_subject_and_spoofs_no_ack(
    db: Database, classifier: EmailClassifier
) -> None:
    """Through the real SMTP endpoint, with the acknowledgements going to a second SMTP server."""
    inbox = Inbox()
    customer_mx = await asyncio.get_running_loop().create_server(lambda: SMTP(inbox), "127.0.0.1", 0)
    triage = TriageService(db, classifier, routing=Router.from_yaml(), now=NOW, authserv_id=OURS)
    acks = AckSender(
        AckSettings(
            smtp=SmtpSettings(host="127.0.0.1", port=customer_mx.sockets[0].getsockname()[1], start_tls=False)
        )
    )
    handler = TriageHandler(triage, acks=acks, accept_domains=["example-crm.com"])
    server = await start_smtp_server(handler, host="127.0.0.1", port=0)
    port = server.sockets[0].getsockname()[1]
    try:

        async def send(raw: bytes) -> TriageResult:
            await aiosmtplib.send(message_from_bytes(raw), hostname="127.0.0.1", port=port)
            await handler.drain()
            return handler.results[-1]

        first = await send(raw_mail(message_id="smtp-login-1@acme.example"))
        assert first.action == "created" and len(inbox.messages) == 1  # Anna's own acknowledgement
        stranger = await send(
            raw_mail(
                sender="Mallory <mallory@evil.example>",
                subject=f"[#{first.ticket_number}] status?",
                body="What is the status of this ticket? I cannot log in either.",
                message_id="smtp-evil-1@evil.example",
            )
        )
        assert stranger.action == "created" and stranger.related_ticket == first.ticket_number
        assert len(inbox.messages) == 2
        ack = inbox.messages[-1]
        assert ack["To"] == "mallory@evil.example"
        assert f"[#{stranger.ticket_number}]" in ack["Subject"]
        assert OPENING_SUBJECT not in ack["Subject"] and OPENING_SUBJECT not in ack.get_payload()
        spoof = await send(
            raw_mail(
                subject=f"Re: [#{first.ticket_number}] {OPENING_SUBJECT}",
                body="Please send the new password to my private address.",
                message_id="smtp-spoof-1@acme.example",
                auth=(f"{OURS}; dmarc=fail (p=none) header.from=acme.example",),
            )
        )
        assert spoof.action == "created" and AUTH_FAILED in spoof.flags
        assert len(inbox.messages) == 2  # no backscatter to the forged address
        thread = load(db, first.ticket_number)  # type: ignore[arg-type]
        assert len(thread.messages) == 2  # the opening mail and its acknowledgement, nothing else
    finally:
        await handler.drain()
        for s in (server, customer_mx):
            s.close()
            await s.wait_closed()


@dataclass
class Inbox:
    """The customer's MX: collects what our acknowledgements deliver."""

    messages: list[Message] = field(default_factory=list)

    async def handle_DATA(self, server: SMTP, session: Session, envelope: Envelope) -> str:
        self.messages.append(message_from_bytes(envelope.original_content or b""))
        return "250 OK"


# --- who may join ------------------------------------------------------------------------------------


def test_requester_reply_joins_reopens_and_is_authored_by_the_requester(
    db: Database, triage: TriageService
) -> None:
    first = opened(triage, db)
    by_token = triage.process(
        raw_mail(
            subject=f"Re: [#{first.ticket_number}] {OPENING_SUBJECT}",
            body="It also fails on my phone, same error message.",
            message_id="anna-2@acme.example",
            auth=(
                f"{OURS}; spf=pass smtp.mailfrom=acme.example; dkim=pass header.d=acme.example; dmarc=pass",
            ),
        )
    )
    assert (by_token.action, by_token.ticket_number, by_token.ack) == ("appended", first.ticket_number, False)
    thread = load(db, first.ticket_number)  # type: ignore[arg-type]
    assert thread.status == "open" and not thread.needs_human
    assert thread.messages[-1].author_contact_id == thread.requester_contact_id
    assert thread.messages[-1].author_address == "anna.schmidt@acme.example"
    # another of the requester's addresses is the requester too
    with db.session() as s:
        s.add(ContactEmail(contact_id=thread.requester_contact_id, address="anna@home.example", label="home"))
    solve(db, first.ticket_number)  # type: ignore[arg-type]
    by_reply = triage.process(
        raw_mail(
            sender="Anna <anna@home.example>",
            subject="Re: Login",
            body="I cannot log in from my home computer either, the password is rejected again.",
            message_id="anna-3@home.example",
            in_reply_to="anna-2@acme.example",
        )
    )
    assert (by_reply.action, by_reply.ticket_number) == ("appended", first.ticket_number)
    thread = load(db, first.ticket_number)  # type: ignore[arg-type]
    assert thread.status == "open"
    assert (thread.messages[-1].author_contact_id, thread.messages[-1].author_address) == (
        thread.requester_contact_id,
        "anna@home.example",
    )


def test_participant_cced_by_the_requester_joins_as_themselves(db: Database, triage: TriageService) -> None:
    first = opened(triage, db, cc="Bernd Braun <Bernd.Braun@acme.example>")
    result = triage.process(
        raw_mail(
            sender="Bernd Braun <bernd.braun@acme.example>",
            subject=f"Re: [#{first.ticket_number}] {OPENING_SUBJECT}",
            body="Same here, I cannot log in either since this morning.",
            message_id="bernd-1@acme.example",
            in_reply_to="login-1@acme.example",
            auth=(f"{OURS}; dmarc=pass header.from=acme.example",),
        )
    )
    assert (result.action, result.ticket_number) == ("appended", first.ticket_number)
    thread = load(db, first.ticket_number)  # type: ignore[arg-type]
    bernd = thread.messages[-1]
    assert bernd.author_address == "bernd.braun@acme.example"
    assert bernd.author_contact_id == result.contact_id != thread.requester_contact_id
    assert thread.status == "open"  # a participant's reply reopens, like the requester's
    # once on the thread, Bernd stays a participant even in a reply that names no Message-ID of it
    again = triage.process(
        raw_mail(
            sender="bernd.braun@acme.example",
            subject=f"[#{first.ticket_number}] one more thing",
            body="It works again for me, thanks.",
            message_id="bernd-2@acme.example",
        )
    )
    assert (again.action, again.ticket_number) == ("appended", first.ticket_number)


def test_a_reply_to_a_closed_ticket_opens_a_linked_ticket_without_review(
    db: Database, triage: TriageService
) -> None:
    first = opened(triage, db)
    with db.session() as s:
        crm = CrmServices(s, Actor.system("test"))
        crm.tickets.update(crm.tickets.by_number(first.ticket_number).id, {"status": "closed"})  # type: ignore[arg-type]
    result = triage.process(
        raw_mail(
            subject=f"Re: [#{first.ticket_number}] {OPENING_SUBJECT}",
            body="The login problem is back since this morning.",
            message_id="anna-9@acme.example",
        )
    )
    assert result.action == "created" and result.related_ticket == first.ticket_number
    new = load(db, result.ticket_number)  # type: ignore[arg-type]
    assert not new.needs_human and new.review_reason is None and new.related_ticket_id is not None
    assert result.ack is True


def test_dry_run_says_where_a_strangers_mail_would_go(db: Database, triage: TriageService) -> None:
    first = opened(triage, db)
    line = triage.classify(
        raw_mail(
            sender="mallory@evil.example",
            subject=f"Re: [#{first.ticket_number}] x",
            message_id="evil-dry@evil.example",
        )
    )
    assert line["thread_ticket"] is None and line["related_ticket"] == first.ticket_number
    assert line["review_reason"] == f"sender not on ticket #{first.ticket_number}"
    with db.session() as s:
        assert s.execute(select(Ticket.id)).scalars().all() == [load(db, first.ticket_number).id]  # type: ignore[arg-type]


# --- the Authentication-Results parser -----------------------------------------------------------------


def _head(*values: str) -> bytes:
    return (
        b"".join(f"Authentication-Results: {v}\r\n".encode() for v in values)
        + b"From: a@b.example\r\n\r\nhi\r\n"
    )


def test_authentication_results_parser() -> None:
    assert (
        authentication_results(b"From: a@b.example\r\n\r\nAuthentication-Results: x; dmarc=fail\r\n").failures
        == []
    )
    folded = _head(
        f"{OURS};\r\n\tspf=pass smtp.mailfrom=b.example;\r\n\tdmarc=fail (p=reject) header.from=b.example"
    )
    assert authentication_results(folded, OURS).failures == ["DMARC fail"]
    # several headers of our own MTA (SPF, DKIM and DMARC filters each add one) are combined
    split = _head(f"{OURS}; dmarc=pass", f"{OURS}; dkim=fail header.d=b.example")
    assert authentication_results(split, OURS).failures == ["DKIM fail"]
    assert authentication_results(split).failures == []  # unset: the top-most header only
    # a header the RFC grammar refuses still yields its verdicts
    broken = _head(f"{OURS}; spf=softfail smtp.helo=x;bogus; dkim/1=fail")
    assert authentication_results(broken, OURS).failures == ["SPF softfail", "DKIM fail"]
    assert authentication_results(_head("mx.evil.example; dmarc=fail"), OURS).failures == []
    assert authentication_results(_head(f"{OURS} 1; none"), OURS).failed is False
