"""Rep and manager conversations, EN and DE, against a real SQLite store (button payloads bypass the NLU)."""

from __future__ import annotations

import base64
import itertools
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from decimal import Decimal
from typing import Any
from zoneinfo import ZoneInfo

import pytest

from actions.tasks import task_title
from assistant.app import build_assistant
from assistant.messages import IncomingMessage
from assistant.pipeline import Assistant
from crm_store.db import Database
from crm_store.models import Contact, Deal, Organization, Task
from crm_store.services import Actor, CrmServices
from crm_store.services.users import actor_for

BERLIN = ZoneInfo("Europe/Berlin")
_senders = itertools.count(1)


class CannedNLU:
    """Answers only the texts a test registered; any other text fails the test (payloads never get here)."""

    def __init__(self) -> None:
        self.parses: dict[str, dict[str, Any]] = {}

    def add(
        self,
        text: str,
        intent: str,
        entities: dict[str, tuple[Any, str]] | None = None,
        *,
        lang: str = "en",
        confidence: float = 0.95,
    ) -> None:
        found = []
        for name, (value, surface) in (entities or {}).items():
            start = text.index(surface)
            found.append(
                {
                    "entity": name,
                    "value": value,
                    "start": start,
                    "end": start + len(surface),
                    "extractor": "canned",
                }
            )
        parsed = {"name": intent, "confidence": confidence}
        self.parses[text] = {
            "text": text,
            "intent": parsed,
            "intent_ranking": [parsed],
            "entities": found,
            "language": lang,
        }

    def parse_batch(self, texts: list[str], **_: Any) -> list[dict[str, Any]]:
        unknown = [t for t in texts if t not in self.parses]
        if unknown:
            raise AssertionError(f"unexpected NLU call for {unknown}")
        return [self.parses[t] for t in texts]


@dataclass
class World:
    db: Database
    nlu: CannedNLU
    assistant: Assistant
    rep: Actor
    rep_de: Actor
    other_rep: Actor
    manager: Actor
    ids: dict[str, int]

    def chat(self, actor: Actor) -> Chat:
        return Chat(self, actor, f"conv-{next(_senders)}")

    def count(self, model: type) -> int:
        from sqlalchemy import func, select

        with self.db.session() as s:
            return int(s.execute(select(func.count()).select_from(model)).scalar_one())


@dataclass
class Chat:
    world: World
    actor: Actor
    sender: str

    async def say(self, text: str) -> list[dict[str, Any]]:
        return await self.world.assistant.handle(IncomingMessage("web", self.sender, text, self.actor))

    async def text(self, message: str) -> str:
        return "\n".join(m.get("text") or "" for m in await self.say(message))


def today() -> date:
    return datetime.now(BERLIN).date()


@pytest.fixture
def world(sqlite_db: Database) -> World:
    with sqlite_db.session() as s:
        crm = CrmServices(s, Actor.system("test"))
        north, south = crm.users.create_team("North"), crm.users.create_team("South")
        users = {
            key: crm.users.create(
                {
                    "email": f"{key}@crm.example",
                    "name": name,
                    "role": role,
                    "team_id": team.id,
                    "language": lang,
                }
            )
            for key, name, role, team, lang in (
                ("rita", "Rita Rep", "rep", north, "en"),
                ("rolf", "Rolf Vertrieb", "rep", north, "de"),
                ("sam", "Sam South", "rep", south, "en"),
                ("mia", "Mia Manager", "manager", north, "en"),
            )
        }
        acme = crm.organizations.create(
            {"name": "Acme GmbH", "domain": "acme.example", "industry": "Machinery"}
        )
        globex = crm.organizations.create({"name": "Globex"})
        anna_acme = crm.contacts.create(
            {
                "first_name": "Anna",
                "last_name": "Schmidt",
                "organization_id": acme.id,
                "email": "anna@acme.example",
                "phone": "+4930111222",
            }
        )
        anna_globex = crm.contacts.create(
            {
                "first_name": "Anna",
                "last_name": "Schmidt",
                "organization_id": globex.id,
                "email": "anna@globex.example",
            }
        )
        bob = crm.contacts.create(
            {
                "first_name": "Bob",
                "last_name": "Meier",
                "organization_id": globex.id,
                "phone": "+491705550100",
                "job_title": "Head of IT",
            }
        )
        ids = {
            "acme": acme.id,
            "globex": globex.id,
            "anna_acme": anna_acme.id,
            "anna_globex": anna_globex.id,
            "bob": bob.id,
            **{k: u.id for k, u in users.items()},
        }
        actors = {k: actor_for(u) for k, u in users.items()}
    nlu = CannedNLU()
    return World(
        sqlite_db,
        nlu,
        build_assistant(sqlite_db, nlu),
        actors["rita"],
        actors["rolf"],
        actors["sam"],
        actors["mia"],
        ids,
    )


