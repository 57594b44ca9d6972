"""Several web workers on one port: load the models once, then fork (``crm-assistant serve --workers N``).

    serve_workers(settings, db, workers=4, print_banner=print)   # until SIGINT/SIGTERM

The parent process binds the listening socket, loads the NLU pipeline (model, embedder) and the mail
classifier once, gives up its database connections and forks ``workers`` children. Each child runs the
ordinary aiohttp application (``build_app``) on the inherited socket and builds its dialogue engine on the
preloaded pipeline (``FACTORY_KEY``; the mail classifier through ``CLASSIFIER_KEY``): the model pages stay shared copy-on-write, so an
extra worker costs its own heap, not another copy of the model. The kernel hands each new connection
to whichever worker accepts first, and a connection stays with its worker; a worker that dies (killed,
crashed) is replaced, and the others keep serving in the meantime.

The parent serves nothing itself; it supervises: SIGINT/SIGTERM are passed on to every worker, which
finishes its requests and shuts down its background jobs as a single server does. Background jobs that
must run once (SLA escalation, digest, retention, IMAP polling) are shared out with database locks
(``assistant/leader.py``), so every worker is identical and stateless. Several workers need PostgreSQL:
SQLite is one process's store.
"""

from __future__ import annotations

import asyncio
import contextlib
import gc
import logging
import os
import signal
import socket
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from aiohttp import web

from assistant.settings import Settings
from crm_store.db import Database

log = logging.getLogger(__name__)

READY_TIMEOUT_SECONDS = 600.0  # a worker's start-up (the models are already loaded)
STOP_TIMEOUT_SECONDS = 40.0  # a worker's clean shutdown before it is killed
RESPAWN_DELAY_SECONDS = 1.0  # a worker that keeps dying is restarted at most this often
BACKLOG = 1024


class WorkersError(RuntimeError):
    """The workers cannot be started (their configuration or the first start failed)."""


def check_workers(settings: Settings, workers: int) -> None:
    if workers < 1:
        raise WorkersError("--workers must be at least 1")
    if workers > 1 and settings.database_url.startswith("sqlite"):
        raise WorkersError(
            "several workers need PostgreSQL (CRM_DATABASE_URL=postgresql://...): SQLite is one process's store"
        )


