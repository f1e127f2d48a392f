"""The Discord side of the delivery seam: progress edits, result posts, failure notices.

Progress goes to the requester's private status message (the deferred interaction response),
edited at most every few seconds. Results go as a public follow-up while the interaction token
lives (15 minutes); after that, or when a follow-up fails with 50027, as the bot's own channel
message; if Discord refuses the place (missing permission, archived or locked thread), by DM,
saying why. Each place gets images fitted to its own upload limit (:mod:`.posting`); where the
bot may not embed links, the result says the same in plain text. Every message is sent with no
allowed mentions except, for a channel message, the requester. Delivery is idempotent per job:
a repeated attempt first looks for the message it may already have posted.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable

import aiohttp
import discord

from bot.discord.posting import (
    DM_UPLOAD_LIMIT,
    TOKEN_GONE,
    CannotPostHereError,
    send_fitted,
)
from bot.discord.texts import (
    MESSAGE_LIMIT,
    NO_MENTIONS,
    failure_text,
    progress_text,
    result_embed,
    result_text,
    truncate,
)
from bot.jobs.models import FailureKind, Job, Progress, Receipt, Stage
from bot.jobs.ports import DeliveryError
from bot.jobs.quota import QuotaSnapshot
from bot.media.sniff import ImageFile

log = logging.getLogger(__name__)

TOKEN_MARGIN = 60.0  # stop using an interaction token this long before it expires
EDIT_INTERVAL = 3.0  # seconds between progress edits of one message
TICK_INTERVAL = 5.0  # while generating, the elapsed time is refreshed this often
MISSING = discord.utils.MISSING

ViewFactory = Callable[[Job], discord.ui.View]
#: the requester's credits as the result should show them (None: not shown)
QuotaLookup = Callable[[Job], Awaitable[QuotaSnapshot | None]]


def _unstored_view(view_for: ViewFactory, job: Job) -> discord.ui.View:
    """The job's buttons, stopped first: clicks are routed by the registered DynamicItems, so
    discord.py need not keep a View per posted result in memory forever."""
    view = view_for(job)
    view.stop()
    return view


class DiscordNotifier:
    """Implements :class:`bot.jobs.ports.Notifier` with Discord messages."""

    def __init__(
        self,
        client: discord.Client,
        quota: QuotaLookup,
        view_for: ViewFactory,
        cancel_view_for: ViewFactory,
        clock: Callable[[], float] = time.time,
        scrub: Callable[[str], str] = str,
    ) -> None:
        self.client = client
        self.quota = quota
        self.view_for = view_for
        self.cancel_view_for = cancel_view_for
        self.clock = clock
        self.scrub = scrub  # the process's one scrubber: on every text the bot sends
        self._last_edit: dict[str, tuple[float, str, Stage]] = {}
        self._tickers: dict[str, asyncio.Task[None]] = {}

    # ------------------------------------------------------------------ helpers

    def _token_alive(self, job: Job) -> bool:
        expires = job.origin.token_expires_at
        return (
            bool(job.origin.interaction_token)
            and expires is not None
            and (self.clock() < expires - TOKEN_MARGIN)
        )

    def _webhook(self, job: Job) -> discord.Webhook:
        app_id = self.client.application_id
        assert app_id is not None and job.origin.interaction_token is not None
        return discord.Webhook.partial(app_id, job.origin.interaction_token, client=self.client)

    async def _edit_status(self, job: Job, text: str, view: discord.ui.View | None = None) -> bool:
        """Replace the status line; False when it could not be (no token, an error)."""
        if not self._token_alive(job) or job.origin.status_message_id is None:
            return False
        try:
            await self._webhook(job).edit_message(
                int(job.origin.status_message_id),
                content=truncate(self.scrub(text), MESSAGE_LIMIT),
                allowed_mentions=NO_MENTIONS,
                view=view,
            )
        except Exception as exc:  # a status line is best effort: never fatal to the job
            log.info("job %s: status edit failed (%r)", job.id, exc)
            return False
        return True

    # ------------------------------------------------------------------ Delivery

    async def progress(self, job: Job, progress: Progress) -> None:
        """Edit the requester's status message, throttled to stay inside rate limits."""
        text = progress_text(progress)
        now = self.clock()
        if progress.stage in (Stage.SUBMITTED, Stage.GENERATING):
            self._start_ticker(job)
        else:
            self._stop_ticker(job.id)
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
        await self._edit_status(job, text, self.cancel_view_for(job) if queued else None)

    def _start_ticker(self, job: Job) -> None:
        """Keep the elapsed time moving while the provider works (sync providers never poll)."""
        if job.id in self._tickers or not self._token_alive(job):
            return

        async def tick() -> None:
            while self._token_alive(job):
                await asyncio.sleep(TICK_INTERVAL)
                if job.id not in self._last_edit:
                    return
                elapsed = self.clock() - job.created_at
                text = progress_text(Progress(Stage.GENERATING, elapsed=elapsed))
                self._last_edit[job.id] = (self.clock(), text, Stage.GENERATING)
                await self._edit_status(job, text)

        task = asyncio.get_running_loop().create_task(tick())
        self._tickers[job.id] = task
        task.add_done_callback(lambda _: self._tickers.pop(job.id, None))

    def _stop_ticker(self, job_id: str) -> None:
        task = self._tickers.pop(job_id, None)
        if task is not None:
            task.cancel()

    async def close(self) -> None:
        """Stop every progress ticker."""
        tasks = list(self._tickers.values())
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)

    async def deliver(self, job: Job, images: list[ImageFile], attempt: int) -> Receipt:
        """Post the results (see the module docstring); idempotent per job."""
        try:
            return await self._deliver(job, images)
        except (aiohttp.ClientError, TimeoutError, OSError) as exc:
            # a dropped connection: try again later (the next attempt looks for an earlier post)
            raise DeliveryError(f"Discord connection failed ({type(exc).__name__})") from exc

    async def _deliver(self, job: Job, images: list[ImageFile]) -> Receipt:
        self._stop_ticker(job.id)
        channel = await self._channel(job)
        quota = await self._quota(job)
        now = self.clock()
        # without Embed Links Discord drops embeds silently: say the same in plain text
        embed = result_embed(job, quota, now) if _may_embed(channel) else None
        text = None if embed is not None else result_text(job, quota, now)
        refused: str | None = None
        if self._token_alive(job):
            try:
                message = await send_fitted(
                    lambda files: self._webhook(job).send(
                        content=text or MISSING,
                        embed=embed or MISSING,
                        files=files,
                        view=_unstored_view(self.view_for, job),
                        allowed_mentions=NO_MENTIONS,
                        wait=True,
                    ),
                    job,
                    images,
                    job.origin.upload_limit or DM_UPLOAD_LIMIT,
                )
            except CannotPostHereError as exc:
                refused = exc.reason
            except discord.HTTPException as exc:
                if exc.code not in TOKEN_GONE:
                    # 5xx (after discord.py's own retries) may be transient, and may even have
                    # posted: retry later, first looking for an earlier post. Another 4xx is a
                    # refusal that would only repeat.
                    raise DeliveryError(
                        f"Discord refused the follow-up: {exc.text}", permanent=exc.status < 500
                    ) from exc
                log.info("job %s: follow-up failed (%s); posting in the channel", job.id, exc)
            else:
                assert message is not None
                self._last_edit.pop(job.id, None)
                await self._edit_status(job, "✅ Done — posted below.")
                return Receipt(via="followup", message_id=str(message.id))
        if channel is not None and refused is None:
            try:
                return await self._post_in_channel(job, channel, images, embed, text)
            except CannotPostHereError as exc:
                refused = exc.reason
                log.info("job %s: may not post in the channel (%s); sending a DM", job.id, refused)
        return await self._send_dm(job, images, quota, refused or "I can't reach that channel")

    async def failed(self, job: Job, kind: FailureKind, message: str, refunded: bool) -> None:
        """Tell the requester, privately when the token lives, else by DM or a channel note."""
        self._last_edit.pop(job.id, None)
        self._stop_ticker(job.id)
        text = self.scrub(failure_text(job, kind, message, refunded))
        if await self._edit_status(job, text):
            return
        # the token has expired (or the edit failed): a DM, else a note in the channel
        user = await self._user(job)
        if user is not None:
            try:
                await user.send(text, allowed_mentions=NO_MENTIONS)
                return
            except discord.HTTPException:
                pass
        channel = await self._channel(job)
        if channel is not None:
            try:
                await channel.send(
                    f"<@{job.origin.user_id}> {text}",
                    allowed_mentions=discord.AllowedMentions(
                        everyone=False, roles=False, users=[discord.Object(int(job.origin.user_id))]
                    ),
                )
            except discord.HTTPException as exc:
                log.warning(
                    "job %s: could not tell the requester about the failure (%s)", job.id, exc
                )

    # ------------------------------------------------------------------ fallbacks

    async def _post_in_channel(
        self,
        job: Job,
        channel: discord.abc.Messageable,
        images: list[ImageFile],
        embed: discord.Embed | None,
        text: str | None,
    ) -> Receipt:
        """The bot's own message, fitted to the server's limit; pings the requester only."""
        mention_requester = discord.AllowedMentions(
            everyone=False,
            roles=False,
            replied_user=False,
            users=[discord.Object(int(job.origin.user_id))],
        )
        try:
            message = await send_fitted(
                lambda files: channel.send(
                    content=f"<@{job.origin.user_id}>" + (f" {text}" if text else ""),
                    embeds=[embed] if embed is not None else [],
                    files=files,
                    view=_unstored_view(self.view_for, job),
                    allowed_mentions=mention_requester,
                    nonce=f"bb{job.id}",
                ),
                job,
                images,
                _upload_limit(channel),
            )
        except discord.HTTPException as exc:
            raise DeliveryError(
                f"Discord refused the channel post: {exc.text}", permanent=exc.status < 500
            ) from exc
        return Receipt(via="channel", message_id=str(message.id))

    async def _send_dm(
        self, job: Job, images: list[ImageFile], quota: QuotaSnapshot | None, reason: str
    ) -> Receipt:
        """The last resort: the requester's DMs, saying why the images came this way."""
        user = await self._user(job)
        if user is None:
            raise DeliveryError(
                f"neither the channel ({reason}) nor the requester can be reached", permanent=True
            )
        try:
            message = await send_fitted(
                lambda files: user.send(
                    content=f"I couldn't post your images in that channel ({reason}), "
                    "so here they are.",
                    embed=result_embed(job, quota, self.clock()),
                    files=files,
                    view=_unstored_view(self.view_for, job),
                    allowed_mentions=NO_MENTIONS,
                ),
                job,
                images,
                DM_UPLOAD_LIMIT,
            )
        except (CannotPostHereError, discord.HTTPException) as exc:
            raise DeliveryError(
                f"the bot may not post in the channel ({reason}) and the requester's DMs are "
                "closed",
                permanent=True,
            ) from exc
        return Receipt(via="dm", message_id=str(message.id))

    async def earlier_delivery(self, job: Job) -> Receipt | None:
        """After a crash mid-delivery: a result message for this job that is already posted
        (in the channel, or in the requester's DMs)."""
        channel = await self._channel(job)
        if channel is not None:
            found = await self._search(job, channel, "recovered")
            if found is not None:
                return found
        user = await self._user(job)
        if user is not None:
            return await self._search(job, user, "dm")
        return None

    async def _search(self, job: Job, where: discord.abc.Messageable, via: str) -> Receipt | None:
        marker = f":{job.id}"
        bot_id = self.client.user.id if self.client.user else None
        try:
            async for message in where.history(limit=50):
                if message.author.id != bot_id:
                    continue
                for row in message.components:
                    for item in getattr(row, "children", []):
                        if str(getattr(item, "custom_id", "")).endswith(marker):
                            return Receipt(via=via, message_id=str(message.id))
        except discord.HTTPException as exc:
            log.info("job %s: could not read message history (%s)", job.id, exc)
        return None

    async def _quota(self, job: Job) -> QuotaSnapshot | None:
        try:
            return await self.quota(job)
        except Exception:
            log.exception("job %s: quota lookup failed", job.id)
            return None

    async def _channel(self, job: Job) -> discord.abc.Messageable | None:
        if job.origin.channel_id is None:
            return None
        channel_id = int(job.origin.channel_id)
        channel = self.client.get_channel(channel_id)
        if channel is None:
            try:
                channel = await self.client.fetch_channel(channel_id)
            except discord.HTTPException:
                return None
        return channel if isinstance(channel, discord.abc.Messageable) else None

    async def _user(self, job: Job) -> discord.User | None:
        user_id = int(job.origin.user_id)
        user = self.client.get_user(user_id)
        if user is not None:
            return user
        try:
            return await self.client.fetch_user(user_id)
        except discord.HTTPException:
            return None


def _may_embed(channel: discord.abc.Messageable | None) -> bool:
    """Whether the bot may embed links in ``channel`` (always in DMs, or when unknown)."""
    if isinstance(channel, discord.abc.GuildChannel | discord.Thread):
        me = channel.guild.me
        if me is not None:
            return channel.permissions_for(me).embed_links
    return True


def _upload_limit(channel: discord.abc.Messageable) -> int:
    """Per-file bytes the bot's own message may carry: the server's boost tier decides."""
    if isinstance(channel, discord.abc.GuildChannel | discord.Thread):
        return channel.guild.filesize_limit
    return DM_UPLOAD_LIMIT
