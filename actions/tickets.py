"""Customer self-service tickets: report an issue, ask for its status, add to it, close it.

Customers only ever see their own tickets. A logged-in customer is the contact their channel vouched
for. An anonymous one reaches a ticket only when this conversation opened it, or after proving the
requester's address with a one-time code mailed to it (actions/verification.py, crm_store/services/grants.py):
a number and an address alone give nothing, and the answer never says whether they matched. Staff look
tickets up by number.

The forms' "ask" actions also finish a form early when the speaker does not need a slot (a logged-in
customer is never asked for an e-mail address): the engine asks the domain's slots in order, so the
speaker-dependent part lives here, where Rasa would have it (``action_ask_<slot>``).
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import numpy as np
from rasa_sdk import Action, Tracker
from rasa_sdk.events import ActiveLoop, EventType, FollowupAction, SlotSet
from rasa_sdk.executor import CollectingDispatcher
from rasa_sdk.forms import FormValidationAction

from actions.base import CrmAction, DomainDict, Turn, speaker
from actions.forms import answer_to, rejected_this_turn, ticket_number
from actions.identity import (
    SYSTEM,
    acting_as,
    customer,
    find_email,
    find_or_create_contact,
    is_anonymous,
    is_logged_in,
    is_staff,
)
from actions.labels import label
from actions.store_access import StoreAccess
from actions.verification import FORM as VERIFY_FORM
from actions.verification import Proof, start_verification
from crm_store.models import Ticket
from crm_store.services import Actor
from crm_store.services.errors import NotFound, ValidationFailed

if TYPE_CHECKING:
    from actions.registry import ActionDeps

# A second report joins an open ticket when it is about the same problem (cosine of the sentence
# embeddings; all-MiniLM-L6-v2 puts rephrasings of one problem at 0.7-0.95 and different problems below
# 0.35), or, without an embedder, when most of the shorter text's words are in the other.
DUPLICATE_THRESHOLD = 0.6
OVERLAP_THRESHOLD = 0.6
SUBJECT_MAX = 80
OPEN_STATUSES = ("new", "open", "pending")
UPDATABLE_STATUSES = (*OPEN_STATUSES, "solved")
MAX_CHOICES = 5
FORM_SUBMITS = {
    "report_issue_form": "action_report_issue",
    "ticket_status_form": "action_ticket_status",
    "update_ticket_form": "action_update_ticket",
}


# --- reading a problem description --------------------------------------------------------------------
def _wordset(text: str) -> frozenset[str]:
    return frozenset(text.split())


STOPWORDS = _wordset("""
a an the i me my we our you your it its this that these those is are was were be been am do does did
doesn don t s m ve ll re can cannot could would should will have has had not no to of in on at for from
with and or but so if as by about since just still also again very really there here what when why how
ich mich mir mein meine meinen meinem meiner wir uns unser du dich dein sie es das der die den dem des
ein eine einen einem einer ist sind war waren bin bist hat habe haben hatte nicht kein keine zu von in im
an am auf für mit und oder aber so wenn als seit noch auch wieder sehr da hier was wann warum wie bei
""")
# Words that say "there is a problem" without saying which one.
GENERIC = _wordset("""
help please problem problems issue issues broken error errors bug bugs work works working worked fail fails
failing failed wrong something anything thing stuff need want like report open add update info information
more details detail ticket tickets support question hello hi hey urgent asap
hilfe bitte problem probleme fehler kaputt geht gehen funktioniert funktionieren klappt falsch etwas was
ding brauche möchte will melden öffnen hinzufügen ergänzen info infos information informationen mehr details
ticket tickets frage hallo dringend
""")
URGENT_WORDS = (
    "urgent",
    "asap",
    "emergency",
    "production down",
    "production is down",
    "security",
    "data loss",
    "hacked",
    "dringend",
    "notfall",
    "sofort",
    "datenverlust",
    "produktion steht",
    "sicherheit",
    "gehackt",
)
HIGH_WORDS = (
    "blocked",
    "cannot work",
    "can't work",
    "nothing works",
    "all users",
    "blockiert",
    "kann nicht arbeiten",
    "nichts geht",
    "alle nutzer",
)
QUEUE_WORDS: dict[str, tuple[str, ...]] = {
    "account": (
        "log in",
        "login",
        "log-in",
        "sign in",
        "password",
        "account",
        "2fa",
        "two-factor",
        "locked out",
        "anmelden",
        "anmeldung",
        "einloggen",
        "passwort",
        "konto",
        "zugang",
        "gesperrt",
    ),
    "billing": (
        "invoice",
        "payment",
        "charged",
        "charge",
        "refund",
        "billing",
        "vat",
        "rechnung",
        "zahlung",
        "abbuchung",
        "erstattung",
        "abgebucht",
        "gutschrift",
    ),
}


def words(text: str) -> list[str]:
    return re.findall(r"[a-zäöüß0-9]+", text.lower())


def content_words(text: str) -> set[str]:
    return {w for w in words(text) if w not in STOPWORDS and w not in GENERIC and not w.isdigit()}


def is_specific(text: str) -> bool:
    """Does the text name a problem ("I can't log in") rather than only having one ("help", "broken")?"""
    tokens = words(text)
    meaningful = [w for w in tokens if w not in STOPWORDS]
    content = [w for w in meaningful if w not in GENERIC and not w.isdigit()]
    return bool(content) and (len(meaningful) >= 2 or len(tokens) >= 4)


def subject_of(text: str, limit: int = SUBJECT_MAX) -> str:
    """The first sentence, cut at a word boundary."""
    first = re.split(r"(?<=[.!?])\s+|\n", text.strip(), maxsplit=1)[0].strip()
    if len(first) <= limit:
        return first
    cut = first[: limit - 1].rsplit(" ", 1)[0].rstrip(",;:-")
    return f"{cut}…"


def priority_of(text: str, entity: Any = None) -> str:
    value = str(entity or "").strip().lower()
    if value in ("low", "normal", "high", "urgent"):
        return value
    lowered = text.lower()
    if any(w in lowered for w in URGENT_WORDS):
        return "urgent"
    if any(w in lowered for w in HIGH_WORDS):
        return "high"
    return "normal"


def queue_of(text: str) -> str:
    lowered = text.lower()
    for queue, hints in QUEUE_WORDS.items():
        if any(h in lowered for h in hints):
            return queue
    return "technical"


def overlap(a: str, b: str) -> float:
    wa, wb = content_words(a), content_words(b)
    if len(wa) < 2 or len(wb) < 2:
        return 0.0
    return len(wa & wb) / min(len(wa), len(wb))


def same_problem(text: str, tickets: Sequence[Ticket], embedder: Any) -> Ticket | None:
    """The open ticket about the same problem as ``text``, if any."""
    if not tickets:
        return None
    candidates = [f"{t.subject}. {t.description}" for t in tickets]
    if embedder is not None:
        vectors = np.asarray(embedder.encode([text, *candidates]), dtype=np.float32)
        scores = vectors[1:] @ vectors[0]
        best = int(np.argmax(scores))
        if float(scores[best]) >= DUPLICATE_THRESHOLD:
            return tickets[best]
    lexical = [overlap(text, c) for c in candidates]
    best = int(np.argmax(lexical))
    return tickets[best] if lexical[best] >= OVERLAP_THRESHOLD else None


# --- forms --------------------------------------------------------------------------------------------
def finish_form(form: str | None) -> list[EventType]:
    submit = FORM_SUBMITS.get(form or "")
    return [ActiveLoop(None), *([FollowupAction(submit)] if submit else [])]


# "please add that ...", "bitte ergänzt noch, dass ...": the request around an addition, not the addition
_ADD_LEAD_IN = re.compile(
    r"^\s*(?:(?:please|pls|can you|could you|kindly)\s+)?(?:also\s+)?(?:add|note|mention|tell them|write)"
    r"(?:\s+(?:to|on)\s+(?:my|the)\s+ticket)?(?:\s+(?:that|this))?\s*[:,-]?\s+"
    r"|^\s*(?:bitte\s+)?(?:ergänz|ergaenz|füg|fueg|schreib|notier|vermerk)\w*(?:\s+(?:bitte|noch|mal|dazu|hinzu))*"
    r"(?:\s+(?:zum|zu meinem|im)\s+ticket)?\s*:\s*",  # German only before a colon: a dass-clause stays whole
    re.IGNORECASE,
)


def addition_of(text: str) -> str:
    """What to add to a ticket, without the request around it ("please add that it fails on mobile")."""
    rest = _ADD_LEAD_IN.sub("", text, count=1).strip()
    if rest == text.strip() or not rest or not is_specific(rest):
        return text.strip()
    return rest[0].upper() + rest[1:]


def _latest(tracker: Tracker) -> tuple[str, str]:
    message = tracker.latest_message or {}
    return str((message.get("intent") or {}).get("name") or ""), str(message.get("text") or "").strip()


class _DescriptionForm(FormValidationAction):
    """The request's own sentence is the description when it names the problem; vague ones are asked again."""

    TRIGGERS: frozenset[str] = frozenset()

    def __init__(self, store: StoreAccess) -> None:
        self.proof = Proof(store)  # what an anonymous speaker proved decides which slots are still needed

    def granted(self, tracker: Tracker, number: int | None) -> bool:
        """May this (anonymous) conversation act on ticket ``number`` without proving anything more?"""
        return number is not None and self.proof.ticket(tracker, number) is not None

    async def extract_description(
        self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: DomainDict
    ) -> dict[str, Any]:
        intent, text = _latest(tracker)
        if tracker.get_slot("description") or intent not in self.TRIGGERS or text.startswith("/"):
            return {}
        return {"description": text} if is_specific(text) else {}

    async def validate_description(
        self, value: Any, dispatcher: CollectingDispatcher, tracker: Tracker, domain: DomainDict
    ) -> dict[str, Any]:
        text = str(value or "").strip()
        return {"description": text if is_specific(text) else None}

    async def validate_email(
        self, value: Any, dispatcher: CollectingDispatcher, tracker: Tracker, domain: DomainDict
    ) -> dict[str, Any]:
        return {"email": find_email(value)}

    async def validate_ticket_id(
        self, value: Any, dispatcher: CollectingDispatcher, tracker: Tracker, domain: DomainDict
    ) -> dict[str, Any]:
        number = ticket_number(value)
        return {"ticket_id": str(number) if number is not None else None}


