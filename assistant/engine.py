"""The dialogue engine: given a conversation's state and a parsed message, decide and run the next actions.

Order of precedence in a turn (see README "The shape of a turn"):
  1. a conversation handed over to a human stays quiet (the message goes to the ticket);
  2. ``cancel`` stops any form or pending confirmation;
  3. a pending confirmation/choice: ``affirm``/``choose`` re-run the pending action, ``deny`` drops it;
  4. an active form keeps asking for its required slots unless the user clearly changed the subject: a confident
     other intent (hand-over, FAQ, privacy, ticket status, another request) interrupts it, free text never
     swallows such a message; after an answer-only interruption (FAQ, help) the assistant offers to resume;
     a question asked again comes with a way out (cancel, a person);
  5. otherwise rules.yml maps the intent to an action or a form; low confidence falls back.
"""

from __future__ import annotations

import logging
import uuid
from dataclasses import dataclass, field
from typing import Any

from assistant.domain import Domain
from assistant.executor import ActionResult, InProcessActionRunner
from assistant.rules import RulePolicy
from assistant.slot_mapping import extract_slots
from assistant.state import PERSISTENT_SLOTS, ConversationState

log = logging.getLogger(__name__)

MAX_ACTIONS_PER_TURN = 8
FALLBACK_THRESHOLD = 0.45
# Intents that keep a form going (they answer its question) rather than starting something new.
FORM_FRIENDLY = frozenset({"choose", "affirm", "deny", "out_of_scope", "nlu_fallback", "thank"})
# Above this confidence another intent is "clearly something else" and leaves the form, unless the message
# carries the slot asked for as an entity (an address, a ticket number, a name).
INTERRUPT_CONFIDENCE = 0.6
# Intents that are natural free-text answers to a question for this slot rather than a new request
# (a problem description often reads like a question or a report; an address or a number never does).
FREE_TEXT_ANSWERS: dict[str, frozenset[str]] = {
    "description": frozenset({"report_issue", "update_ticket", "faq"}),
    "task_title": frozenset({"create_task", "log_activity"}),
    "who": frozenset({"find_contact", "contact_history", "create_contact"}),
    "person": frozenset({"find_contact", "create_contact"}),
    "organization": frozenset({"find_contact", "create_deal", "update_deal"}),
}
# Actions that only answer: afterwards the interrupted form is offered again.
ANSWER_ONLY = frozenset({"action_faq", "action_help", "utter_out_of_scope"})
RESUME_ACTION = "action_resume_form"
CUSTOMER_ACTIONS = frozenset(
    {
        "action_report_issue",
        "action_ticket_status",
        "action_update_ticket",
        "action_close_ticket",
        "action_request_human",
        "action_faq",
        "action_gdpr_access",
        "action_gdpr_erasure",
        "action_unsubscribe",
        "report_issue_form",
        "ticket_status_form",
        "update_ticket_form",
        "action_help",
        "action_greet",
        "action_cancel",
    }
)


@dataclass
class TurnOutput:
    messages: list[dict[str, Any]] = field(default_factory=list)
    actions: list[str] = field(default_factory=list)
    error_ref: str | None = None


