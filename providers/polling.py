"""Wait for one task to finish by polling: the simplest way to drive a provider to the end.

The poll schedule (:func:`poll_delay`) is shared with the job engine, whose poller is durable;
:func:`run_to_completion` is an in-memory loop for scripts and the provider contract tests.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable, Iterator

from providers.base import GenerationRequest, Provider, TaskStatus
from providers.errors import ProviderUnavailableError
from providers.validation import validate_request


def poll_delay(n: int, typical_seconds: float, *, floor: float = 2.0, cap: float = 15.0) -> float:
    """Seconds to wait before status read number ``n`` (0-based): the first a little before
    the typical completion time, then a gentle backoff from ``floor`` up to ``cap``."""
    if n == 0:
        return float(max(floor, typical_seconds * 0.6))
    return float(min(cap, floor * 1.5 ** (n - 1)))


def poll_delays(
    typical_seconds: float, *, floor: float = 2.0, cap: float = 15.0
) -> Iterator[float]:
    """The delays of :func:`poll_delay`, one after another."""
    n = 0
    while True:
        yield poll_delay(n, typical_seconds, floor=floor, cap=cap)
        n += 1


class DeadlineExceededError(ProviderUnavailableError):
    """The task did not finish before the deadline."""


async def run_to_completion(
    provider: Provider,
    request: GenerationRequest,
    *,
    deadline_seconds: float = 600.0,
    interval: float | None = None,
    on_status: Callable[[TaskStatus, float], None] | None = None,
) -> TaskStatus:
    """Submit ``request`` and poll until the task succeeds or fails.

    ``interval`` fixes the polling interval (tests); otherwise :func:`poll_delays` is used.
    ``on_status(status, elapsed_seconds)`` is called after the submit and every read.
    The request is validated first (providers trust what they are given), so an invalid one
    raises :class:`RequestInvalidError` before anything is sent.
    Raises :class:`DeadlineExceededError` when the deadline passes first.
    """
    model = validate_request(provider.capabilities, request)
    started = time.monotonic()
    status = await provider.submit(request)
    if on_status:
        on_status(status, 0.0)
    delays = poll_delays(model.typical_seconds)
    while not status.state.terminal:
        delay = interval if interval is not None else next(delays)
        remaining = deadline_seconds - (time.monotonic() - started)
        if remaining <= 0:
            raise DeadlineExceededError(
                f"{provider.name} did not finish within {deadline_seconds:.0f} s "
                f"(task {status.task_id})"
            )
        await asyncio.sleep(min(delay, remaining))
        status = await provider.fetch(status.task_id, model=model.name)
        if on_status:
            on_status(status, time.monotonic() - started)
    return status