class ValidateReportIssueForm(_DescriptionForm):
    TRIGGERS = frozenset({"report_issue"})

    def name(self) -> str:
        return "validate_report_issue_form"

    async def required_slots(
        self, domain_slots: list[str], dispatcher: CollectingDispatcher, tracker: Tracker, domain: DomainDict
    ) -> list[str]:
        if is_anonymous(speaker(tracker)) and self.proof.contact(tracker) is None:
            return domain_slots
        return [s for s in domain_slots if s != "email"]


class ValidateTicketStatusForm(_DescriptionForm):
    def name(self) -> str:
        return "validate_ticket_status_form"

    async def required_slots(
        self, domain_slots: list[str], dispatcher: CollectingDispatcher, tracker: Tracker, domain: DomainDict
    ) -> list[str]:
        actor = speaker(tracker)
        if is_anonymous(actor) and self.proof.contact(tracker) is None:
            # a ticket this conversation opened needs nothing more; any other needs an address to prove
            asked = ticket_number(tracker.get_slot("ticket_id"))
            if asked is None and self.granted(tracker, ticket_number(tracker.get_slot("last_ticket_number"))):
                return []
            return ["ticket_id"] if self.granted(tracker, asked) else ["ticket_id", "email"]
        # staff name the ticket, unless this conversation just talked about one ("my ticket", "it")
        return ["ticket_id"] if is_staff(actor) and not tracker.get_slot("last_ticket_number") else []