def one(world: World, model: type, **where: Any) -> Any:
    from sqlalchemy import select

    with world.db.session() as s:
        stmt = select(model)
        for key, value in where.items():
            stmt = stmt.where(getattr(model, key) == value)
        row = s.execute(stmt).scalars().one()
        s.expunge(row)
        return row


# --- contacts ------------------------------------------------------------------------------------------
async def test_create_contact_creates_the_unknown_organisation_on_confirm(world: World) -> None:
    chat = world.chat(world.rep)
    question = await chat.say(
        '/create_contact{"person": "Jane Roe", "job_title": "CTO", '
        '"organization": "Initech", "email": "jane@initech.com"}'
    )
    assert "Create the contact Jane Roe (CTO at Initech, jane@initech.com)?" in question[0]["text"]
    assert "Initech is new" in question[0]["text"]
    assert [b["payload"] for b in question[0]["buttons"]] == ["/affirm", "/deny"]
    assert world.count(Contact) == 3
    assert "Done: Jane Roe (Initech) is saved as a contact." in await chat.text("/affirm")
    jane = one(world, Contact, last_name="Roe")
    assert (jane.first_name, jane.job_title) == ("Jane", "CTO")
    assert one(world, Organization, name="Initech").id == jane.organization_id
    world.nlu.add("and her phone number?", "find_contact")
    assert "I don't have a phone number for Jane Roe." in await chat.text("and her phone number?")


async def test_create_contact_in_german_and_deny_writes_nothing(world: World) -> None:
    chat = world.chat(world.rep_de)
    reply = await chat.text('/create_contact{"person": "Jürgen Weiß", "organization": "Acme"}')
    assert "Den Kontakt Jürgen Weiß (Acme) anlegen?" in reply
    assert "abgebrochen" in await chat.text("/deny")
    assert world.count(Contact) == 3
    await chat.say('/create_contact{"person": "Jürgen Weiß", "organization": "Acme"}')
    assert "Erledigt: Jürgen Weiß (Acme GmbH) ist als Kontakt gespeichert." in await chat.text("/affirm")
    assert one(world, Contact, last_name="Weiß").organization_id == world.ids["acme"]


async def test_create_contact_asks_for_the_name_and_refuses_a_duplicate_email(world: World) -> None:
    chat = world.chat(world.rep)
    assert "What's the person's name?" in await chat.text('/create_contact{"email": "anna@acme.example"}')
    world.nlu.add("Annie Smith", "out_of_scope", confidence=0.3)
    reply = await chat.text("Annie Smith")
    assert "There's already a contact with anna@acme.example: Anna Schmidt (Acme GmbH)." in reply
    assert world.count(Contact) == 3


