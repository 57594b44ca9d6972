"""Consent (Art. 7, 21 GDPR) as an append-only history, with double opt-in and one-click withdrawal.

Every change of mind is a new ``ConsentRecord`` (purpose, channel, lawful basis, UTC time, source, text
version, expiry); a record is never updated, and deleted only by erasure or the retention of erased contacts.
The current state is the latest unexpired record per (contact, purpose, channel), so the history itself is
the proof Art. 7(1) asks for.

Giving consent by e-mail is a double opt-in: ``request_opt_in`` stores a ``ConsentConfirmation`` (only the
SHA-256 of a random token, 48 h expiry) and queues a mail with the link ``/consent/confirm?t=...``
(connectors/consent_links.py) through the e-mail outbox. Following the link shows a page; only its POST
button writes the granted record, once (mail scanners follow links with GET).

Withdrawing is as easy as giving: one call (``withdraw``), or one click without a login on the signed link
``/consent/withdraw?t=...`` that every marketing mail carries in its footer (``withdraw_footer``). That token
is an HMAC under ``CRM_SECRET_KEY`` over (contact, purpose, expiry), so it names nobody and cannot be forged.

    consent = ConsentService(session, actor)
    offer = consent.request_opt_in(contact.id, "newsletter", "nl-2026-01", "web_form")
    ...  # the person clicks and confirms
    consent.has_consent(contact.id, "newsletter")
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import re
import secrets
import time
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, Literal

from sqlalchemy import event, select, update

from crm_store import serialize
from crm_store.models import ConsentConfirmation, ConsentRecord, Contact, OutboxMessage, utcnow
from crm_store.services import audit
from crm_store.services.actor import Actor
from crm_store.services.base import Service
from crm_store.services.errors import ValidationFailed

MARKETING_PURPOSES: tuple[str, ...] = ("marketing", "newsletter")
OBJECTION_PURPOSES: tuple[str, ...] = (*MARKETING_PURPOSES, "profiling")  # as gdpr.py: Art. 21(2)/(3)
CONFIRM_TTL = timedelta(hours=48)
WITHDRAW_TTL_SECONDS = 5 * 365 * 24 * 3600  # a footer link keeps working as long as old mails are read
MAIL_CHANNEL = "email"
MAIL_KIND = "consent_confirmation"  # rendered by connectors/email/outbox.py
PURPOSE_RE = re.compile(r"^[a-z][a-z0-9_]{0,39}$")

Outcome = Literal["ok", "done_before", "expired", "invalid"]

_config: dict[str, str] = {"secret": "", "public_url": ""}


def configure(*, secret_key: str, public_url: str = "") -> None:
    """Set the key that signs withdraw links and the base of the links in mails (``build_app`` via the
    consent-links installer). Without a key no withdraw link is issued or accepted."""
    _config["secret"] = secret_key
    _config["public_url"] = public_url.rstrip("/")


class AppendOnly(RuntimeError):
    """Someone tried to change a consent record: history is appended to, never rewritten."""


@event.listens_for(ConsentRecord, "before_update")
def _refuse_update(_mapper: Any, _connection: Any, target: ConsentRecord) -> None:
    raise AppendOnly(f"consent record {target.id} is part of the history and cannot be changed")


def _hash(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


# --- signed withdraw tokens ----------------------------------------------------------------------------
def withdraw_token(contact_id: int, purpose: str, *, secret: str | None = None, now: float | None = None,
                   ttl_seconds: int = WITHDRAW_TTL_SECONDS) -> str:
    """``<contact>.<purpose>.<expiry>.<mac>``: HMAC-SHA256 under the secret key, URL-safe."""
    key = secret if secret is not None else _config["secret"]
    if not key:
        raise ValidationFailed("no CRM_SECRET_KEY: withdraw links cannot be signed", "secret_key")
    if not PURPOSE_RE.match(purpose):
        raise ValidationFailed("unknown purpose", "purpose")
    expires = int((time.time() if now is None else now) + ttl_seconds)
    body = f"{contact_id}.{purpose}.{expires}"
    return f"{body}.{_mac(key, body)}"


def verify_withdraw_token(token: str, *, secret: str | None = None, now: float | None = None
                          ) -> tuple[int, str] | None:
    """(contact id, purpose) of a valid, unexpired token; None for anything else."""
    key = secret if secret is not None else _config["secret"]
    parts = token.split(".")
    if not key or len(parts) != 4:
        return None
    cid, purpose, expires, mac = parts
    if not hmac.compare_digest(mac, _mac(key, f"{cid}.{purpose}.{expires}")):
        return None
    if not (cid.isdigit() and expires.isdigit() and PURPOSE_RE.match(purpose)):
        return None
    if int(expires) < (time.time() if now is None else now):
        return None
    return int(cid), purpose


def _mac(key: str, body: str) -> str:
    digest = hmac.new(f"consent-withdraw:{key}".encode(), body.encode(), hashlib.sha256).digest()
    return base64.urlsafe_b64encode(digest).rstrip(b"=").decode()


FOOTERS: dict[str, str] = {
    "en": "You receive this mail because you agreed to it. Unsubscribe with one click: {url}",
    "de": "Sie erhalten diese E-Mail, weil Sie zugestimmt haben. Mit einem Klick abmelden: {url}",
}


def withdraw_url(contact_id: int, purpose: str) -> str:
    return f"{_config['public_url']}/consent/withdraw?t={withdraw_token(contact_id, purpose)}"


def withdraw_footer(contact_id: int, purpose: str, language: str = "en") -> str:
    """The footer every marketing mail carries: a signed one-click withdraw link, no login."""
    return FOOTERS.get(language, FOOTERS["en"]).format(url=withdraw_url(contact_id, purpose))


@dataclass(frozen=True)
class OptIn:
    """A double opt-in in flight; ``token`` is in the mailed link only (the store keeps its hash)."""

    confirmation_id: int
    token: str
    expires_at: datetime


@dataclass(frozen=True)
class Pending:
    """What a confirm link stands for, read without changing anything (the GET page)."""

    outcome: Outcome
    purpose: str | None = None
    text_version: str | None = None


class ConsentService(Service):
    entity = "consent"

    # --- the history -----------------------------------------------------------------------------------

    def record(
        self,
        contact_id: int,
        purpose: str,
        granted: bool,
        source: str,
        *,
        channel: str = "email",
        legal_basis: str = "consent",
        text_version: str | None = None,
        expires_at: datetime | None = None,
    ) -> ConsentRecord:
        """Append one record (the only way a consent changes)."""
        self.require_self_or_staff(contact_id)
        return self._append(contact_id, purpose, granted, source, channel=channel, legal_basis=legal_basis,
                            text_version=text_version, expires_at=expires_at, actor=self.actor)

    def _append(self, contact_id: int, purpose: str, granted: bool, source: str, *, channel: str,
                legal_basis: str, text_version: str | None, expires_at: datetime | None, actor: Actor
                ) -> ConsentRecord:
        if not purpose.strip():
            raise ValidationFailed("a consent needs a purpose", "purpose")
        contact = self.contact_or_404(contact_id)
        if contact.erased_at is not None and granted:
            raise ValidationFailed("this contact was erased", "contact_id")
        rec = ConsentRecord(
            contact_id=contact_id,
            purpose=purpose.strip()[:40],
            granted=granted,
            source=source[:60],
            channel=channel[:20],
            legal_basis=legal_basis[:40],
            text_version=text_version[:40] if text_version else None,
            expires_at=expires_at if granted else None,
            recorded_at=utcnow(),
        )
        self.session.add(rec)
        self.session.flush()
        audit.record(
            self.session, actor, "grant_consent" if granted else "withdraw_consent", "consent", rec.id,
            {"contact_id": contact_id, "purpose": rec.purpose, "channel": rec.channel, "source": rec.source,
             "text_version": rec.text_version},
        )  # fmt: skip
        return rec

    def history(self, contact_id: int) -> list[dict[str, Any]]:
        self.require_self_or_staff(contact_id)
        rows = self.session.execute(
            select(ConsentRecord)
            .where(ConsentRecord.contact_id == contact_id)
            .order_by(ConsentRecord.recorded_at, ConsentRecord.id)
        ).scalars()
        return [_record(r) for r in rows]

    def current(self, contact_id: int, *, now: datetime | None = None) -> dict[tuple[str, str], dict[str, Any]]:
        """The latest record per (purpose, channel); a grant past its ``expires_at`` counts as not given."""
        now = now or utcnow()
        out: dict[tuple[str, str], dict[str, Any]] = {}
        for rec in self.history(contact_id):
            out[(rec["purpose"], rec["channel"])] = rec
        for rec in out.values():
            expires = rec.get("expires_at")
            if rec["granted"] and expires is not None and datetime.fromisoformat(expires) <= now:
                rec["granted"] = False
                rec["expired"] = True
        return out

    def state(self, contact_id: int, *, now: datetime | None = None) -> dict[str, dict[str, Any]]:
        """Per purpose (the export's and the chat's view): the latest of its channels' current records."""
        state: dict[str, dict[str, Any]] = {}
        for (purpose, _channel), rec in sorted(self.current(contact_id, now=now).items(),
                                               key=lambda kv: (kv[1]["recorded_at"], kv[1]["id"])):
            state[purpose] = {k: v for k, v in rec.items() if k not in ("id", "purpose")}
        return state

    def has_consent(self, contact_id: int, purpose: str, channel: str | None = None) -> bool:
        """A current, unexpired grant, and neither a restriction (Art. 18) nor, for direct marketing and
        profiling, an objection (Art. 21) on the contact: those win over any later record."""
        contact = self.contact_or_404(contact_id)
        if contact.restricted_at is not None:
            return False
        if contact.objected_at is not None and purpose in OBJECTION_PURPOSES:
            return False
        current = self.current(contact_id)
        return any(
            rec["granted"] for (p, ch), rec in current.items() if p == purpose and channel in (None, ch)
        )

    def withdraw(self, contact_id: int, purpose: str, source: str, *, channel: str | None = None
                 ) -> list[ConsentRecord]:
        """One call: every channel of ``purpose`` that is granted now becomes withdrawn (``channel`` given:
        that one). Nothing granted: nothing is written."""
        self.require_self_or_staff(contact_id)
        return self._withdraw(contact_id, purpose, source, channel=channel, actor=self.actor)

    def _withdraw(self, contact_id: int, purpose: str, source: str, *, channel: str | None, actor: Actor
                  ) -> list[ConsentRecord]:
        current = self._current_unchecked(contact_id)
        channels = [ch for (p, ch), rec in current.items() if p == purpose and rec.granted and
                    channel in (None, ch)]  # fmt: skip
        return [self._append(contact_id, purpose, False, source, channel=ch, legal_basis="consent",
                             text_version=None, expires_at=None, actor=actor) for ch in channels]  # fmt: skip

    def _current_unchecked(self, contact_id: int) -> dict[tuple[str, str], ConsentRecord]:
        rows = self.session.execute(
            select(ConsentRecord)
            .where(ConsentRecord.contact_id == contact_id)
            .order_by(ConsentRecord.recorded_at, ConsentRecord.id)
        ).scalars()
        return {(r.purpose, r.channel): r for r in rows}

    def withdraw_marketing(self, contact_id: int, source: str) -> list[ConsentRecord]:
        """Unsubscribe (Art. 21): every marketing purpose becomes withdrawn; the history is kept. A purpose
        never asked for gets a withdrawn record too, so the objection itself is on file."""
        self.require_self_or_staff(contact_id)
        current = self._current_unchecked(contact_id)
        out: list[ConsentRecord] = []
        for purpose in MARKETING_PURPOSES:
            mine = [rec for (p, _ch), rec in current.items() if p == purpose]
            if not mine:
                out.append(self._append(contact_id, purpose, False, source, channel="email",
                                        legal_basis="consent", text_version=None, expires_at=None,
                                        actor=self.actor))  # fmt: skip
            else:
                out += self._withdraw(contact_id, purpose, source, channel=None, actor=self.actor)
        return out

    # --- double opt-in -------------------------------------------------------------------------------
    def request_opt_in(
        self,
        contact_id: int,
        purpose: str,
        text_version: str,
        source: str,
        *,
        channel: str = "email",
        language: str | None = None,
        now: datetime | None = None,
    ) -> OptIn:
        """Store a confirmation (token hashed, 48 h) and queue the mail with its link; nothing is granted
        until the person confirms."""
        self.require_self_or_staff(contact_id)
        if not PURPOSE_RE.match(purpose):
            raise ValidationFailed("a purpose is a short lower-case name such as 'newsletter'", "purpose")
        contact = self.contact_or_404(contact_id)
        if contact.erased_at is not None:
            raise ValidationFailed("this contact was erased", "contact_id")
        address = contact.email
        if not address:
            raise ValidationFailed("the contact has no e-mail address to confirm with", "contact_id")
        now = now or utcnow()
        token = secrets.token_urlsafe(32)
        confirmation = ConsentConfirmation(
            contact_id=contact_id, purpose=purpose, channel=channel[:20], text_version=text_version[:40],
            source=source[:60], token_hash=_hash(token), created_at=now, expires_at=now + CONFIRM_TTL,
        )  # fmt: skip
        self.session.add(confirmation)
        self.session.flush()
        lang = language or contact.language or "en"
        self.session.add(
            OutboxMessage(
                channel=MAIL_CHANNEL,
                target=address.lower()[:200],
                payload={
                    "kind": MAIL_KIND,
                    "to": address.lower(),
                    "url": f"{_config['public_url']}/consent/confirm?t={token}",  # wiped once sent
                    "purpose": purpose,
                    "language": lang if lang in ("en", "de") else "en",
                    "expires_at": confirmation.expires_at.isoformat(),
                },
                next_attempt_at=now,
            )
        )
        self.audit("opt_in_requested", confirmation.id,
                   {"contact_id": contact_id, "purpose": purpose, "text_version": text_version,
                    "source": confirmation.source}, entity="consent_confirmation")  # fmt: skip
        return OptIn(confirmation.id, token, confirmation.expires_at)

    def _confirmation(self, token: str) -> ConsentConfirmation | None:
        if not token or len(token) > 200:
            return None
        return self.session.execute(
            select(ConsentConfirmation).where(ConsentConfirmation.token_hash == _hash(token))
        ).scalar_one_or_none()

    def peek(self, token: str, *, now: datetime | None = None) -> Pending:
        """What the confirm link stands for; changes nothing (the GET page)."""
        c = self._confirmation(token)
        outcome = self._outcome(c, now or utcnow())
        if c is None or outcome == "invalid":
            return Pending("invalid")
        return Pending(outcome, c.purpose, c.text_version)

    @staticmethod
    def _outcome(c: ConsentConfirmation | None, now: datetime) -> Outcome:
        if c is None:
            return "invalid"
        if c.used_at is not None:
            return "done_before"
        if c.expires_at <= now:
            return "expired"
        return "ok"

    def confirm_opt_in(self, token: str, *, now: datetime | None = None) -> Pending:
        """The POST behind the confirm page: writes the granted record once. The token is spent with a
        compare-and-set, so two clicks at once still give one record."""
        now = now or utcnow()
        c = self._confirmation(token)
        outcome = self._outcome(c, now)
        if c is None or outcome != "ok":
            return Pending(outcome if c is not None else "invalid")
        contact = self.session.get(Contact, c.contact_id)
        if contact is None or contact.erased_at is not None:
            return Pending("invalid")
        spent = self.session.execute(
            update(ConsentConfirmation)
            .where(ConsentConfirmation.id == c.id, ConsentConfirmation.used_at.is_(None))
            .values(used_at=now)
            .execution_options(synchronize_session=False)
        )
        if getattr(spent, "rowcount", 0) != 1:
            return Pending("done_before", c.purpose, c.text_version)
        self._append(c.contact_id, c.purpose, True, c.source, channel=c.channel, legal_basis="consent",
                     text_version=c.text_version, expires_at=None,
                     actor=Actor.customer(c.contact_id))  # fmt: skip
        return Pending("ok", c.purpose, c.text_version)

    def withdraw_by_link(self, token: str) -> Pending:
        """The POST behind a footer's withdraw link: the signed token is the only credential needed."""
        found = verify_withdraw_token(token)
        if found is None:
            return Pending("invalid")
        contact_id, purpose = found
        contact = self.session.get(Contact, contact_id)
        if contact is None:
            return Pending("invalid")
        done = self._withdraw(contact_id, purpose, "withdraw_link", channel=None,
                              actor=Actor.customer(contact_id))  # fmt: skip
        return Pending("ok" if done else "done_before", purpose)


def _record(r: ConsentRecord) -> dict[str, Any]:
    out = serialize.consent(r)
    out["text_version"] = r.text_version
    out["expires_at"] = r.expires_at.isoformat() if r.expires_at else None
    return out


__all__ = [
    "CONFIRM_TTL",
    "MAIL_KIND",
    "MARKETING_PURPOSES",
    "AppendOnly",
    "ConsentService",
    "OptIn",
    "Pending",
    "configure",
    "verify_withdraw_token",
    "withdraw_footer",
    "withdraw_token",
    "withdraw_url",
]