class ValidateUpdateTicketForm(_DescriptionForm):
    """Anonymous customers also need a ticket number (unless this conversation knows one) and an address."""

    TRIGGERS = frozenset({"update_ticket"})

    def name(self) -> str:
        return "validate_update_ticket_form"

    async def extract_description(
        self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: DomainDict
    ) -> dict[str, Any]:
        found = await super().extract_description(dispatcher, tracker, domain)
        return {"description": addition_of(found["description"])} if found.get("description") else found

    async def required_slots(
        self, domain_slots: list[str], dispatcher: CollectingDispatcher, tracker: Tracker, domain: DomainDict
    ) -> list[str]:
        if not is_anonymous(speaker(tracker)) or self.proof.contact(tracker) is not None:
            return domain_slots
        known = ticket_number(tracker.get_slot("ticket_id")) or ticket_number(
            tracker.get_slot("last_ticket_number")
        )
        extra = [] if tracker.get_slot("last_ticket_number") else ["ticket_id"]
        return [*domain_slots, *extra, *([] if self.granted(tracker, known) else ["email"])]

    async def extract_ticket_id(
        self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: DomainDict
    ) -> dict[str, Any]:
        return self._answer(tracker, "ticket_id")

    async def extract_email(
        self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: DomainDict
    ) -> dict[str, Any]:
        return self._answer(tracker, "email")

    @staticmethod
    def _answer(tracker: Tracker, slot: str) -> dict[str, Any]:
        return answer_to(tracker, slot)