async def test_update_contact_ambiguous_name_buttons_then_write(world: World) -> None:
    chat = world.chat(world.rep)
    question = (await chat.say('/update_contact{"person": "Anna Schmidt", "phone": "+491705550199"}'))[0]
    assert "several people called Anna Schmidt" in question["text"]
    assert {b["title"] for b in question["buttons"]} == {"Anna Schmidt, Acme GmbH", "Anna Schmidt, Globex"}
    confirm = await chat.text(f'/choose{{"contact_id": {world.ids["anna_globex"]}}}')
    assert "Update Anna Schmidt (Globex): phone number → +491705550199?" in confirm
    assert "is updated" in await chat.text("/affirm")
    with world.db.session() as s:
        crm = CrmServices(s, Actor.system("test"))
        assert crm.contacts.get(world.ids["anna_globex"]).phone == "+491705550199"
        assert crm.contacts.get(world.ids["anna_acme"]).phone == "+4930111222"


async def test_update_contact_in_german_by_pronoun_after_find_contact(world: World) -> None:
    chat = world.chat(world.rep_de)
    world.nlu.add("Wie ist die Nummer von Bob?", "find_contact", {"person": ("Bob", "Bob")}, lang="de")
    assert "Telefonnummer von Bob Meier: +491705550100" in await chat.text("Wie ist die Nummer von Bob?")
    world.nlu.add(
        "Seine neue E-Mail ist bob@neu.example",
        "update_contact",
        {"email": ("bob@neu.example", "bob@neu.example")},
        lang="de",
    )
    confirm = await chat.text("Seine neue E-Mail ist bob@neu.example")
    assert "Bob Meier (Globex) ändern: E-Mail → bob@neu.example?" in confirm
    assert "ist aktualisiert" in await chat.text("/affirm")
    with world.db.session() as s:
        assert CrmServices(s, Actor.system("test")).contacts.get(world.ids["bob"]).email == "bob@neu.example"


async def test_update_contact_without_a_change_asks_what_to_change(world: World) -> None:
    chat = world.chat(world.rep)
    assert "What should I change" in await chat.text('/update_contact{"person": "Bob Meier"}')
    confirm = await chat.text('/update_contact{"job_title": "CIO"}')
    assert "Update Bob Meier (Globex): job title → CIO?" in confirm
    await chat.say("/affirm")
    assert one(world, Contact, id=world.ids["bob"]).job_title == "CIO"


async def test_find_contact_field_after_choice_then_her_phone(world: World) -> None:
    chat = world.chat(world.rep)
    world.nlu.add(
        "What's Anna Schmidt's email?", "find_contact", {"person": ("Anna Schmidt", "Anna Schmidt")}
    )
    question = (await chat.say("What's Anna Schmidt's email?"))[0]
    assert len(question["buttons"]) == 2
    answer = await chat.text(f'/choose{{"contact_id": {world.ids["anna_acme"]}}}')
    assert "Anna Schmidt's email: anna@acme.example" in answer
    world.nlu.add("and her phone number?", "find_contact")
    assert "Anna Schmidt's phone number: +4930111222" in await chat.text("and her phone number?")


async def test_find_contact_card_and_organisation_card(world: World) -> None:
    chat = world.chat(world.rep)
    assert "Bob Meier: Head of IT at Globex, +491705550100" in await chat.text(
        '/find_contact{"person": "Bob"}'
    )
    card = await chat.text('/find_contact{"organization": "Acme"}')
    assert "Acme GmbH: acme.example; Machinery; 1 contact: Anna Schmidt" in card
    assert "I couldn't find anyone called Zacharias" in await chat.text(
        '/find_contact{"person": "Zacharias"}'
    )


async def test_attack_an_agent_reads_only_the_contact_fields_the_policy_gives_agents(world: World) -> None:
    """The chat shows what the REST API shows (crm_store/policy.yml): an agent sees name, e-mail, phone and
    organisation of a contact, never the job title (before the fix, the chat card showed every field)."""
    with world.db.session() as s:
        agent = actor_for(CrmServices(s, Actor.system("test")).users.create(
            {"email": "ada@crm.example", "name": "Ada Agent", "role": "agent"}))
    chat = world.chat(agent)
    card = await chat.text('/find_contact{"person": "Bob"}')
    assert "Bob Meier" in card and "+491705550100" in card and "Head of IT" not in card
    world.nlu.add("What is Bob Meier's job title?", "find_contact", {"person": ("Bob Meier", "Bob Meier")})
    answer = await chat.text("What is Bob Meier's job title?")
    assert "Head of IT" not in answer and answer


