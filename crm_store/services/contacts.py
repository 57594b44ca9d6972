"""Organisations and contacts: validation, duplicates, permissions, audit, search index upkeep."""

from __future__ import annotations

from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import selectinload

from crm_store.models import Contact, ContactEmail, ContactPhone, ContactRelationship, Organization, User
from crm_store.names import fold
from crm_store.schemas import ContactIn, ContactPatch, OrganizationIn, OrganizationPatch
from crm_store.services import search
from crm_store.services.base import MAX_PAGE, Page, Service, changes, parse_input
from crm_store.services.errors import Conflict, NotFound, ValidationFailed

LOAD_OPTIONS = (selectinload(Contact.emails), selectinload(Contact.phones), selectinload(Contact.organization))


class OrganizationService(Service):
    entity = "organization"

    def create(self, data: dict[str, Any] | OrganizationIn) -> Organization:
        self.require("create")
        inp = parse_input(OrganizationIn, data)
        self.ensure_exists(Organization, inp.parent_id, "parent_id")
        self.ensure_exists(User, inp.owner_id, "owner_id")
        if inp.domain:
            existing = self.session.execute(
                select(Organization.id).where(Organization.domain == inp.domain)
            ).scalar()
            if existing is not None:
                raise Conflict(f"an organization with domain {inp.domain} exists", existing_id=existing,
                               field_name="domain")
        org = Organization(**inp.model_dump())
        self.session.add(org)
        self.session.flush()
        self.check_write(org, "create")
        search.index_organization(self.session, org)
        self.audit("create", org.id, inp.model_dump(mode="json"))
        return org

    def update(self, org_id: int, data: dict[str, Any]) -> Organization:
        self.require("update")
        org = self.get_or_404(Organization, org_id)
        self.check_write(org)
        inp = parse_input(OrganizationPatch, data)
        values = inp.model_dump(exclude_unset=True)
        if values.get("parent_id") == org_id:
            raise ValidationFailed("an organization cannot be its own parent", "parent_id")
        self.ensure_exists(Organization, values.get("parent_id"), "parent_id")
        diff = changes(org, values)
        if "name" in diff:
            search.index_organization(self.session, org)
        if diff:
            self.audit("update", org.id, {"changes": _jsonable(diff)})
        return org

    def get(self, org_id: int) -> Organization:
        return self.check_read(self.get_or_404(Organization, org_id))

    def list(self, *, q: str | None = None, domain: str | None = None, industry: str | None = None,
             parent_id: int | None = None, limit: int = 50, offset: int = 0) -> Page:
        filters = {"q": q, "domain": domain, "industry": industry, "parent_id": parent_id}
        stmt = self.scoped(select(Organization).order_by(Organization.id), Organization)
        if q:
            ids = [m.id for m in search.find_organizations(self.session, q, limit=200)]
            stmt = stmt.where(Organization.id.in_(ids))
        if domain:
            stmt = stmt.where(Organization.domain == domain.lower())
        if industry:
            stmt = stmt.where(Organization.industry == industry)
        if parent_id is not None:
            stmt = stmt.where(Organization.parent_id == parent_id)
        page = self.paginate(stmt, limit=limit, offset=offset)
        self.audit_read("list", {**filters, "limit": limit, "offset": offset}, len(page.items))
        return page

    def by_domain(self, domain: str) -> Organization | None:
        return self.session.execute(select(Organization).where(Organization.domain == domain.lower())).scalar()


