"""A token bucket per key (conversation, IP): bursts allowed, sustained floods refused."""

from __future__ import annotations

import time
from collections import OrderedDict


class RateLimiter:
    def __init__(self, *, rate: float = 1.0, burst: int = 10, max_keys: int = 50_000) -> None:
        self.rate = rate
        self.burst = burst
        self.max_keys = max_keys
        self._buckets: OrderedDict[str, tuple[float, float]] = OrderedDict()

    def allow(self, key: str, *, now: float | None = None) -> bool:
        t = time.monotonic() if now is None else now
        tokens, last = self._buckets.pop(key, (float(self.burst), t))
        tokens = min(float(self.burst), tokens + (t - last) * self.rate)
        allowed = tokens >= 1.0
        self._buckets[key] = (tokens - 1.0 if allowed else tokens, t)
        while len(self._buckets) > self.max_keys:
            self._buckets.popitem(last=False)
        return allowed
