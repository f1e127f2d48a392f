"""Log lines for refused requests, at most one per reason per interval.

A flood of forged or malformed callbacks must not become a flood of log lines: the first
refusal for a reason is logged, the following ones within ``interval`` seconds are only
counted, and the next line for that reason says how many were left out.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from dataclasses import dataclass

#: seconds between two lines for the same reason
INTERVAL = 10.0


@dataclass
class _Window:
    started: float
    suppressed: int = 0


class RejectionLog:
    """``note(reason, message, *args)`` logs at most one line per ``reason`` per interval."""

    def __init__(
        self,
        logger: logging.Logger,
        *,
        interval: float = INTERVAL,
        level: int = logging.WARNING,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.logger = logger
        self.interval = interval
        self.level = level
        self.clock = clock
        self._windows: dict[str, _Window] = {}  # one per reason: a handful of keys

    def note(self, reason: str, message: str, *args: object) -> None:
        """A request was refused for ``reason``; ``message % args`` describes it (no
        secrets: it is logged as given, apart from the log filter's masking)."""
        now = self.clock()
        window = self._windows.get(reason)
        if window is not None and now - window.started < self.interval:
            window.suppressed += 1
            return
        suppressed = window.suppressed if window is not None else 0
        self._windows[reason] = _Window(now)
        if suppressed:
            message += " (%d more refused as %s were not logged since the last such line)"
            args = (*args, suppressed, reason)
        self.logger.log(self.level, message, *args)


class Throttle(logging.Filter):
    """A filter for a logger that others write to (aiohttp's request handler, which logs every
    malformed request with a traceback): one record per message per interval, the traceback
    cut to its exception's one line."""

    def __init__(self, interval: float = INTERVAL, clock: Callable[[], float] = time.monotonic):
        super().__init__()
        self.interval = interval
        self.clock = clock
        self._last: dict[str, float] = {}

    def filter(self, record: logging.LogRecord) -> bool:
        key = str(record.msg)[:200]
        now = self.clock()
        last = self._last.get(key)
        if last is not None and now - last < self.interval:
            return False
        if len(self._last) > 1000:
            self._last.clear()
        self._last[key] = now
        if record.exc_info and record.exc_info[1] is not None:
            exc = record.exc_info[1]
            record.msg = f"{record.getMessage()}: {type(exc).__name__}: {exc}".replace("\n", " ")
            record.args = None
            record.exc_info = None
            record.exc_text = None
        return True
