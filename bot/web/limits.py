"""Requests per source: a token bucket per remote address.

Each address may make ``burst`` requests at once and ``rate`` per second after that; a request
over it is refused with the seconds until the next one would be allowed (``Retry-After``).
The table of addresses is bounded: when it is full, buckets that have refilled (the same as a
new one) are dropped, and if none have, the oldest.
"""

from __future__ import annotations

import ipaddress
import math
import time
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass

#: addresses remembered at most
MAX_SOURCES = 10_000


@dataclass
class _Bucket:
    tokens: float
    at: float


def source_of(address: str | None) -> str:
    """The source a request is counted against: its IPv4 address, or its IPv6 /64 (one
    machine commonly holds a whole /64)."""
    if not address:
        return "?"
    try:
        ip = ipaddress.ip_address(address)
    except ValueError:
        return address
    if isinstance(ip, ipaddress.IPv6Address):
        if ip.ipv4_mapped is not None:
            return str(ip.ipv4_mapped)
        return str(ipaddress.IPv6Network((ip, 64), strict=False))
    return str(ip)


class RateLimiter:
    """``allow(source)`` is 0 when a request from ``source`` may proceed, else the seconds to
    wait before the next one would."""

    def __init__(
        self,
        rate: float,
        burst: int,
        *,
        clock: Callable[[], float] = time.monotonic,
        max_sources: int = MAX_SOURCES,
    ) -> None:
        if rate <= 0 or burst < 1:
            raise ValueError("rate must be positive and burst at least 1")
        self.rate = rate
        self.burst = float(burst)
        self.clock = clock
        self.max_sources = max_sources
        self._buckets: OrderedDict[str, _Bucket] = OrderedDict()  # least recently seen first

    def __len__(self) -> int:
        return len(self._buckets)

    def allow(self, source: str) -> float:
        """Take a token for ``source``: 0.0 if there was one, else the wait in seconds."""
        now = self.clock()
        bucket = self._buckets.get(source)
        if bucket is None:
            self._make_room(now)
            bucket = self._buckets[source] = _Bucket(self.burst, now)
        else:
            self._buckets.move_to_end(source)
            bucket.tokens = min(self.burst, bucket.tokens + (now - bucket.at) * self.rate)
            bucket.at = now
        if bucket.tokens >= 1.0:
            bucket.tokens -= 1.0
            return 0.0
        return (1.0 - bucket.tokens) / self.rate

    @staticmethod
    def retry_after(wait: float) -> str:
        """A ``Retry-After`` value (whole seconds, at least 1) for a wait."""
        return str(max(1, math.ceil(wait)))

    def _make_room(self, now: float) -> None:
        if len(self._buckets) < self.max_sources:
            return
        full_after = self.burst / self.rate
        # least recently seen first, so the refilled ones are at the front
        while self._buckets:
            _, oldest = next(iter(self._buckets.items()))
            if now - oldest.at < full_after and len(self._buckets) < self.max_sources:
                break
            self._buckets.popitem(last=False)
