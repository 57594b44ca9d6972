"""The assistant inside the web application: built once at start-up, shared by every chat channel."""

from __future__ import annotations

import asyncio
import contextlib
import functools
import logging
import math
import sys
import threading
import time
from collections.abc import Callable
from typing import Any, Protocol

from aiohttp import web
from tqdm import tqdm

from assistant.messages import IncomingMessage
from assistant.settings import Settings
from crm_store.db import Database
from nlu.progress import LOADING, PHASES, Estimate

log = logging.getLogger(__name__)


class Engine(Protocol):
    """What channels call: the in-process :class:`Assistant` or :class:`connectors.rasa_engine.RasaEngine`."""

    async def handle(self, msg: IncomingMessage) -> list[dict[str, Any]]: ...


AssistantFactory = Callable[[Database, Settings], Engine]
ASSISTANT_KEY = web.AppKey("assistant", Engine)  # type: ignore[type-abstract]
FACTORY_KEY = web.AppKey("assistant_factory", object)
NOTIFIER_KEY = web.AppKey("handover_notifier", object)  # who hears of hand-overs (connectors/agent_inbox)
_READY_KEY = web.AppKey("assistant_ready", asyncio.Event)
REPORT_EVERY = 15.0  # seconds between warm-up lines in the log when stderr is not a terminal


class WarmUp:
    """What the assistant does before it can answer (loading, or training then loading, the NLU model):
    ``/health`` and the chat show it; ``state`` is ``warming_up``, ``ready`` or ``failed``."""

    def __init__(self) -> None:
        self.state = "warming_up"
        self.estimate = Estimate((LOADING,))
        self._lock = threading.Lock()

    def plan(self, phases: tuple[str, ...], expected: dict[str, float] | None = None) -> None:
        with self._lock:
            self.estimate = Estimate(phases, expected)

    def hook(self, phase: str, fraction: float) -> None:
        """A :data:`nlu.progress.ProgressHook`: called from the warm-up thread."""
        with self._lock:
            self.estimate.update(phase, fraction)

    def eta_seconds(self) -> int:
        with self._lock:
            return math.ceil(self.estimate.remaining_seconds())

    def as_dict(self) -> dict[str, Any]:
        if self.state != "warming_up":
            return {"state": self.state}
        with self._lock:
            return {
                "state": self.state,
                "phase": self.estimate.phase,
                "progress": round(self.estimate.done_fraction(), 2),
                "eta_seconds": math.ceil(self.estimate.remaining_seconds()),
                "elapsed_seconds": round(self.estimate.elapsed_seconds()),
            }


WARMUP_KEY = web.AppKey("assistant_warmup", WarmUp)
# Set by run_server: start serving at once and build the assistant in the background (chat answers
# "warming up" meanwhile). Without it (tests, embedding apps) start-up waits until the assistant is built.
IN_BACKGROUND_KEY = web.AppKey("assistant_in_background", bool)


def plan_warm_up(warmup: WarmUp, settings: Settings) -> None:
    """Expect loading only, or training then loading; the last training's phase times are the estimate."""
    from nlu import model_store
    from nlu.training_data import data_hash

    previous = model_store.read_metadata(settings.model_dir)
    expected = dict(previous.phase_seconds) if previous is not None else None
    if model_store.is_current(settings.model_dir, data_hash(settings.training_data)):
        warmup.plan((LOADING,), expected)
    else:
        warmup.plan(PHASES, expected)


def default_factory(
    db: Database, settings: Settings, warmup: WarmUp | None = None, notifier: Any = None, nlu: Any = None
) -> Engine:
    """The dialogue engine; ``nlu``: an NLU pipeline loaded already (``serve --workers`` loads it once)."""
    if settings.rasa_url:
        from connectors.rasa_engine import RasaEngine

        log.warning("dialogue engine: the Rasa server at %s", settings.rasa_url)
        return RasaEngine(settings.rasa_url, session=None, token=settings.rasa_token)
    from assistant.app import build_assistant, load_nlu

    hook = None
    if warmup is not None:
        plan_warm_up(warmup, settings)
        hook = warmup.hook
        what = "training" if warmup.estimate.phases != (LOADING,) else "loading"
        log.warning("%s the language model in %s: about %d s", what, settings.model_dir, warmup.eta_seconds())
    if nlu is None:
        nlu = load_nlu(settings.model_dir, settings.training_data, hook=hook)
    embedder = getattr(nlu, "embedder", None)
    return build_assistant(
        db, nlu, training_data=settings.training_data, embedder=embedder, public_url=settings.public_url,
        notifier=notifier,
    )


