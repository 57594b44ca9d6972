"""Organisations, contacts, their e-mails/phones, relationships and the name-search index."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import ForeignKey, Index, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column, relationship

from crm_store.models.base import Base, TimestampMixin


class Organization(Base, TimestampMixin):
    __tablename__ = "organizations"
    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(300), index=True)
    domain: Mapped[str | None] = mapped_column(String(255), index=True)
    industry: Mapped[str | None] = mapped_column(String(120))
    segment: Mapped[str | None] = mapped_column(String(60))
    vip: Mapped[bool] = mapped_column(default=False)
    parent_id: Mapped[int | None] = mapped_column(ForeignKey("organizations.id", ondelete="SET NULL"), index=True)
    owner_id: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"), index=True)
    custom_fields: Mapped[dict[str, Any]] = mapped_column(default=dict)

    parent: Mapped[Organization | None] = relationship(remote_side="Organization.id")


class Contact(Base, TimestampMixin):
    __tablename__ = "contacts"
    id: Mapped[int] = mapped_column(primary_key=True)
    first_name: Mapped[str] = mapped_column(String(120), default="")
    last_name: Mapped[str] = mapped_column(String(120), default="")
    salutation: Mapped[str | None] = mapped_column(String(40))
    job_title: Mapped[str | None] = mapped_column(String(200))
    language: Mapped[str | None] = mapped_column(String(8))
    organization_id: Mapped[int | None] = mapped_column(
        ForeignKey("organizations.id", ondelete="SET NULL"), index=True
    )
    owner_id: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"), index=True)
    tags: Mapped[list[str]] = mapped_column(default=list)
    custom_fields: Mapped[dict[str, Any]] = mapped_column(default=dict)
    is_customer_login: Mapped[bool] = mapped_column(default=False)
    erased_at: Mapped[datetime | None]
    # Art. 18: processing restricted (stored, not used: no bot answers about them, no marketing, no exports
    # but to them) and Art. 21: an objection to processing based on legitimate interest (profiling, marketing).
    restricted_at: Mapped[datetime | None]
    objected_at: Mapped[datetime | None]

    organization: Mapped[Organization | None] = relationship()
    emails: Mapped[list[ContactEmail]] = relationship(
        back_populates="contact", cascade="all, delete-orphan", order_by="ContactEmail.id"
    )
    phones: Mapped[list[ContactPhone]] = relationship(
        back_populates="contact", cascade="all, delete-orphan", order_by="ContactPhone.id"
    )

    @property
    def full_name(self) -> str:
        return f"{self.first_name} {self.last_name}".strip()

    @property
    def email(self) -> str | None:
        primary = next((e for e in self.emails if e.is_primary), None)
        chosen = primary or (self.emails[0] if self.emails else None)
        return chosen.address if chosen else None

    @property
    def phone(self) -> str | None:
        primary = next((p for p in self.phones if p.is_primary), None)
        chosen = primary or (self.phones[0] if self.phones else None)
        return chosen.number if chosen else None


class ContactEmail(Base):
    __tablename__ = "contact_emails"
    id: Mapped[int] = mapped_column(primary_key=True)
    contact_id: Mapped[int] = mapped_column(ForeignKey("contacts.id", ondelete="CASCADE"), index=True)
    address: Mapped[str] = mapped_column(String(320), unique=True)
    label: Mapped[str] = mapped_column(String(20), default="work")
    is_primary: Mapped[bool] = mapped_column(default=False)

    contact: Mapped[Contact] = relationship(back_populates="emails")


class ContactPhone(Base):
    __tablename__ = "contact_phones"
    id: Mapped[int] = mapped_column(primary_key=True)
    contact_id: Mapped[int] = mapped_column(ForeignKey("contacts.id", ondelete="CASCADE"), index=True)
    number: Mapped[str] = mapped_column(String(40), index=True)
    label: Mapped[str] = mapped_column(String(20), default="work")
    is_primary: Mapped[bool] = mapped_column(default=False)

    contact: Mapped[Contact] = relationship(back_populates="phones")


RELATIONSHIP_KINDS: tuple[str, ...] = (
    "decision_maker", "influencer", "champion", "user", "blocker", "economic_buyer", "assistant", "reports_to",
)


class ContactRelationship(Base, TimestampMixin):
    """A contact's role towards an organisation (decision maker, ...) or towards another contact."""

    __tablename__ = "contact_relationships"
    __table_args__ = (UniqueConstraint("contact_id", "kind", "organization_id", "related_contact_id"),)
    id: Mapped[int] = mapped_column(primary_key=True)
    contact_id: Mapped[int] = mapped_column(ForeignKey("contacts.id", ondelete="CASCADE"), index=True)
    kind: Mapped[str] = mapped_column(String(30))
    organization_id: Mapped[int | None] = mapped_column(ForeignKey("organizations.id", ondelete="CASCADE"))
    related_contact_id: Mapped[int | None] = mapped_column(ForeignKey("contacts.id", ondelete="CASCADE"))
    note: Mapped[str | None] = mapped_column(String(500))


class NameToken(Base):
    """Folded name tokens for fast, forgiving lookup ("Mueller" finds "Müller", "acme" finds "ACME Corp.")."""

    __tablename__ = "name_tokens"
    __table_args__ = (
        # ref_id in both lookup indexes: the candidate query reads only the index, never the table.
        Index("ix_name_tokens_kind_token", "kind", "token", "ref_id"),
        Index("ix_name_tokens_kind_phonetic", "kind", "phonetic", "ref_id"),
        Index("ix_name_tokens_ref", "kind", "ref_id"),
    )
    id: Mapped[int] = mapped_column(primary_key=True)
    kind: Mapped[str] = mapped_column(String(1))  # "c" contact, "o" organisation
    ref_id: Mapped[int]
    token: Mapped[str] = mapped_column(String(120))
    phonetic: Mapped[str] = mapped_column(String(60))
