"""The engine's in-flight work: at most one task per (activity, job), each one tracked so the
engine can stop gracefully, or abort at once as a dying process would."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable, Coroutine
from typing import Any

log = logging.getLogger(__name__)


class TaskSet:
    """Background tasks keyed by activity and job id; a crash in one is logged, never lost."""

    def __init__(self, on_done: Callable[[], None]) -> None:
        self._on_done = on_done
        self._tasks: set[asyncio.Task[None]] = set()
        self._busy: set[tuple[str, str]] = set()

    def busy(self, activity: str, job_id: str) -> bool:
        """True while ``activity`` runs for the job in this process."""
        return (activity, job_id) in self._busy

    def running(self, activity: str) -> list[str]:
        """The jobs ``activity`` runs for in this process."""
        return [job_id for done, job_id in self._busy if done == activity]

    def spawn(self, activity: str, job_id: str, coro: Coroutine[Any, Any, None]) -> bool:
        """Run ``coro`` in the background as the job's ``activity``, unless that activity is
        already running for the job (then ``coro`` is dropped unrun); True when started.

        Two starters can race for one job: the engine loop's listing may read a job as due
        in the moment between another task's commit and its own start of the same activity
        (reads do not wait for writes), and two deliveries at once would post twice.
        """
        key = (activity, job_id)
        if key in self._busy:
            coro.close()
            return False
        self._busy.add(key)
        task = asyncio.get_running_loop().create_task(coro, name=f"{activity}:{job_id}")
        self._tasks.add(task)

        def done(finished: asyncio.Task[None]) -> None:
            self._tasks.discard(finished)
            self._busy.discard(key)
            self._on_done()
            if not finished.cancelled() and finished.exception() is not None:
                log.error("job %s: %s crashed", job_id, activity, exc_info=finished.exception())

        task.add_done_callback(done)
        return True

    async def stop(self, grace: float) -> None:
        """Give running tasks ``grace`` seconds to finish, then cancel the rest."""
        if not self._tasks:
            return
        _, pending = await asyncio.wait(set(self._tasks), timeout=grace)
        await self._cancel(pending)

    async def abort(self) -> None:
        """Cancel every task now, without waiting for any work to finish."""
        await self._cancel(set(self._tasks))

    @staticmethod
    async def _cancel(tasks: set[asyncio.Task[None]]) -> None:
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
