"""Linking Slack and Teams accounts to CRM users: only by an admin's approval or a verified one-time code.

    links = CrmServices(session, actor).links
    user = links.resolve(account)                    # the CRM user a chat account is linked to, or None
    request = links.request(account, hint_user_id)   # unlinked: one pending request per chat account
    links.approve(request.id)  /  links.reject(request.id)  /  links.unlink(user_id, "slack")   # admins
    code = links.issue_code("slack")                 # a CRM user signed in (REST) gets a one-time code ...
    outcome = links.redeem(account, code)            # ... and types ``link <code>`` to the bot

Why not by e-mail: the address Slack or Teams reports is chosen by whoever administers that workspace or
tenant, so it is only a *hint* for the admin (``AccountLink.user_id`` of a pending request). A link is
bound to the workspace (Slack team or enterprise id, Teams tenant) it was made in, and only that
workspace's messages act as the user. A CRM user linked to one chat account is never silently re-used by
another: approve and redeem refuse with a conflict until an admin unlinks the first one.

Every step is audited (``link.requested``, ``link.approved``, ``link.rejected``, ``link.verified``,
``link.revoked``) without codes or e-mail addresses in the payload. The user columns
``slack_user_id``/``slack_team_id``/``teams_user_id``/``teams_tenant_id`` are written only here
(``_bind``/``unlink``), never through ``UserService.update``.

Codes: 8 characters of a 32-letter alphabet (40 bits), stored as SHA-256, valid ``CODE_TTL`` and once;
at most ``MAX_CODES_PER_HOUR`` per user, and ``MAX_FAILED_CODES`` wrong codes per chat account (counted on
its pending request) lock self-service for that account until an admin decides.
"""

from __future__ import annotations

import hashlib
import logging
import re
import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, Literal

from sqlalchemy import func, select

from crm_store.models import AccountLink, User, utcnow
from crm_store.services.base import STAFF, Page, Service
from crm_store.services.errors import Conflict, NotFound, PermissionDenied, ValidationFailed

log = logging.getLogger(__name__)

Channel = Literal["slack", "teams"]
CHANNELS: tuple[Channel, ...] = ("slack", "teams")
CODE_ALPHABET = "ABCDEFGHJKLMNPQRSTUVWXYZ23456789"  # no 0/O, 1/I: read aloud or typed on a phone
CODE_LENGTH = 8
CODE_TTL = timedelta(minutes=10)
MAX_CODES_PER_HOUR = 5
MAX_FAILED_CODES = 5

# AccountLink.status values
PENDING, APPROVED, REJECTED, VERIFIED, REVOKED, EXPIRED, ISSUED = (
    "pending", "approved", "rejected", "verified", "revoked", "expired", "issued",
)

Outcome = Literal["linked", "already", "bad_code", "locked", "taken", "inactive"]


@dataclass(frozen=True)
class ChatAccount:
    """A chat account as the connector verified it: the platform's signature vouches for all of it."""

    channel: Channel
    external_id: str  # Slack user id; Teams AAD object id (else the Bot Framework id)
    workspace: str  # where a new link is bound: Slack enterprise id (else team id), Teams tenant id
    other_ids: tuple[str, ...] = ()  # the same person's other ids here (Teams: the ``29:`` id)
    other_workspaces: tuple[str, ...] = ()  # a stored link also counts here (Slack: the team in a grid)
    adopt_legacy: bool = False  # a link made before workspaces were recorded is bound to this one

    @property
    def ids(self) -> list[str]:
        return sorted({self.external_id, *self.other_ids} - {""})

    @property
    def workspaces(self) -> set[str]:
        return {self.workspace, *self.other_workspaces} - {""}


def _columns(channel: str) -> tuple[Any, Any]:
    if channel == "slack":
        return User.slack_user_id, User.slack_team_id
    if channel == "teams":
        return User.teams_user_id, User.teams_tenant_id
    raise ValidationFailed("channel must be slack or teams", "channel")


def normalize_code(code: str) -> str:
    return "".join(ch for ch in code.upper() if ch.isalnum())


