"""What the bot says: progress lines, failure messages, result embeds. Short and ping-free."""

from __future__ import annotations

from datetime import datetime

import discord

from bot.discord.sources import sources_markdown
from bot.jobs.models import FailureKind, Job, Progress, Stage
from bot.jobs.quota import BudgetExceededError, BudgetSnapshot, QuotaSnapshot

EMBED_DESCRIPTION_LIMIT = 4096
MESSAGE_LIMIT = 2000  # characters of a message's content
COLOR = 0xF7D038  # banana

NO_MENTIONS = discord.AllowedMentions.none()
GONE = "❌ I no longer know that image's settings."
REFERENCES_DELETED = (
    "❌ The reference images of this result are no longer kept (they are deleted some time "
    "after delivery); run the command again with them attached. Nothing was charged."
)


def sentence(text: str) -> str:
    """``text`` ending with a full stop (unless it already ends a sentence)."""
    text = text.rstrip()
    return text if text.endswith((".", "!", "?")) else f"{text}."


def truncate(text: str, limit: int) -> str:
    """``text`` cut to ``limit`` characters, with an ellipsis when cut."""
    return text if len(text) <= limit else text[: limit - 1] + "…"


def progress_text(progress: Progress, started_at: float) -> str:
    """One status line for the requester. The time the provider started is a Discord
    timestamp (``<t:…:R>``, "12 seconds ago"), which every client keeps current by itself: the
    line needs no edits while it ages. Submitted and generating read the same (one edit)."""
    if progress.stage is Stage.QUEUED:
        where = f" — position {progress.position} in line" if progress.position else ""
        return f"⏳ Queued{where}"
    if progress.stage in (Stage.SUBMITTED, Stage.GENERATING):
        return f"🎨 Generating… started <t:{int(started_at)}:R>"
    return "📤 Uploading…"


_FAILURES: dict[FailureKind, str] = {
    FailureKind.INVALID: "That request can't be made",
    FailureKind.REJECTED: "The provider rejected the request",
    FailureKind.BAD_KEY: "The provider refused the bot's API key (tell a server admin)",
    FailureKind.NO_CREDITS: "The provider account is out of credits (tell a server admin)",
    FailureKind.RATE_LIMITED: "The provider is busy right now",
    FailureKind.UNAVAILABLE: "The provider is unavailable right now",
    FailureKind.UNKNOWN_OUTCOME: "The provider did not answer",
    FailureKind.GENERATION_FAILED: "The provider could not generate it",
    FailureKind.TIMED_OUT: "It took too long",
    FailureKind.UNDELIVERABLE: "The images could not be posted",
    FailureKind.CANCELLED: "Cancelled",
    FailureKind.INTERNAL: "Something went wrong",
}


def failure_text(job: Job, kind: FailureKind, reason: str, refunded: bool) -> str:
    """A short failure message with the provider's reason and whether credits came back."""
    head = _FAILURES.get(kind, "Something went wrong")
    detail = f": {truncate(reason, 300)}" if reason and kind is not FailureKind.INTERNAL else ""
    credits = f" Your {job.cost} credit(s) were refunded." if refunded else ""
    ref = f" (ref {job.id})" if kind in (FailureKind.INTERNAL, FailureKind.UNKNOWN_OUTCOME) else ""
    return f"❌ {head}{detail}.{credits}{ref}"


def quota_line(snapshot: QuotaSnapshot) -> str:
    """Remaining allowance and when it resets."""
    reset = discord.utils.format_dt(snapshot.resets_at, "R")
    if snapshot.remaining is None:
        return f"Unlimited credits. Reserved {snapshot.reserved}, spent {snapshot.spent} today."
    return (
        f"{snapshot.remaining} of {snapshot.allowance} credit(s) left today "
        f"(reserved {snapshot.reserved}, spent {snapshot.spent}); resets {reset}."
    )


def _settings(job: Job) -> str:
    request = job.request
    settings = [f"{request.aspect_ratio or 'default'} aspect"]
    if request.resolution:
        settings.append(request.resolution)
    if request.grounding:
        settings.append("grounded")
    if request.references:
        settings.append(f"{len(request.references)} reference(s)")
    return ", ".join(settings)


def _credits(job: Job, quota: QuotaSnapshot | None) -> str:
    credits = f"{job.cost} used"
    if quota is not None and quota.remaining is not None:
        credits += f", {quota.remaining} left today"
    return credits


def result_embed(job: Job, quota: QuotaSnapshot | None, finished_at: float) -> discord.Embed:
    """The compact embed posted with the images."""
    embed = discord.Embed(
        description=truncate(job.request.prompt, 1000),
        color=COLOR,
        timestamp=datetime.fromtimestamp(finished_at).astimezone(),
    )
    embed.add_field(name="Settings", value=_settings(job), inline=True)
    embed.add_field(name="Model", value=f"{job.provider} · {job.model}", inline=True)
    embed.add_field(name="Credits", value=_credits(job, quota), inline=True)
    embed.add_field(name="Requested by", value=f"<@{job.origin.user_id}>", inline=True)
    sources = sources_markdown(job.sources)
    if sources is not None:  # a grounded result: the pages it drew on
        embed.add_field(name="Sources", value=sources, inline=False)
    embed.set_footer(text=f"{finished_at - job.created_at:.0f} s · job {job.id}")
    return embed


def result_text(job: Job, quota: QuotaSnapshot | None, finished_at: float) -> str:
    """What the embed says, as plain text: for channels where the bot may not embed links."""
    return (
        f"{_settings(job)} · {job.provider} · {job.model} · credits: {_credits(job, quota)} · "
        f"requested by <@{job.origin.user_id}> · {finished_at - job.created_at:.0f} s · "
        f"job {job.id}\n{_sources_line(job)}>>> {truncate(job.request.prompt, 1000)}"
    )


def _sources_line(job: Job) -> str:
    sources = sources_markdown(job.sources, limit=600)
    return f"Sources: {sources}\n" if sources is not None else ""


def budget_line(refused: BudgetExceededError) -> str:
    """Why a server's budget refused a request, and when it resets."""
    snapshot, period = refused.snapshot, refused.period
    reset = discord.utils.format_dt(snapshot.resets_at(period), "R")
    return (
        f"❌ This server's {'daily' if period == 'day' else 'monthly'} image budget is spent "
        f"({snapshot.remaining(period)} of {snapshot.budget.limit(period)} credit(s) left; "
        f"this needs {refused.cost}). It resets {reset}. Nothing was charged."
    )


def budget_status(snapshot: BudgetSnapshot) -> str | None:
    """The server's budget as ``/quota`` shows it (None: the server has no budget)."""
    parts = []
    for period, name in (("day", "today"), ("month", "this month")):
        limit = snapshot.budget.limit(period)
        if limit is not None:
            reset = discord.utils.format_dt(snapshot.resets_at(period), "R")
            parts.append(f"{snapshot.remaining(period)} of {limit} left {name} (resets {reset})")
    return f"Server budget: {'; '.join(parts)}." if parts else None


def result_url(job: Job) -> str | None:
    """The link to a job's posted result in its channel (None: not posted there, or by DM)."""
    origin = job.origin
    if job.posted_message_id and job.delivered_via != "dm" and origin.channel_id:
        return (
            f"https://discord.com/channels/{origin.guild_id}/{origin.channel_id}/"
            f"{job.posted_message_id}"
        )
    return None
