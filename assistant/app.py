"""Builds the assistant once: domain, rules, actions with their collaborators, NLU, engine."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from actions.registry import ActionDeps, build_actions
from actions.store_access import StoreAccess
from assistant.domain import Domain
from assistant.engine import DialogueEngine
from assistant.executor import InProcessActionRunner
from assistant.parsing import NLU, BatchingParser
from assistant.pipeline import Assistant
from assistant.rules import RulePolicy
from assistant.settings import PROJECT_DATA
from crm_store.db import Database
from nlu.progress import LOADING, ProgressHook


def build_engine(training_data: Path, deps: ActionDeps) -> DialogueEngine:
    domain = Domain.load(training_data / "domain")
    policy = RulePolicy.load(training_data / "rules.yml")
    return DialogueEngine(domain, policy, InProcessActionRunner(build_actions(deps)))


def build_assistant(db: Database, nlu: NLU, *, training_data: Path = PROJECT_DATA,
                    embedder: Any = None, public_url: str = "", notifier: Any = None) -> Assistant:
    deps = ActionDeps(store=StoreAccess(db), embedder=embedder, public_url=public_url, notifier=notifier)
    return Assistant(db, BatchingParser(nlu), build_engine(training_data, deps))


def load_nlu(model_dir: Path, training_data: Path, hook: ProgressHook | None = None) -> Any:
    """The trained NLU pipeline; trains first when no model (or an outdated one) is there.
    ``hook(phase, fraction)`` hears the training phases and then ``loading`` (``nlu.progress``)."""
    from nlu import model_store
    from nlu.pipeline import NLUPipeline
    from nlu.training_data import data_hash

    if not model_store.is_current(model_dir, data_hash(training_data)):
        NLUPipeline().train(training_data, model_dir, progress=False, hook=hook)
    if hook is not None:
        hook(LOADING, 0.0)
    return NLUPipeline.load(model_dir)
