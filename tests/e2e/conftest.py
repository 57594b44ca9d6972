"""End-to-end fixtures: the real trained NLU (trained once per run) and a seeded SQLite store."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import pytest

from assistant.app import load_nlu
from crm_store.db import Database
from crm_store.services import Actor, CrmServices
from crm_store.services.users import actor_for

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="session")
def trained_nlu(tmp_path_factory: pytest.TempPathFactory) -> Any:
    """The product's NLU trained on training_data/ (reuses CRM_TEST_MODEL_DIR when it is current)."""
    model_dir = Path(os.environ.get("CRM_TEST_MODEL_DIR") or tmp_path_factory.mktemp("models"))
    return load_nlu(model_dir, ROOT / "training_data")


def seed(db: Database) -> dict[str, Actor]:
    """A small CRM: two Anna Schmidts, a German contact, a customer with a ticket, a KB article."""
    with db.session() as s:
        crm = CrmServices(s, Actor.system("seed"))
        team = crm.users.create_team("DACH")
        rita = crm.users.create({"email": "rita@demo.example", "name": "Rita Rep", "role": "rep", "team_id": team.id})
        rolf = crm.users.create({"email": "rolf@demo.example", "name": "Rolf Vertrieb", "role": "rep",
                                 "team_id": team.id, "language": "de"})
        mia = crm.users.create({"email": "mia@demo.example", "name": "Mia Manager", "role": "manager"})
        acme = crm.organizations.create({"name": "Acme GmbH", "domain": "acme.example"})
        globex = crm.organizations.create({"name": "Globex Ltd", "domain": "globex.example"})
        mueller = crm.organizations.create({"name": "Müller GmbH", "domain": "mueller.example"})
        crm.contacts.create({"first_name": "Anna", "last_name": "Schmidt", "email": "anna@acme.example",
                             "phone": "+49 30 1112223", "organization_id": acme.id})
        crm.contacts.create({"first_name": "Anna", "last_name": "Schmidt", "email": "anna@globex.example",
                             "organization_id": globex.id})
        crm.contacts.create({"first_name": "Jürgen", "last_name": "Müller", "email": "juergen@mueller.example",
                             "organization_id": mueller.id, "language": "de"})
        clara = crm.contacts.create({"first_name": "Clara", "last_name": "Kunde", "email": "clara@kunde.example"})
        other = crm.contacts.create({"first_name": "Otto", "last_name": "Fremd", "email": "otto@fremd.example"})
        crm.deals.create({"name": "Acme machines", "organization_id": acme.id, "amount": 40000, "stage": "proposal",
                          "owner_id": rita.id})
        crm.tickets.create({"subject": "Invoice is wrong", "requester_contact_id": clara.id})
        crm.tickets.create({"subject": "Cannot export reports", "requester_contact_id": other.id})
        crm.knowledge.create(language="en", title="How to reset your password",
                             body="Open the login page, click 'Forgot password' and follow the link we e-mail you.")
        crm.knowledge.create(language="de", title="Passwort zurücksetzen",
                             body="Öffne die Anmeldeseite, klicke auf „Passwort vergessen“ und folge dem Link in der E-Mail.")
        return {"rep": actor_for(rita), "rep_de": actor_for(rolf), "manager": actor_for(mia),
                "customer": Actor.customer(clara.id, language="en"),
                "customer_de": Actor.customer(clara.id, language="de"),
                "anonymous": Actor.customer(None)}
