"""Poison mail: an inbound message that fails triage again and again is set aside, not retried forever.

The IMAP poller tries a failing message a bounded number of times (``connectors/email/imap_poller.py``),
then calls :meth:`QuarantineService.add` and goes on with the messages behind it. An admin lists what is
quarantined and why, and replays a message once the cause is fixed (``crm-assistant mail quarantine``,
``mail replay ID``) or drops it (``mail drop ID``). Every step is audited with ids only: the mail itself
(sender, subject, raw bytes) is personal data and stays in its row, which erasure deletes (``data_classes``).
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import func, select

from crm_store.models import QuarantinedMail, utcnow
from crm_store.services.base import Page, Service

MAX_ERROR = 500


def _clean(value: str | None, limit: int) -> str | None:
    """A header value as a column can hold it on every database (no NUL, bounded length)."""
    if value is None:
        return None
    return value.replace("\x00", "")[:limit] or None


def describe_error(exc: BaseException) -> str:
    """The exception's type and first line: enough to see the cause, no traceback, bounded."""
    first = (str(exc).strip().splitlines() or [""])[0]
    return f"{type(exc).__name__}: {first}".replace("\x00", "")[:MAX_ERROR]


class QuarantineService(Service):
    entity = "quarantined_mail"

    def add(
        self,
        *,
        source: str,
        mailbox: str,
        raw: bytes,
        error: str,
        attempts: int,
        uid: int | None = None,
        message_id: str | None = None,
        from_addr: str | None = None,
        subject: str | None = None,
    ) -> QuarantinedMail:
        """Set a message aside (the intake's system actor, or an admin)."""
        if self.actor.kind != "system":
            self.require_role("admin")
        row = QuarantinedMail(
            source=source[:20],
            mailbox=mailbox[:300],
            uid=uid,
            message_id=_clean(message_id, 300),
            from_addr=_clean(from_addr, 320),
            subject=_clean(subject, 300),
            raw=raw,
            error=error[:MAX_ERROR],
            attempts=attempts,
        )
        self.session.add(row)
        self.session.flush()
        self.audit("quarantine", row.id, {"source": row.source, "uid": uid, "attempts": attempts})
        return row

    def list(self, *, include_replayed: bool = False, limit: int = 50, offset: int = 0) -> Page:
        self.require_role("admin")
        where = [] if include_replayed else [QuarantinedMail.replayed_at.is_(None)]
        total = self.session.execute(select(func.count()).select_from(QuarantinedMail).where(*where)).scalar_one()
        rows = self.session.execute(
            select(QuarantinedMail).where(*where).order_by(QuarantinedMail.id).limit(limit).offset(offset)
        ).scalars()
        items = list(rows)
        # audited for every actor, the console's too: the rows are whole mails
        self.audit("list", None, {"filters": {"include_replayed": include_replayed}, "rows": len(items)})
        return Page(items, int(total))

    def get(self, mail_id: int) -> QuarantinedMail:
        self.require_role("admin")
        return self.get_or_404(QuarantinedMail, mail_id, "quarantined mail")

    def mark_replayed(self, mail_id: int, result: str) -> QuarantinedMail:
        row = self.get(mail_id)
        row.replayed_at = utcnow()
        row.replay_result = result[:200]
        self.audit("replay", row.id, {"result": row.replay_result})
        return row

    def drop(self, mail_id: int) -> None:
        row = self.get(mail_id)
        self.session.delete(row)
        self.audit("delete", mail_id, {"source": row.source})


def quarantine_row(row: QuarantinedMail) -> dict[str, Any]:
    """For the admin's listing: where it came from, why it failed, never the body."""
    return {
        "id": row.id,
        "source": row.source,
        "mailbox": row.mailbox,
        "uid": row.uid,
        "message_id": row.message_id,
        "from": row.from_addr,
        "subject": row.subject,
        "size": len(row.raw),
        "error": row.error,
        "attempts": row.attempts,
        "quarantined_at": row.quarantined_at.isoformat(),
        "replayed_at": row.replayed_at.isoformat() if row.replayed_at else None,
        "replay_result": row.replay_result,
    }
