"""The dialogue engine: given a conversation's state and a parsed message, decide and run the next actions.

Order of precedence in a turn (see README "The shape of a turn"):
  1. a conversation handed over to a human stays quiet (the message goes to the ticket);
  2. ``cancel`` stops any form or pending confirmation;
  3. a pending confirmation/choice: ``affirm``/``choose`` re-run the pending action, ``deny`` drops it;
  4. an active form keeps asking for its required slots unless the user clearly changed the subject;
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
from assistant.state import ConversationState

log = logging.getLogger(__name__)

MAX_ACTIONS_PER_TURN = 8
FALLBACK_THRESHOLD = 0.45
# Intents that keep a form going (they answer its question) rather than starting something new.
FORM_FRIENDLY = frozenset({"choose", "affirm", "deny", "out_of_scope", "nlu_fallback", "thank"})
CUSTOMER_ACTIONS = frozenset({
    "action_report_issue", "action_ticket_status", "action_update_ticket", "action_close_ticket",
    "action_request_human", "action_faq", "action_gdpr_access", "action_gdpr_erasure", "action_unsubscribe",
    "report_issue_form", "ticket_status_form", "update_ticket_form", "action_help", "action_greet", "action_cancel",
})


@dataclass
class TurnOutput:
    messages: list[dict[str, Any]] = field(default_factory=list)
    actions: list[str] = field(default_factory=list)
    error_ref: str | None = None


class DialogueEngine:
    def __init__(self, domain: Domain, policy: RulePolicy, runner: InProcessActionRunner, *,
                 fallback_threshold: float = FALLBACK_THRESHOLD) -> None:
        self.domain = domain
        self.policy = policy
        self.runner = runner
        self.fallback_threshold = fallback_threshold
        self._domain_dict = domain.as_dict()

    # --- public ----------------------------------------------------------------------------------
    def handle(self, state: ConversationState, message: dict[str, Any]) -> TurnOutput:
        out = TurnOutput()
        state.latest_message = message
        state.record({"event": "user", "text": message.get("text"), "parse_data": _parse_data(message),
                      "metadata": {k: v for k, v in (message.get("metadata") or {}).items()
                                   if k not in ("speaker", "speaker_seal")}})
        intent = (message.get("intent") or {}).get("name") or "nlu_fallback"
        confidence = float((message.get("intent") or {}).get("confidence") or 0.0)
        speaker = (message.get("metadata") or {}).get("speaker") or {}

        if state.paused:
            self._run(state, "action_handover_relay", out) if self.runner.has("action_handover_relay") else None
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

        if state.active_loop:
            if intent in FORM_FRIENDLY or confidence < self.fallback_threshold or self._answers_requested_slot(
                    state, message) or self.policy.action_for(intent) == state.active_loop:
                self._fill_slots(state, message)
                self._form_step(state, state.active_loop, out)
                return out
            self._reset_request(state)  # a new request interrupts the form

        if confidence < self.fallback_threshold and intent not in ("affirm", "deny", "greet", "goodbye", "thank"):
            intent = "nlu_fallback"
        action = self.policy.action_for(intent) or self.policy.action_for("nlu_fallback") or "utter_default"
        if speaker.get("kind") != "user" and not action.startswith("utter_") and action not in CUSTOMER_ACTIONS:
            self._utter(state, "utter_not_allowed", out)
            return out
        self._reset_request(state, keep_events=True)
        self._fill_slots(state, message)
        if action in self.domain.forms:
            state.apply({"event": "active_loop", "name": action})
            self._form_step(state, action, out)
        else:
            self._run(state, action, out)
        return out

    # --- forms -----------------------------------------------------------------------------------
    def _answers_requested_slot(self, state: ConversationState, message: dict[str, Any]) -> bool:
        requested = state.slots.get("requested_slot")
        return bool(requested) and requested in extract_slots(self.domain, state, message)

    def _form_step(self, state: ConversationState, form: str, out: TurnOutput) -> None:
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
            missing = next((s for s in self.domain.forms.get(form, []) if state.slots.get(s) in (None, "", [])), None)
        if missing:
            state.set_slot("requested_slot", missing)
            if self.runner.has(f"action_ask_{missing}"):
                self._run(state, f"action_ask_{missing}", out)
            else:
                self._utter(state, f"utter_ask_{missing}", out)
            return
        state.apply({"event": "active_loop", "name": None})
        submit = self.policy.form_submits.get(form)
        if submit:
            self._run(state, submit, out)

    def _fill_slots(self, state: ConversationState, message: dict[str, Any], *, only_entities: bool = False) -> None:
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
            if name in ("language", "last_contact_id", "last_ticket_number", "email"):
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
        state.record({"event": "bot", "text": rendered.get("text"), "data": {k: v for k, v in rendered.items() if k != "text"}})

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
            kwargs = {k: v for k, v in response.items()
                      if k not in ("response", "template", "text", "buttons", "image", "custom", "elements",
                                   "attachment", "json_message", "quick_replies") and v is not None}
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
        state.record({"event": "bot", "text": msg.get("text"), "data": {k: v for k, v in msg.items() if k != "text"}})
        return [msg]


def error_reference() -> str:
    return uuid.uuid4().hex[:6]


def _parse_data(message: dict[str, Any]) -> dict[str, Any]:
    return {k: message.get(k) for k in ("intent", "entities", "language") if k in message}
