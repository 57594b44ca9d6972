"""The base of every CRM action: the speaker, the language, the store, replies by response name.

Actions never see the transport: they talk through Rasa-SDK's dispatcher (responses are named and
rendered from domain.yml in the user's language) and return Rasa-SDK events.
"""

from __future__ import annotations

import logging
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from rasa_sdk import Action, Tracker
from rasa_sdk.events import AllSlotsReset, EventType, SlotSet
from rasa_sdk.executor import CollectingDispatcher

from actions.store_access import StoreAccess
from assistant import speaker_seal
from assistant.messages import actor_from_dict
from crm_store.services import Actor, CrmServices
from crm_store.services.errors import CrmError, NotFound, PermissionDenied, ValidationFailed

log = logging.getLogger(__name__)
DomainDict = dict[str, Any]


def _sealed(tracker: Tracker) -> tuple[Actor, str] | None:
    """The speaker and conversation from the message's seal, when it verifies for this tracker."""
    meta = (tracker.latest_message or {}).get("metadata") or {}
    payload = speaker_seal.read(meta.get(speaker_seal.METADATA_KEY))
    if payload is None:
        return None
    conversation = str(payload["c"])
    sender = str(tracker.sender_id or "")
    channel = str(meta.get("channel") or "")
    # Rasa's sender id is the canonical key itself; the in-process tracker keeps the channel apart.
    if conversation not in (sender, speaker_seal.conversation_key(channel, sender)):
        return None
    return actor_from_dict(payload["s"]), conversation


def speaker(tracker: Tracker) -> Actor:
    """Who is talking: the sealed speaker the channel authenticated, never the user's words or unsigned
    metadata. No seal, a forged or expired one, or one from another conversation: an anonymous customer."""
    sealed = _sealed(tracker)
    return sealed[0] if sealed is not None else Actor.customer(None)


def conversation_of(tracker: Tracker) -> str | None:
    """The conversation the seal vouches for (``<channel>:<sender id>``); None when unsigned. Grants a customer
    proved in a conversation (a code sent to their address, a ticket it opened) are keyed by this."""
    sealed = _sealed(tracker)
    return sealed[1] if sealed is not None else None


@dataclass
class Turn:
    dispatcher: CollectingDispatcher
    tracker: Tracker
    domain: DomainDict
    actor: Actor
    lang: str
    action_name: str

    def slot(self, name: str) -> Any:
        return self.tracker.get_slot(name)

    @property
    def conversation(self) -> str | None:
        """This conversation's key when the channel signed the speaker for it (see :func:`conversation_of`)."""
        return conversation_of(self.tracker)

    @property
    def text(self) -> str:
        return str((self.tracker.latest_message or {}).get("text") or "")

    @property
    def confirmed(self) -> bool:
        return bool(self.slot("confirmed"))

    @property
    def tz(self) -> ZoneInfo:
        try:
            return ZoneInfo(self.actor.timezone or "Europe/Berlin")
        except Exception:
            return ZoneInfo("Europe/Berlin")

    def say(self, response: str, **kwargs: Any) -> None:
        self.dispatcher.utter_message(response=response, **kwargs)

    def say_text(self, text: str, **kwargs: Any) -> None:
        self.dispatcher.utter_message(text=text, **kwargs)

    def ask_confirmation(self, response: str, **kwargs: Any) -> list[EventType]:
        """Ask yes/no (the response carries the buttons); the engine re-runs this action on 'yes'."""
        self.say(response, **kwargs)
        return [SlotSet("pending_action", self.action_name)]

    def offer_choices(self, response: str, buttons: list[dict[str, str]], **kwargs: Any) -> list[EventType]:
        """Disambiguation: buttons whose payloads (``/choose{...}``) come back to this action."""
        self.dispatcher.utter_message(response=response, buttons=buttons, **kwargs)
        return [SlotSet("pending_action", self.action_name)]

    def done(self, *extra: EventType) -> list[EventType]:
        """The request is complete: forget its slots (language and identity survive)."""
        return [AllSlotsReset(), *extra]

    # --- time -------------------------------------------------------------------------------------
    def due_at(self, value: Any, *, default_hour: int = 17) -> datetime | None:
        """A ``time`` entity value as an aware datetime (a date means that day at ``default_hour``)."""
        if value is None:
            return None
        if isinstance(value, dict):  # a period: due at its end (``to`` is exclusive)
            end = _parse_iso(str(value.get("to") or value.get("from") or ""))
            if isinstance(end, datetime):
                return (end if end.tzinfo else end.replace(tzinfo=self.tz)) - timedelta(seconds=1)
            if isinstance(end, date):
                last = end - timedelta(days=1) if value.get("to") else end
                return datetime.combine(last, time(default_hour, 0), tzinfo=self.tz)
            return None
        parsed = _parse_iso(str(value))
        if isinstance(parsed, datetime):
            return parsed if parsed.tzinfo else parsed.replace(tzinfo=self.tz)
        if isinstance(parsed, date):
            return datetime.combine(parsed, time(default_hour, 0), tzinfo=self.tz)
        return None

    def fmt_date(self, value: datetime | date | None) -> str:
        if value is None:
            return "-"
        if isinstance(value, datetime):
            local = value.astimezone(self.tz)
            if self.lang == "de":
                return local.strftime("%d.%m.%Y %H:%M")
            return local.strftime("%a %d %b %Y, %H:%M")
        return value.strftime("%d.%m.%Y") if self.lang == "de" else value.strftime("%a %d %b %Y")

    def fmt_money(self, amount: float | int, currency: str = "EUR") -> str:
        if self.lang == "de":
            return f"{amount:,.0f} {currency}".replace(",", ".")
        return f"{currency} {amount:,.0f}"


def _parse_iso(value: str) -> datetime | date | None:
    try:
        if "T" in value or " " in value.strip():
            return datetime.fromisoformat(value)
        return date.fromisoformat(value)
    except ValueError:
        return None


class CrmAction(Action):
    """Subclasses set ``NAME`` (and ``STAFF_ONLY``) and implement :meth:`act`."""

    NAME = ""
    STAFF_ONLY = True

    def __init__(self, store: StoreAccess) -> None:
        self.store = store

    def name(self) -> str:
        return self.NAME

    @contextmanager
    def crm(self, turn: Turn) -> Iterator[CrmServices]:
        with self.store.services(turn.actor) as services:
            yield services

    async def run(self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: DomainDict) -> list[EventType]:
        actor = speaker(tracker)
        lang = tracker.get_slot("language") or actor.language or "en"
        turn = Turn(dispatcher, tracker, domain, actor, lang, self.name())
        if self.STAFF_ONLY and actor.kind != "user":
            turn.say("utter_not_allowed")
            return turn.done()
        try:
            return self.act(turn)
        except PermissionDenied:
            turn.say("utter_not_allowed")
            return turn.done()
        except (ValidationFailed, NotFound) as exc:
            turn.say("utter_invalid", detail=exc.detail)
            return [SlotSet("pending_action", None)]
        except CrmError as exc:
            turn.say("utter_invalid", detail=exc.detail)
            return turn.done()
        except Exception:
            ref = uuid.uuid4().hex[:6]
            log.exception("action %s failed (ref %s)", self.name(), ref)
            turn.say("utter_error", ref=ref)
            raise

    def act(self, turn: Turn) -> list[EventType]:  # pragma: no cover - abstract
        raise NotImplementedError