_LINK_COMMAND = re.compile(r"^\s*/?(?:link|verkn(?:ü|ue)pfen)\s+([A-Za-z0-9][A-Za-z0-9 -]{6,14})\s*$", re.IGNORECASE)


def link_code(text: str) -> str | None:
    """The code in ``link ABCD-EFGH`` (German ``verknüpfen ...``) typed to the bot, else None."""
    m = _LINK_COMMAND.match(text)
    if m is None:
        return None
    code = normalize_code(m.group(1))
    return code if len(code) == CODE_LENGTH else None


def hash_code(code: str) -> str:
    return hashlib.sha256(("account-link:" + normalize_code(code)).encode()).hexdigest()


def serialize_link(link: AccountLink) -> dict[str, Any]:
    """What admins see of a request (never the code hash)."""
    return {
        "id": link.id,
        "channel": link.channel,
        "external_id": link.external_id or None,
        "workspace_id": link.workspace_id,
        "status": link.status,
        "user_id": link.user_id,
        "attempts": link.attempts,
        "requested_at": link.requested_at,
        "expires_at": link.expires_at,
        "decided_at": link.decided_at,
        "decided_by_id": link.decided_by_id,
    }


class LinkService(Service):
    entity = "account_link"

    # --- who is this chat account? (the connectors ask on every uncached turn) ---------------------------
    def resolve(self, account: ChatAccount) -> User | None:
        """The active CRM user linked to ``account`` in its own workspace, else None."""
        id_col, _ws_col = _columns(account.channel)
        user = self.session.execute(select(User).where(id_col.in_(account.ids))).scalars().first()
        if user is None or not user.is_active:
            return None
        bound = self._workspace_of(user, account.channel)
        if bound is None:
            if not account.adopt_legacy or not account.workspace:
                log.warning("a %s link without a workspace was not used (user %s)", account.channel, user.id)
                return None
            self._set_workspace(user, account.channel, account.workspace)
            self.audit("link.verified", user.id, {"channel": account.channel, "method": "legacy"}, entity="user")
            return user
        if bound not in account.workspaces:
            log.warning("%s user %s is linked in another workspace; refused", account.channel, user.id)
            return None
        return user

    @staticmethod
    def _workspace_of(user: User, channel: str) -> str | None:
        return user.slack_team_id if channel == "slack" else user.teams_tenant_id

    @staticmethod
    def _set_workspace(user: User, channel: str, workspace: str | None) -> None:
        if channel == "slack":
            user.slack_team_id = workspace
        else:
            user.teams_tenant_id = workspace

    # --- (a) admin-approved ------------------------------------------------------------------------------
    def open_request(self, account: ChatAccount) -> AccountLink | None:
        """The pending request of this chat account, if it has one."""
        return self.session.execute(
            select(AccountLink)
            .where(
                AccountLink.channel == account.channel,
                AccountLink.external_id == account.external_id,
                AccountLink.status == PENDING,
            )
            .order_by(AccountLink.id.desc())
        ).scalars().first()

    def request(self, account: ChatAccount, hint_email: str | None = None) -> AccountLink:
        """A pending request for ``account`` (the existing one when there is one). ``hint_email`` (what
        the platform reports) only suggests a CRM user to the admin; it links nothing."""
        _columns(account.channel)
        existing = self.open_request(account)
        if existing is not None:
            return existing
        suggested = None
        if hint_email:
            suggested = self.session.execute(
                select(User.id).where(User.email == hint_email.strip().lower(), User.is_active.is_(True))
            ).scalar()
        link = AccountLink(
            channel=account.channel,
            external_id=account.external_id[:200],
            workspace_id=account.workspace[:200] or None,
            status=PENDING,
            user_id=suggested,
            attempts=0,
            requested_at=utcnow(),
        )
        self.session.add(link)
        self.session.flush()
        self.audit("link.requested", link.id, {"channel": account.channel, "method": "admin",
                                               "suggested_user_id": suggested})
        return link

    def list(self, *, status: str | None = PENDING, channel: str | None = None, limit: int = 50,
             offset: int = 0) -> Page:
        """Requests and codes, newest first (admins). ``status=None``: all of them."""
        self.require_role("admin")
        stmt = select(AccountLink).order_by(AccountLink.id.desc())
        if status:
            stmt = stmt.where(AccountLink.status == status)
        if channel:
            stmt = stmt.where(AccountLink.channel == channel)
        return self.paginate(stmt, limit=limit, offset=offset)

    def get(self, link_id: int) -> AccountLink:
        self.require_role("admin")
        return self.get_or_404(AccountLink, link_id, "account link request")

    def approve(self, link_id: int, user_id: int | None = None) -> User:
        """Link a pending request's chat account to ``user_id`` (default: the suggested user)."""
        self.require_role("admin")
        link = self._pending(link_id)
        target_id = user_id if user_id is not None else link.user_id
        if target_id is None:
            raise ValidationFailed("no CRM user is suggested for this request; name one", "user_id")
        user = self.session.get(User, target_id)
        if user is None or not user.is_active:
            raise ValidationFailed(f"no active user with id {target_id}", "user_id")
        self._bind(user, link.channel, link.external_id, link.workspace_id)
        link.user_id, link.status = user.id, APPROVED
        link.decided_at, link.decided_by_id = utcnow(), self.actor.id
        self.audit("link.approved", link.id, {"channel": link.channel, "user_id": user.id})
        return user

    def reject(self, link_id: int) -> AccountLink:
        self.require_role("admin")
        link = self._pending(link_id)
        link.status, link.decided_at, link.decided_by_id = REJECTED, utcnow(), self.actor.id
        self.audit("link.rejected", link.id, {"channel": link.channel})
        return link

    def unlink(self, user_id: int, channel: str) -> User:
        """Remove a user's Slack or Teams link (admins, or the user for themselves)."""
        if not (self.actor.kind == "user" and self.actor.id == user_id):
            self.require_role("admin")
        id_col, _ = _columns(channel)
        user = self.get_or_404(User, user_id)
        if getattr(user, id_col.key) is None:
            raise NotFound(f"user {user_id} has no {channel} link")
        setattr(user, id_col.key, None)
        self._set_workspace(user, channel, None)
        for link in self.session.execute(
            select(AccountLink).where(AccountLink.user_id == user.id, AccountLink.channel == channel,
                                      AccountLink.status.in_((APPROVED, VERIFIED)))
        ).scalars():
            link.status = REVOKED
        self.audit("link.revoked", user.id, {"channel": channel}, entity="user")
        return user

    def _pending(self, link_id: int) -> AccountLink:
        link = self.session.get(AccountLink, link_id)
        if link is None or link.status == ISSUED:
            raise NotFound(f"account link request {link_id} does not exist")
        if link.status != PENDING:
            raise Conflict(f"account link request {link_id} is already {link.status}", existing_id=link.id)
        return link

    def _bind(self, user: User, channel: str, external_id: str, workspace: str | None) -> None:
        """Write the link on the user: refuses to move a linked account or to re-use a linked user."""
        id_col, _ = _columns(channel)
        if not external_id:
            raise ValidationFailed("the request has no chat account", "external_id")
        current = getattr(user, id_col.key)
        if current is not None and current != external_id:
            raise Conflict(f"user {user.id} is already linked to another {channel} account; unlink it first",
                           existing_id=user.id, field_name="user_id")
        holder = self.session.execute(select(User.id).where(id_col == external_id)).scalar()
        if holder is not None and holder != user.id:
            raise Conflict(f"this {channel} account is already linked to user {holder}", existing_id=holder,
                           field_name="external_id")
        setattr(user, id_col.key, external_id)
        self._set_workspace(user, channel, workspace)
        self.session.flush()

    # --- (b) self-service: a code from the signed-in CRM side, typed into the chat ----------------------
    def issue_code(self, channel: str) -> tuple[str, datetime]:
        """A one-time code for the signed-in staff user to send to the bot (``link <code>``)."""
        self.require_role(*STAFF)
        _columns(channel)
        now = utcnow()
        recent = self.session.execute(
            select(func.count()).select_from(AccountLink).where(
                AccountLink.user_id == self.actor.id,
                AccountLink.expires_at.is_not(None),  # only code rows expire; requests wait for an admin
                AccountLink.requested_at > now - timedelta(hours=1),
            )
        ).scalar_one()
        if recent >= MAX_CODES_PER_HOUR:
            raise PermissionDenied("too many link codes in the last hour; try again later")
        for old in self.session.execute(
            select(AccountLink).where(AccountLink.user_id == self.actor.id, AccountLink.channel == channel,
                                      AccountLink.status == ISSUED)
        ).scalars():
            old.status, old.code_hash = EXPIRED, None
        code = "".join(secrets.choice(CODE_ALPHABET) for _ in range(CODE_LENGTH))
        link = AccountLink(user_id=self.actor.id, channel=channel, external_id="", status=ISSUED,
                           code_hash=hash_code(code), attempts=0, requested_at=now, expires_at=now + CODE_TTL)
        self.session.add(link)
        self.session.flush()
        self.audit("link.requested", link.id, {"channel": channel, "method": "code"})
        return code, now + CODE_TTL

    def redeem(self, account: ChatAccount, code: str) -> tuple[Outcome, AccountLink | None]:
        """Link ``account`` to the CRM user who was issued ``code``. Wrong codes count against the
        account's pending request; after ``MAX_FAILED_CODES`` self-service is locked for it."""
        id_col, _ = _columns(account.channel)
        linked = self.session.execute(select(User).where(id_col.in_(account.ids))).scalars().first()
        if linked is not None:
            return "already", None
        request = self.request(account)
        if request.attempts >= MAX_FAILED_CODES:
            return "locked", request
        now = utcnow()
        row = self.session.execute(
            select(AccountLink)
            .where(AccountLink.code_hash == hash_code(code), AccountLink.status == ISSUED,
                   AccountLink.channel == account.channel)
            .with_for_update()
        ).scalars().first()
        if row is None or row.expires_at is None or row.expires_at <= now:
            if row is not None:
                row.status, row.code_hash = EXPIRED, None
            request.attempts += 1
            self.audit("link.rejected", request.id, {"channel": account.channel, "method": "code",
                                                     "reason": "bad_code", "attempts": request.attempts})
            return ("locked" if request.attempts >= MAX_FAILED_CODES else "bad_code"), request
        row.status, row.code_hash = EXPIRED, None  # single use, whatever happens next
        user = self.session.get(User, row.user_id) if row.user_id is not None else None
        if user is None or not user.is_active:
            return "inactive", request
        current = getattr(user, id_col.key)
        if current is not None and current != account.external_id:
            self.audit("link.rejected", request.id, {"channel": account.channel, "method": "code",
                                                     "reason": "user_linked_elsewhere", "user_id": user.id})
            return "taken", request
        self._bind(user, account.channel, account.external_id, account.workspace or None)
        row.status, row.external_id = VERIFIED, account.external_id[:200]
        row.workspace_id = account.workspace[:200] or None
        row.decided_at, row.decided_by_id = now, user.id
        request.status, request.user_id, request.decided_at, request.decided_by_id = VERIFIED, user.id, now, user.id
        self.audit("link.verified", row.id, {"channel": account.channel, "method": "code", "user_id": user.id})
        return "linked", row

    def links_of(self, user_id: int) -> dict[str, str | None]:
        """Which chat accounts a user is linked to (for ``GET /api/v1/me/links``)."""
        if not (self.actor.kind == "user" and self.actor.id == user_id):
            self.require_role("admin")
        user = self.get_or_404(User, user_id)
        return {"slack_user_id": user.slack_user_id, "slack_team_id": user.slack_team_id,
                "teams_user_id": user.teams_user_id, "teams_tenant_id": user.teams_tenant_id}

