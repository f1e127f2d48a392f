"""A server's audit log on Discord: every entry is stored (:class:`GuildStore`) and, when the
server set an audit-log channel, posted there as a compact embed that pings nobody.

:class:`AuditedNotifier` wraps the notifier so every job that ends in a server is recorded, with
a thumbnail of its first image when it was delivered by this process.
"""

from __future__ import annotations

import contextlib
import dataclasses
import io
import logging
from collections import OrderedDict
from collections.abc import Callable
from datetime import UTC, datetime

import discord

from bot.discord.notifier import DiscordNotifier
from bot.discord.texts import COLOR, NO_MENTIONS, result_url, truncate
from bot.jobs.models import FailureKind, Job, Progress, Receipt
from bot.jobs.ports import StoreUnavailableError
from bot.jobs.states import JobStatus
from bot.media.sniff import ImageFile, NotAnImageError
from bot.media.thumbnail import thumbnail_async
from bot.moderation.audit import AuditEvent, AuditKind
from bot.moderation.policy import GuildPolicy
from bot.moderation.ports import GuildStore

log = logging.getLogger(__name__)

#: thumbnails of delivered jobs waiting for their end to be recorded, at most
MAX_THUMBNAILS = 200
_COLORS = {
    AuditKind.JOB: COLOR,
    AuditKind.REFUSED: 0xE67E22,
    AuditKind.SETTINGS: 0x3498DB,
    AuditKind.DELETED: 0x95A5A6,
}


def job_event(job: Job, at: float) -> AuditEvent:
    """The audit entry of a job that ended."""
    request = job.request
    assert job.origin.guild_id is not None
    detail: dict[str, str | int | float | bool | None] = {
        "status": job.status.value,
        "prompt": request.prompt,
        "provider": job.provider,
        "model": job.model,
        "cost": job.cost,
        "charged": job.status is JobStatus.DELIVERED,
        "aspect": request.aspect_ratio,
        "resolution": request.resolution,
        "grounding": request.grounding,
        "references": len(request.references),
        "kind": job.kind,
    }
    if job.failure_kind is not None:
        detail["failure"] = job.failure_kind.value
        detail["reason"] = job.failure_reason
    if (url := result_url(job)) is not None:
        detail["link"] = url
    return AuditEvent(
        guild_id=job.origin.guild_id,
        kind=AuditKind.JOB,
        at=at,
        actor_id=job.origin.user_id,
        job_id=job.id,
        channel_id=job.origin.channel_id,
        detail=detail,
    )


def audit_embed(event: AuditEvent) -> discord.Embed:
    """A compact embed of one entry (mentions render as names; nobody is pinged)."""
    detail = event.detail
    title = {
        AuditKind.JOB: f"Job {detail.get('status', '')}",
        AuditKind.REFUSED: f"Refused: {detail.get('reason', '')}",
        AuditKind.SETTINGS: f"Settings: {detail.get('setting', '')}",
        AuditKind.DELETED: "Result deleted",
    }[event.kind]
    embed = discord.Embed(
        title=truncate(title, 250),
        color=_COLORS[event.kind],
        timestamp=datetime.fromtimestamp(event.at, UTC),
    )
    if event.actor_id:
        embed.add_field(name="By", value=f"<@{event.actor_id}>", inline=True)
    if event.channel_id:
        embed.add_field(name="Channel", value=f"<#{event.channel_id}>", inline=True)
    for key, value in detail.items():
        if key in ("status", "setting") or value is None or value == "":
            continue
        if key == "prompt":
            embed.description = truncate(str(value), 1000)
            continue
        shown = f"[result]({value})" if key == "link" else truncate(str(value), 200)
        embed.add_field(name=key.capitalize(), value=shown, inline=True)
        if len(embed.fields) >= 20:
            break
    if event.job_id:
        embed.set_footer(text=f"job {event.job_id}")
    return embed


