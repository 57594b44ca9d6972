"""Realistic, deterministic demo data for an empty store, written through the services.

    info = generate_demo(db, seed=42)
    info.tokens["manager"]  # bearer token of the demo manager

One user per role (two reps in two teams), DACH and UK/US organisations with parents and children,
contacts with umlauts and several e-mails/phones, 90 days of activities, open and overdue tasks, deals in
every stage (some stalled), tickets in every status/queue/priority with threads, knowledge articles in
English and German, consent records. The same seed and ``now`` give the same data (API tokens differ).
The services stamp "now" on tickets and messages; demo tickets are backdated afterwards.
"""

from __future__ import annotations

import random
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from crm_store.db import Database
from crm_store.models import (
    ACTIVITY_TYPES,
    PRIORITIES,
    QUEUES,
    RELATIONSHIP_KINDS,
    STAGES,
    TICKET_STATUSES,
    Contact,
    Organization,
    Ticket,
    User,
    utcnow,
)
from crm_store.services import Actor, CrmServices
from crm_store.services.users import actor_for


@dataclass(frozen=True)
class Size:
    organizations: int
    contacts: int
    activities_per_contact: int
    deals: int
    tickets: int
    tasks: int
    articles_per_language: int


SIZES: dict[str, Size] = {
    "tiny": Size(
        organizations=10,
        contacts=24,
        activities_per_contact=2,
        deals=18,
        tickets=16,
        tasks=10,
        articles_per_language=3,
    ),
    "small": Size(
        organizations=30,
        contacts=120,
        activities_per_contact=3,
        deals=60,
        tickets=60,
        tasks=40,
        articles_per_language=12,
    ),
    "medium": Size(
        organizations=30,
        contacts=400,
        activities_per_contact=8,
        deals=200,
        tickets=200,
        tasks=120,
        articles_per_language=12,
    ),
}
PHASES: tuple[str, ...] = (
    "users",
    "organizations",
    "contacts",
    "deals",
    "activities",
    "tasks",
    "tickets",
    "knowledge",
    "consent",
)


@dataclass(frozen=True)
class DemoUser:
    role: str
    name: str
    email: str
    language: str
    timezone: str
    team: str | None
    token: str
    id: int


@dataclass
class DemoInfo:
    seed: int
    size: str
    now: datetime
    users: list[DemoUser] = field(default_factory=list)
    counts: dict[str, int] = field(default_factory=dict)

    @property
    def tokens(self) -> dict[str, str]:
        """Token per role; the second rep is ``rep2``."""
        out: dict[str, str] = {}
        for u in self.users:
            key = u.role if u.role not in out else f"{u.role}2"
            out[key] = u.token
        return out


# --- people and organisations ------------------------------------------------------------------------
_TEAMS = (("Sales DACH", "Europe/Berlin"), ("Sales UK & US", "Europe/London"), ("Support", "Europe/Berlin"))
_USERS = (  # role, name, e-mail, language, time zone, team
    ("admin", "Sabine Keller", "sabine.keller@demo-crm.example", "de", "Europe/Berlin", None),
    ("manager", "James Whitfield", "james.whitfield@demo-crm.example", "en", "Europe/London", None),
    ("rep", "Lukas Weber", "lukas.weber@demo-crm.example", "de", "Europe/Berlin", "Sales DACH"),
    ("rep", "Emily Carter", "emily.carter@demo-crm.example", "en", "America/New_York", "Sales UK & US"),
    ("agent", "Mia Hoffmann", "mia.hoffmann@demo-crm.example", "de", "Europe/Zurich", "Support"),
)

