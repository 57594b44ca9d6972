"""An SMTP endpoint (aiosmtpd) that feeds ``TriageService``: mail is accepted (250) only once committed.

    server = await start_smtp_server(TriageHandler(triage, acks=AckSender(...)), host="0.0.0.0", port=2525)

The triage runs in a worker thread (the store is synchronous); ``451`` (try again later) answers a
store that is down, so the sending server keeps the mail queued; ``552`` mail over the size limit
(aiosmtpd refuses it while it streams in). Acknowledgements go out after the 250, as held tasks.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable, Iterable

from aiosmtpd.smtp import SMTP, Envelope, Session

from connectors.email.ack import AckSender
from connectors.email.triage import TriageResult, TriageService
from crm_store.db import StoreUnavailable

log = logging.getLogger(__name__)

DEFAULT_SIZE_LIMIT = 25 * 1024 * 1024


class TriageHandler:
    """aiosmtpd handler: ``RCPT`` for our domains only (when given), ``DATA`` -> triage -> 250/451."""

    def __init__(
        self,
        triage: TriageService,
        *,
        acks: AckSender | None = None,
        accept_domains: Iterable[str] | None = None,
        on_result: Callable[[TriageResult], None] | None = None,
    ) -> None:
        self.triage = triage
        self.acks = acks
        self.on_result = on_result  # called once per triaged message (e.g. wakes the SLA job)
        self.accept_domains = frozenset(d.lower() for d in accept_domains) if accept_domains else None
        self.results: list[TriageResult] = []  # the last few, for health pages and tests
        self._tasks: set[asyncio.Task[None]] = set()

    async def handle_RCPT(
        self, server: SMTP, session: Session, envelope: Envelope, address: str, rcpt_options: list[str]
    ) -> str:
        domain = address.rsplit("@", 1)[-1].lower()
        if self.accept_domains is not None and domain not in self.accept_domains:
            return "550 5.1.1 Recipient not accepted here"
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server: SMTP, session: Session, envelope: Envelope) -> str:
        raw = envelope.original_content or envelope.content
        if isinstance(raw, str):
            raw = raw.encode("utf-8", "surrogateescape")
        if raw is None:
            return "554 5.6.0 No message data"
        try:
            result = await asyncio.to_thread(self.triage.process, raw, source="smtp")
        except StoreUnavailable:
            log.warning("store unavailable; mail deferred with 451")
            return "451 4.3.0 Temporarily unable to process the message, try again later"
        except Exception:
            log.exception("triage failed; mail deferred with 451")
            return "451 4.3.0 Temporarily unable to process the message, try again later"
        self.results = [*self.results[-99:], result]
        if self.on_result is not None:
            self.on_result(result)
        if self.acks is not None and result.ack:
            task = asyncio.create_task(self._acknowledge(result))
            self._tasks.add(task)
            task.add_done_callback(self._tasks.discard)
        return f"250 2.0.0 Message accepted ({result.action})"

    async def _acknowledge(self, result: TriageResult) -> None:
        assert self.acks is not None
        try:
            message = await self.acks.send(result)
        except Exception:  # the ticket exists; a failed acknowledgement is logged, not retried forever
            log.exception("acknowledgement for ticket #%s failed", result.ticket_number)
            return
        if message is not None and result.ticket_number is not None:
            await asyncio.to_thread(
                self.triage.record_outbound,
                result.ticket_number,
                message.get_content(),
                message_id=str(message["Message-ID"]).strip("<>"),
            )

    async def drain(self) -> None:
        """Wait for pending acknowledgements (shutdown, tests)."""
        while self._tasks:
            await asyncio.gather(*list(self._tasks), return_exceptions=True)


async def start_smtp_server(
    handler: TriageHandler,
    *,
    host: str = "127.0.0.1",
    port: int = 2525,
    size_limit: int = DEFAULT_SIZE_LIMIT,
    hostname: str | None = None,
    reuse_port: bool = False,
) -> asyncio.Server:
    """Listen on ``host:port`` in the running loop (``port=0``: any free port; see ``server.sockets``).
    ``reuse_port``: several worker processes listen on the same port and the kernel shares the mail out."""
    loop = asyncio.get_running_loop()
    return await loop.create_server(
        lambda: SMTP(handler, data_size_limit=size_limit, hostname=hostname, enable_SMTPUTF8=True),
        host=host,
        port=port,
        reuse_port=reuse_port or None,
    )


__all__ = ["DEFAULT_SIZE_LIMIT", "TriageHandler", "start_smtp_server"]