class AuditLog:
    """Records audit entries and posts them where a server asked."""

    def __init__(
        self, client: discord.Client, guilds: GuildStore, scrub: Callable[[str], str] = str
    ) -> None:
        self.client = client
        self.guilds = guilds
        self.scrub = scrub

    async def posts(self, guild_id: str) -> bool:
        """Whether the server has an audit-log channel (its entries are posted, with a
        thumbnail); False when the store cannot say."""
        try:
            return (await self.guilds.policy(guild_id)).audit_channel is not None
        except Exception:  # the entry itself is recorded (or its loss logged) later
            return False

    async def record(self, event: AuditEvent, thumbnail: bytes | None = None) -> None:
        """Store ``event`` and post it to the server's audit-log channel (best effort: a
        failure is logged, never raised)."""
        event = self.scrubbed(event)
        try:
            await self.guilds.record(event)
            policy = await self.guilds.policy(event.guild_id)
        except StoreUnavailableError as exc:  # the engine's guard reports the store's state
            log.warning(
                "server %s: an audit entry was lost, store unavailable (%s)", event.guild_id, exc
            )
            return
        except Exception:
            log.exception("server %s: could not store an audit entry", event.guild_id)
            return
        await self.publish(event, policy, thumbnail)

    def scrubbed(self, event: AuditEvent) -> AuditEvent:
        """``event`` with every text value through the process's one scrubber."""
        detail = {key: _scrubbed(value, self.scrub) for key, value in event.detail.items()}
        return dataclasses.replace(event, detail=detail)

    async def publish(
        self, event: AuditEvent, policy: GuildPolicy, thumbnail: bytes | None = None
    ) -> None:
        """Post an entry already stored to the server's audit-log channel, if it has one."""
        if policy.audit_channel is not None:
            await self._post(int(policy.audit_channel), event, thumbnail)

    async def _post(self, channel_id: int, event: AuditEvent, thumbnail: bytes | None) -> None:
        embed = audit_embed(event)
        files = []
        if thumbnail is not None:
            files.append(discord.File(io.BytesIO(thumbnail), filename="thumbnail.jpg"))
            embed.set_thumbnail(url="attachment://thumbnail.jpg")
        try:
            channel = self.client.get_channel(channel_id) or await self.client.fetch_channel(
                channel_id
            )
            if not isinstance(channel, discord.abc.Messageable):
                raise TypeError(f"channel {channel_id} cannot take messages")
            await channel.send(embed=embed, files=files, allowed_mentions=NO_MENTIONS)
        except (discord.HTTPException, TypeError) as exc:
            log.warning("server %s: could not post to the audit log (%s)", event.guild_id, exc)


class AuditedNotifier:
    """The Discord notifier, recording every job that ends in a server in its audit log."""

    def __init__(self, inner: DiscordNotifier, audit: AuditLog, clock: Callable[[], float]) -> None:
        self.inner = inner
        self.audit = audit
        self.clock = clock
        self._thumbnails: OrderedDict[str, bytes] = OrderedDict()

    async def progress(self, job: Job, progress: Progress) -> None:
        """As the Discord notifier."""
        await self.inner.progress(job, progress)

    async def deliver(self, job: Job, images: list[ImageFile], attempt: int) -> Receipt:
        """As the Discord notifier; keeps a thumbnail of the first image for the audit log
        (only for a server whose entries are posted: decoding and scaling an image costs tens
        of milliseconds of the worker pool)."""
        receipt = await self.inner.deliver(job, images, attempt)
        if job.origin.guild_id and images and await self.audit.posts(job.origin.guild_id):
            with contextlib.suppress(NotAnImageError):
                self._thumbnails[job.id] = await thumbnail_async(images[0].data)
            while len(self._thumbnails) > MAX_THUMBNAILS:
                self._thumbnails.popitem(last=False)
        return receipt

    async def earlier_delivery(self, job: Job) -> Receipt | None:
        """As the Discord notifier."""
        return await self.inner.earlier_delivery(job)

    async def failed(self, job: Job, kind: FailureKind, message: str, refunded: bool) -> None:
        """As the Discord notifier."""
        await self.inner.failed(job, kind, message, refunded)

    async def ended(self, job: Job) -> None:
        """Record a job that ended in a server."""
        thumbnail = self._thumbnails.pop(job.id, None)
        if job.origin.guild_id is not None:
            await self.audit.record(job_event(job, self.clock()), thumbnail)

    async def close(self) -> None:
        """As the Discord notifier."""
        await self.inner.close()


def _scrubbed(
    value: str | int | float | bool | None, scrub: Callable[[str], str]
) -> str | int | float | bool | None:
    return scrub(value) if isinstance(value, str) else value


def audit_of(client: discord.Client) -> AuditLog | None:
    """The audit log of the client an interaction arrived on (None: it keeps none)."""
    audit = getattr(client, "audit", None)
    return audit if isinstance(audit, AuditLog) else None