# name, domain, industry, segment, country, vip, parent (index into this tuple)
_ORGS: tuple[tuple[str, str, str, str, str, bool, int | None], ...] = (
    ("Acme Holding AG", "acme-holding.example", "Industrial Machinery", "enterprise", "DE", True, None),
    ("Acme Deutschland GmbH", "acme.example", "Industrial Machinery", "enterprise", "DE", True, 0),
    ("Globex Ltd.", "globex.example", "Logistics", "enterprise", "UK", True, None),
    ("Initech Inc.", "initech.example", "Software", "mid-market", "US", False, None),
    (
        "Müller Maschinenbau GmbH",
        "mueller-maschinenbau.example",
        "Industrial Machinery",
        "mid-market",
        "DE",
        False,
        None,
    ),
    (
        "Zürcher Präzisionstechnik AG",
        "zuercher-praezision.example",
        "Precision Engineering",
        "mid-market",
        "CH",
        True,
        None,
    ),
    ("Wiener Software GmbH", "wiener-software.example", "Software", "smb", "AT", False, None),
    ("Thames Analytics Ltd.", "thames-analytics.example", "Consulting", "smb", "UK", False, None),
    ("Redwood Robotics Inc.", "redwood-robotics.example", "Robotics", "mid-market", "US", False, None),
    ("Schäfer & Söhne KG", "schaefer-soehne.example", "Wholesale", "smb", "DE", False, None),
    ("Acme Schweiz AG", "acme-schweiz.example", "Industrial Machinery", "enterprise", "CH", False, 0),
    ("Globex Inc.", "globex-us.example", "Logistics", "enterprise", "US", False, 2),
    ("Bergmann Logistik GmbH", "bergmann-logistik.example", "Logistics", "mid-market", "DE", False, None),
    ("Alpenblick Hotels AG", "alpenblick-hotels.example", "Hospitality", "mid-market", "CH", False, None),
    ("Grünwald Energie AG", "gruenwald-energie.example", "Energy", "enterprise", "DE", True, None),
    ("Hoffmann Pharma GmbH", "hoffmann-pharma.example", "Pharmaceuticals", "enterprise", "DE", False, None),
    ("Krüger Bau GmbH", "krueger-bau.example", "Construction", "smb", "DE", False, None),
    ("Becker Medien GmbH", "becker-medien.example", "Media", "smb", "DE", False, None),
    (
        "Nordlicht Versicherungen AG",
        "nordlicht-versicherungen.example",
        "Insurance",
        "enterprise",
        "DE",
        True,
        None,
    ),
    ("Fischer Elektronik GmbH", "fischer-elektronik.example", "Electronics", "mid-market", "AT", False, None),
    (
        "Weiß & Partner Steuerberatung",
        "weiss-partner.example",
        "Professional Services",
        "smb",
        "DE",
        False,
        None,
    ),
    ("Helvetia Treuhand AG", "helvetia-treuhand.example", "Financial Services", "smb", "CH", False, None),
    (
        "Highland Distillers Ltd.",
        "highland-distillers.example",
        "Food & Beverage",
        "mid-market",
        "UK",
        False,
        None,
    ),
    ("Brightwater Retail Ltd.", "brightwater-retail.example", "Retail", "enterprise", "UK", False, None),
    ("Pennine Engineering Ltd.", "pennine-engineering.example", "Engineering", "smb", "UK", False, None),
    ("Oakridge Health Inc.", "oakridge-health.example", "Healthcare", "enterprise", "US", True, None),
    ("Lakeside Foods Inc.", "lakeside-foods.example", "Food & Beverage", "mid-market", "US", False, None),
    ("Vandelay Industries Inc.", "vandelay.example", "Import/Export", "smb", "US", False, None),
    ("Stark Components GmbH", "stark-components.example", "Electronics", "mid-market", "DE", False, None),
    ("Umbrella Research Ltd.", "umbrella-research.example", "Biotech", "mid-market", "UK", False, None),
)
_GERMAN = ("DE", "AT", "CH")
_CURRENCY = {"DE": "EUR", "AT": "EUR", "CH": "CHF", "UK": "EUR", "US": "USD"}
_FIXED_CONTACTS = (  # the people the contract's examples talk about: first, last, org index, title
    ("Anna", "Schmidt", 1, "Head of Procurement"),
    ("Bob", "Stone", 2, "Operations Director"),
    ("Jürgen", "Müller", 4, "Geschäftsführer"),
    ("Peter", "Gibbons", 3, "Software Engineer"),
)
_FIRST_DE = (
    "Anna",
    "Jürgen",
    "Jörg",
    "Sören",
    "Björn",
    "Günther",
    "Käthe",
    "Uwe",
    "Lena",
    "Maximilian",
    "Sophie",
    "Florian",
    "Katharina",
    "Matthias",
    "Jana",
    "Tobias",
    "Hannah",
    "Stefan",
    "Julia",
    "Andreas",
    "Claudia",
    "Thomas",
    "Miriam",
    "Dominik",
    "Özlem",
    "René",
    "Zoë",
    "Frédéric",
)
_LAST_DE = (
    "Müller",
    "Schmidt",
    "Schröder",
    "Weiß",
    "Groß",
    "Köhler",
    "Bäcker",
    "Jäger",
    "Fuchs",
    "Schulz",
    "Hoffmann",
    "Krämer",
    "Günther",
    "Böhm",
    "Lehmann",
    "Meyer",
    "Wagner",
    "Becker",
    "Schäfer",
    "Koch",
    "Richter",
    "Wolf",
    "Neumann",
    "Schwarz",
    "Zimmermann",
    "Krüger",
    "Hartmann",
    "Lange",
    "Yılmaz",
)
_FIRST_EN = (
    "Olivia",
    "James",
    "Amelia",
    "Oliver",
    "Isla",
    "Harry",
    "Emily",
    "George",
    "Sarah",
    "Michael",
    "Jessica",
    "David",
    "Chloe",
    "Daniel",
    "Grace",
    "Ryan",
    "Priya",
    "Liam",
    "Aoife",
    "Carlos",
)
_LAST_EN = (
    "Smith",
    "Jones",
    "O'Brien",
    "Taylor",
    "Clarke",
    "Patel",
    "Nguyen",
    "Johnson",
    "Williams",
    "Brown",
    "Davies",
    "Evans",
    "Wilson",
    "Thompson",
    "Robinson",
    "Walker",
    "Hughes",
    "Edwards",
    "Murphy",
    "García",
)
_TITLES_DE = (
    "Geschäftsführerin",
    "Geschäftsführer",
    "Einkaufsleiter",
    "Leiterin Einkauf",
    "IT-Leiter",
    "Leiterin Vertrieb",
    "CFO",
    "Teamleiter Logistik",
    "Projektleiterin",
    "Buchhaltung",
    "Assistentin der Geschäftsführung",
    "Head of IT",
)
_TITLES_EN = (
    "CTO",
    "Head of Procurement",
    "Operations Manager",
    "CFO",
    "IT Director",
    "VP Sales",
    "Project Manager",
    "Office Manager",
    "Finance Controller",
    "Chief Executive Officer",
)
_TAGS = (
    "decision-maker",
    "newsletter",
    "trade-fair-2025",
    "champion",
    "technical",
    "billing-contact",
    "webinar",
    "reference-customer",
)
_PHONE_PREFIX = {
    "DE": "+49 170 555 0",
    "AT": "+43 664 555 0",
    "CH": "+41 79 555 0",
    "UK": "+44 20 7946 0",
    "US": "+1 202 555 0",
}