def _build(app: web.Application) -> Engine:
    from assistant.server import DB_KEY, SETTINGS_KEY

    factory = app.get(FACTORY_KEY)
    if factory is None:
        return default_factory(app[DB_KEY], app[SETTINGS_KEY], app[WARMUP_KEY], notifier=app.get(NOTIFIER_KEY))
    return factory(app[DB_KEY], app[SETTINGS_KEY])  # type: ignore[operator, no-any-return]


def _ready(app: web.Application, engine: Engine) -> None:
    app[ASSISTANT_KEY] = engine
    app[WARMUP_KEY].state = "ready"
    app[_READY_KEY].set()
    log.warning("assistant ready: the chat answers now")


def _in_background(app: web.Application) -> None:
    """Build the assistant in a daemon thread (Ctrl+C during a first training does not wait for it)."""
    loop = asyncio.get_running_loop()

    def failed(exc: BaseException) -> None:
        app[WARMUP_KEY].state = "failed"
        log.error("the assistant could not start: %s", exc, exc_info=exc)

    def work() -> None:
        outcome: Callable[[], None]
        try:
            engine = _build(app)
            outcome = functools.partial(_ready, app, engine)
        except BaseException as exc:  # reported on the loop, shown by /health
            outcome = functools.partial(failed, exc)
        with contextlib.suppress(RuntimeError):  # the server stopped meanwhile
            loop.call_soon_threadsafe(outcome)

    threading.Thread(target=work, name="assistant-warm-up", daemon=True).start()


async def _report(app: web.Application) -> None:
    """A live bar on a terminal's stderr, else a log line every ``REPORT_EVERY`` seconds, until ready."""
    warmup = app[WARMUP_KEY]
    with tqdm(
        total=100,
        desc="warming up",
        file=sys.stderr,
        disable=None,
        leave=False,
        bar_format="{desc}: {percentage:3.0f}%|{bar}| {postfix}",
    ) as bar:
        last_line = time.monotonic()
        while warmup.state == "warming_up":
            status = warmup.as_dict()
            if status["state"] != "warming_up":
                break
            text = f"{status['phase']}, about {status['eta_seconds']} s left"
            bar.set_postfix_str(text, refresh=False)
            bar.update(round(status["progress"] * 100) - bar.n)
            if bar.disable and time.monotonic() - last_line >= REPORT_EVERY:
                log.warning("warming up: %d%% (%s)", round(status["progress"] * 100), text)
                last_line = time.monotonic()
            await asyncio.sleep(1.0)


def ensure_assistant(app: web.Application) -> None:
    """Install the start-up hook that builds the assistant (idempotent; every chat channel calls it)."""
    if _READY_KEY in app:
        return
    app[_READY_KEY] = asyncio.Event()
    app[WARMUP_KEY] = WarmUp()

    async def start(app: web.Application) -> None:
        if app.get(IN_BACKGROUND_KEY):
            _in_background(app)
            app[_REPORTER_KEY] = asyncio.create_task(_report(app))
            return
        _ready(app, await asyncio.to_thread(_build, app))

    async def stop(app: web.Application) -> None:
        reporter = app.get(_REPORTER_KEY)
        if reporter is not None:
            reporter.cancel()
        engine = app.get(ASSISTANT_KEY)
        close = getattr(engine, "aclose", None)
        if close is not None:
            await close()

    app.on_startup.append(start)
    app.on_cleanup.append(stop)


_REPORTER_KEY = web.AppKey("assistant_warm_up_reporter", asyncio.Task)


def warm_up_status(app: web.Application) -> dict[str, Any] | None:
    """The assistant's state for ``/health``; None in an app without one (``serve --api-only``)."""
    warmup = app.get(WARMUP_KEY)
    return None if warmup is None else warmup.as_dict()


def get_assistant(app: web.Application) -> Engine:
    return app[ASSISTANT_KEY]