class ContactService(Service):
    entity = "contact"
    customer_attr = "id"  # a customer's own contact is the one they are
    restricted_attr = "restricted_at"  # Art. 18: hidden from all but admins and the person (policy.yml)

    def _load(self) -> Any:
        return select(Contact).options(*LOAD_OPTIONS)

    def _check_emails_free(self, emails: list[str], own_id: int | None = None) -> None:
        if not emails:
            return
        row = self.session.execute(
            select(ContactEmail.contact_id, ContactEmail.address).where(ContactEmail.address.in_(emails))
        ).first()
        if row is not None and row.contact_id != own_id:
            raise Conflict(f"a contact with e-mail {row.address} exists", existing_id=row.contact_id,
                           field_name="email")

    def create(self, data: dict[str, Any] | ContactIn) -> Contact:
        self.require("create")
        inp = parse_input(ContactIn, data)
        if not (inp.first_name or inp.last_name or inp.email or inp.emails):
            raise ValidationFailed("a contact needs a name or an e-mail address", "last_name")
        self.ensure_exists(Organization, inp.organization_id, "organization_id")
        self.ensure_exists(User, inp.owner_id, "owner_id")
        emails = list(dict.fromkeys(([inp.email] if inp.email else []) + inp.emails))
        phones = list(dict.fromkeys(([inp.phone] if inp.phone else []) + inp.phones))
        self._check_emails_free(emails)
        fields = inp.model_dump(exclude={"email", "emails", "phone", "phones"})
        if fields.get("owner_id") is None and self.actor.kind == "user":
            fields["owner_id"] = self.actor.id
        contact = Contact(**fields)
        contact.emails = [ContactEmail(address=e, is_primary=i == 0) for i, e in enumerate(emails)]
        contact.phones = [ContactPhone(number=p, is_primary=i == 0) for i, p in enumerate(phones)]
        self.session.add(contact)
        self.session.flush()
        self.check_write(contact, "create")
        search.index_contact(self.session, contact)
        self.audit("create", contact.id, inp.model_dump(mode="json"))
        return contact

    def update(self, contact_id: int, data: dict[str, Any] | ContactPatch) -> Contact:
        self.require("update")
        contact = self._get(contact_id)
        self.check_write(contact)
        inp = parse_input(ContactPatch, data)
        values = inp.model_dump(exclude_unset=True)
        self.ensure_exists(Organization, values.get("organization_id"), "organization_id")
        diff: dict[str, list[Any]] = {}
        new_emails = ([values.pop("email")] if values.get("email") else []) + values.pop("emails", [])
        values.pop("email", None)
        new_phones = ([values.pop("phone")] if values.get("phone") else []) + values.pop("phones", [])
        values.pop("phone", None)
        if new_emails:
            self._check_emails_free(new_emails, own_id=contact.id)
            old = [e.address for e in contact.emails]
            for e in contact.emails:
                e.is_primary = False
            for i, address in enumerate(new_emails):
                existing = next((e for e in contact.emails if e.address == address), None)
                if existing:
                    existing.is_primary = existing.is_primary or i == 0
                else:
                    contact.emails.append(ContactEmail(address=address, is_primary=i == 0))
            diff["emails"] = [old, [e.address for e in contact.emails]]
        if new_phones:
            old = [p.number for p in contact.phones]
            for p in contact.phones:
                p.is_primary = False
            for i, number in enumerate(new_phones):
                existing = next((p for p in contact.phones if p.number == number), None)
                if existing:
                    existing.is_primary = existing.is_primary or i == 0
                else:
                    contact.phones.append(ContactPhone(number=number, is_primary=i == 0))
            diff["phones"] = [old, [p.number for p in contact.phones]]
        diff.update(changes(contact, values))
        if {"first_name", "last_name"} & diff.keys():
            search.index_contact(self.session, contact)
        if diff:
            self.audit("update", contact.id, {"changes": _jsonable(diff)})
        return contact

    def _get(self, contact_id: int) -> Contact:
        contact = self.session.get(Contact, contact_id, options=LOAD_OPTIONS)  # the identity map first
        if contact is None or contact.erased_at is not None:
            raise NotFound(f"contact {contact_id} does not exist")
        return contact

    def get(self, contact_id: int) -> Contact:
        """One contact, if the actor may read it; the read is audited (it is personal data)."""
        contact = self.check_read(self._get(contact_id))
        if self.actor.kind != "system":
            self.audit("read", contact.id)
        return contact

    def by_email(self, address: str) -> Contact | None:
        return self.session.execute(
            self._load().join(ContactEmail).where(ContactEmail.address == address.strip().lower())
        ).scalar_one_or_none()

    def list(self, *, q: str | None = None, organization_id: int | None = None, email: str | None = None,
             owner_id: int | None = None, limit: int = 50, offset: int = 0) -> Page:
        filters = {"q": q, "organization_id": organization_id, "email": email, "owner_id": owner_id}
        self.require_filterable(filters)
        audited = {**filters, "limit": limit, "offset": offset}
        stmt = self.scoped(self._load().where(Contact.erased_at.is_(None)), Contact)
        if q:
            matches = search.find_contacts(self.session, q, limit=200)
            if not matches and "@" not in q:  # fall back to an e-mail substring search
                needle = f"%{fold(q)}%"
                stmt = stmt.where(Contact.id.in_(
                    select(ContactEmail.contact_id).where(ContactEmail.address.like(needle))))
            else:
                order = {m.id: i for i, m in enumerate(matches)}
                stmt = stmt.where(Contact.id.in_(list(order)))
                page = self.paginate(stmt, limit=MAX_PAGE, offset=0)
                items = sorted(page.items, key=lambda c: order[c.id])
                lo = max(0, offset)
                shown = items[lo:lo + self.page_limit(limit)]
                self.audit_read("list", audited, len(shown))
                return Page(shown, page.total)
        if organization_id is not None:
            stmt = stmt.where(Contact.organization_id == organization_id)
        if email:
            stmt = stmt.where(Contact.id.in_(
                select(ContactEmail.contact_id).where(ContactEmail.address == email.lower())))
        if owner_id is not None:
            stmt = stmt.where(Contact.owner_id == owner_id)
        page = self.paginate(stmt.order_by(Contact.id), limit=limit, offset=offset)
        self.audit_read("list", audited, len(page.items))
        return page

    def lookup(self, query: str, *, limit: int = 10) -> list[search.Match]:
        """Name search for the chat ("find Anna"); audited like a list, without the query's text."""
        self.require_staff()
        scope = self.read_scope()
        matches = search.find_contacts(self.session, query, limit=limit)
        if (scope != "all" or self.hides_restricted()) and matches:
            allowed = set(self.session.execute(
                select(Contact.id).where(Contact.id.in_([m.id for m in matches]),
                                         self.scope_clause(Contact, scope),
                                         self.restriction_clause(Contact))).scalars())
            matches = [m for m in matches if m.id in allowed]
        self.audit_read("search", {"q": query}, len(matches))
        return matches

    def relate(self, contact_id: int, kind: str, *, organization_id: int | None = None,
               related_contact_id: int | None = None, note: str | None = None) -> ContactRelationship:
        from crm_store.models import RELATIONSHIP_KINDS

        self.require("update")
        self.check_write(self._get(contact_id))
        if kind not in RELATIONSHIP_KINDS:
            raise ValidationFailed(f"unknown relationship kind; one of {', '.join(RELATIONSHIP_KINDS)}", "kind")
        self.ensure_exists(Organization, organization_id, "organization_id")
        rel = ContactRelationship(contact_id=contact_id, kind=kind, organization_id=organization_id,
                                  related_contact_id=related_contact_id, note=note)
        self.session.add(rel)
        self.session.flush()
        self.audit("create", rel.id, {"contact_id": contact_id, "kind": kind}, entity="relationship")
        return rel


def _jsonable(diff: dict[str, list[Any]]) -> dict[str, list[Any]]:
    import json

    return json.loads(json.dumps(diff, default=str))