def _log(world: World, actor: Actor, days_ago: int, kind: str, summary: str, *, contact: str) -> None:
    when = datetime.now(UTC) - timedelta(days=days_ago)
    with world.db.session() as s:
        CrmServices(s, actor).activities.create(
            {"type": kind, "contact_id": world.ids[contact], "summary": summary, "occurred_at": when}
        )


async def test_contact_history_newest_first_en_and_de(world: World) -> None:
    for days, kind, summary in (
        (9, "call", "First call"),
        (3, "meeting", "Demo on site"),
        (1, "email", "Sent quote"),
    ):
        _log(world, world.rep, days, kind, summary, contact="bob")
    _log(world, world.rep, 2, "note", "Other customer", contact="anna_acme")
    reply = await world.chat(world.rep).text('/contact_history{"organization": "Globex"}')
    assert reply.startswith("Latest with Globex:")
    assert reply.index("Sent quote") < reply.index("Demo on site") < reply.index("First call")
    assert "Other customer" not in reply and "email – Bob Meier" in reply
    reply_de = await world.chat(world.rep_de).text('/contact_history{"person": "Bob Meier"}')
    assert reply_de.startswith("Zuletzt mit Bob Meier (Globex):")
    assert "Termin — Demo on site" in reply_de
    acme_de = await world.chat(world.rep_de).text('/contact_history{"organization": "Acme"}')
    assert acme_de.startswith("Zuletzt mit Acme GmbH:") and "Notiz – Anna Schmidt — Other customer" in acme_de
    with world.db.session() as s:
        CrmServices(s, Actor.system("test")).organizations.create({"name": "Leer AG"})
    empty = await world.chat(world.rep_de).text('/contact_history{"organization": "Leer AG"}')
    assert "Mit Leer AG ist noch nichts geloggt." in empty


# --- tasks ---------------------------------------------------------------------------------------------
def test_task_title_strips_the_reminder_phrase_and_the_time_words() -> None:
    text = "Remind me to send Acme the proposal next Monday"
    assert task_title(text, [(text.index("next"), len(text))], "en") == "Send Acme the proposal"
    de = "Erinnere mich, Bob am Freitag das Angebot zu schicken"
    start = de.index("Freitag")
    assert task_title(de, [(start, start + len("Freitag"))], "de") == "Bob das Angebot schicken"


async def test_create_task_en_links_the_organisation(world: World) -> None:
    monday = today() + timedelta(days=7 - today().weekday())
    text = "Remind me to send Acme the proposal next Monday"
    world.nlu.add(
        text, "create_task", {"organization": ("Acme", "Acme"), "time": (monday.isoformat(), "next Monday")}
    )
    chat = world.chat(world.rep)
    confirm = await chat.text(text)
    assert "Add the task “Send Acme the proposal”, due" in confirm and "(Acme GmbH)?" in confirm
    assert "is on your list" in await chat.text("/affirm")
    task = one(world, Task, title="Send Acme the proposal")
    assert (task.organization_id, task.assignee_id) == (world.ids["acme"], world.rep.id)
    assert task.due_at.astimezone(BERLIN) == datetime.combine(monday, time(17), tzinfo=BERLIN)


async def test_create_task_de_creates_an_unknown_contact_on_the_fly(world: World) -> None:
    chat = world.chat(world.rep_de)
    day = today() + timedelta(days=3)
    assert "Was soll in der Aufgabe stehen?" in await chat.text(
        f'/create_task{{"person": "Carla Neu", "time": "{day.isoformat()}"}}'
    )
    world.nlu.add("Angebot nachfassen", "out_of_scope", lang="de", confidence=0.3)
    confirm = await chat.text("Angebot nachfassen")
    assert "Die Aufgabe „Angebot nachfassen“ bis" in confirm and "(Carla Neu: neuer Kontakt)" in confirm
    assert "steht auf deiner Liste" in await chat.text("/affirm")
    carla = one(world, Contact, last_name="Neu")
    assert one(world, Task, title="Angebot nachfassen").contact_id == carla.id


