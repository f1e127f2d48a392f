"""Coalescing callbacks: however many arrive, a job gets at most one status check per window.

A genuine callback only makes its job due for a poll. Repeats must not multiply polls: a
delivery id seen before for the job (the Standard Webhooks ``webhook-id`` header, which
Magnific sends and signs) is dropped; any other callback within ``window`` seconds of the poll
the last one scheduled is folded into one poll at the end of that window, so a callback is
never ignored for longer than ``window``, and polls caused by callbacks are at least
``window`` apart. One exception, once per job: the first callback that says the task has
finished is polled at once (a task that finishes soon after it started would otherwise wait
out the window its "started" callback opened), so a job has at most one more poll than that.
"""

from __future__ import annotations

from collections import OrderedDict, deque
from collections.abc import Mapping
from dataclasses import dataclass, field

#: jobs remembered at most (the least recently called back are forgotten first)
MAX_JOBS = 10_000
#: delivery ids remembered per job
IDS_PER_JOB = 16
#: headers naming one delivery (retries of it carry the same value)
DELIVERY_ID_HEADERS = ("webhook-id",)


def delivery_id(headers: Mapping[str, str]) -> str | None:
    """The delivery id a callback carries, if any."""
    wanted = set(DELIVERY_ID_HEADERS)
    for name, value in headers.items():
        if name.lower() in wanted and value.strip():
            return value.strip()[:200]
    return None


@dataclass
class _Seen:
    polled_at: float
    finished: bool = False
    ids: deque[str] = field(default_factory=lambda: deque(maxlen=IDS_PER_JOB))


class Coalescer:
    """``when(job_id, delivery, now)``: when the callback's poll should run, or None when a
    poll already scheduled covers it."""

    def __init__(self, window: float, *, max_jobs: int = MAX_JOBS) -> None:
        self.window = window
        self.max_jobs = max_jobs
        self._jobs: OrderedDict[str, _Seen] = OrderedDict()

    def when(
        self, job_id: str, delivery: str | None, now: float, *, finished: bool = False
    ) -> float | None:
        """Record a genuine callback for ``job_id`` (``finished``: it says the task has
        finished); see the module docstring."""
        seen = self._jobs.get(job_id)
        if seen is None:
            while len(self._jobs) >= self.max_jobs:
                self._jobs.popitem(last=False)
            seen = self._jobs[job_id] = _Seen(now, finished)
            if delivery is not None:
                seen.ids.append(delivery)
            return now
        self._jobs.move_to_end(job_id)
        if delivery is not None:
            if delivery in seen.ids:
                return None
            seen.ids.append(delivery)
        if finished and not seen.finished:
            seen.finished = True
            return now
        if now >= seen.polled_at + self.window:
            seen.polled_at = now
            return now
        if seen.polled_at > now:  # a poll is already due later, after this callback
            return None
        seen.polled_at += self.window
        return seen.polled_at