class ActionAskEmail(Action):
    def name(self) -> str:
        return "action_ask_email"

    async def run(
        self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: DomainDict
    ) -> list[EventType]:
        form = tracker.active_loop.get("name")
        if not is_anonymous(speaker(tracker)):
            return finish_form(form)
        invalid = rejected_this_turn(tracker, "email")
        # for an existing ticket the address is asked to prove it (a code goes there), not to reach the customer
        proving = form in (VERIFY_FORM, "ticket_status_form", "update_ticket_form")
        asked = "utter_ask_verify_email" if proving else "utter_ask_email"
        dispatcher.utter_message(response="utter_ask_email_invalid" if invalid else asked)
        return []


class ActionAskTicketId(Action):
    def name(self) -> str:
        return "action_ask_ticket_id"

    async def run(
        self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: DomainDict
    ) -> list[EventType]:
        form = tracker.active_loop.get("name")
        if is_logged_in(speaker(tracker)) and form == "ticket_status_form":
            return finish_form(form)  # their open tickets, no number needed
        invalid = rejected_this_turn(tracker, "ticket_id")
        dispatcher.utter_message(response="utter_ask_ticket_id_invalid" if invalid else "utter_ask_ticket_id")
        return []


class ActionAskDescription(Action):
    def name(self) -> str:
        return "action_ask_description"

    async def run(
        self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: DomainDict
    ) -> list[EventType]:
        if rejected_this_turn(tracker, "description"):
            response = "utter_ask_description_more"
        elif tracker.active_loop.get("name") == "update_ticket_form":
            response = "utter_ask_ticket_addition"
        else:
            response = "utter_ask_description"
        dispatcher.utter_message(response=response)
        return []


# --- finding the speaker's ticket ---------------------------------------------------------------------
@dataclass
class Located:
    """The ticket a request is about, and whom to act as on it; or why there is none."""

    actor: Actor | None = None
    number: int | None = None
    choices: list[Ticket] = field(default_factory=list)
    problem: str | None = (
        None  # not_found / none_open / need_number / verify (an anonymous speaker must prove)
    )
    asked: int | None = None


def channel_of(turn: Turn) -> str:
    meta = (turn.tracker.latest_message or {}).get("metadata") or {}
    return str(meta.get("channel") or "chat")[:20]


class TicketAction(CrmAction):
    STAFF_ONLY = False

    def __init__(self, store: StoreAccess, embedder: Any = None) -> None:
        super().__init__(store)
        self.embedder = embedder
        self.proof = Proof(store)

    def run_turn(self, turn: Turn) -> list[EventType]:  # pragma: no cover - abstract
        raise NotImplementedError

    def act(self, turn: Turn) -> list[EventType]:
        """An anonymous speaker who proved an address acts as that contact, exactly like a logged-in one."""
        return self.run_turn(self.proof.as_proven(turn))

    def locate(self, turn: Turn, statuses: Sequence[str]) -> Located:
        """The named ticket; else the one this conversation last talked about; else the only one open."""
        asked = ticket_number(turn.slot("ticket_id"))
        remembered = ticket_number(turn.slot("last_ticket_number"))
        actor = turn.actor
        try:
            if is_anonymous(actor):
                return self._locate_anonymous(turn, asked or remembered)
            with self.crm(turn) as crm:
                if asked is not None or is_staff(actor):
                    asked = asked if asked is not None else remembered
                    if asked is None:
                        return Located(problem="need_number")
                    return Located(actor=actor, number=crm.tickets.by_number(asked).number)
                if remembered is not None:
                    try:
                        ticket = crm.tickets.by_number(remembered)
                        if ticket.status in statuses:
                            return Located(actor=actor, number=ticket.number)
                    except NotFound:
                        pass
                mine = [t for t in crm.tickets.list(limit=50).items if t.status in statuses]
        except (NotFound, ValidationFailed):
            return Located(problem="not_found", asked=asked)
        if not mine:
            return Located(problem="none_open")
        if len(mine) == 1:
            return Located(actor=actor, number=mine[0].number)
        return Located(choices=mine[:MAX_CHOICES])

    def _locate_anonymous(self, turn: Turn, number: int | None) -> Located:
        """Only a ticket this conversation may act on (it opened it); anything else asks for proof first,
        with the same answer whether or not the ticket exists or the address matches."""
        ticket = self.proof.ticket(turn.tracker, number)
        if ticket is None or ticket.requester_contact_id is None:
            return Located(problem="verify", asked=number)
        return Located(actor=customer(ticket.requester_contact_id, turn.lang), number=ticket.number)

    def explain(self, turn: Turn, found: Located) -> list[EventType] | None:
        """Say why there is no ticket (or offer the choices); None when a ticket was found."""
        if found.choices:
            buttons = [
                {
                    "title": f"#{t.number} {subject_of(t.subject, 40)}",
                    "payload": f'/choose{{"ticket_id": "{t.number}"}}',
                }
                for t in found.choices
            ]
            return turn.offer_choices("utter_which_ticket", buttons)
        if found.problem == "verify":
            return start_verification(turn, ticket=found.asked)
        if found.problem == "not_found":
            turn.say("utter_ticket_not_found", number=found.asked or "")
        elif found.problem == "none_open":
            turn.say("utter_no_open_tickets")
        elif found.problem == "need_number":
            turn.say("utter_need_ticket_number")
        else:
            return None
        return turn.done()


