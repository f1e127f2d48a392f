"""The Discord side of the delivery seam: progress edits, result posts, failure notices.

Progress goes to the requester's private status message (the deferred interaction response;
see :mod:`.progress`). Results go as a public follow-up while the interaction token
lives (15 minutes); after that, or when a follow-up fails with 50027, as the bot's own channel
message; if Discord refuses the place (missing permission, archived or locked thread), by DM,
saying why. Each place gets images fitted to its own upload limit (:mod:`.posting`); where the
bot may not embed links, the result says the same in plain text. Every message is sent with no
allowed mentions except, for a channel message, the requester. Delivery is idempotent per job:
a repeated attempt first looks for the message it may already have posted.
"""

from __future__ import annotations

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
from bot.discord.progress import EditBudget, StatusLine, webhook
from bot.discord.texts import NO_MENTIONS, failure_text, result_embed, result_text
from bot.jobs.models import FailureKind, Job, Progress, Receipt
from bot.jobs.ports import DeliveryError
from bot.jobs.quota import QuotaSnapshot
from bot.media.sniff import ImageFile

log = logging.getLogger(__name__)

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
        edit_budget: EditBudget | None = None,
    ) -> None:
        self.client = client
        self.quota = quota
        self.view_for = view_for
        self.cancel_view_for = cancel_view_for
        self.clock = clock
        self.scrub = scrub  # the process's one scrubber: on every text the bot sends
        #: status edits across all jobs: :class:`~.progress.EditBudget` (5 a second by default)
        self.status = StatusLine(client, cancel_view_for, clock, scrub, edit_budget)

    # ------------------------------------------------------------------ Delivery

    async def progress(self, job: Job, progress: Progress) -> None:
        """Edit the requester's status message (see :mod:`.progress`)."""
        await self.status.progress(job, progress)

    async def close(self) -> None:
        """Nothing runs in the background (kept for the runtime's shutdown order)."""

    async def deliver(self, job: Job, images: list[ImageFile], attempt: int) -> Receipt:
        """Post the results (see the module docstring); idempotent per job."""
        try:
            return await self._deliver(job, images)
        except (aiohttp.ClientError, TimeoutError, OSError) as exc:
            # a dropped connection: try again later (the next attempt looks for an earlier post)
            raise DeliveryError(f"Discord connection failed ({type(exc).__name__})") from exc

    async def _deliver(self, job: Job, images: list[ImageFile]) -> Receipt:
        channel = await self._channel(job)
        quota = await self._quota(job)
        now = self.clock()
        # without Embed Links Discord drops embeds silently: say the same in plain text
        embed = result_embed(job, quota, now) if _may_embed(channel) else None
        text = None if embed is not None else result_text(job, quota, now)
        refused: str | None = None
        if self.status.alive(job):
            await self.status.before_followup(job)
            try:
                message = await send_fitted(
                    lambda files: webhook(self.client, job).send(
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
                self.status.gone(job)
            else:
                assert message is not None
                self.status.finish(job.id)
                await self.status.edit(job, "✅ Done — posted below.")
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
        self.status.finish(job.id)
        text = self.scrub(failure_text(job, kind, message, refunded))
        if await self.status.edit(job, text):
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