# --- deals, activities, tasks, tickets ------------------------------------------------------------------
_PRODUCTS = (
    "CRM licences",
    "Support renewal",
    "Onboarding package",
    "API add-on",
    "Rollout phase 2",
    "Analytics module",
    "Service contract",
    "Training days",
)
_ACTIVITY_TEXT = {
    "en": {
        "call": (
            "Called {first}: wants a quote for {product} by Friday.",
            "Short call with {first}, budget approved, waiting for the legal review.",
            "{first} called about the invoice, all clarified.",
        ),
        "meeting": (
            "Meeting with {first} on site: demo of {product}, very positive.",
            "Quarterly review with {first}; they plan to expand next year.",
        ),
        "email": ("Sent {first} the proposal for {product}.", "{first} asked for references by e-mail."),
        "visit": ("Visited {org}: toured the plant with {first}.",),
        "note": ("{first} prefers calls in the morning.", "Competitor is also talking to {org}."),
    },
    "de": {
        "call": (
            "{first} angerufen: möchte bis Freitag ein Angebot für {product}.",
            "Kurzes Telefonat mit {first}, Budget ist freigegeben, Rechtsabteilung prüft noch.",
            "{first} rief wegen der Rechnung an, alles geklärt.",
        ),
        "meeting": (
            "Termin bei {first} vor Ort: Demo von {product}, sehr positiv.",
            "Quartalsgespräch mit {first}; im nächsten Jahr ist eine Erweiterung geplant.",
        ),
        "email": ("{first} das Angebot für {product} geschickt.", "{first} bittet per E-Mail um Referenzen."),
        "visit": ("Besuch bei {org}: Werksführung mit {first}.",),
        "note": ("{first} ist vormittags am besten erreichbar.", "Wettbewerber spricht ebenfalls mit {org}."),
    },
}
_TASKS = {
    "en": (
        "Send {first} the proposal",
        "Follow up with {first} on the quote",
        "Prepare demo for {org}",
        "Call {first} back about pricing",
    ),
    "de": (
        "Angebot an {first} schicken",
        "Bei {first} wegen des Angebots nachfassen",
        "Demo für {org} vorbereiten",
        "{first} wegen der Preise zurückrufen",
    ),
}
_TICKETS: dict[str, dict[str, tuple[str, str]]] = {  # queue -> language -> (subject, description)
    "billing": {
        "en": (
            "Invoice charged twice",
            "Our March invoice was charged twice to our credit card. Please refund the duplicate payment.",
        ),
        "de": (
            "Rechnung doppelt abgebucht",
            "Die Rechnung für März wurde zweimal abgebucht. Bitte erstatten Sie den doppelten Betrag.",
        ),
    },
    "technical": {
        "en": (
            "Export fails with error 500",
            "Since this morning the CSV export stops with 'Internal Server Error'. It worked last week.",
        ),
        "de": (
            "Export bricht mit Fehler 500 ab",
            "Seit heute früh bricht der CSV-Export mit "
            "'Internal Server Error' ab. Letzte Woche ging es noch.",
        ),
    },
    "account": {
        "en": ("Cannot log in", "I can't log in since this morning, the password reset mail never arrives."),
        "de": (
            "Login nicht möglich",
            "Ich kann mich seit heute Morgen nicht anmelden, die E-Mail zum "
            "Zurücksetzen des Passworts kommt nicht an.",
        ),
    },
    "sales": {
        "en": ("Quote for 20 more licences", "We would like to add 20 users. Could you send a quote?"),
        "de": (
            "Angebot für 20 weitere Lizenzen",
            "Wir möchten 20 weitere Nutzer hinzufügen. Können Sie uns ein Angebot schicken?",
        ),
    },
    "cancellation": {
        "en": ("Cancel our contract", "We want to cancel our subscription at the end of the term."),
        "de": ("Kündigung unseres Vertrags", "Wir möchten unseren Vertrag zum Ende der Laufzeit kündigen."),
    },
    "complaint": {
        "en": (
            "Nobody called back",
            "I was promised a call back three times and nobody called. This is not acceptable.",
        ),
        "de": (
            "Kein Rückruf erhalten",
            "Mir wurde dreimal ein Rückruf zugesagt, niemand hat sich gemeldet. Das ist nicht akzeptabel.",
        ),
    },
    "privacy": {
        "en": ("Request for my data", "Please send me a copy of all personal data you store about me."),
        "de": (
            "Auskunft über meine Daten",
            "Bitte senden Sie mir eine Kopie aller personenbezogenen Daten, die Sie über mich speichern.",
        ),
    },
    "other": {
        "en": ("Question about your office hours", "Are you open between Christmas and New Year?"),
        "de": ("Frage zu Ihren Öffnungszeiten", "Sind Sie zwischen den Jahren erreichbar?"),
    },
}
_REPLY = {
    "en": "Thank you for your message. We are looking into it and will get back to you shortly.",
    "de": "Vielen Dank für Ihre Nachricht. Wir kümmern uns darum und melden uns in Kürze.",
}
_FOLLOW_UP = {
    "en": "Any news? It also fails on mobile.",
    "de": "Gibt es Neuigkeiten? Am Handy geht es auch nicht.",
}