# --- actions ------------------------------------------------------------------------------------------
class ActionReportIssue(TicketAction):
    NAME = "action_report_issue"

    def run_turn(self, turn: Turn) -> list[EventType]:
        description = str(turn.slot("description") or "").strip()
        if not description:
            turn.say("utter_ask_description")
            return turn.done()
        actor = turn.actor
        email = find_email(turn.slot("email"))
        if is_anonymous(actor) and email is None:
            turn.say("utter_ask_email")
            return turn.done()
        if not turn.confirmed:  # nothing is written (not even the contact) before a yes
            summary = {
                "subject": subject_of(description),
                "priority": label(priority_of(description, turn.slot("priority")), turn.lang),
            }
            if is_anonymous(actor):
                return turn.ask_confirmation("utter_confirm_report_issue_anonymous", email=email, **summary)
            return turn.ask_confirmation("utter_confirm_report_issue", **summary)
        if (
            is_anonymous(actor) and email is not None
        ):  # (an anonymous report without an address returned above)
            with acting_as(self.store, SYSTEM) as system:
                actor = customer(find_or_create_contact(system, email, language=turn.lang), turn.lang)
        with acting_as(self.store, actor) as crm:
            joined = self._same_open_ticket(turn, crm, description, actor)
            if joined is not None:
                crm.tickets.add_message(joined.id, description, channel=channel_of(turn))
                number = joined.number
            else:
                ticket = crm.tickets.create(
                    {
                        "subject": subject_of(description),
                        "description": description,
                        "priority": priority_of(description, turn.slot("priority")),
                        "queue": queue_of(description),
                        "language": turn.lang,
                        "channel": channel_of(turn),
                        "requester_contact_id": actor.id if actor.kind == "customer" else None,
                    }
                )
                number = ticket.number
                if is_anonymous(turn.actor):  # this conversation may come back to this ticket, and only to it
                    crm.grants.record_created_ticket(turn.conversation, ticket.id, actor.id)
        if joined is not None:
            turn.say("utter_issue_added", number=number)
        elif is_anonymous(turn.actor):
            turn.say("utter_issue_created_anonymous", number=number, email=email)
        else:
            turn.say("utter_issue_created", number=number)
        return turn.done(SlotSet("last_ticket_number", str(number)))

    def _same_open_ticket(self, turn: Turn, crm: Any, description: str, actor: Actor) -> Ticket | None:
        if actor.kind != "customer":
            return None  # staff reports are separate internal tickets
        mine = [t for t in crm.tickets.list(open_only=True, limit=20).items]
        if is_anonymous(turn.actor):
            # An address typed in a chat proves nothing: join only a ticket this conversation opened.
            mine = [t for t in mine if crm.grants.may_act_on(turn.conversation, t)]
        return same_problem(description, mine, self.embedder)


