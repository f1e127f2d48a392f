"""The requester's private status line: progress edits of the deferred interaction response.

The status message can only be edited through the interaction's webhook, which lives 15
minutes (:func:`token_alive`, with a margin). The line shows when generation started as a
Discord timestamp that clients render live, so time passing costs no edits; an edit is made only
when the line's text changes, and none once Discord says nobody can see the line (the token
expired, the message is gone). All status lines share one edit budget (:class:`EditBudget`, a
token bucket below Discord's limits): over budget, a progress edit is skipped, not queued, and
the job's next report carries the latest state; a new stage goes before a new place in line,
and the final words (done, failed) always go.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable

import discord

from bot.discord.posting import TOKEN_GONE
from bot.discord.texts import MESSAGE_LIMIT, NO_MENTIONS, progress_text, truncate
from bot.jobs.models import Job, Progress, Stage

log = logging.getLogger(__name__)

TOKEN_MARGIN = 60.0  # stop using an interaction token this long before it expires
#: status edits per second across all jobs, and the burst the budget allows: well below
#: Discord's 50 requests a second (interaction webhooks are outside even that limit)
EDIT_RATE = 5.0
EDIT_BURST = 5.0
#: a new place in line is shown only while this share of the burst is left (a new stage
#: may spend it all)
POSITION_RESERVE = 0.5
#: Discord's answer when the status message is gone (deleted, or dismissed by the requester)
UNKNOWN_MESSAGE = 10008

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


class EditBudget:
    """A token bucket: ``rate`` edits a second, ``burst`` at once, shared by every job."""

    def __init__(
        self,
        rate: float = EDIT_RATE,
        burst: float = EDIT_BURST,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.rate = rate
        self.burst = burst
        self.clock = clock
        self._tokens = burst
        self._at = clock()

    def _refill(self) -> None:
        now = self.clock()
        self._tokens = min(self.burst, self._tokens + (now - self._at) * self.rate)
        self._at = now

    def take(self, *, reserve: float = 0.0) -> bool:
        """Spend one edit if one is left beyond ``reserve`` (a share of the burst kept for
        more important edits); False: skip this edit."""
        self._refill()
        if self._tokens < 1.0 + reserve * self.burst:
            return False
        self._tokens -= 1.0
        return True

    def charge(self) -> None:
        """An edit that goes whatever the budget (final words): it still counts, so progress
        edits wait (the debt is at most one burst)."""
        self._refill()
        self._tokens = max(-self.burst, self._tokens - 1.0)


class StatusLine:
    """Edits each job's status message: progress (throttled) and final words."""

    def __init__(
        self,
        client: discord.Client,
        cancel_view_for: ViewFactory,
        clock: Callable[[], float],
        scrub: Callable[[str], str],
        budget: EditBudget | None = None,
    ) -> None:
        self.client = client
        self.budget = budget if budget is not None else EditBudget()
        self.cancel_view_for = cancel_view_for
        self.clock = clock
        self.scrub = scrub
        #: the stage and text each job's status line shows (jobs in progress only)
        self._shown: dict[str, tuple[Stage, str]] = {}
        #: jobs whose status line Discord said nobody can see any more (the token expired
        #: early, the message is gone), until their token would have expired anyway
        self._gone: dict[str, float] = {}

    def alive(self, job: Job) -> bool:
        """Whether the job's interaction token may still be used (and its status line seen)."""
        return job.id not in self._gone and token_alive(job, self.clock())

    def gone(self, job: Job) -> None:
        """Discord refused the job's token or status message: no more edits or follow-ups."""
        now = self.clock()
        for job_id in [j for j, until in self._gone.items() if until <= now]:
            del self._gone[job_id]  # their tokens have expired: token_alive says so
        self._gone[job.id] = job.origin.token_expires_at or now
        self._shown.pop(job.id, None)

    async def edit(self, job: Job, text: str, view: discord.ui.View | None = None) -> bool:
        """Replace the status line with final words (never skipped by the budget); False when
        it could not be (no token, an error)."""
        if not self.alive(job) or job.origin.status_message_id is None:
            return False
        self.budget.charge()
        return await self._send(job, text, view)

    async def _send(self, job: Job, text: str, view: discord.ui.View | None) -> bool:
        assert job.origin.status_message_id is not None
        try:
            await webhook(self.client, job).edit_message(
                int(job.origin.status_message_id),
                content=truncate(self.scrub(text), MESSAGE_LIMIT),
                allowed_mentions=NO_MENTIONS,
                view=view,
            )
        except Exception as exc:  # a status line is best effort: never fatal to the job
            log.info("job %s: status edit failed (%r)", job.id, exc)
            code = exc.code if isinstance(exc, discord.HTTPException) else None
            if code in TOKEN_GONE or code == UNKNOWN_MESSAGE:
                self.gone(job)
            return False
        return True

    async def progress(self, job: Job, progress: Progress) -> None:
        """Edit the requester's status message when its text changes and the budget allows
        (a new place in line only while a reserve is left for new stages)."""
        if not self.alive(job) or job.origin.status_message_id is None:
            return
        if progress.stage is Stage.UPLOADING and job.id not in self._shown:
            # the follow-up needs a status line first: made now, not just before the post
            await self.before_followup(job)
            return
        text = progress_text(progress, job.submitted_at or job.created_at)
        shown = self._shown.get(job.id)
        if shown is not None and shown[1] == text:
            return
        queued = progress.stage is Stage.QUEUED
        moved = queued and shown is not None and shown[0] is Stage.QUEUED
        if not self.budget.take(reserve=POSITION_RESERVE if moved else 0.0):
            return  # skipped: the job's next report shows the latest state
        self._shown[job.id] = (progress.stage, text)
        await self._send(job, text, self.cancel_view_for(job) if queued else None)

    async def before_followup(self, job: Job) -> None:
        """Make sure the deferred response shows a status line before a follow-up is posted:
        Discord turns the first follow-up after a defer into the (private) "thinking" message
        itself, so a result posted while it still thinks would be seen by the requester only.
        Never skipped by the budget."""
        if job.id in self._shown or not self.alive(job):
            return
        text = progress_text(Progress(Stage.UPLOADING), job.submitted_at or job.created_at)
        if await self.edit(job, text):
            self._shown[job.id] = (Stage.UPLOADING, text)

    def finish(self, job_id: str) -> None:
        """The job's progress is over: forget it (a final edit follows)."""
        self._shown.pop(job_id, None)