def listen_socket(host: str, port: int) -> socket.socket:
    """The one listening socket every worker inherits (IPv6 when ``host`` is one)."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.create_server((host, port), family=family, backlog=BACKLOG)
    sock.setblocking(False)
    return sock


def socket_url(sock: socket.socket) -> str:
    host, port = sock.getsockname()[:2]
    return f"http://[{host}]:{port}" if ":" in host else f"http://{host}:{port}"


@dataclass
class Preloaded:
    """What the parent loads once for all workers (None: the worker loads its own, or needs none)."""

    nlu: Any = None
    classifier: Any = None

    def installer(self, app: web.Application) -> None:
        from assistant.runtime import FACTORY_KEY, NOTIFIER_KEY, default_factory

        nlu = self.nlu
        if nlu is not None:  # each worker builds its dialogue engine (with its own hand-over notifier) on it

            def factory(db: Database, settings: Settings) -> Any:
                return default_factory(db, settings, notifier=app.get(NOTIFIER_KEY), nlu=nlu)

            app[FACTORY_KEY] = factory
        if self.classifier is not None:
            from connectors.email import CLASSIFIER_KEY

            app[CLASSIFIER_KEY] = self.classifier


def preload(settings: Settings, *, connectors: bool) -> Preloaded:
    """Load the NLU pipeline (model, embedder) and the mail classifier in this (the parent) process."""
    loaded = Preloaded()
    if not connectors:
        return loaded
    if not settings.rasa_url:  # with a Rasa server the NLU runs there
        from assistant.app import load_nlu

        log.warning("loading the language model from %s once for every worker", settings.model_dir)
        loaded.nlu = load_nlu(settings.model_dir, settings.training_data)
        _warm_up(loaded.nlu)
    if settings.smtp_listen_port or settings.imap_host:
        from connectors.email import _classifier

        loaded.classifier = _classifier(settings)
    return loaded


WARM_UP_TEXTS = ("what's on my list today?", "Wie setze ich mein Passwort zurück?", "hi")


def _warm_up(nlu: Any) -> None:
    """Parse a few texts once, so the lazily built parts (the runtime's buffers, language data) are made
    before the fork and shared, not built again in every worker."""
    parse_batch = getattr(nlu, "parse_batch", None)
    if parse_batch is None:
        return
    try:
        parse_batch(list(WARM_UP_TEXTS), langs=["en", "de", None])
    except Exception:
        log.warning("warm-up parse failed", exc_info=True)


# --- a worker (a forked child) ------------------------------------------------------------------------
async def _worker_main(app: web.Application, sock: socket.socket, ready_fd: int) -> None:
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    runner = web.AppRunner(app, handle_signals=False)
    await runner.setup()
    try:
        await web.SockSite(runner, sock, backlog=BACKLOG).start()
        with contextlib.suppress(OSError):  # a replacement worker: nobody waits for its report
            os.write(ready_fd, b"1")
        os.close(ready_fd)
        log.info("worker %s serving", os.getpid())
        await stop.wait()
    finally:
        await runner.cleanup()


def _run_worker(build: Callable[[], web.Application], sock: socket.socket, ready_fd: int) -> int:
    for sig in (signal.SIGINT, signal.SIGTERM, signal.SIGCHLD):
        signal.signal(sig, signal.SIG_DFL)
    try:
        asyncio.run(_worker_main(build(), sock, ready_fd))
    except BaseException:
        log.exception("worker %s failed", os.getpid())
        return 1
    return 0


# --- the supervisor (the parent) ----------------------------------------------------------------------
@dataclass
class Supervisor:
    """Forks the workers, replaces the ones that die, and stops them all on SIGINT/SIGTERM."""

    build: Callable[[], web.Application]
    sock: socket.socket
    db: Database
    workers: int
    pids: dict[int, int] = field(default_factory=dict)  # pid -> slot
    stopping: bool = False
    _last_spawn: dict[int, float] = field(default_factory=dict)

    def spawn(self, slot: int) -> tuple[int, int]:
        """Fork the worker of ``slot``; returns its pid and the pipe it reports readiness on."""
        self.db.engine.dispose()  # no pooled connection may be shared with a child
        read_fd, write_fd = os.pipe()
        sys.stdout.flush()
        sys.stderr.flush()
        pid = os.fork()
        if pid == 0:  # the child
            os.close(read_fd)
            code = 1
            try:
                code = _run_worker(self.build, self.sock, write_fd)
            finally:
                logging.shutdown()
                os._exit(code)
        os.close(write_fd)
        self.pids[pid] = slot
        self._last_spawn[slot] = time.monotonic()
        return pid, read_fd

    def start(self) -> None:
        pipes = [self.spawn(slot) for slot in range(self.workers)]
        deadline = time.monotonic() + READY_TIMEOUT_SECONDS
        for pid, fd in pipes:
            try:
                if not _wait_ready(fd, deadline):
                    self.stop()
                    raise WorkersError(f"worker {pid} did not start (see its log above)")
            finally:
                os.close(fd)

    def run(self) -> None:
        """Supervise until a signal: reap and replace dead workers."""
        while not self.stopping:
            try:
                pid, status = os.waitpid(-1, os.WNOHANG)
            except ChildProcessError:
                pid, status = 0, 0
            if pid == 0:
                time.sleep(0.1)
                continue
            slot = self.pids.pop(pid, None)
            if slot is None or self.stopping:
                continue
            log.warning("worker %s (%s) ended: %s; starting another", pid, slot, _describe(status))
            wait = self._last_spawn.get(slot, 0.0) + RESPAWN_DELAY_SECONDS - time.monotonic()
            if wait > 0:
                time.sleep(wait)
            new_pid, fd = self.spawn(slot)
            os.close(fd)  # it reports nothing: the others are serving meanwhile
            log.info("worker %s replaces %s", new_pid, pid)

    def signal_stop(self, *_args: object) -> None:
        self.stopping = True

    def stop(self) -> None:
        self.stopping = True
        for pid in list(self.pids):
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGTERM)
        deadline = time.monotonic() + STOP_TIMEOUT_SECONDS
        while self.pids and time.monotonic() < deadline:
            try:
                pid, _ = os.waitpid(-1, os.WNOHANG)
            except ChildProcessError:
                break
            if pid == 0:
                time.sleep(0.05)
            else:
                self.pids.pop(pid, None)
        for pid in list(self.pids):  # pragma: no cover - a worker stuck in its shutdown
            log.warning("worker %s did not stop within %ss: killed", pid, STOP_TIMEOUT_SECONDS)
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)
            with contextlib.suppress(ChildProcessError):
                os.waitpid(pid, 0)
        self.pids.clear()


def _wait_ready(fd: int, deadline: float) -> bool:
    import select

    while True:
        left = deadline - time.monotonic()
        if left <= 0:
            return False
        readable, _, _ = select.select([fd], [], [], min(left, 1.0))
        if readable:
            return os.read(fd, 1) == b"1"  # b"": the worker died before it listened


def _describe(status: int) -> str:
    if os.WIFSIGNALED(status):
        return f"killed by signal {os.WTERMSIG(status)}"
    return f"exit code {os.waitstatus_to_exitcode(status)}"


def serve_workers(
    settings: Settings,
    db: Database,
    *,
    workers: int,
    print_banner: Callable[[str], object] | None = None,
    connectors: bool = True,
) -> None:
    """Serve with ``workers`` forked processes until SIGINT/SIGTERM (see the module docstring)."""
    from assistant.server import build_app, load_connectors

    check_workers(settings, workers)
    os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")  # its thread pool does not survive a fork
    if connectors:
        load_connectors()
    sock = listen_socket(settings.host, settings.port)
    try:
        loaded = preload(settings, connectors=connectors)

        def build() -> web.Application:
            return build_app(settings, db=db, extra=[loaded.installer])

        gc.collect()
        gc.freeze()  # what exists now is never collected: the collector leaves the shared pages alone
        supervisor = Supervisor(build=build, sock=sock, db=db, workers=workers)
        previous = {
            sig: signal.signal(sig, supervisor.signal_stop) for sig in (signal.SIGINT, signal.SIGTERM)
        }
        try:
            supervisor.start()
            url = socket_url(sock)
            if print_banner is not None:
                print_banner(url)
            log.info(
                "listening on %s with %s workers (pids %s)", url, workers, " ".join(map(str, supervisor.pids))
            )
            supervisor.run()
        finally:
            supervisor.stop()
            for sig, handler in previous.items():
                signal.signal(sig, handler)
    finally:
        sock.close()


__all__ = [
    "Preloaded",
    "Supervisor",
    "WorkersError",
    "check_workers",
    "listen_socket",
    "preload",
    "serve_workers",
]
