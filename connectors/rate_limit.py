"""A token bucket per key (conversation, IP): bursts allowed, sustained floods refused; and the client address
to key on behind reverse proxies (:class:`ClientAddress`)."""

from __future__ import annotations

import ipaddress
import time
from collections import OrderedDict
from collections.abc import Iterable, Sequence


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


class ClientAddress:
    """The address a per-IP limit should key on, behind reverse proxies we trust and no others.

    ``X-Forwarded-For`` is a list every proxy appends its peer to; anyone can start it with whatever they like.
    So it is read only when the TCP peer is a trusted proxy (``CRM_TRUSTED_PROXIES``), from the right: hops that
    are trusted proxies themselves are skipped and the first untrusted one is the client, as our own proxies
    saw it. Without trusted proxies (the default) the header is ignored and the peer is the client.
    """

    def __init__(self, trusted: Iterable[str] = ()) -> None:
        self.networks = tuple(ipaddress.ip_network(entry.strip(), strict=False) for entry in trusted)

    def is_trusted(self, address: str | None) -> bool:
        ip = _ip(address)
        return ip is not None and any(ip in network for network in self.networks)

    def client(self, peer: str | None, forwarded_for: Sequence[str] = ()) -> str:
        """``peer`` (the TCP peer) or, behind trusted proxies, the right-most untrusted X-Forwarded-For hop."""
        address = str(peer)
        if not self.networks or not self.is_trusted(peer):
            return address
        hops = [hop.strip() for header in forwarded_for for hop in header.split(",") if hop.strip()]
        for hop in reversed(hops):
            ip = _ip(hop)
            if ip is None:  # not written by a proxy of ours: keep the last hop one of them vouched for
                return address
            address = str(ip)
            if not self.is_trusted(address):
                return address
        return address  # every hop is one of our proxies: the left-most is as close to the client as we get


def _ip(text: str | None) -> ipaddress.IPv4Address | ipaddress.IPv6Address | None:
    """An IP address from a peer or X-Forwarded-For entry (``1.2.3.4``, ``1.2.3.4:80``, ``[::1]:80``, ``::1``)."""
    if not text:
        return None
    value = text.strip()
    if value.startswith("["):
        value = value[1:].split("]", 1)[0]
    elif value.count(":") == 1:
        value = value.split(":", 1)[0]
    try:
        ip = ipaddress.ip_address(value)
    except ValueError:
        return None
    if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None:
        return ip.ipv4_mapped
    return ip