class DialogueEngine:
    def __init__(
        self,
        domain: Domain,
        policy: RulePolicy,
        runner: InProcessActionRunner,
        *,
        fallback_threshold: float = FALLBACK_THRESHOLD,
    ) -> None:
        self.domain = domain
        self.policy = policy
        self.runner = runner
        self.fallback_threshold = fallback_threshold
        self._domain_dict = domain.as_dict()

    # --- public ----------------------------------------------------------------------------------
    def handle(self, state: ConversationState, message: dict[str, Any]) -> TurnOutput:
        out = TurnOutput()
        state.latest_message = message
        state.record(
            {
                "event": "user",
                "text": message.get("text"),
                "parse_data": _parse_data(message),
                "metadata": {
                    k: v
                    for k, v in (message.get("metadata") or {}).items()
                    if k not in ("speaker", "speaker_seal")
                },
            }
        )
        intent = (message.get("intent") or {}).get("name") or "nlu_fallback"
        confidence = float((message.get("intent") or {}).get("confidence") or 0.0)
        speaker = (message.get("metadata") or {}).get("speaker") or {}

        if state.paused:
            self._run(state, "action_handover_relay", out) if self.runner.has(
                "action_handover_relay"
            ) else None
            return out
        if intent == "cancel":
            self._reset_request(state)
            self._run(state, "action_cancel", out)
            return out
        pending = state.slots.get("pending_action")
        if pending:
            if intent in ("affirm", "choose"):
                self._fill_slots(state, message, only_entities=True)
                if intent == "affirm":
                    state.set_slot("confirmed", True)
                self._run(state, pending, out)
                self._finish_pending(state, pending)
                return out
            if intent == "deny":
                self._reset_request(state)
                self._utter(state, "utter_cancelled", out)
                return out
            self._reset_request(state)  # the user moved on; forget the unconfirmed write

        interrupted: dict[str, Any] | None = None
        if state.active_loop:
            if self._stays_in_form(state, message, intent, confidence):
                asked_before = state.slots.get("requested_slot")
                self._fill_slots(state, message)
                self._form_step(state, state.active_loop, out, asked_before=asked_before)
                return out
            interrupted = self._paused_form(state)
            self._reset_request(state)  # a new request interrupts the form

        if confidence < self.fallback_threshold and intent not in (
            "affirm",
            "deny",
            "greet",
            "goodbye",
            "thank",
        ):
            intent = "nlu_fallback"
        action = self.policy.action_for(intent) or self.policy.action_for("nlu_fallback") or "utter_default"
        if (
            speaker.get("kind") != "user"
            and not action.startswith("utter_")
            and action not in CUSTOMER_ACTIONS
        ):
            self._utter(state, "utter_not_allowed", out)
            return out
        self._reset_request(state, keep_events=True)
        self._fill_slots(state, message)
        if action in self.domain.forms:
            state.apply({"event": "active_loop", "name": action})
            self._form_step(state, action, out)
        else:
            self._run(state, action, out)
        if (
            interrupted
            and action in ANSWER_ONLY
            and self.runner.has(RESUME_ACTION)
            and not state.active_loop
            and not state.slots.get("pending_action")
        ):
            state.set_slot("resume", interrupted)
            state.set_slot("pending_action", RESUME_ACTION)
            self._utter(state, "utter_offer_resume", out)
        return out

    # --- forms -----------------------------------------------------------------------------------
    def _stays_in_form(
        self, state: ConversationState, message: dict[str, Any], intent: str, confidence: float
    ) -> bool:
        """Does this message answer the form (or is too unclear to be anything else)?"""
        form = state.active_loop or ""
        action = self.policy.action_for(intent)
        if intent in FORM_FRIENDLY or action == form:
            return True
        text = str(message.get("text") or "")
        if not text.startswith("/") and not any(ch.isalpha() for ch in text):
            return True  # digits and signs ("493021", "#1042") answer a question, they ask nothing
        kind = ((message.get("metadata") or {}).get("speaker") or {}).get("kind")
        if kind != "user" and action and not action.startswith("utter_") and action not in CUSTOMER_ACTIONS:
            return True  # nothing a customer could switch to: the form's question stands
        if self._answers_requested_slot(state, message, free_text=False):
            return True  # the message carries what was asked (an address, a number, a name)
        requested = str(state.slots.get("requested_slot") or "")
        if intent in FREE_TEXT_ANSWERS.get(requested, frozenset()) and self._answers_requested_slot(
            state, message
        ):
            return True
        return confidence < INTERRUPT_CONFIDENCE

    def _answers_requested_slot(
        self, state: ConversationState, message: dict[str, Any], *, free_text: bool = True
    ) -> bool:
        requested = state.slots.get("requested_slot")
        return bool(requested) and requested in extract_slots(
            self.domain, state, message, free_text=free_text
        )

    def _paused_form(self, state: ConversationState) -> dict[str, Any] | None:
        """The interrupted form and what it had collected, to offer it again after an answer-only detour."""
        form = state.active_loop
        if not form:
            return None
        kept = {
            name: state.slots.get(name)
            for name in self.domain.forms.get(form, [])
            if state.slots.get(name) not in (None, "", [])
        }
        return {"form": form, "slots": kept}

    def _form_step(
        self, state: ConversationState, form: str, out: TurnOutput, *, asked_before: str | None = None
    ) -> None:
        validator = f"validate_{form}"
        if self.runner.has(validator):
            self._run(state, validator, out, follow=False)
            if state.active_loop != form:  # the validator cancelled the form
                return
        # A validator that overrides required_slots (Rasa-SDK) says which slot comes next, or None = done.
        explicit, requested_override = False, None
        for e in reversed(state.new_events):
            if e.get("event") == "slot" and e.get("name") == "requested_slot":
                explicit, requested_override = True, e.get("value")
                break
            if e.get("event") == "user":
                break
        if explicit:
            missing = requested_override
        else:
            missing = next(
                (s for s in self.domain.forms.get(form, []) if state.slots.get(s) in (None, "", [])), None
            )
        if missing:
            state.set_slot("requested_slot", missing)
            if self.runner.has(f"action_ask_{missing}"):
                self._run(state, f"action_ask_{missing}", out)
            else:
                self._utter(state, f"utter_ask_{missing}", out)
            if missing == asked_before and state.active_loop == form:
                self._offer_way_out(state, out)  # asked again: say how to get out of the question
            return
        state.apply({"event": "active_loop", "name": None})
        submit = self.policy.form_submits.get(form)
        if submit:
            self._run(state, submit, out)

    def _offer_way_out(self, state: ConversationState, out: TurnOutput) -> None:
        speaker = ((state.latest_message.get("metadata") or {}).get("speaker") or {}).get("kind")
        self._utter(state, "utter_form_way_out_staff" if speaker == "user" else "utter_form_way_out", out)

    def _fill_slots(
        self, state: ConversationState, message: dict[str, Any], *, only_entities: bool = False
    ) -> None:
        for name, value in extract_slots(self.domain, state, message).items():
            if only_entities and name in ("description",):
                continue
            state.set_slot(name, value)

    # --- pending confirmations ---------------------------------------------------------------------
    def _finish_pending(self, state: ConversationState, pending: str) -> None:
        """The pending action clears ``pending_action`` itself when it is done; a yes counts once."""
        if state.slots.get("confirmed") is not None:
            state.set_slot("confirmed", None)

    def _reset_request(self, state: ConversationState, *, keep_events: bool = False) -> None:
        if state.active_loop:
            state.apply({"event": "active_loop", "name": None})
        for name in list(state.slots):
            if name in PERSISTENT_SLOTS:
                continue
            if state.slots.get(name) is not None:
                state.slots[name] = None
        if not keep_events:
            state.record({"event": "reset_slots"})

    # --- running -----------------------------------------------------------------------------------
    def _utter(self, state: ConversationState, name: str, out: TurnOutput, **kwargs: Any) -> None:
        rendered = self.domain.render(name, state.slots, **kwargs)
        if rendered is None:
            log.error("response %s is missing from the domain", name)
            rendered = {"text": name}
        out.messages.append(rendered)
        out.actions.append(name)
        state.latest_action_name = name
        state.record({"event": "action", "name": name})
        state.record(
            {
                "event": "bot",
                "text": rendered.get("text"),
                "data": {k: v for k, v in rendered.items() if k != "text"},
            }
        )

    def _run(self, state: ConversationState, name: str, out: TurnOutput, *, follow: bool = True) -> None:
        chain = [name]
        steps = 0
        while chain and steps < MAX_ACTIONS_PER_TURN:
            current = chain.pop(0)
            steps += 1
            if current.startswith("utter_"):
                self._utter(state, current, out)
                continue
            if current in self.domain.forms:
                state.apply({"event": "active_loop", "name": current})
                self._form_step(state, current, out)
                continue
            if not self.runner.has(current):
                log.error("no action named %s is registered", current)
                self._utter(state, "utter_default", out)
                continue
            result: ActionResult = self.runner.run(current, state.tracker(), self._domain_dict)
            out.actions.append(current)
            state.latest_action_name = current
            state.record({"event": "action", "name": current})
            for response in result.responses:
                out.messages.extend(self._render_response(state, response))
            for event in result.events:
                followup = state.apply(event)
                if followup and follow:
                    chain.append(followup)

    def _render_response(self, state: ConversationState, response: dict[str, Any]) -> list[dict[str, Any]]:
        msg: dict[str, Any] = {}
        name = response.get("response") or response.get("template")
        if name:
            kwargs = {
                k: v
                for k, v in response.items()
                if k
                not in (
                    "response",
                    "template",
                    "text",
                    "buttons",
                    "image",
                    "custom",
                    "elements",
                    "attachment",
                    "json_message",
                    "quick_replies",
                )
                and v is not None
            }
            rendered = self.domain.render(name, state.slots, **kwargs)
            if rendered:
                msg.update(rendered)
        if response.get("text"):
            msg["text"] = response["text"]
        if response.get("buttons"):
            msg["buttons"] = response["buttons"]
        if response.get("image"):
            msg["image"] = response["image"]
        if response.get("custom") or response.get("json_message"):
            msg["custom"] = response.get("custom") or response.get("json_message")
        if not msg:
            return []
        state.record(
            {"event": "bot", "text": msg.get("text"), "data": {k: v for k, v in msg.items() if k != "text"}}
        )
        return [msg]


def error_reference() -> str:
    return uuid.uuid4().hex[:6]


def _parse_data(message: dict[str, Any]) -> dict[str, Any]:
    return {k: message.get(k) for k in ("intent", "entities", "language") if k in message}
