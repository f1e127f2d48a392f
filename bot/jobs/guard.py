"""Store faults slow the engine down; they never make it spin.

When a store operation fails because the store is unavailable (a full disk, a read-only file,
an I/O error: :class:`~bot.jobs.ports.StoreUnavailableError`), :class:`StoreGuard`:

* marks the store unhealthy, with one WARNING line (and ``bananabot_store_healthy`` 0); every
  failed operation is counted (``bananabot_store_failures_total``), none gets a line of its own;
* keeps the engine from starting new provider work (no dispatch, no polls, no deliveries from
  the loop) until the store takes writes again; work already in flight may finish;
* keeps in memory what the outside world told the engine and the store could not record (a
  provider's task id or results, a delivery receipt: :meth:`StoreGuard.keep`), and writes it,
  oldest first, each time the store is tried again;
* tries the store again after a backoff (``store_retry_initial`` seconds, doubling up to
  ``store_retry_cap``, with jitter): the kept writes, then a small write of its own; when all
  succeed the store is healthy again, with one line. A stopping engine tries them once more;
  a process that dies meanwhile loses them, and its successor's recovery treats those jobs as
  it treats any crash.
"""

from __future__ import annotations

import contextlib
import logging
import math
import random
import time
from collections.abc import Awaitable, Callable, Iterator

from bot.jobs.metrics import Metrics
from bot.jobs.ports import Store, StoreUnavailableError

log = logging.getLogger(__name__)

#: the meta key the guard writes to find out whether the store takes writes again
PROBE_KEY = "store_probe_at"

Write = Callable[[], Awaitable[None]]


class Backoff:
    """Delays that double from ``initial`` up to ``cap`` seconds, each one drawn between half
    and all of that (so engines that failed together do not retry together)."""

    def __init__(
        self, initial: float, cap: float, rng: Callable[[], float] = random.random
    ) -> None:
        self.initial = initial
        self.cap = cap
        self._rng = rng

    def delay(self, attempt: int) -> float:
        """Seconds to wait before retry ``attempt`` (0, 1, 2…)."""
        ceiling = min(self.cap, self.initial * 2.0 ** min(attempt, 64))
        return ceiling / 2 + self._rng() * ceiling / 2


class StoreGuard:
    """Whether the store takes writes, when to try it again, and the writes kept for it."""

    def __init__(
        self,
        store: Store,
        meters: Metrics,
        backoff: Backoff,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.store = store
        self.meters = meters
        self.backoff = backoff
        self.clock = clock
        self.healthy = True
        self._kept: dict[tuple[str, str], Write] = {}
        self._attempt = 0
        self._retry_at = 0.0
        self._since = 0.0  # when the store started failing
        self._failures = 0  # failed operations since then
        self._recovered_at = -math.inf

    @property
    def kept(self) -> int:
        """Writes waiting for the store."""
        return len(self._kept)

    def failed(self, exc: StoreUnavailableError) -> None:
        """A store operation failed with the store unavailable."""
        self.meters.store_failed(exc.code)
        self._failures += 1
        if not self.healthy:
            return
        now = self.clock()
        if now - self._recovered_at > self.backoff.cap:
            self._attempt = 0
        else:  # failing again soon after it recovered (a flapping disk): wait longer
            self._attempt += 1
        self.healthy = False
        self.meters.store_health(False)
        self._since = now
        self._failures = 1
        delay = self.backoff.delay(self._attempt)
        self._retry_at = now + delay
        log.warning(
            "the store is failing (%s): no new provider work until it takes writes again; "
            "trying again in %.1f s",
            exc,
            delay,
            extra={"event": "store_failing", "error": exc.code},
        )

    def keep(self, activity: str, job_id: str, write: Write, exc: StoreUnavailableError) -> None:
        """``write`` (recording what ``activity`` learned for the job) failed with ``exc``:
        do it again when the store is tried next, until it succeeds."""
        self._kept[(activity, job_id)] = write
        self.failed(exc)

    @contextlib.contextmanager
    def watching(self) -> Iterator[None]:
        """Note a :class:`StoreUnavailableError` raised inside (and let it go on)."""
        try:
            yield
        except StoreUnavailableError as exc:
            self.failed(exc)
            raise

    def wait(self) -> float:
        """Seconds until the store is tried again (0 while healthy)."""
        return 0.0 if self.healthy else max(0.0, self._retry_at - self.clock())

    async def flush(self) -> None:
        """The engine is stopping: try the kept writes once more now, whatever the backoff;
        what still cannot be written is left to the next start's recovery, in one line."""
        if not self._kept:
            return
        self._retry_at = self.clock()
        await self.ready()
        if self._kept:
            log.warning(
                "stopping with %d provider answer(s) the store did not take; "
                "the next start recovers those jobs",
                len(self._kept),
            )

    async def ready(self) -> bool:
        """True when the store takes writes: healthy, or tried again now (the backoff has
        passed) with every kept write and a probe written."""
        if self.healthy:
            return True
        if self.clock() < self._retry_at:
            return False
        try:
            for key, write in list(self._kept.items()):
                try:
                    await write()
                except StoreUnavailableError:
                    raise
                except Exception:  # a bug, not the store: retrying it would not help
                    log.exception("job %s: the kept %s could not be written", key[1], key[0])
                if self._kept.get(key) is write:
                    del self._kept[key]
            await self.store.meta.set(PROBE_KEY, repr(time.time()))
            if self._kept:  # work in flight kept another meanwhile: write it first
                self._retry_at = self.clock()
                return False
        except StoreUnavailableError as exc:
            self.meters.store_failed(exc.code)
            self._failures += 1
            self._attempt += 1
            self._retry_at = self.clock() + self.backoff.delay(self._attempt)
            return False
        now = self.clock()
        self.healthy = True
        self.meters.store_health(True)
        self._recovered_at = now
        log.warning(
            "the store takes writes again after %.1f s (%d failed operations)",
            now - self._since,
            self._failures,
            extra={"event": "store_recovered", "failures": self._failures},
        )
        return True