class ActionTicketStatus(TicketAction):
    NAME = "action_ticket_status"

    def run_turn(self, turn: Turn) -> list[EventType]:
        asked = ticket_number(turn.slot("ticket_id"))
        if is_logged_in(turn.actor) and asked is None:  # their open tickets (the one just opened among them)
            with self.crm(turn) as crm:
                mine = list(crm.tickets.list(open_only=True, limit=20).items)
                if len(mine) == 1:
                    return self._status(turn, mine[0])
                if not mine:
                    turn.say("utter_no_open_tickets")
                    return turn.done()
                lines = "\n".join(f"#{t.number} {t.subject} ({label(t.status, turn.lang)})" for t in mine)
            turn.say("utter_open_tickets", tickets=lines, count=len(mine))
            return turn.done()
        found = self.locate(turn, statuses=("new", "open", "pending", "solved", "closed"))
        problem = self.explain(turn, found)
        if problem is not None:
            return problem
        assert found.actor is not None and found.number is not None
        with acting_as(self.store, found.actor) as crm:
            return self._status(turn, crm.tickets.by_number(found.number))

    def _status(self, turn: Turn, ticket: Ticket) -> list[EventType]:
        replies = [m for m in ticket.messages if m.direction == "outbound" and m.body.strip()]
        common = {
            "number": ticket.number,
            "subject": ticket.subject,
            "status": label(ticket.status, turn.lang),
            "priority": label(ticket.priority, turn.lang),
            "updated": turn.fmt_date(ticket.updated_at),
        }
        if replies:
            turn.say("utter_ticket_status_reply", reply=subject_of(replies[-1].body, 200), **common)
        else:
            turn.say("utter_ticket_status", **common)
        return turn.done(SlotSet("last_ticket_number", str(ticket.number)))


class ActionUpdateTicket(TicketAction):
    NAME = "action_update_ticket"

    def run_turn(self, turn: Turn) -> list[EventType]:
        addition = str(turn.slot("description") or "").strip()
        found = self.locate(turn, statuses=UPDATABLE_STATUSES)
        problem = self.explain(turn, found)
        if problem is not None:
            return problem
        assert found.actor is not None and found.number is not None
        with acting_as(self.store, found.actor) as crm:
            ticket = crm.tickets.by_number(found.number)
            if ticket.status == "closed":
                turn.say("utter_ticket_is_closed", number=ticket.number)
                return turn.done()
            if not turn.confirmed:
                return [
                    *turn.ask_confirmation(
                        "utter_confirm_update_ticket",
                        number=ticket.number,
                        subject=ticket.subject,
                        addition=subject_of(addition, 200),
                    ),
                    SlotSet("ticket_id", str(ticket.number)),
                ]
            reopened = ticket.status == "solved"
            crm.tickets.add_message(
                ticket.id,
                addition,
                channel=channel_of(turn),
                direction="internal" if is_staff(found.actor) else None,
            )
        turn.say("utter_ticket_reopened" if reopened else "utter_ticket_updated", number=found.number)
        return turn.done(SlotSet("last_ticket_number", str(found.number)))


class ActionCloseTicket(TicketAction):
    NAME = "action_close_ticket"

    def run_turn(self, turn: Turn) -> list[EventType]:
        found = self.locate(turn, statuses=OPEN_STATUSES)
        problem = self.explain(turn, found)
        if problem is not None:
            return problem
        assert found.actor is not None and found.number is not None
        with acting_as(self.store, found.actor) as crm:
            ticket = crm.tickets.by_number(found.number)
            if ticket.status in ("solved", "closed"):
                turn.say("utter_ticket_already_closed", number=ticket.number)
                return turn.done(SlotSet("last_ticket_number", str(ticket.number)))
            if not turn.confirmed:
                return [
                    *turn.ask_confirmation(
                        "utter_confirm_close_ticket", number=ticket.number, subject=ticket.subject
                    ),
                    SlotSet("ticket_id", str(ticket.number)),
                ]
            if is_staff(found.actor):
                crm.tickets.update(ticket.id, {"status": "solved"})
            else:
                crm.tickets.close_by_customer(ticket.id)
        turn.say("utter_ticket_closed", number=found.number)
        return turn.done(SlotSet("last_ticket_number", str(found.number)))


def actions(deps: ActionDeps) -> list[Action]:
    return [
        ValidateReportIssueForm(deps.store),
        ValidateTicketStatusForm(deps.store),
        ValidateUpdateTicketForm(deps.store),
        ActionAskEmail(),
        ActionAskTicketId(),
        ActionAskDescription(),
        ActionReportIssue(deps.store, deps.embedder),
        ActionTicketStatus(deps.store),
        ActionUpdateTicket(deps.store),
        ActionCloseTicket(deps.store),
    ]