def _ascii(text: str) -> str:
    from unidecode import unidecode

    for a, b in (("ä", "ae"), ("ö", "oe"), ("ü", "ue"), ("ß", "ss"), ("Ä", "Ae"), ("Ö", "Oe"), ("Ü", "Ue")):
        text = text.replace(a, b)
    return "".join(ch for ch in unidecode(text).lower() if ch.isalnum() or ch in ".-")


class _Generator:
    def __init__(
        self,
        session: Session,
        *,
        seed: int,
        now: datetime,
        size: Size,
        progress: Callable[[str], None] | None,
    ) -> None:
        self.s = session
        self.rng = random.Random(seed)
        self.now = now
        self.size = size
        self.progress = progress or (lambda _phase: None)
        self.system = CrmServices(session, Actor.system("demo"))
        self.actors: dict[str, Actor] = {}
        self.reps: list[Actor] = []
        self.orgs: list[tuple[int, str, str]] = []  # id, name, country
        self.contacts: list[tuple[int, str, int, str]] = []  # id, first name, org index, language
        self.deals: list[tuple[int, int, bool]] = []  # id, contact index, stalled
        self.counts: dict[str, int] = {}

    def crm(self, actor: Actor) -> CrmServices:
        return CrmServices(self.s, actor)

    def days_ago(self, lo: float, hi: float) -> datetime:
        return (self.now - timedelta(days=self.rng.uniform(lo, hi))).replace(microsecond=0)

    def rep_for(self, country: str) -> Actor:
        return self.reps[0] if country in _GERMAN else self.reps[1]

    # --- phases -----------------------------------------------------------------------------------------
    def make_users(self, info: DemoInfo) -> None:
        teams = {name: self.system.users.create_team(name, timezone=tz) for name, tz in _TEAMS}
        for role, name, email, lang, tz, team in _USERS:
            user = self.system.users.create(
                {
                    "email": email,
                    "name": name,
                    "role": role,
                    "team_id": teams[team].id if team else None,
                    "language": lang,
                    "timezone": tz,
                    "languages_spoken": ["de", "en"] if lang == "de" else ["en"],
                }
            )
            token = self.system.users.issue_token(user.id, "demo")
            info.users.append(DemoUser(role, name, email, lang, tz, team, token, user.id))
            actor = actor_for(user)
            self.actors.setdefault(role, actor)
            if role == "rep":
                self.reps.append(actor)
            if team and role in ("rep", "agent"):
                teams[team].lead_user_id = teams[team].lead_user_id or user.id
        self.counts["users"] = len(_USERS)

    def make_organizations(self) -> None:
        chosen = _ORGS[: self.size.organizations]
        ids: list[int] = []
        for name, domain, industry, segment, country, vip, parent in chosen:
            owner = self.rep_for(country)
            org = self.system.organizations.create(
                {
                    "name": name,
                    "domain": domain,
                    "industry": industry,
                    "segment": segment,
                    "vip": vip,
                    "parent_id": ids[parent] if parent is not None and parent < len(ids) else None,
                    "owner_id": owner.id,
                    "custom_fields": {"country": country},
                }
            )
            ids.append(org.id)
            self.orgs.append((org.id, name, country))
        self.counts["organizations"] = len(ids)

    def make_contacts(self) -> None:
        used: set[str] = set()
        for i in range(self.size.contacts):
            if i < len(_FIXED_CONTACTS):
                first, last, org_idx, title = _FIXED_CONTACTS[i]
                org_idx = min(org_idx, len(self.orgs) - 1)
            else:
                org_idx = self.rng.randrange(len(self.orgs))
                german = self.orgs[org_idx][2] in _GERMAN
                first = self.rng.choice(_FIRST_DE if german else _FIRST_EN)
                last = self.rng.choice(_LAST_DE if german else _LAST_EN)
                title = self.rng.choice(_TITLES_DE if german else _TITLES_EN)
            org_id, _org_name, country = self.orgs[org_idx]
            lang = "de" if country in _GERMAN else "en"
            domain = _ORGS[org_idx][1]
            local = f"{_ascii(first)}.{_ascii(last)}"
            email = f"{local}@{domain}"
            n = 2
            while email in used:
                email = f"{local}{n}@{domain}"
                n += 1
            used.add(email)
            data: dict[str, Any] = {
                "first_name": first,
                "last_name": last,
                "email": email,
                "job_title": title,
                "language": lang,
                "organization_id": org_id,
                "owner_id": self.rep_for(country).id,
                "salutation": (
                    "Frau"
                    if first
                    in (
                        "Anna",
                        "Käthe",
                        "Lena",
                        "Sophie",
                        "Katharina",
                        "Jana",
                        "Hannah",
                        "Julia",
                        "Claudia",
                        "Miriam",
                        "Özlem",
                        "Zoë",
                    )
                    else "Herr"
                )
                if lang == "de"
                else None,
                "phone": f"{_PHONE_PREFIX[country]}{i % 1000:03d}",
                "tags": sorted(self.rng.sample(_TAGS, k=self.rng.randint(0, 3))),
            }
            if self.rng.random() < 0.3:
                data["emails"] = [f"{local}{i}@mail.example"]
            if self.rng.random() < 0.3:
                data["phones"] = [f"{_PHONE_PREFIX[country]}{(i * 7 + 3) % 1000:03d}"]
            contact = self.crm(self.rep_for(country)).contacts.create(data)
            self.contacts.append((contact.id, first, org_idx, lang))
        self._relationships()
        self.counts["contacts"] = len(self.contacts)

    def _relationships(self) -> None:
        by_org: dict[int, list[int]] = {}
        for cid, _first, org_idx, _lang in self.contacts:
            by_org.setdefault(org_idx, []).append(cid)
        crm = self.system.contacts
        n = 0
        for org_idx, people in sorted(by_org.items()):
            org_id = self.orgs[org_idx][0]
            crm.relate(people[0], "decision_maker", organization_id=org_id)
            n += 1
            if len(people) > 1:
                crm.relate(people[1], self.rng.choice(RELATIONSHIP_KINDS[1:6]), organization_id=org_id)
                crm.relate(people[1], "reports_to", related_contact_id=people[0])
                n += 2
        self.counts["relationships"] = n

    def make_deals(self) -> None:
        today = self.now.date()
        for i in range(self.size.deals):
            stage = STAGES[i % len(STAGES)]
            c_idx = self.rng.randrange(len(self.contacts))
            cid, _first, org_idx, _lang = self.contacts[c_idx]
            org_id, org_name, country = self.orgs[org_idx]
            if stage in ("won", "lost"):
                close = today - timedelta(days=self.rng.randint(1, 30))
            else:
                close = today + timedelta(days=self.rng.randint(-10, 95))
            amount = Decimal(self.rng.randrange(10, 500) * 500)
            deal = self.crm(self.rep_for(country)).deals.create(
                {
                    "name": f"{org_name.split()[0]} – {self.rng.choice(_PRODUCTS)}",
                    "organization_id": org_id,
                    "contact_id": cid,
                    "amount": amount,
                    "currency": _CURRENCY[country],
                    "stage": stage,
                    "expected_close_date": close,
                }
            )
            self.deals.append((deal.id, c_idx, stage in ("lead", "qualified", "proposal") and i % 4 == 1))
        self.counts["deals"] = len(self.deals)

    def make_activities(self) -> None:
        n = 0
        deal_of = {c_idx: (did, stalled) for did, c_idx, stalled in self.deals}
        for c_idx, (cid, first, org_idx, lang) in enumerate(self.contacts):
            _org_id, org_name, country = self.orgs[org_idx]
            deal_id, stalled = deal_of.get(c_idx, (None, False))
            crm = self.crm(self.rep_for(country))
            for k in range(self.rng.randint(1, self.size.activities_per_contact * 2 - 1)):
                kind = ACTIVITY_TYPES[(c_idx + k) % len(ACTIVITY_TYPES)]
                text = self.rng.choice(_ACTIVITY_TEXT[lang][kind]).format(
                    first=first, org=org_name, product=self.rng.choice(_PRODUCTS)
                )
                when = self.days_ago(35, 90) if stalled else self.days_ago(0.1, 90)
                crm.activities.create(
                    {
                        "type": kind,
                        "contact_id": cid,
                        "occurred_at": when,
                        "summary": text,
                        "deal_id": deal_id if k % 2 == 0 else None,
                        "channel": {"call": "phone", "email": "email"}.get(kind),
                    }
                )
                n += 1
        self.counts["activities"] = n

    def make_tasks(self) -> None:
        for i in range(self.size.tasks):
            cid, first, org_idx, lang = self.contacts[self.rng.randrange(len(self.contacts))]
            _org_id, org_name, country = self.orgs[org_idx]
            rep = self.rep_for(country)
            due = (
                self.now + timedelta(days=self.rng.randint(-10, 14), hours=self.rng.randint(0, 8))
            ).replace(minute=0, second=0, microsecond=0)
            title = self.rng.choice(_TASKS[lang]).format(first=first, org=org_name)
            task = self.crm(rep).tasks.create({"title": title, "due_at": due, "contact_id": cid})
            if i % 5 == 4:
                self.crm(rep).tasks.update(task.id, {"status": "done"})
        self.counts["tasks"] = self.size.tasks

    def make_tickets(self) -> None:
        agent = self.actors["agent"]
        support = self.crm(agent)
        for i in range(self.size.tickets):
            cid, _first, _org_idx, lang = self.contacts[(i * 7) % len(self.contacts)]
            queue = QUEUES[i % len(QUEUES)]
            priority = PRIORITIES[(i // len(QUEUES) + i) % len(PRIORITIES)]
            status = TICKET_STATUSES[i % len(TICKET_STATUSES)]
            subject, description = _TICKETS[queue][lang]
            customer = CrmServices(self.s, Actor.customer(cid, language=lang))
            ticket = customer.tickets.create(
                {
                    "subject": subject,
                    "description": description,
                    "priority": priority,
                    "queue": queue,
                    "language": lang,
                    "channel": "email",
                }
            )
            if status != "new":
                support.tickets.add_message(ticket.id, _REPLY[lang], channel="email")
                if i % 3 == 0:
                    customer.tickets.add_message(ticket.id, _FOLLOW_UP[lang], channel="email")
                support.tickets.update(ticket.id, {"status": status, "assignee_id": agent.id})
            self._backdate(ticket, self.days_ago(0.2, 60 if status in ("solved", "closed") else 12))
        self.counts["tickets"] = self.size.tickets

    def _backdate(self, ticket: Ticket, start: datetime) -> None:
        shift = start - ticket.created_at
        for attr in (
            "created_at",
            "updated_at",
            "first_response_due_at",
            "resolution_due_at",
            "first_responded_at",
            "solved_at",
        ):
            value = getattr(ticket, attr)
            if value is not None:
                setattr(ticket, attr, value + shift)
        for k, msg in enumerate(ticket.messages):
            msg.created_at = start + timedelta(hours=3 * k)

    def make_knowledge(self) -> None:
        crm = self.crm(self.actors["agent"])
        n = 0
        for lang in ("en", "de"):
            for title, body, tags in ARTICLES[lang][: self.size.articles_per_language]:
                crm.knowledge.create(language=lang, title=title, body=body, tags=list(tags))
                n += 1
        self.counts["knowledge_articles"] = n

    def make_consent(self) -> None:
        gdpr = self.system.gdpr
        n = 0
        for cid, _first, _org_idx, _lang in self.contacts:
            r = self.rng.random()
            if r < 0.6:
                gdpr.record_consent(cid, "marketing", True, "web_form")
                n += 1
                if r < 0.15:
                    gdpr.withdraw_marketing(cid, "unsubscribe_link")
                    n += 1
            if self.rng.random() < 0.4:
                gdpr.record_consent(cid, "newsletter", True, "trade_fair")
                n += 1
        self.counts["consent_records"] = n


def generate_demo(
    db: Database,
    *,
    seed: int = 42,
    now: datetime | None = None,
    size: str = "small",
    progress: Callable[[str], None] | None = None,
) -> DemoInfo:
    """Fill an empty store with demo data in one transaction; ``progress(phase)`` after each phase."""
    if size not in SIZES:
        raise ValueError(f"size must be one of {', '.join(SIZES)}")
    now = (now or utcnow()).astimezone(UTC)
    info = DemoInfo(seed=seed, size=size, now=now)
    with db.session() as session:
        if (
            session.execute(select(func.count()).select_from(User)).scalar_one()
            or session.execute(select(func.count()).select_from(Contact)).scalar_one()
        ):
            raise ValueError("the store is not empty; demo data goes into a fresh store")
        gen = _Generator(session, seed=seed, now=now, size=SIZES[size], progress=progress)
        gen.make_users(info)
        gen.progress("users")
        steps: tuple[tuple[str, Callable[[], None]], ...] = (
            ("organizations", gen.make_organizations),
            ("contacts", gen.make_contacts),
            ("deals", gen.make_deals),
            ("activities", gen.make_activities),
            ("tasks", gen.make_tasks),
            ("tickets", gen.make_tickets),
            ("knowledge", gen.make_knowledge),
            ("consent", gen.make_consent),
        )
        for phase, step in steps:
            step()
            gen.progress(phase)
        info.counts = dict(gen.counts)
    return info


def snapshot(session: Session) -> dict[str, Any]:
    """A comparable digest of the demo content (determinism checks): names, amounts, subjects."""
    contacts = session.execute(select(Contact).order_by(Contact.id)).scalars().all()
    return {
        "organizations": list(
            session.execute(select(Organization.name, Organization.parent_id).order_by(Organization.id)).all()
        ),
        "contacts": [(c.full_name, c.email, c.phone, c.job_title, tuple(c.tags)) for c in contacts],
        "tickets": list(
            session.execute(
                select(Ticket.subject, Ticket.queue, Ticket.priority, Ticket.status).order_by(Ticket.id)
            ).all()
        ),
    }


# --- knowledge base: (title, body, tags) per language ---------------------------------------------------
ARTICLES: dict[str, tuple[tuple[str, str, tuple[str, ...]], ...]] = {
    "en": (
        (
            "How do I reset my password?",
            "Open the login page and click 'Forgot password?'. Enter the e-mail address of your account; we send "
            "you a link that is valid for 60 minutes. Choose a new password with at least 12 characters. If the "
            "e-mail does not arrive within 10 minutes, check your spam folder and make sure you used the address "
            "your administrator registered. Still nothing? Ask your administrator to send a new invitation.",
            ("password", "login", "account"),
        ),
        (
            "I cannot log in",
            "Check that Caps Lock is off and that you use the e-mail address of your account. After five failed "
            "attempts your account is locked for 15 minutes; wait and try again, or reset your password. If your "
            "company uses single sign-on, log in with the 'Sign in with SSO' button instead. Error 'account "
            "disabled' means an administrator deactivated your user; please contact them.",
            ("login", "account", "sso"),
        ),
        (
            "Setting up two-factor authentication",
            "Go to Settings > Security and click 'Enable two-factor authentication'. Scan the QR code with an "
            "authenticator app (for example Google Authenticator, Microsoft Authenticator or 1Password) and enter "
            "the six-digit code. Store the ten recovery codes in a safe place: each works once if you lose your "
            "phone. Administrators can require two-factor authentication for all users.",
            ("login", "security", "2fa"),
        ),
        (
            "Where can I find my invoices?",
            "Administrators find all invoices under Settings > Billing > Invoices. Each invoice can be downloaded "
            "as a PDF. Invoices are also sent by e-mail to the billing contact on the first working day of the "
            "month. To add a second recipient, enter it under Billing > Invoice recipients.",
            ("invoice", "billing"),
        ),
        (
            "Payment methods and failed payments",
            "We accept credit cards (Visa, Mastercard, American Express), SEPA direct debit and bank transfer for "
            "annual plans. If a payment fails we retry after three and after seven days and notify the billing "
            "contact. Update your card under Settings > Billing > Payment method; the open amount is charged "
            "immediately. Duplicate charges are refunded within 5 to 10 business days.",
            ("payment", "billing", "refund"),
        ),
        (
            "Changing the billing address or VAT ID",
            "Go to Settings > Billing > Company details to change the address, company name or VAT ID. Changes "
            "apply to the next invoice; invoices already issued cannot be changed, but our billing team can issue "
            "a corrected invoice on request within the same calendar year.",
            ("billing", "invoice", "vat"),
        ),
        (
            "What personal data do you store and how do I get a copy?",
            "Under Art. 15 and 20 GDPR you can request a copy of all personal data we store about you: contact "
            "details, your messages and tickets, your consent history and the log of changes to your record. Ask "
            "in the chat ('What data do you have about me?') or write to privacy@demo-crm.example. We answer "
            "within one month with a machine-readable JSON export.",
            ("gdpr", "privacy", "data export"),
        ),
        (
            "How do I have my data deleted?",
            "You can ask us to erase your personal data (Art. 17 GDPR) in the chat or by e-mail to "
            "privacy@demo-crm.example. After we confirm your identity, an administrator erases your name, e-mail "
            "addresses, phone numbers and message texts. Invoices and contract data we must keep by law (up to "
            "ten years) are retained in anonymised form. You receive a confirmation when the erasure is done.",
            ("gdpr", "privacy", "erasure"),
        ),
        (
            "Unsubscribing from newsletters and marketing e-mails",
            "Every newsletter has an 'Unsubscribe' link at the bottom. You can also tell the assistant 'Stop "
            "sending me newsletters'. We stop marketing e-mails immediately; service messages about your tickets "
            "and your contract continue. You can subscribe again at any time.",
            ("newsletter", "unsubscribe", "privacy"),
        ),
        (
            "API rate limits",
            "The REST API allows 600 requests per minute per token and 50,000 per day per account. When you "
            "exceed a limit the API answers 429 Too Many Requests with a Retry-After header in seconds; wait that "
            "long before retrying. Use list endpoints with filters and pagination (limit up to 500) instead of "
            "fetching records one by one. Enterprise plans can request higher limits.",
            ("api", "limits", "developer"),
        ),
        (
            "Creating and revoking API tokens",
            "Go to Settings > API tokens and click 'New token'. The token is shown only once; store it in a "
            "secret manager. Send it as 'Authorization: Bearer <token>'. Revoke a token that may have leaked "
            "immediately: requests with it fail from that moment on. Each token acts with the rights of the user "
            "who created it.",
            ("api", "token", "security"),
        ),
        (
            "Cancelling your subscription",
            "Administrators can cancel under Settings > Billing > Plan. Monthly plans end at the end of the "
            "current month, annual plans at the end of the term; the notice period is 30 days. You can export all "
            "your data before the end date. After the contract ends we delete your data within 30 days.",
            ("cancellation", "contract", "billing"),
        ),
        (
            "Support hours and response times",
            "Our support team answers Monday to Friday, 8:00 to 18:00 CET. Urgent incidents (production down, "
            "security) are handled around the clock: first response within one hour, high priority within four "
            "hours, normal within eight working hours.",
            ("support", "sla"),
        ),
    ),
    "de": (
        (
            "Wie setze ich mein Passwort zurück?",
            "Öffnen Sie die Anmeldeseite und klicken Sie auf 'Passwort vergessen?'. Geben Sie die E-Mail-Adresse "
            "Ihres Kontos ein; wir senden Ihnen einen Link, der 60 Minuten gültig ist. Wählen Sie ein neues "
            "Passwort mit mindestens 12 Zeichen. Kommt die E-Mail nicht innerhalb von 10 Minuten an, prüfen Sie "
            "Ihren Spam-Ordner und ob Sie die von Ihrem Administrator hinterlegte Adresse verwendet haben.",
            ("passwort", "login", "konto"),
        ),
        (
            "Ich kann mich nicht anmelden",
            "Prüfen Sie, ob die Feststelltaste aus ist und ob Sie die E-Mail-Adresse Ihres Kontos verwenden. Nach "
            "fünf Fehlversuchen wird Ihr Konto für 15 Minuten gesperrt; warten Sie kurz oder setzen Sie Ihr "
            "Passwort zurück. Nutzt Ihr Unternehmen Single Sign-on, melden Sie sich über 'Mit SSO anmelden' an. "
            "Die Meldung 'Konto deaktiviert' bedeutet, dass ein Administrator Ihren Zugang gesperrt hat.",
            ("login", "konto", "sso"),
        ),
        (
            "Zwei-Faktor-Authentifizierung einrichten",
            "Öffnen Sie Einstellungen > Sicherheit und klicken Sie auf 'Zwei-Faktor-Authentifizierung "
            "aktivieren'. Scannen Sie den QR-Code mit einer Authenticator-App und geben Sie den sechsstelligen "
            "Code ein. Bewahren Sie die zehn Wiederherstellungscodes sicher auf: Jeder funktioniert einmal, falls "
            "Sie Ihr Handy verlieren.",
            ("login", "sicherheit", "2fa"),
        ),
        (
            "Wo finde ich meine Rechnungen?",
            "Administratoren finden alle Rechnungen unter Einstellungen > Abrechnung > Rechnungen und können sie "
            "als PDF herunterladen. Außerdem senden wir jede Rechnung am ersten Werktag des Monats per E-Mail an "
            "den Rechnungskontakt. Einen weiteren Empfänger tragen Sie unter Abrechnung > Rechnungsempfänger ein.",
            ("rechnung", "abrechnung"),
        ),
        (
            "Zahlungsarten und fehlgeschlagene Zahlungen",
            "Wir akzeptieren Kreditkarte (Visa, Mastercard, American Express), SEPA-Lastschrift und bei "
            "Jahresverträgen Überweisung. Schlägt eine Zahlung fehl, versuchen wir es nach drei und nach sieben "
            "Tagen erneut. Doppelte Abbuchungen erstatten wir innerhalb von 5 bis 10 Werktagen.",
            ("zahlung", "abrechnung", "erstattung"),
        ),
        (
            "Rechnungsadresse oder USt-IdNr. ändern",
            "Unter Einstellungen > Abrechnung > Firmendaten ändern Sie Adresse, Firmenname oder "
            "Umsatzsteuer-Identifikationsnummer. Die Änderung gilt ab der nächsten Rechnung; bereits erstellte "
            "Rechnungen korrigiert unser Abrechnungsteam auf Wunsch innerhalb desselben Kalenderjahres.",
            ("abrechnung", "rechnung", "ust-idnr"),
        ),
        (
            "Welche Daten speichern Sie über mich und wie erhalte ich eine Kopie?",
            "Nach Art. 15 und 20 DSGVO können Sie eine Kopie aller personenbezogenen Daten anfordern, die wir über "
            "Sie speichern: Kontaktdaten, Ihre Nachrichten und Tickets, Ihre Einwilligungen und das Protokoll der "
            "Änderungen. Fragen Sie im Chat ('Welche Daten haben Sie über mich?') oder schreiben Sie an "
            "datenschutz@demo-crm.example. Sie erhalten innerhalb eines Monats einen maschinenlesbaren JSON-Export.",
            ("dsgvo", "datenschutz", "auskunft"),
        ),
        (
            "Wie lasse ich meine Daten löschen?",
            "Sie können die Löschung Ihrer personenbezogenen Daten (Art. 17 DSGVO) im Chat oder per E-Mail an "
            "datenschutz@demo-crm.example verlangen. Nach Prüfung Ihrer Identität löscht ein Administrator Ihren "
            "Namen, Ihre E-Mail-Adressen, Telefonnummern und Nachrichtentexte. Rechnungs- und Vertragsdaten, die "
            "wir gesetzlich aufbewahren müssen, bleiben anonymisiert erhalten.",
            ("dsgvo", "datenschutz", "löschung"),
        ),
        (
            "Newsletter und Werbe-E-Mails abbestellen",
            "Jeder Newsletter enthält unten einen Link 'Abmelden'. Sie können dem Assistenten auch schreiben: "
            "'Bitte keine Newsletter mehr'. Wir stoppen Werbe-E-Mails sofort; Servicenachrichten zu Ihren Tickets "
            "und Ihrem Vertrag erhalten Sie weiterhin.",
            ("newsletter", "abmelden", "datenschutz"),
        ),
        (
            "API-Limits",
            "Die REST-API erlaubt 600 Anfragen pro Minute und Token sowie 50.000 pro Tag und Konto. Bei "
            "Überschreitung antwortet die API mit 429 Too Many Requests und einem Retry-After-Header in Sekunden. "
            "Nutzen Sie Listen-Endpunkte mit Filtern und Seitenweise-Abruf (limit bis 500), statt Datensätze "
            "einzeln abzurufen.",
            ("api", "limits", "entwickler"),
        ),
        (
            "API-Tokens erstellen und widerrufen",
            "Unter Einstellungen > API-Tokens klicken Sie auf 'Neues Token'. Das Token wird nur einmal angezeigt; "
            "bewahren Sie es in einem Passwort-Safe auf und senden Sie es als 'Authorization: Bearer <Token>'. "
            "Ein möglicherweise bekannt gewordenes Token widerrufen Sie sofort.",
            ("api", "token", "sicherheit"),
        ),
        (
            "Vertrag kündigen",
            "Administratoren kündigen unter Einstellungen > Abrechnung > Tarif. Monatsverträge enden zum "
            "Monatsende, Jahresverträge zum Ende der Laufzeit; die Kündigungsfrist beträgt 30 Tage. Vor dem "
            "Vertragsende können Sie alle Daten exportieren; danach löschen wir sie innerhalb von 30 Tagen.",
            ("kündigung", "vertrag", "abrechnung"),
        ),
        (
            "Supportzeiten und Reaktionszeiten",
            "Unser Support ist Montag bis Freitag von 8 bis 18 Uhr erreichbar. Dringende Störungen (Ausfall, "
            "Sicherheitsvorfall) bearbeiten wir rund um die Uhr: Erste Antwort innerhalb einer Stunde, hohe "
            "Priorität innerhalb von vier Stunden, normale innerhalb von acht Arbeitsstunden.",
            ("support", "sla"),
        ),
    ),
}
