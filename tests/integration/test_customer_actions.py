"""Customer self-service through the whole assistant on a real SQLite store, in English and German.

Button payloads (``/intent{...}``) bypass the NLU; free text goes to a scripted NLU. The knowledge-base
search uses the real all-MiniLM-L6-v2 embedder (loaded once per module).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import pytest
from sqlalchemy import select

from actions.faq import FAQ_THRESHOLD, ArticleIndex
from actions.handover import release_conversation
from actions.tickets import addition_of, is_specific, same_problem
from assistant.app import build_assistant
from assistant.messages import IncomingMessage
from assistant.pipeline import Assistant
from crm_store.db import Database
from crm_store.demo_data import ARTICLES
from crm_store.models import AuditEntry, Contact, GdprRequest, KnowledgeArticle, OutboxMessage, Ticket
from crm_store.services import Actor, CrmServices
from nlu.embedder import Embedder, get_embedder
from tests.conftest import make_user

SYSTEM = Actor.system("test")


# --- harness ------------------------------------------------------------------------------------------
@dataclass
class _Parse:
    data: dict[str, Any]

    def to_dict(self) -> dict[str, Any]:
        return self.data


@dataclass
class ScriptNLU:
    """Exact texts -> (intent, entities); no language detection (the speaker's language counts)."""

    script: dict[str, tuple[str, list[dict[str, Any]]]] = field(default_factory=dict)

    def parse_batch(self, texts: list[str], **_kw: Any) -> list[_Parse]:
        out = []
        for text in texts:
            intent, entities = self.script.get(text, ("out_of_scope", []))
            ents = [{"start": 0, "end": 0, "extractor": "scripted", **e} for e in entities]
            out.append(
                _Parse(
                    {
                        "text": text,
                        "intent": {"name": intent, "confidence": 1.0},
                        "intent_ranking": [{"name": intent, "confidence": 1.0}],
                        "entities": ents,
                        "language": None,
                    }
                )
            )
        return out


@dataclass
class Notifier:
    sent: list[tuple[int | None, str]] = field(default_factory=list)

    async def notify(self, user_id: int | None, text: str) -> None:
        self.sent.append((user_id, text))


class Chat:
    """One conversation; ``send`` returns the bot's replies, ``text`` them joined."""

    def __init__(self, assistant: Assistant, actor: Actor, sender: str = "s1") -> None:
        self.assistant, self.actor, self.sender = assistant, actor, sender
        self.replies: list[dict[str, Any]] = []

    async def send(self, text: str) -> str:
        self.replies = await self.assistant.handle(IncomingMessage("web", self.sender, text, self.actor))
        return "\n".join(str(r.get("text") or "") for r in self.replies)


SCRIPT: dict[str, tuple[str, list[dict[str, Any]]]] = {
    "I can't log in since this morning": ("report_issue", []),
    "Ich kann mich seit heute Morgen nicht anmelden": ("report_issue", []),
    "Login still fails, I still cannot sign in": ("report_issue", []),
    "Die Anmeldung klappt immer noch nicht, ich komme nicht rein": ("report_issue", []),
    "The invoice for March shows the wrong amount": ("report_issue", []),
    "Die Rechnung für März hat den falschen Betrag": ("report_issue", []),
    "How do I reset my password?": ("faq", []),
    "Wie kann ich mein Passwort zurücksetzen?": ("faq", []),
    "blorp zibble frobnicate": ("faq", []),
}
ISSUE = {"en": "I can't log in since this morning", "de": "Ich kann mich seit heute Morgen nicht anmelden"}
SAME_ISSUE = {
    "en": "Login still fails, I still cannot sign in",
    "de": "Die Anmeldung klappt immer noch nicht, ich komme nicht rein",
}
OTHER_ISSUE = {
    "en": "The invoice for March shows the wrong amount",
    "de": "Die Rechnung für März hat den falschen Betrag",
}
WORDS = {  # words each language's answer must contain
    "en": {
        "describe": "describe",
        "more": "more",
        "email": "address",
        "opened": "opened ticket",
        "added": "added this",
        "not_found": "couldn't find",
        "which": "Which ticket",
        "solved": "solved",
        "person": "passing you to a person",
        "no_answer": "couldn't find an answer",
        "deleted": "erasure request",
        "confirm_open": "Shall I open a ticket",
        "confirm_add": "to ticket #",
        "cancelled": "Nothing was saved",
        "code_sent": "we have sent a code",
    },
    "de": {
        "describe": "beschreib",
        "more": "mehr",
        "email": "E-Mail-Adresse",
        "opened": "Ticket #",
        "added": "ergänzt",
        "not_found": "nicht gefunden",
        "which": "Welches Ticket",
        "solved": "gelöst",
        "person": "übergebe an eine Person",
        "no_answer": "keine Antwort",
        "deleted": "Löschantrag",
        "confirm_open": "Soll ich ein Ticket",
        "confirm_add": "zu Ticket #",
        "cancelled": "nichts gespeichert",
        "code_sent": "haben wir einen Code",
    },
}


@dataclass
class World:
    db: Database
    assistant: Assistant
    notifier: Notifier
    anna: int
    ben: int
    agent: Actor
    rep: Actor


@pytest.fixture(scope="module")
def embedder() -> Embedder:
    return get_embedder()


@pytest.fixture
def world(sqlite_db: Database, embedder: Embedder) -> World:
    agent = make_user(sqlite_db, email="agent@crm.example", role="agent")
    rep = make_user(sqlite_db, email="rep@crm.example", role="rep")
    with sqlite_db.session() as s:
        crm = CrmServices(s, SYSTEM)
        anna = crm.contacts.create(
            {"first_name": "Anna", "last_name": "Schmidt", "email": "anna@example.com"}
        ).id
        ben = crm.contacts.create({"first_name": "Ben", "last_name": "Meyer", "email": "ben@example.com"}).id
        crm.gdpr.record_consent(anna, "newsletter", True, "signup form")
        for lang, articles in ARTICLES.items():
            for title, body, tags in articles:
                crm.knowledge.create(language=lang, title=title, body=body, tags=list(tags))
    notifier = Notifier()
    assistant = build_assistant(sqlite_db, ScriptNLU(SCRIPT), embedder=embedder, notifier=notifier)
    return World(sqlite_db, assistant, notifier, anna, ben, agent, rep)


def customer(contact_id: int | None, lang: str) -> Actor:
    return Actor.customer(contact_id, language=lang)


def tickets(db: Database) -> list[Ticket]:
    with db.session() as s:
        found = list(s.execute(select(Ticket).order_by(Ticket.id)).scalars())
        for t in found:
            _ = t.messages  # load the thread before the session closes
        return found


def add_ticket(db: Database, contact_id: int, subject: str, status: str = "new") -> int:
    with db.session() as s:
        crm = CrmServices(s, SYSTEM)
        ticket = crm.tickets.create(
            {"subject": subject, "description": subject, "requester_contact_id": contact_id}
        )
        if status != "new":
            crm.tickets.update(ticket.id, {"status": status})
        return ticket.number


def mailed_codes(db: Database) -> dict[str, int]:
    """How many code mails each address got (from the e-mail outbox the turn wrote them to)."""
    with db.session() as s:
        rows = s.execute(select(OutboxMessage).where(OutboxMessage.channel == "email")).scalars()
        counts: dict[str, int] = {}
        for row in rows:
            counts[row.target] = counts.get(row.target, 0) + 1
        return counts


def mailed_code(db: Database, address: str) -> str:
    """The newest one-time code mailed to ``address`` (no deliverer runs here, so it is still in the row)."""
    with db.session() as s:
        row = s.execute(
            select(OutboxMessage)
            .where(OutboxMessage.channel == "email", OutboxMessage.target == address)
            .order_by(OutboxMessage.id.desc())
        ).scalars().first()
        assert row is not None, f"no code was mailed to {address}"
        return str(row.payload["code"])


LANGS = pytest.mark.parametrize("lang", ["en", "de"])


# --- reporting an issue -------------------------------------------------------------------------------
@LANGS
async def test_anonymous_report_asks_details_and_email_and_creates_the_contact(
    world: World, lang: str
) -> None:
    chat, w = Chat(world.assistant, customer(None, lang)), WORDS[lang]
    assert w["describe"] in await chat.send("/report_issue")
    assert w["more"] in await chat.send("broken")  # too vague: asked again
    assert w["email"] in await chat.send(ISSUE[lang])
    # asked again (in the message's own language: the reply follows a message that clearly is English or German)
    assert w["email"] in await chat.send({"en": "not an address", "de": "keine Adresse"}[lang])
    confirm = await chat.send("New.Person@Example.com")
    assert w["confirm_open"] in confirm and ISSUE[lang] in confirm and "new.person@example.com" in confirm
    assert {b["payload"] for b in chat.replies[0]["buttons"]} == {"/affirm", "/deny"}
    assert tickets(world.db) == []  # nothing is written before the yes, not even the contact
    with world.db.session() as s:
        assert CrmServices(s, SYSTEM).contacts.by_email("new.person@example.com") is None
    answer = await chat.send("/affirm")
    assert "#1000" in answer and "new.person@example.com" in answer
    [ticket] = tickets(world.db)
    with world.db.session() as s:
        contact = CrmServices(s, SYSTEM).contacts.by_email("new.person@example.com")
        assert contact is not None and ticket.requester_contact_id == contact.id
    assert ticket.subject == ISSUE[lang] and ticket.channel == "web" and ticket.language == lang
    assert ticket.queue == "account" and [m.body for m in ticket.messages] == [ISSUE[lang]]


@LANGS
async def test_logged_in_report_is_not_asked_for_an_email(world: World, lang: str) -> None:
    chat = Chat(world.assistant, customer(world.anna, lang))
    confirm = await chat.send(ISSUE[lang])  # the request itself describes the problem
    assert WORDS[lang]["confirm_open"] in confirm and WORDS[lang]["email"] not in confirm
    answer = await chat.send("/affirm")
    assert "#1000" in answer
    [ticket] = tickets(world.db)
    assert ticket.requester_contact_id == world.anna and ticket.priority == "normal"


@LANGS
async def test_second_report_of_the_same_problem_joins_the_open_ticket(world: World, lang: str) -> None:
    chat, w = Chat(world.assistant, customer(world.anna, lang)), WORDS[lang]
    await chat.send(ISSUE[lang])
    assert "#1000" in await chat.send("/affirm")
    await chat.send(SAME_ISSUE[lang])
    answer = await chat.send("/affirm")
    assert w["added"] in answer and "#1000" in answer
    await chat.send(OTHER_ISSUE[lang])
    assert "#1001" in await chat.send("/affirm")  # a different problem: a new ticket
    first, second = tickets(world.db)
    assert [m.body for m in first.messages] == [ISSUE[lang], SAME_ISSUE[lang]]
    assert second.queue == "billing"


async def test_another_customers_open_ticket_is_never_joined(world: World) -> None:
    add_ticket(world.db, world.ben, "I can't log in since this morning")
    chat = Chat(world.assistant, customer(world.anna, "en"))
    await chat.send(ISSUE["en"])
    await chat.send("/affirm")
    ben_ticket, anna_ticket = tickets(world.db)
    assert len(ben_ticket.messages) == 1 and anna_ticket.requester_contact_id == world.anna


async def test_anonymous_report_with_a_known_address_opens_a_new_ticket(world: World) -> None:
    """Typing someone's address must not reveal (or join) their open ticket."""
    add_ticket(world.db, world.anna, "I can't log in since this morning")
    chat = Chat(world.assistant, customer(None, "en"))
    await chat.send(ISSUE["en"])
    assert "#1000" not in await chat.send("anna@example.com")
    answer = await chat.send("/affirm")
    assert "#1001" in answer and "#1000" not in answer
    await chat.send(SAME_ISSUE["en"])
    assert "#1001" in await chat.send("/affirm")  # but this conversation's own ticket is joined


@LANGS
async def test_deny_opens_no_ticket_and_the_next_report_asks_again(world: World, lang: str) -> None:
    chat, w = Chat(world.assistant, customer(world.anna, lang)), WORDS[lang]
    assert w["confirm_open"] in await chat.send(ISSUE[lang])
    assert w["cancelled"] in await chat.send("/deny")
    assert tickets(world.db) == []
    assert w["confirm_open"] in await chat.send(OTHER_ISSUE[lang])  # the old description is forgotten
    assert "#1000" in await chat.send("/affirm")
    [ticket] = tickets(world.db)
    assert ticket.subject == OTHER_ISSUE[lang]


def test_vague_and_specific_descriptions() -> None:
    for vague in ("help", "broken", "it doesn't work", "I have a problem", "Hilfe", "geht nicht", "kaputt"):
        assert not is_specific(vague), vague
    for specific in (
        "I can't log in",
        "Login fails",
        "My printer is broken",
        "Export crashes with error 500",
        "Ich kann mich nicht anmelden",
        "Die Rechnung ist falsch",
    ):
        assert is_specific(specific), specific


def test_an_addition_loses_the_request_around_it_but_never_its_meaning() -> None:
    assert addition_of("please add that it also fails on mobile") == "It also fails on mobile"
    assert addition_of("add to my ticket: the export also fails on Safari") == "The export also fails on Safari"
    assert addition_of("Bitte ergänzt noch: Fehlercode 500 beim Export") == "Fehlercode 500 beim Export"
    # a German dass-clause stays whole (verb-final without it), and so does a bare request
    assert addition_of("bitte ergänz noch, dass es am Handy nicht geht") == "bitte ergänz noch, dass es am Handy nicht geht"
    assert addition_of("please add that") == "please add that"
    assert addition_of("it also fails on mobile") == "it also fails on mobile"


def test_same_problem_without_an_embedder_uses_word_overlap() -> None:
    open_ticket = Ticket(subject="CSV export crashes", description="The CSV export crashes with error 500")
    assert same_problem("CSV export crashes again", [open_ticket], None) is open_ticket
    assert same_problem("The invoice amount is wrong", [open_ticket], None) is None


# --- ticket status ------------------------------------------------------------------------------------
@LANGS
async def test_ticket_status_shows_only_ones_own_tickets(world: World, lang: str) -> None:
    number = add_ticket(world.db, world.anna, "Export fails")
    anna, ben = (
        Chat(world.assistant, customer(world.anna, lang)),
        Chat(world.assistant, customer(world.ben, lang)),
    )
    answer = await anna.send("/ticket_status")  # no number needed: her only open ticket
    assert f"#{number}" in answer and "Export fails" in answer
    foreign = await ben.send(f'/ticket_status{{"ticket_id": "{number}"}}')
    missing = await ben.send('/ticket_status{"ticket_id": "9999"}')
    assert WORDS[lang]["not_found"] in foreign and "Export fails" not in foreign
    assert foreign.replace(str(number), "N") == missing.replace("9999", "N")
    add_ticket(world.db, world.anna, "Invoice wrong")
    listing = await anna.send("/ticket_status")
    assert "Export fails" in listing and "Invoice wrong" in listing


@LANGS
async def test_anonymous_status_needs_a_code_mailed_to_the_requester(world: World, lang: str) -> None:
    """Attack (issue 10.1): number + address used to show the ticket; now only the mailed code does, and
    every answer before the code check is the same for a right pair, a wrong pair and a missing ticket."""
    number = add_ticket(world.db, world.anna, "Export fails")
    chat = Chat(world.assistant, customer(None, lang))
    assert "#1042" in await chat.send("/ticket_status")  # asks for the number (example #1042)
    assert WORDS[lang]["email"] in await chat.send(f"#{number}")
    wrong = await chat.send("ben@example.com")
    assert WORDS[lang]["code_sent"] in wrong and "Export fails" not in wrong
    other = Chat(world.assistant, customer(None, lang), sender="s2")
    missing = await other.send('/ticket_status{"ticket_id": "9999", "email": "anna@example.com"}')
    right = Chat(world.assistant, customer(None, lang), sender="s3")
    pair = await right.send(f'/ticket_status{{"ticket_id": "{number}", "email": "anna@example.com"}}')
    assert "Export fails" not in pair
    same = missing.replace("9999", str(number)).replace("anna@", "X@")
    assert wrong.replace("ben@", "X@") == pair.replace("anna@", "X@") == same
    assert mailed_codes(world.db) == {"anna@example.com": 1}  # only the right pair got a real mail
    answer = await right.send(mailed_code(world.db, "anna@example.com"))
    assert "Export fails" in answer


async def test_staff_see_any_ticket_by_number(world: World) -> None:
    number = add_ticket(world.db, world.anna, "Export fails")
    chat = Chat(world.assistant, world.agent)
    assert "ticket number" in await chat.send("/ticket_status")
    assert "Export fails" in await chat.send(str(number))


# --- update and close ---------------------------------------------------------------------------------
@LANGS
async def test_update_appends_and_reopens_then_close_after_confirmation(world: World, lang: str) -> None:
    number = add_ticket(world.db, world.anna, "Export fails", status="solved")
    chat = Chat(world.assistant, customer(world.anna, lang))
    await chat.send("/update_ticket")  # what should I add?
    addition = "It also fails on mobile" if lang == "en" else "Auf dem Handy geht es auch nicht"
    confirm = await chat.send(addition)
    assert WORDS[lang]["confirm_add"] + str(number) in confirm and addition in confirm
    assert len(tickets(world.db)[0].messages) == 1  # not yet
    answer = await chat.send("/affirm")
    assert f"#{number}" in answer
    [ticket] = tickets(world.db)
    assert ticket.status == "open" and len(ticket.messages) == 2
    confirm = await chat.send("/close_ticket")
    assert f"#{number}" in confirm and {b["payload"] for b in chat.replies[0]["buttons"]} == {
        "/affirm",
        "/deny",
    }
    assert WORDS[lang]["solved"] in await chat.send("/affirm")
    assert tickets(world.db)[0].status == "solved"


async def test_close_with_two_open_tickets_asks_which_and_deny_keeps_it(world: World) -> None:
    first = add_ticket(world.db, world.anna, "Export fails")
    second = add_ticket(world.db, world.anna, "Invoice wrong")
    chat = Chat(world.assistant, customer(world.anna, "en"))
    assert "Which ticket" in await chat.send("/close_ticket")
    payloads = [b["payload"] for b in chat.replies[0]["buttons"]]
    assert payloads == [f'/choose{{"ticket_id": "{n}"}}' for n in (second, first)]
    assert f"#{first}" in await chat.send(payloads[1])
    await chat.send("/deny")
    assert [t.status for t in tickets(world.db)] == ["new", "new"]


async def test_anonymous_cannot_update_someone_elses_ticket(world: World) -> None:
    """Attack: adding to a stranger's ticket with its number and the requester's address, or one's own."""
    number = add_ticket(world.db, world.anna, "Export fails")
    chat = Chat(world.assistant, customer(None, "en"))
    await chat.send(f'/update_ticket{{"ticket_id": "{number}"}}')
    await chat.send("It also fails on mobile")
    assert "we have sent a code" in await chat.send("mallory@evil.example")
    assert "isn't right" in await chat.send("123456")
    for guess in ("000000", "111111", "222222", "333333"):
        said = await chat.send(guess)
    assert "expired" in said  # five tries, then the code is gone
    guesser = Chat(world.assistant, customer(None, "en"), sender="s2")
    await guesser.send(f'/update_ticket{{"ticket_id": "{number}", "email": "anna@example.com"}}')
    await guesser.send("It also fails on mobile")
    assert "isn't right" in await guesser.send("999999" if mailed_code(world.db, "anna@example.com") != "999999"
                                                else "999998")
    assert len(tickets(world.db)[0].messages) == 1
    assert "#" in await guesser.send(mailed_code(world.db, "anna@example.com"))  # the real code: confirm first
    assert len(tickets(world.db)[0].messages) == 1
    assert "ticket #" in await guesser.send("/affirm")
    assert len(tickets(world.db)[0].messages) == 2


# --- hand-over ----------------------------------------------------------------------------------------
@LANGS
async def test_request_human_pauses_relays_to_the_ticket_and_release_resumes(world: World, lang: str) -> None:
    number = add_ticket(world.db, world.anna, "Export fails")
    chat = Chat(world.assistant, customer(world.anna, lang))
    answer = await chat.send("/request_human")
    assert WORDS[lang]["person"] in answer and f"#{number}" in answer
    [ticket] = tickets(world.db)
    assert ticket.needs_human and ticket.assignee_id == world.agent.id
    assert world.notifier.sent and world.notifier.sent[0][0] == world.agent.id
    assert await chat.send("Hello, is anybody there?") == "" and chat.replies == []
    assert await chat.send("/help") == ""  # still paused: even commands stay with the person
    assert [m.body for m in tickets(world.db)[0].messages][-1] == "Hello, is anybody there?"
    assert release_conversation(world.db, "web", "s1")
    assert await chat.send("/help") != ""
    assert not release_conversation(world.db, "web", "nobody")


async def test_anonymous_request_human_opens_a_ticket_with_the_chat_so_far(world: World) -> None:
    chat = Chat(world.assistant, customer(None, "en"))
    await chat.send("Where is the best pizza in town?")
    assert "#1000" in await chat.send("/request_human")
    [ticket] = tickets(world.db)
    assert ticket.requester_contact_id is None and "pizza" in ticket.description and ticket.needs_human
    await chat.send("Still there?")
    assert tickets(world.db)[0].messages[-1].body == "Still there?"


# --- knowledge base -----------------------------------------------------------------------------------
@LANGS
async def test_faq_answers_from_the_knowledge_base(world: World, lang: str) -> None:
    question = {"en": "How do I reset my password?", "de": "Wie kann ich mein Passwort zurücksetzen?"}[lang]
    answer = await Chat(world.assistant, customer(None, lang)).send(question)
    title = {"en": "How do I reset my password?", "de": "Wie setze ich mein Passwort zurück?"}[lang]
    assert answer.startswith(title) and ("Forgot password" in answer or "Passwort vergessen" in answer)


@LANGS
async def test_faq_offers_a_ticket_when_it_has_no_answer(world: World, lang: str) -> None:
    chat = Chat(world.assistant, customer(None, lang))
    assert WORDS[lang]["no_answer"] in await chat.send("blorp zibble frobnicate")
    assert [b["payload"] for b in chat.replies[0]["buttons"]] == ["/report_issue", "/deny"]
    assert WORDS[lang]["describe"] in await chat.send("/report_issue")


async def test_faq_falls_back_to_the_other_language(world: World) -> None:
    with world.db.session() as s:
        for article in s.execute(select(KnowledgeArticle).where(KnowledgeArticle.language == "de")).scalars():
            article.published = False
    answer = await Chat(world.assistant, customer(None, "de")).send("How do I reset my password?")
    assert answer.startswith("How do I reset my password?")


LABELLED = [  # (question, language, answerable)
    ("How do I reset my password?", "en", True),
    ("I forgot my password", "en", True),
    ("where are my invoices", "en", True),
    ("how do I turn on 2FA", "en", True),
    ("what are your support hours", "en", True),
    ("how many API requests can I make", "en", True),
    ("Wie kann ich mein Passwort zurücksetzen?", "de", True),
    ("Passwort vergessen", "de", True),
    ("Wo finde ich meine Rechnungen", "de", True),
    ("Wie richte ich Zwei-Faktor ein", "de", True),
    ("What's the weather in Paris?", "en", False),
    ("blorp zibble frobnicate", "en", False),
    ("my printer is on fire", "en", False),
    ("Can you recommend a good pizza place?", "en", False),
    ("Wie ist das Wetter in Berlin?", "de", False),
    ("blorp zibble frobnicate", "de", False),
    ("Kannst du mir ein Rezept für Kuchen geben?", "de", False),
]


def test_faq_threshold_separates_the_labelled_questions(embedder: Embedder) -> None:
    index = ArticleIndex(embedder)
    articles = {
        lang: [
            KnowledgeArticle(id=n * 100 + i, language=lang, title=t, body=b)
            for i, (t, b, _) in enumerate(arts)
        ]
        for n, (lang, arts) in enumerate(ARTICLES.items())
    }
    scored = [(index.best(q, articles[lang]), ok) for q, lang, ok in LABELLED]
    answerable = [hit.score for hit, ok in scored if ok and hit]
    unanswerable = [hit.score for hit, ok in scored if not ok and hit]
    assert len(answerable) + len(unanswerable) == len(LABELLED)
    assert max(unanswerable) < FAQ_THRESHOLD <= min(answerable)


def test_article_vectors_are_cached_until_the_article_changes(embedder: Embedder) -> None:
    calls: list[int] = []

    class Counting:
        name, dimension = embedder.name, embedder.dimension

        def encode(self, texts: list[str]) -> Any:
            calls.append(len(texts))
            return embedder.encode(texts)

    index = ArticleIndex(Counting())
    article = KnowledgeArticle(id=1, language="en", title="Reset password", body="Click 'Forgot password'.")
    index.best("password", [article])
    index.best("password reset", [article])
    assert calls == [1, 2, 1]  # question, article units (title + one paragraph), question
    article.updated_at = datetime(2026, 1, 1, tzinfo=UTC)  # edited: embedded again
    index.best("password", [article])
    assert calls[-2:] == [1, 2]


# --- data protection ----------------------------------------------------------------------------------
@LANGS
async def test_gdpr_access_logged_in_gets_the_export(world: World, lang: str) -> None:
    add_ticket(world.db, world.anna, "Export fails")
    chat = Chat(world.assistant, customer(world.anna, lang))
    answer = await chat.send("/gdpr_access")
    assert "Anna Schmidt" in answer
    [custom] = [r["custom"] for r in chat.replies if r.get("custom")]
    assert custom["type"] == "gdpr_export"
    assert custom["data"]["emails"][0]["address"] == "anna@example.com"
    assert len(custom["data"]["tickets"]) == 1


@LANGS
async def test_gdpr_access_anonymous_never_sees_data(world: World, lang: str) -> None:
    """Attack: an export for someone else's address. Only the code mailed to it opens the export."""
    chat = Chat(world.assistant, customer(None, lang))
    refused = await chat.send("/gdpr_access")
    assert "Schmidt" not in refused and "#" not in refused
    assert not any(r.get("custom") for r in chat.replies)
    known = await chat.send("anna@example.com")
    unknown = await Chat(world.assistant, customer(None, lang), "s2").send(
        '/gdpr_access{"email": "x@example.com"}'
    )
    assert known.replace("anna@example.com", "E") == unknown.replace("x@example.com", "E")
    assert WORDS[lang]["code_sent"] in known and "Schmidt" not in known
    assert not any(r.get("custom") for r in chat.replies)
    answer = await chat.send(mailed_code(world.db, "anna@example.com"))
    assert "Anna Schmidt" in answer
    [custom] = [r["custom"] for r in chat.replies if r.get("custom")]
    assert custom["data"]["emails"][0]["address"] == "anna@example.com"


@LANGS
async def test_gdpr_erasure_is_confirmed_then_recorded_for_an_admin(world: World, lang: str) -> None:
    chat = Chat(world.assistant, customer(world.anna, lang))
    await chat.send("/gdpr_erasure")
    await chat.send("/deny")
    await chat.send("/gdpr_erasure")
    assert WORDS[lang]["deleted"] in await chat.send("/affirm")
    with world.db.session() as s:
        requests = [(r.kind, r.status, r.contact_id) for r in s.execute(select(GdprRequest)).scalars()]
        assert s.get(Contact, world.anna).erased_at is None  # an admin confirms first
    assert requests == [("erasure", "pending", world.anna)]


@LANGS
async def test_unsubscribe_withdraws_marketing_consent_at_once(world: World, lang: str) -> None:
    answer = await Chat(world.assistant, customer(world.anna, lang)).send("/unsubscribe")
    assert "newsletter" in answer.lower()
    with world.db.session() as s:
        gdpr = CrmServices(s, SYSTEM).gdpr
        assert not gdpr.has_consent(world.anna, "newsletter")
        audited = s.execute(select(AuditEntry).where(AuditEntry.action == "withdraw_consent")).scalars().all()
    assert audited


async def test_anonymous_unsubscribe_needs_the_mailed_code_and_a_yes(world: World) -> None:
    """Attack (issue 10.7): withdrawing anyone's marketing consent by naming the address."""
    chat = Chat(world.assistant, customer(None, "en"))
    assert "Which e-mail address" in await chat.send("/unsubscribe")
    assert "we have sent a code" in await chat.send('/unsubscribe{"email": "anna@example.com"}')
    with world.db.session() as s:
        assert CrmServices(s, SYSTEM).gdpr.has_consent(world.anna, "newsletter")
    assert "Unsubscribe you" in await chat.send(mailed_code(world.db, "anna@example.com"))
    with world.db.session() as s:
        assert CrmServices(s, SYSTEM).gdpr.has_consent(world.anna, "newsletter")  # not before the yes
    assert "newsletter" in (await chat.send("/affirm")).lower()
    with world.db.session() as s:
        assert not CrmServices(s, SYSTEM).gdpr.has_consent(world.anna, "newsletter")


async def test_staff_cannot_use_customer_privacy_actions(world: World) -> None:
    assert "isn't available" in await Chat(world.assistant, world.rep).send("/gdpr_access")


@LANGS
async def test_a_greeting_offers_customers_self_service_not_staff_work(world: World, lang: str) -> None:
    answer = await Chat(world.assistant, customer(None, lang)).send("/greet")
    assert ("support ticket" if lang == "en" else "Support-Ticket") in answer
    assert "pipeline" not in answer.lower() and "anruf" not in answer.lower() and "log a call" not in answer
    staff = await Chat(world.assistant, world.rep, sender="staff").send("/greet")
    assert "pipeline" in staff.lower()


async def test_a_customer_waiting_too_long_for_a_person_is_told_once(world: World) -> None:
    """Past the notifier's ``wait_seconds`` without a person's answer the customer hears once that the ticket
    stays open (and may be answered by e-mail); the next message of the same wait goes quietly to the ticket."""
    number = add_ticket(world.db, world.anna, "Export fails")
    world.notifier.wait_seconds = 0.001  # type: ignore[attr-defined]
    chat = Chat(world.assistant, customer(world.anna, "de"))
    await chat.send("/request_human")
    told = await chat.send("Ist da jemand?")
    assert f"Ticket #{number}" in told and "per E-Mail" in told and "Sie" in told
    assert await chat.send("Hallo?") == ""
    assert [m.body for m in tickets(world.db)[0].messages][-2:] == ["Ist da jemand?", "Hallo?"]
