"""The requester's private status line: progress edits of the deferred interaction response.

The status message can only be edited through the interaction's webhook, which lives 15
minutes (:func:`token_alive`, with a margin). Edits are throttled per message; while the
provider works, a ticker refreshes the elapsed time.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable

import discord

from bot.discord.texts import MESSAGE_LIMIT, NO_MENTIONS, progress_text, truncate
from bot.jobs.models import Job, Progress, Stage

log = logging.getLogger(__name__)

TOKEN_MARGIN = 60.0  # stop using an interaction token this long before it expires
EDIT_INTERVAL = 3.0  # seconds between progress edits of one message
TICK_INTERVAL = 5.0  # while generating, the elapsed time is refreshed this often

ViewFactory = Callable[[Job], discord.ui.View]


def token_alive(job: Job, now: float) -> bool:
    """Whether the job's interaction token may still be used at ``now``."""
    expires = job.origin.token_expires_at
    return (
        bool(job.origin.interaction_token)
        and expires is not None
        and (now < expires - TOKEN_MARGIN)
    )


def webhook(client: discord.Client, job: Job) -> discord.Webhook:
    """The interaction's webhook (follow-ups and edits of the status message)."""
    app_id = client.application_id
    assert app_id is not None and job.origin.interaction_token is not None
    return discord.Webhook.partial(app_id, job.origin.interaction_token, client=client)


class StatusLine:
    """Edits each job's status message: progress (throttled) and final words."""

    def __init__(
        self,
        client: discord.Client,
        cancel_view_for: ViewFactory,
        clock: Callable[[], float],
        scrub: Callable[[str], str],
    ) -> None:
        self.client = client
        self.cancel_view_for = cancel_view_for
        self.clock = clock
        self.scrub = scrub
        self._last_edit: dict[str, tuple[float, str, Stage]] = {}
        self._tickers: dict[str, asyncio.Task[None]] = {}

    def alive(self, job: Job) -> bool:
        """Whether the job's interaction token may still be used."""
        return token_alive(job, self.clock())

    async def edit(self, job: Job, text: str, view: discord.ui.View | None = None) -> bool:
        """Replace the status line; False when it could not be (no token, an error)."""
        if not self.alive(job) or job.origin.status_message_id is None:
            return False
        try:
            await webhook(self.client, job).edit_message(
                int(job.origin.status_message_id),
                content=truncate(self.scrub(text), MESSAGE_LIMIT),
                allowed_mentions=NO_MENTIONS,
                view=view,
            )
        except Exception as exc:  # a status line is best effort: never fatal to the job
            log.info("job %s: status edit failed (%r)", job.id, exc)
            return False
        return True

    async def progress(self, job: Job, progress: Progress) -> None:
        """Edit the requester's status message, throttled to stay inside rate limits."""
        text = progress_text(progress)
        now = self.clock()
        if progress.stage in (Stage.SUBMITTED, Stage.GENERATING):
            self._start_ticker(job)
        else:
            self.stop(job.id)
        last = self._last_edit.get(job.id)
        if last is not None:
            last_at, last_text, last_stage = last
            # only the elapsed-time repeats of one stage are throttled: a new stage or a new
            # queue position (bounded by finishing jobs) always shows
            repeat = last_stage is progress.stage and progress.stage is not Stage.QUEUED
            if last_text == text or (repeat and now - last_at < EDIT_INTERVAL):
                return
        self._last_edit[job.id] = (now, text, progress.stage)
        queued = progress.stage is Stage.QUEUED
        await self.edit(job, text, self.cancel_view_for(job) if queued else None)

    def _start_ticker(self, job: Job) -> None:
        """Keep the elapsed time moving while the provider works (sync providers never poll)."""
        if job.id in self._tickers or not self.alive(job):
            return

        async def tick() -> None:
            while self.alive(job):
                await asyncio.sleep(TICK_INTERVAL)
                if job.id not in self._last_edit:
                    return
                elapsed = self.clock() - job.created_at
                text = progress_text(Progress(Stage.GENERATING, elapsed=elapsed))
                self._last_edit[job.id] = (self.clock(), text, Stage.GENERATING)
                await self.edit(job, text)

        task = asyncio.get_running_loop().create_task(tick())
        self._tickers[job.id] = task
        task.add_done_callback(lambda _: self._tickers.pop(job.id, None))

    def stop(self, job_id: str) -> None:
        """No more progress ticks for this job."""
        task = self._tickers.pop(job_id, None)
        if task is not None:
            task.cancel()

    def finish(self, job_id: str) -> None:
        """The job's progress is over: forget it (a final edit follows)."""
        self._last_edit.pop(job_id, None)
        self.stop(job_id)

    async def close(self) -> None:
        """Stop every progress ticker."""
        tasks = list(self._tickers.values())
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
