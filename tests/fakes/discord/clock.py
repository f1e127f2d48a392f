"""The clock the fake Discord judges time by.

Discord's timing rules (the 3 s acknowledgement window, the 15 minute interaction token) are
measured on :meth:`Clock.monotonic`; snowflakes, message timestamps and the signed CDN URLs'
``ex``/``is`` are Unix time from :meth:`Clock.time`. :class:`SystemClock` (the default) reads
the event loop's clock and the wall clock.

Waiting (``FakeDiscord.wait_for`` and friends) always uses real time: a timeout there is the
test's patience, not a Discord rule.
"""

from __future__ import annotations

import asyncio
import time
from typing import Protocol


class Clock(Protocol):
    """Where the fake reads the time."""

    def monotonic(self) -> float:
        """Seconds on a clock that never goes back: interaction ages and deadlines."""
        ...

    def time(self) -> float:
        """Unix time in seconds: snowflakes, timestamps, CDN URL signatures."""
        ...


class SystemClock:
    """The real clocks: the running event loop's time and the wall clock."""

    def monotonic(self) -> float:
        """``asyncio.get_running_loop().time()``."""
        return asyncio.get_running_loop().time()

    def time(self) -> float:
        """``time.time()``."""
        return time.time()
