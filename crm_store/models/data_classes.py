"""Every column of the store, classified: what kind of data it is, why we hold it and what erasure does.

This is the one place a data-protection officer reads, and the one place export, erasure (Art. 17),
retention and the record of processing activities (Art. 30, ``crm-assistant gdpr ropa``) are driven by.
A unit test fails when a column of ``Base.metadata`` has no entry, so a new table cannot be forgotten.

Classes (``DataClass``):

* ``personal``        identifies a person or says something about one (names, addresses, message text)
* ``special``         Art. 9 categories (health, religion, ...); none are collected on purpose today
* ``pseudonymous_id`` an id or key that points to a person only together with another table
* ``none``            no personal data (amounts, stages, flags, timestamps of business events)

What erasure does with a ``personal``/``special`` column on the person's own rows (``Erasure``):

* ``delete_row``  the whole row goes (a table with one such column loses the row)
* ``anonymise``   the value becomes ``value`` (``None``, ``"Erased"``, the redaction mark)
* ``scrub``       the person's identifiers (names, addresses, their mail subjects) are cut out of the text;
                  the rest of it is someone else's business data and stays
* ``keep``        kept with a legal ``reason`` (e.g. HGB §257 / AO §147 for bookkeeping records)

A ``pseudonymous_id`` keeps pointing at the contact row, which erasure turns into an anonymous tombstone, so
it no longer identifies anyone.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum
from typing import Any


class DataClass(StrEnum):
    PERSONAL = "personal"
    SPECIAL = "special"
    PSEUDONYMOUS_ID = "pseudonymous_id"
    NONE = "none"


class Erasure(StrEnum):
    DELETE_ROW = "delete_row"
    ANONYMISE = "anonymise"
    SCRUB = "scrub"
    KEEP = "keep"
    NOT_APPLICABLE = "-"


REDACTED = "[redacted: personal data erased]"
ERASED_NAME = "Erased"
ERASED_TEXT = "[erased]"  # what ``scrub`` puts where an identifier was

KEEP_TOMBSTONE = "the id points to the anonymised contact row, which identifies nobody"


@dataclass(frozen=True)
class Purpose:
    """One processing activity of the Art. 30 record."""

    title: str
    description: str
    lawful_basis: str
    subjects: str
    recipients: str
    retention: str


PURPOSES: dict[str, Purpose] = {
    "customer_relationship": Purpose(
        "Customer and prospect management",
        "contacts, organisations, deals, activities and tasks of sales and account management",
        "Art. 6(1)(b) GDPR (contract and pre-contractual steps); Art. 6(1)(f) (legitimate interest in "
        "business contacts)",
        "customers, prospects and their employees",
        "sales reps, managers and admins (roles in crm_store/policy.yml); Slack/Teams workspace of the "
        "company for notifications",
        "while the relationship lasts; activities of contacts without a deal 3 years; deal amounts and "
        "stages 10 years (HGB §257, AO §147) after the contact is erased, without the person",
    ),
    "support": Purpose(
        "Customer support",
        "tickets, their message thread and e-mails as received, answered by agents",
        "Art. 6(1)(b) GDPR (contract); Art. 6(1)(f) (answering enquiries)",
        "customers and people who write to support",
        "support agents; the customer by e-mail/web chat; SMTP relay (CRM_SMTP_HOST)",
        "messages of closed tickets 2 years",
    ),
    "chat": Purpose(
        "Conversational assistant",
        "dialogue state and transcripts of the web chat, Slack, Teams and REST conversations",
        "Art. 6(1)(b) GDPR (serving the request); Art. 6(1)(f) (continuity of a conversation)",
        "customers using the web chat; staff using Slack/Teams/the terminal",
        "the assistant process; Slack and Microsoft Teams (as processors) for their channels",
        "until the person is erased; retention rules per data class",
    ),
    "consent": Purpose(
        "Consent and objection management",
        "append-only history of given and withdrawn consents (marketing, newsletter)",
        "Art. 6(1)(a), Art. 7(1) GDPR (proof of consent); Art. 21 (objection)",
        "customers and prospects",
        "marketing staff; nobody outside",
        "consent records of erased contacts 30 days (proof of the withdrawal), then deleted",
    ),
    "accountability": Purpose(
        "Accountability and security logging",
        "hash-chained audit log (who did what to which record, when), data-subject requests",
        "Art. 5(2), Art. 6(1)(c) GDPR (legal obligation), Art. 32 (security)",
        "staff, customers whose records were touched",
        "admins and the data-protection officer",
        "audit payloads 6 years (HGB §257 business letters), the chain itself kept; finished requests "
        "3 years",
    ),
    "delivery": Purpose(
        "Message delivery and exactly-once processing",
        "outbox of Slack/Teams/e-mail messages to send, idempotency keys of processed mails and events",
        "Art. 6(1)(f) GDPR (reliable operation)",
        "recipients of messages; senders of processed mails",
        "Slack, Microsoft Teams, the SMTP relay",
        "idempotency keys 90 days; outbox rows until sent",
    ),
    "identity": Purpose(
        "Identity, authentication and account linking",
        "staff accounts, API tokens (hashed), Slack/Teams account links, customers' proofs of address",
        "Art. 6(1)(b) GDPR / §26 BDSG (employment) for staff; Art. 6(1)(f) and Art. 32 for security",
        "staff; customers who prove their address in a chat",
        "admins",
        "staff data while employed; tokens until expiry or revocation; chat proofs while the chat is active",
    ),
    "knowledge": Purpose(
        "Knowledge base and configuration",
        "help articles, teams, counters",
        "no personal data",
        "-",
        "-",
        "-",
    ),
}


@dataclass(frozen=True)
class TableInfo:
    """How a table relates to a data subject: ``subject`` says how erasure and export find a contact's
    rows (``gdpr.py`` has one locator per value), ``purpose`` is a key of ``PURPOSES``."""

    purpose: str
    subject: (
        str  # "contact" (own rows by id) / "mentions" (found by the person's identifiers) / "staff" / "none"
    )
    mentions: str = ""  # "delete" / "scrub": what happens to other rows that mention the person


TABLES: dict[str, TableInfo] = {
    "contacts": TableInfo("customer_relationship", "contact"),
    "contact_emails": TableInfo("customer_relationship", "contact"),
    "contact_phones": TableInfo("customer_relationship", "contact"),
    "contact_relationships": TableInfo("customer_relationship", "contact", "scrub"),
    "name_tokens": TableInfo("customer_relationship", "contact"),
    "organizations": TableInfo("customer_relationship", "none"),
    "activities": TableInfo("customer_relationship", "contact", "scrub"),
    "tasks": TableInfo("customer_relationship", "contact", "scrub"),
    "deals": TableInfo("customer_relationship", "contact", "scrub"),
    "deal_stage_changes": TableInfo("customer_relationship", "none"),
    "tickets": TableInfo("support", "contact", "scrub"),
    "ticket_messages": TableInfo("support", "contact", "scrub"),
    "knowledge_articles": TableInfo("knowledge", "none"),
    "conversations": TableInfo("chat", "contact", "scrub"),
    "conversation_events": TableInfo("chat", "contact", "scrub"),
    "conversation_grants": TableInfo("identity", "contact"),
    "consent_records": TableInfo("consent", "contact"),
    "gdpr_requests": TableInfo("accountability", "contact"),
    "consent_confirmations": TableInfo("consent", "contact"),
    "legal_holds": TableInfo("accountability", "contact"),
    "audit_log": TableInfo("accountability", "contact", "scrub"),
    "outbox_messages": TableInfo("delivery", "mentions", "delete"),
    "teams_conversation_refs": TableInfo("delivery", "staff"),
    "processed_events": TableInfo("delivery", "mentions", "delete"),
    "quarantined_mail": TableInfo("delivery", "mentions", "delete"),
    "counters": TableInfo("knowledge", "none"),
    "teams": TableInfo("knowledge", "none"),
    "users": TableInfo("identity", "staff"),
    "api_tokens": TableInfo("identity", "staff"),
    "agent_sessions": TableInfo("identity", "staff"),
    "account_links": TableInfo("identity", "staff"),
}


@dataclass(frozen=True)
class Column:
    data_class: DataClass
    erasure: Erasure = Erasure.NOT_APPLICABLE
    value: Any = None  # for ANONYMISE
    reason: str = ""  # for KEEP (and a note for the others)

    @property
    def is_personal(self) -> bool:
        return self.data_class in (DataClass.PERSONAL, DataClass.SPECIAL)


NONE = Column(DataClass.NONE)
ID = Column(DataClass.PSEUDONYMOUS_ID, Erasure.KEEP, reason=KEEP_TOMBSTONE)


def _delete(reason: str = "") -> Column:
    return Column(DataClass.PERSONAL, Erasure.DELETE_ROW, reason=reason)


def _anon(value: Any, reason: str = "") -> Column:
    return Column(DataClass.PERSONAL, Erasure.ANONYMISE, value, reason)


def _scrub(reason: str = "") -> Column:
    return Column(DataClass.PERSONAL, Erasure.SCRUB, reason=reason)


def _keep(reason: str, data_class: DataClass = DataClass.PERSONAL) -> Column:
    return Column(data_class, Erasure.KEEP, reason=reason)


STAFF = "staff data: removed with the user account, not by a customer's erasure"
BOOKS = "HGB §257 / AO §147: commercial records 6-10 years; kept without the person"
PROOF = (
    "Art. 5(2), 7(1): proof that consent was withdrawn / the request handled; no name, only the tombstone id"
)

COLUMNS: dict[str, Column] = {
    # --- people -----------------------------------------------------------------------------------------
    "contacts.id": ID,
    "contacts.first_name": _anon(ERASED_NAME),
    "contacts.last_name": _anon(ERASED_NAME),
    "contacts.salutation": _anon(None),
    "contacts.job_title": _anon(None),
    "contacts.language": _anon(None),
    "contacts.organization_id": NONE,
    "contacts.owner_id": NONE,
    "contacts.tags": _anon([]),
    "contacts.custom_fields": _anon({}),
    "contacts.is_customer_login": NONE,
    "contacts.erased_at": NONE,
    "contacts.restricted_at": _keep(PROOF, DataClass.NONE),
    "contacts.objected_at": _keep(PROOF, DataClass.NONE),
    "contacts.created_at": NONE,
    "contacts.updated_at": NONE,
    "contact_emails.id": NONE,
    "contact_emails.contact_id": ID,
    "contact_emails.address": _delete(),
    "contact_emails.label": NONE,
    "contact_emails.is_primary": NONE,
    "contact_phones.id": NONE,
    "contact_phones.contact_id": ID,
    "contact_phones.number": _delete(),
    "contact_phones.label": NONE,
    "contact_phones.is_primary": NONE,
    "contact_relationships.id": NONE,
    "contact_relationships.contact_id": ID,
    "contact_relationships.kind": NONE,
    "contact_relationships.organization_id": NONE,
    "contact_relationships.related_contact_id": ID,
    "contact_relationships.note": _anon(None, "also where the person is the related contact"),
    "contact_relationships.created_at": NONE,
    "contact_relationships.updated_at": NONE,
    "name_tokens.id": NONE,
    "name_tokens.kind": NONE,
    "name_tokens.ref_id": ID,
    "name_tokens.token": _delete("the name-search index"),
    "name_tokens.phonetic": _delete("the name-search index"),
    "organizations.id": NONE,
    "organizations.name": NONE,  # legal persons; a sole trader's name is handled as a contact
    "organizations.domain": NONE,
    "organizations.industry": NONE,
    "organizations.segment": NONE,
    "organizations.vip": NONE,
    "organizations.parent_id": NONE,
    "organizations.owner_id": NONE,
    "organizations.custom_fields": NONE,
    "organizations.created_at": NONE,
    "organizations.updated_at": NONE,
    # --- activities, tasks, deals --------------------------------------------------------------------------
    "activities.id": NONE,
    "activities.type": NONE,
    "activities.contact_id": ID,
    "activities.organization_id": NONE,
    "activities.deal_id": NONE,
    "activities.user_id": NONE,
    "activities.occurred_at": NONE,
    "activities.summary": _anon(REDACTED),
    "activities.outcome": _anon(None),
    "activities.channel": NONE,
    "activities.created_at": NONE,
    "activities.updated_at": NONE,
    "tasks.id": NONE,
    "tasks.title": _anon(REDACTED),
    "tasks.due_at": NONE,
    "tasks.status": NONE,
    "tasks.contact_id": ID,
    "tasks.organization_id": NONE,
    "tasks.deal_id": NONE,
    "tasks.assignee_id": NONE,
    "tasks.activity_id": NONE,
    "tasks.completed_at": NONE,
    "tasks.created_at": NONE,
    "tasks.updated_at": NONE,
    "deals.id": NONE,
    "deals.name": _scrub(
        "the person's name/address/mail subject is cut out; a name made from their mail is replaced"
    ),
    "deals.organization_id": NONE,
    "deals.contact_id": ID,
    "deals.owner_id": NONE,
    "deals.amount": _keep(BOOKS, DataClass.NONE),
    "deals.currency": NONE,
    "deals.stage": _keep(BOOKS, DataClass.NONE),
    "deals.probability": NONE,
    "deals.expected_close_date": NONE,
    "deals.closed_at": _keep(BOOKS, DataClass.NONE),
    "deals.last_activity_at": NONE,
    "deals.created_at": NONE,
    "deals.updated_at": NONE,
    "deal_stage_changes.id": NONE,
    "deal_stage_changes.deal_id": NONE,
    "deal_stage_changes.from_stage": NONE,
    "deal_stage_changes.to_stage": NONE,
    "deal_stage_changes.changed_at": NONE,
    "deal_stage_changes.changed_by_id": NONE,
    # --- support --------------------------------------------------------------------------------------------
    "tickets.id": NONE,
    "tickets.number": _keep(
        "the ticket number stays for support statistics and SLA figures", DataClass.PSEUDONYMOUS_ID
    ),
    "tickets.subject": _anon(REDACTED),
    "tickets.description": _anon(""),
    "tickets.status": NONE,
    "tickets.priority": NONE,
    "tickets.queue": NONE,
    "tickets.language": NONE,
    "tickets.team_id": NONE,
    "tickets.assignee_id": NONE,
    "tickets.requester_contact_id": ID,
    "tickets.organization_id": NONE,
    "tickets.channel": NONE,
    "tickets.needs_human": NONE,
    "tickets.related_ticket_id": NONE,
    "tickets.review_reason": _anon(None, "may name the sender's address"),
    "tickets.first_response_due_at": NONE,
    "tickets.resolution_due_at": NONE,
    "tickets.first_responded_at": NONE,
    "tickets.solved_at": NONE,
    "tickets.escalated_at": NONE,
    "tickets.triage": NONE,  # queue, priority, language, confidence, rule number, team name, flags
    "tickets.slack_message": NONE,
    "tickets.created_at": NONE,
    "tickets.updated_at": NONE,
    "ticket_messages.id": NONE,
    "ticket_messages.ticket_id": NONE,
    "ticket_messages.message_id": _anon(None, "Message-IDs often carry the sender's address or name"),
    "ticket_messages.in_reply_to": _anon(None),
    "ticket_messages.direction": NONE,
    "ticket_messages.author_contact_id": ID,
    "ticket_messages.author_user_id": NONE,
    "ticket_messages.author_address": _anon(None),
    "ticket_messages.recipients": _anon(None, "on other people's tickets only their address is removed"),
    "ticket_messages.channel": NONE,
    "ticket_messages.body": _anon(REDACTED),
    "ticket_messages.attachments": _anon(None, "file names often carry a name"),
    "ticket_messages.created_at": NONE,
    "knowledge_articles.id": NONE,
    "knowledge_articles.language": NONE,
    "knowledge_articles.title": NONE,
    "knowledge_articles.body": NONE,
    "knowledge_articles.tags": NONE,
    "knowledge_articles.published": NONE,
    "knowledge_articles.created_at": NONE,
    "knowledge_articles.updated_at": NONE,
    # --- conversations ------------------------------------------------------------------------------------
    "conversations.id": NONE,
    "conversations.channel": NONE,
    "conversations.sender_id": _delete("a customer's conversation key"),
    "conversations.speaker": _delete(),
    "conversations.state": _delete("slots and the dialogue tracker: names, addresses, message text"),
    "conversations.paused": NONE,
    "conversations.ticket_id": NONE,
    "conversations.turns": NONE,
    "conversations.created_at": NONE,
    "conversations.updated_at": NONE,
    "conversation_events.id": NONE,
    "conversation_events.conversation_id": NONE,
    "conversation_events.at": NONE,
    "conversation_events.event": _delete("the transcript (user and bot messages, data exports)"),
    "conversation_grants.id": NONE,
    "conversation_grants.conversation": _delete(),
    "conversation_grants.contact_id": ID,
    "conversation_grants.ticket_id": NONE,
    "conversation_grants.method": NONE,
    "conversation_grants.code_hash": Column(DataClass.PSEUDONYMOUS_ID, Erasure.DELETE_ROW),
    "conversation_grants.attempts": NONE,
    "conversation_grants.code_expires_at": NONE,
    "conversation_grants.granted_at": NONE,
    "conversation_grants.last_used_at": NONE,
    "conversation_grants.created_at": NONE,
    # --- compliance ---------------------------------------------------------------------------------------
    "consent_records.id": NONE,
    "consent_records.contact_id": ID,
    "consent_records.purpose": _keep(PROOF, DataClass.NONE),
    "consent_records.channel": NONE,
    "consent_records.granted": _keep(PROOF, DataClass.NONE),
    "consent_records.recorded_at": _keep(PROOF, DataClass.NONE),
    "consent_records.source": NONE,
    "consent_records.legal_basis": NONE,
    "consent_records.text_version": _keep(PROOF, DataClass.NONE),
    "consent_records.expires_at": NONE,
    "consent_confirmations.id": NONE,
    "consent_confirmations.contact_id": ID,
    "consent_confirmations.purpose": NONE,
    "consent_confirmations.channel": NONE,
    "consent_confirmations.text_version": NONE,
    "consent_confirmations.source": NONE,
    "consent_confirmations.token_hash": Column(DataClass.PSEUDONYMOUS_ID, Erasure.DELETE_ROW),
    "consent_confirmations.created_at": NONE,
    "consent_confirmations.expires_at": NONE,
    "consent_confirmations.used_at": NONE,
    "legal_holds.id": NONE,
    "legal_holds.contact_id": ID,
    "legal_holds.organization_id": NONE,
    "legal_holds.reason": _keep("a legal hold is kept while it lasts (litigation, authority request)"),
    "legal_holds.created_at": NONE,
    "legal_holds.created_by_id": NONE,
    "legal_holds.released_at": NONE,
    "gdpr_requests.id": NONE,
    "gdpr_requests.kind": _keep(PROOF, DataClass.NONE),
    "gdpr_requests.contact_id": ID,
    "gdpr_requests.status": NONE,
    "gdpr_requests.requested_at": NONE,
    "gdpr_requests.requested_via": NONE,
    "gdpr_requests.decided_by_id": NONE,
    "gdpr_requests.completed_at": NONE,
    "gdpr_requests.due_at": NONE,
    "gdpr_requests.reminded_at": NONE,
    "gdpr_requests.identity_verified_at": NONE,
    "gdpr_requests.identity_method": NONE,
    "gdpr_requests.pages_freed_at": NONE,
    "gdpr_requests.note": _anon(None),
    "audit_log.id": NONE,
    "audit_log.at": NONE,
    "audit_log.actor": _keep(
        "Art. 5(2), 32: who acted (a staff id or the tombstone id)", DataClass.PSEUDONYMOUS_ID
    ),
    "audit_log.action": NONE,
    "audit_log.entity": NONE,
    "audit_log.entity_id": _keep(
        "the chain covers it; points to anonymised records", DataClass.PSEUDONYMOUS_ID
    ),
    "audit_log.payload": _anon(None, "redacted through audit.redact_payloads; the chain stays verifiable"),
    "audit_log.payload_digest": _keep(
        "a salted digest of the removed payload keeps the chain verifiable", DataClass.PSEUDONYMOUS_ID
    ),
    "audit_log.redacted": NONE,
    "audit_log.salt": NONE,
    "audit_log.key_id": NONE,
    "audit_log.seq": NONE,
    "audit_log.prev_hash": NONE,
    "audit_log.hash": NONE,
    "quarantined_mail.id": NONE,
    "quarantined_mail.source": NONE,
    "quarantined_mail.mailbox": NONE,
    "quarantined_mail.uid": NONE,
    "quarantined_mail.message_id": _delete("a Message-ID often holds an address"),
    "quarantined_mail.from_addr": _delete("the sender's address"),
    "quarantined_mail.subject": _delete("mail text"),
    "quarantined_mail.raw": _delete("the whole mail as received"),
    "quarantined_mail.error": NONE,
    "quarantined_mail.attempts": NONE,
    "quarantined_mail.quarantined_at": NONE,
    "quarantined_mail.replayed_at": NONE,
    "quarantined_mail.replay_result": NONE,
    "processed_events.id": NONE,
    "processed_events.source": NONE,
    "processed_events.key": _delete("Message-IDs and ack keys hold addresses"),
    "processed_events.processed_at": NONE,
    "processed_events.result": _delete("drafts hold message text"),
    "counters.name": NONE,
    "counters.value": NONE,
    # --- delivery -----------------------------------------------------------------------------------------
    "outbox_messages.id": NONE,
    "outbox_messages.channel": NONE,
    "outbox_messages.target": _delete("an e-mail address or a chat channel"),
    "outbox_messages.payload": _delete("the text of the post or mail"),
    "outbox_messages.attempts": NONE,
    "outbox_messages.next_attempt_at": NONE,
    "outbox_messages.sent_at": NONE,
    "outbox_messages.last_error": NONE,
    "outbox_messages.created_at": NONE,
    "teams_conversation_refs.id": NONE,
    "teams_conversation_refs.tenant_id": NONE,
    "teams_conversation_refs.conversation_id": _keep(STAFF, DataClass.PSEUDONYMOUS_ID),
    "teams_conversation_refs.conversation_type": NONE,
    "teams_conversation_refs.service_url": NONE,
    "teams_conversation_refs.bot_id": NONE,
    "teams_conversation_refs.teams_user_id": _keep(STAFF, DataClass.PSEUDONYMOUS_ID),
    "teams_conversation_refs.user_id": _keep(STAFF, DataClass.PSEUDONYMOUS_ID),
    "teams_conversation_refs.updated_at": NONE,
    # --- staff ----------------------------------------------------------------------------------------------
    "teams.id": NONE,
    "teams.name": NONE,
    "teams.lead_user_id": NONE,
    "teams.timezone": NONE,
    "teams.slack_channel": NONE,
    "teams.created_at": NONE,
    "teams.updated_at": NONE,
    "users.id": NONE,
    "users.email": _keep(STAFF),
    "users.name": _keep(STAFF),
    "users.role": NONE,
    "users.team_id": NONE,
    "users.language": NONE,
    "users.timezone": NONE,
    "users.languages_spoken": NONE,
    "users.slack_user_id": _keep(STAFF, DataClass.PSEUDONYMOUS_ID),
    "users.teams_user_id": _keep(STAFF, DataClass.PSEUDONYMOUS_ID),
    "users.slack_team_id": NONE,
    "users.teams_tenant_id": NONE,
    "users.is_active": NONE,
    "users.is_available": NONE,
    "users.created_at": NONE,
    "users.updated_at": NONE,
    "agent_sessions.id": NONE,
    "agent_sessions.user_id": NONE,
    "agent_sessions.kind": NONE,
    "agent_sessions.token_hash": NONE,
    "agent_sessions.created_at": NONE,
    "agent_sessions.expires_at": NONE,
    "agent_sessions.last_seen_at": NONE,
    "agent_sessions.used_at": NONE,
    "agent_sessions.revoked_at": NONE,
    "api_tokens.id": NONE,
    "api_tokens.user_id": NONE,
    "api_tokens.token_hash": NONE,
    "api_tokens.prefix": NONE,
    "api_tokens.name": NONE,
    "api_tokens.created_at": NONE,
    "api_tokens.last_used_at": NONE,
    "api_tokens.revoked_at": NONE,
    "api_tokens.expires_at": NONE,
    "account_links.id": NONE,
    "account_links.user_id": NONE,
    "account_links.channel": NONE,
    "account_links.external_id": _keep(STAFF, DataClass.PSEUDONYMOUS_ID),
    "account_links.workspace_id": NONE,
    "account_links.status": NONE,
    "account_links.code_hash": NONE,
    "account_links.attempts": NONE,
    "account_links.requested_at": NONE,
    "account_links.expires_at": NONE,
    "account_links.decided_at": NONE,
    "account_links.decided_by_id": NONE,
}


def columns_of(table: str) -> dict[str, Column]:
    """``{column: Column}`` of one table, in the order above."""
    prefix = f"{table}."
    return {k[len(prefix) :]: v for k, v in COLUMNS.items() if k.startswith(prefix)}


def personal_columns(table: str) -> dict[str, Column]:
    return {name: c for name, c in columns_of(table).items() if c.is_personal}


def deletes_rows(table: str) -> bool:
    """True when erasure removes the person's rows of ``table`` (any personal column says ``delete_row``)."""
    return any(c.erasure is Erasure.DELETE_ROW for c in personal_columns(table).values())


def anonymised_values(table: str) -> dict[str, Any]:
    """``{column: value}`` erasure sets on the person's own rows of ``table``."""
    return {name: c.value for name, c in personal_columns(table).items() if c.erasure is Erasure.ANONYMISE}


def unclassified(metadata: Any) -> list[str]:
    """``table.column`` of every column in ``metadata`` without an entry (the unit test wants none)."""
    return [
        f"{t.name}.{c.name}"
        for t in metadata.sorted_tables
        for c in t.columns
        if f"{t.name}.{c.name}" not in COLUMNS
    ]


def kept(table: str) -> dict[str, str]:
    """``{column: reason}`` of what erasure keeps in ``table`` and why (for the erasure report)."""
    return {name: c.reason for name, c in columns_of(table).items() if c.erasure is Erasure.KEEP}
