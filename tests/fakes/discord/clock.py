"""The clock the fake Discord judges time by.

Discord's timing rules (the 3 s acknowledgement window, the 15 minute interaction token) are
measured on :meth:`Clock.monotonic`; snowflakes, message timestamps and the signed CDN URLs'
``ex``/``is`` are Unix time from :meth:`Clock.time`. :class:`SystemClock` (the default) reads
the event loop's clock and the wall clock; :class:`ManualClock` only moves when a test calls
:meth:`ManualClock.advance`, so a test can step past a deadline instead of sleeping.

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


class ManualClock:
    """A clock that stands still until :meth:`advance` moves it.

    ``start`` is its Unix time (default: now). Its monotonic reading starts at 1000.0 rather
    than 0 (an interaction's ``created_at`` of 0.0 means "not dispatched yet").
    """

    def __init__(self, start: float | None = None) -> None:
        """Stand still at ``start`` (Unix seconds; default: the current wall time)."""
        self._time = time.time() if start is None else start
        self._monotonic = 1000.0

    def monotonic(self) -> float:
        """The monotonic reading (only :meth:`advance` changes it)."""
        return self._monotonic

    def time(self) -> float:
        """The Unix time (only :meth:`advance` changes it)."""
        return self._time

    def advance(self, seconds: float) -> None:
        """Move both readings forward by ``seconds``."""
        if seconds < 0:
            raise ValueError("a clock only moves forward")
        self._monotonic += seconds
        self._time += seconds
