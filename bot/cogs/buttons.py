"""Buttons on every result: Re-roll, Edit, 4K, Delete.

Each is a :class:`discord.ui.DynamicItem` whose custom id carries the job id
(``bb:<action>:<job>``), so they keep working after a restart: the job is read back from the
database when pressed, not from memory.
"""

from __future__ import annotations

import re
from typing import TYPE_CHECKING, Any, cast

import discord

from bot.cogs.errors import guarded
from bot.cogs.generate import EditModal, _is_image
from bot.jobs.models import Job

if TYPE_CHECKING:
    from bot.client import BananaBot

JOB = r"(?P<job>[0-9a-f]{12})"


async def _job(interaction: discord.Interaction, job_id: str) -> Job | None:
    bot = cast("BananaBot", interaction.client)
    job = await bot.engine.jobs.get(job_id)
    if job is None:
        await interaction.response.send_message(
            "❌ I no longer know that image's settings.", ephemeral=True
        )
    return job


class _JobButton(discord.ui.DynamicItem[discord.ui.Button[Any]], template=r"bb:x:" + JOB):
    """Shared parts; subclasses set ``action``, the label and the template."""

    action = "x"

    def __init__(
        self,
        job_id: str,
        *,
        label: str,
        emoji: str,
        style: discord.ButtonStyle = discord.ButtonStyle.secondary,
    ) -> None:
        super().__init__(
            discord.ui.Button(
                label=label, emoji=emoji, style=style, custom_id=f"bb:{self.action}:{job_id}"
            )
        )
        self.job_id = job_id

    @classmethod
    async def from_custom_id(  # type: ignore[override]
        cls, interaction: discord.Interaction, item: discord.ui.Button[Any], match: re.Match[str]
    ) -> _JobButton:
        return cls(match["job"])  # type: ignore[call-arg]

    @staticmethod
    def bot(interaction: discord.Interaction) -> BananaBot:
        return cast("BananaBot", interaction.client)


class RerollButton(_JobButton, template=r"bb:reroll:" + JOB):
    """Run the same request again, charged to whoever presses."""

    action = "reroll"

    def __init__(self, job_id: str) -> None:
        super().__init__(job_id, label="Re-roll", emoji="🔄")

    @guarded
    async def callback(self, interaction: discord.Interaction) -> None:
        job = await _job(interaction, self.job_id)
        if job is None:
            return
        await interaction.response.defer(ephemeral=True, thinking=True)
        await self.bot(interaction).starter.start(
            interaction, job.provider, job.request, kind="reroll", parent_job_id=job.id
        )


class UpscaleButton(_JobButton, template=r"bb:4k:" + JOB):
    """Run the request again at 4K where the model supports it."""

    action = "4k"

    def __init__(self, job_id: str) -> None:
        super().__init__(job_id, label="4K", emoji="🔍")

    @guarded
    async def callback(self, interaction: discord.Interaction) -> None:
        job = await _job(interaction, self.job_id)
        if job is None:
            return
        bot = self.bot(interaction)
        provider = bot.starter.providers.get(job.provider)
        if provider is None or "4K" not in provider.capabilities.model(job.model).resolutions:
            await interaction.response.send_message(
                f"❌ 4K is not available on {job.provider} {job.model}.", ephemeral=True
            )
            return
        await interaction.response.defer(ephemeral=True, thinking=True)
        request = job.request.model_copy(update={"resolution": "4K"})
        await bot.starter.start(
            interaction, job.provider, request, kind="upscale", parent_job_id=job.id
        )


class EditButton(_JobButton, template=r"bb:edit:" + JOB):
    """Ask for an instruction and edit this result."""

    action = "edit"

    def __init__(self, job_id: str) -> None:
        super().__init__(job_id, label="Edit", emoji="✏️")

    @guarded
    async def callback(self, interaction: discord.Interaction) -> None:
        job = await _job(interaction, self.job_id)
        if job is None:
            return
        message = interaction.message
        images = [a for a in message.attachments if _is_image(a)] if message else []
        if not images:
            await interaction.response.send_message(
                "❌ This message has no image left to edit.", ephemeral=True
            )
            return
        await interaction.response.send_modal(
            EditModal(
                self.bot(interaction).starter,
                images[0],
                model=f"{job.provider}:{job.model}",
                parent_job_id=job.id,
                origin_message_id=message.id if message else None,
            )
        )


class DeleteButton(_JobButton, template=r"bb:delete:" + JOB):
    """Delete the result: the requester, or members who may manage messages."""

    action = "delete"

    def __init__(self, job_id: str) -> None:
        super().__init__(job_id, label="Delete", emoji="🗑️", style=discord.ButtonStyle.danger)

    @guarded
    async def callback(self, interaction: discord.Interaction) -> None:
        job = await _job(interaction, self.job_id)
        if job is None:
            return
        allowed = str(interaction.user.id) == job.origin.user_id or (
            interaction.permissions.manage_messages
        )
        if not allowed:
            await interaction.response.send_message(
                "Sorry, only the person who made this image or a moderator can delete it.",
                ephemeral=True,
            )
            return
        if interaction.message is not None:
            try:
                await interaction.message.delete()
            except discord.HTTPException:
                await interaction.response.send_message(
                    "❌ I couldn't delete that message.", ephemeral=True
                )
                return
        await interaction.response.send_message("🗑️ Deleted.", ephemeral=True)


class CancelButton(_JobButton, template=r"bb:cancel:" + JOB):
    """On the private status message while queued: give up the job and get the credits back."""

    action = "cancel"

    def __init__(self, job_id: str) -> None:
        super().__init__(job_id, label="Cancel", emoji="✖️")

    @guarded
    async def callback(self, interaction: discord.Interaction) -> None:
        job = await _job(interaction, self.job_id)
        if job is None:
            return
        if str(interaction.user.id) != job.origin.user_id:
            await interaction.response.send_message(
                "Only the requester can cancel this.", ephemeral=True
            )
            return
        if await self.bot(interaction).engine.cancel(job.id):
            await interaction.response.edit_message(
                content=f"✖️ Cancelled. Your {job.cost} credit(s) were refunded.", view=None
            )
        else:
            await interaction.response.send_message(
                "It has already started, so it can't be cancelled now.", ephemeral=True
            )


BUTTONS: tuple[type[_JobButton], ...] = (
    RerollButton,
    EditButton,
    UpscaleButton,
    DeleteButton,
    CancelButton,
)


def result_view(job: Job) -> discord.ui.View:
    """The buttons under a result (persistent: no timeout)."""
    view = discord.ui.View(timeout=None)
    for button in (RerollButton, EditButton, UpscaleButton, DeleteButton):
        view.add_item(button(job.id))
    return view


def cancel_view(job: Job) -> discord.ui.View:
    """The Cancel button on the private status message of a queued job."""
    view = discord.ui.View(timeout=None)
    view.add_item(CancelButton(job.id))
    view.stop()  # clicks are routed by the registered DynamicItem; nothing to keep in memory
    return view
