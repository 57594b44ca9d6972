"""Who a customer is: the contact a channel logged in, or the contact behind an e-mail address.

Anonymous customers are never trusted with data: an e-mail address they type only decides whom a new
ticket or request belongs to (and where our answers go), it never shows them anything stored about it.

    with acting_as(store, SYSTEM) as crm:
        contact_id = find_or_create_contact(crm, "anna@example.com", language="de")
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from actions.store_access import StoreAccess
from crm_store.services import Actor, CrmServices

# The assistant itself, for the few writes an anonymous speaker may cause (a contact for a new ticket).
SYSTEM = Actor.system("assistant")
EMAIL_RE = re.compile(r"[a-z0-9._%+\-]+@[a-z0-9\-]+(?:\.[a-z0-9\-]+)*\.[a-z]{2,}", re.IGNORECASE)


def find_email(value: Any) -> str | None:
    """The first e-mail address in ``value``, lower-cased; None when there is none."""
    match = EMAIL_RE.search(str(value or ""))
    return match.group(0).lower() if match else None


def is_staff(actor: Actor) -> bool:
    return actor.kind == "user"


def is_logged_in(actor: Actor) -> bool:
    """A customer whose channel vouched for their contact id."""
    return actor.kind == "customer" and actor.id is not None


def is_anonymous(actor: Actor) -> bool:
    return actor.kind == "customer" and actor.id is None


def customer(contact_id: int, language: str = "en") -> Actor:
    return Actor.customer(contact_id, language=language)


@contextmanager
def acting_as(store: StoreAccess, actor: Actor) -> Iterator[CrmServices]:
    """The services as ``actor`` inside the turn's transaction."""
    with store.services(actor) as crm:
        yield crm


def find_contact(crm: CrmServices, email: str) -> int | None:
    contact = crm.contacts.by_email(email)
    return contact.id if contact is not None and contact.erased_at is None else None


def find_or_create_contact(crm: CrmServices, email: str, *, language: str = "en") -> int:
    """The contact with this address, created (with only the address) when there is none.

    ``crm`` must act as someone allowed to create contacts (``SYSTEM``).
    """
    found = find_contact(crm, email)
    if found is not None:
        return found
    created = crm.contacts.create(
        {"email": email, "language": language if language in ("en", "de") else None}
    )
    return created.id
