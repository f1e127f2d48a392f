"""The requester's private status line: progress edits of the deferred interaction response.

The status message can only be edited through the interaction's webhook, which lives 15
minutes (:func:`token_alive`, with a margin). The line shows when generation started as a
Discord timestamp that clients render live, so time passing costs no edits; an edit is made only
when the line's text changes.
"""

from __future__ import annotations

import logging
from collections.abc import Callable

import discord

from bot.discord.texts import MESSAGE_LIMIT, NO_MENTIONS, progress_text, truncate
from bot.jobs.models import Job, Progress, Stage

log = logging.getLogger(__name__)

TOKEN_MARGIN = 60.0  # stop using an interaction token this long before it expires

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
        #: the text each job's status line shows (jobs in progress only)
        self._last_text: dict[str, str] = {}

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
        """Edit the requester's status message when its text changes."""
        text = progress_text(progress, job.submitted_at or job.created_at)
        if self._last_text.get(job.id) == text:
            return
        self._last_text[job.id] = text
        queued = progress.stage is Stage.QUEUED
        await self.edit(job, text, self.cancel_view_for(job) if queued else None)

    def finish(self, job_id: str) -> None:
        """The job's progress is over: forget it (a final edit follows)."""
        self._last_text.pop(job_id, None)