async def test_create_task_deny_writes_nothing(world: World) -> None:
    chat = world.chat(world.rep)
    await chat.say(f'/create_task{{"time": "{today().isoformat()}"}}')
    world.nlu.add("call the bank", "out_of_scope", confidence=0.3)
    await chat.say("call the bank")
    assert "Nothing was saved" in await chat.text("/deny")
    assert world.count(Task) == 0


async def test_list_tasks_groups_overdue_today_upcoming(world: World) -> None:
    now = datetime.now(BERLIN)
    end_of_today = datetime.combine(today(), time(23, 59), tzinfo=BERLIN)
    with world.db.session() as s:
        crm = CrmServices(s, world.rep)
        crm.tasks.create({"title": "Old thing", "due_at": now - timedelta(days=2)})
        crm.tasks.create({"title": "Today thing", "due_at": end_of_today})
        crm.tasks.create({"title": "Later thing", "due_at": now + timedelta(days=5)})
        crm.tasks.create({"title": "Done thing", "due_at": now + timedelta(days=1), "status": "done"})
        CrmServices(s, world.other_rep).tasks.create({"title": "Not mine", "due_at": now})
    reply = await world.chat(world.rep).text("/list_tasks")
    assert (
        reply.index("Overdue:")
        < reply.index("Old thing")
        < reply.index("Today:")
        < reply.index("Today thing")
    )
    assert reply.index("Upcoming:") < reply.index("Later thing")
    assert "Done thing" not in reply and "Not mine" not in reply
    period = {
        "from": (today() + timedelta(days=3)).isoformat(),
        "to": (today() + timedelta(days=8)).isoformat(),
    }
    reply_de = await world.chat(world.rep_de).text(f'/list_tasks{{"time": {_json(period)}}}')
    assert "Du hast keine offenen Aufgaben fällig zwischen" in reply_de
    world_rep_period = await world.chat(world.rep).text(f'/list_tasks{{"time": {_json(period)}}}')
    assert "Your tasks due between" in world_rep_period and "Later thing" in world_rep_period
    assert "Old thing" not in world_rep_period


def _json(value: Any) -> str:
    import json

    return json.dumps(value)


# --- deals ---------------------------------------------------------------------------------------------
async def test_create_deal_en_new_organisation_close_date_from_period(world: World) -> None:
    chat = world.chat(world.rep)
    confirm = await chat.text(
        '/create_deal{"organization": "Initech", "amount": 40000, "currency": "EUR", '
        '"time": {"from": "2026-03-01", "to": "2026-04-01"}}'
    )
    assert (
        "Initech is new to me. Create the organisation and a deal: EUR 40,000, stage lead, closing Tue 31 Mar 2026?"
        in confirm
    )
    assert "Done: the deal “Initech deal” (EUR 40,000) is in the pipeline." in await chat.text("/affirm")
    deal = one(world, Deal, name="Initech deal")
    assert (deal.amount, deal.currency, deal.stage, deal.expected_close_date, deal.owner_id) == (
        Decimal("40000.00"),
        "EUR",
        "lead",
        date(2026, 3, 31),
        world.rep.id,
    )


async def test_create_deal_de_amount_from_text_then_deny(world: World) -> None:
    chat = world.chat(world.rep_de)
    assert "Wie hoch ist der Betrag?" in await chat.text('/create_deal{"organization": "Acme"}')
    world.nlu.add("40.000 €", "out_of_scope", lang="de", confidence=0.2)
    confirm = await chat.text("40.000 €")
    assert "Deal mit Acme GmbH anlegen: 40.000 EUR, Phase Lead, Abschluss -?" in confirm
    assert "abgebrochen" in await chat.text("/deny")
    assert world.count(Deal) == 0


def _deal(
    world: World,
    name: str,
    *,
    org: str,
    owner: str,
    amount: int,
    stage: str = "lead",
    closes: date | None = None,
) -> int:
    with world.db.session() as s:
        deal = CrmServices(s, Actor.system("test")).deals.create(
            {
                "name": name,
                "organization_id": world.ids[org],
                "owner_id": world.ids[owner],
                "amount": amount,
                "stage": stage,
                "expected_close_date": closes,
            }
        )
        return deal.id


async def test_update_deal_several_open_deals_buttons_choose_confirm(world: World) -> None:
    first = _deal(world, "Acme machines", org="acme", owner="rita", amount=10000)
    _deal(world, "Acme service", org="acme", owner="rita", amount=5000)
    _deal(world, "Acme old", org="acme", owner="rita", amount=1, stage="lost")
    chat = world.chat(world.rep)
    question = (await chat.say('/update_deal{"organization": "Acme", "stage": "negotiation"}'))[0]
    assert "Acme GmbH has several open deals" in question["text"]
    assert question["buttons"][0]["payload"] == f'/choose{{"deal_id": {first}}}'
    assert len(question["buttons"]) == 2
    confirm = await chat.text(f'/choose{{"deal_id": {first}}}')
    assert "Update the deal “Acme machines”: stage → negotiation?" in confirm
    await chat.say("/affirm")
    deal = one(world, Deal, id=first)
    assert (deal.stage, deal.probability) == ("negotiation", 75)


async def test_update_deal_de_amount_and_close_date(world: World) -> None:
    deal_id = _deal(world, "Globex Lizenz", org="globex", owner="rolf", amount=1000)
    chat = world.chat(world.rep_de)
    confirm = await chat.text('/update_deal{"organization": "Globex", "amount": 25000, "time": "2026-06-30"}')
    assert "Deal „Globex Lizenz“ ändern: Betrag → 25.000 EUR, Abschlussdatum → 30.06.2026?" in confirm
    assert "ist aktualisiert" in await chat.text("/affirm")
    deal = one(world, Deal, id=deal_id)
    assert (deal.amount, deal.expected_close_date) == (Decimal("25000.00"), date(2026, 6, 30))


async def test_update_deal_of_another_team_is_refused_politely(world: World) -> None:
    deal_id = _deal(world, "Globex south", org="globex", owner="sam", amount=1000)
    chat = world.chat(world.rep)
    await chat.say('/update_deal{"organization": "Globex", "stage": "won"}')
    assert "Sorry, that isn't available to you." in await chat.text("/affirm")
    assert one(world, Deal, id=deal_id).stage == "lead"


# --- reports -------------------------------------------------------------------------------------------
def _pipeline_data(world: World) -> dict[str, str]:
    first = today().replace(day=1)
    period = {"from": first.isoformat(), "to": (first + timedelta(days=32)).replace(day=1).isoformat()}
    _deal(world, "Rita big", org="acme", owner="rita", amount=40000, stage="proposal", closes=first)
    _deal(world, "Rita small", org="globex", owner="rita", amount=10000, stage="lead", closes=first)
    _deal(world, "Sam deal", org="globex", owner="sam", amount=20000, stage="negotiation", closes=first)
    return period


async def test_pipeline_rep_sees_only_their_own(world: World) -> None:
    period = _pipeline_data(world)
    replies = await world.chat(world.rep).say(f'/pipeline_status{{"time": {_json(period)}}}')
    summary = replies[0]
    assert summary["text"].startswith("Your pipeline, closing between")
    assert "2 open deals worth EUR 50,000, weighted forecast EUR 21,000" in summary["text"]
    text = "\n".join(m.get("text") or "" for m in replies)
    assert "Rita big" in text and "Sam deal" not in text and "by owner" not in text


async def test_pipeline_manager_sees_everyone_with_table_and_png(world: World) -> None:
    period = _pipeline_data(world)
    replies = await world.chat(world.manager).say(f'/pipeline_status{{"time": {_json(period)}}}')
    summary = replies[0]
    assert "Team pipeline" in summary["text"] and "3 open deals worth EUR 70,000" in summary["text"]
    table = summary["custom"]
    assert table["type"] == "table" and table["columns"] == ["Stage", "Deals", "Total", "Weighted"]
    assert ["proposal", 1, "EUR 40,000", "EUR 20,000"] in table["rows"]
    assert summary["image"].startswith("data:image/png;base64,")
    png = base64.b64decode(summary["image"].split(",", 1)[1])
    assert png.startswith(b"\x89PNG") and len(png) < 60_000
    assert base64.b64decode(table["chart_png_b64"]) == png
    owners = replies[1]
    assert owners["custom"]["rows"][0][:2] == ["Rita Rep", 2] and "Sam South" in owners["text"]
    assert any("Sam deal" in (m.get("text") or "") for m in replies)


async def test_pipeline_de_defaults_to_this_quarter_by_words(world: World) -> None:
    _pipeline_data(world)
    _deal(world, "Next year", org="acme", owner="rolf", amount=999, closes=today() + timedelta(days=400))
    text = "Wie sieht die Pipeline in diesem Quartal aus?"
    world.nlu.add(text, "pipeline_status", lang="de")
    replies = await _de_manager_chat(world).say(text)
    summary = replies[0]
    quarter_start = date(today().year, 3 * ((today().month - 1) // 3) + 1, 1)
    assert summary["text"].startswith(f"Team-Pipeline mit Abschluss zwischen {quarter_start:%d.%m.%Y} und")
    assert "3 offene Deals über 70.000 EUR" in summary["text"]
    assert summary["custom"]["columns"] == ["Phase", "Deals", "Summe", "Gewichtet"]
    assert ["Angebot", 1, "40.000 EUR", "20.000 EUR"] in summary["custom"]["rows"]


def _de_manager_chat(world: World) -> Chat:
    from dataclasses import replace

    return world.chat(replace(world.manager, language="de"))


async def test_activity_report_counts_by_person_and_type(world: World) -> None:
    for actor, kind in (
        (world.rep, "call"),
        (world.rep, "call"),
        (world.rep, "email"),
        (world.other_rep, "call"),
    ):
        _log(world, actor, 1, kind, "x", contact="bob")
    _log(world, world.rep, 20, "call", "too old", contact="bob")
    period = {
        "from": (today() - timedelta(days=7)).isoformat(),
        "to": (today() + timedelta(days=1)).isoformat(),
    }
    reply = (await world.chat(world.manager).say(f'/activity_report{{"time": {_json(period)}}}'))[0]
    assert reply["text"].startswith("Team activities between") and "4 in total" in reply["text"]
    assert "• Rita Rep: 2 call, 1 email" in reply["text"]
    assert reply["custom"]["columns"] == ["Person", "call", "email", "Total"]
    assert reply["custom"]["rows"] == [["Rita Rep", 2, 1, 3], ["Sam South", 1, 0, 1]]
    own = await world.chat(world.rep).say(
        f'/activity_report{{"time": {_json(period)}, "activity_type": "call"}}'
    )
    assert own[0]["custom"]["rows"] == [["Rita Rep", 2, 2]]


async def test_activity_report_de_defaults_to_last_week(world: World) -> None:
    monday = today() - timedelta(days=today().weekday())
    when = datetime.combine(monday - timedelta(days=4), time(12), tzinfo=BERLIN)
    with world.db.session() as s:
        CrmServices(s, world.rep_de).activities.create(
            {"type": "visit", "contact_id": world.ids["bob"], "occurred_at": when}
        )
    reply = await _de_manager_chat(world).text("/activity_report")
    assert f"Team-Aktivitäten zwischen {monday - timedelta(days=7):%d.%m.%Y} und" in reply
    assert "• Rolf Vertrieb: 1 Besuch" in reply
    empty = await world.chat(world.rep_de).text(
        '/activity_report{"time": {"from": "2020-01-01", "to": "2020-02-01"}}'
    )
    assert "Es wurden zwischen 01.01.2020 und 31.01.2020 keine Aktivitäten geloggt." in empty
