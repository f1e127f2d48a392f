"""Buttons on every result (Re-roll, Edit, 4K, Delete) and Cancel on a queued job's status.

Each is a :class:`discord.ui.DynamicItem` whose custom id carries the job id
(``bb:<action>:<job>``), so they keep working after a restart: the job is read back from the
database when pressed, not from memory. Every callback acknowledges the interaction before
touching the database (Discord allows 3 s); Edit opens a modal, which is its acknowledgement.
"""

from __future__ import annotations

import re
import time
from typing import Any

import discord

from bot.discord.audit import audit_of
from bot.discord.errors import guarded
from bot.discord.image_buttons import add_image_buttons
from bot.discord.intake import is_image
from bot.discord.modals import EditModal
from bot.discord.services import Services, services_of
from bot.discord.texts import GONE, REFERENCES_DELETED
from bot.jobs.models import Job
from bot.media.cdn import expired_urls
from bot.moderation.audit import AuditEvent, AuditKind

JOB = r"(?P<job>[0-9a-f]{12})"


def _services(interaction: discord.Interaction) -> Services:
    return services_of(interaction.client)


async def _tell(interaction: discord.Interaction, text: str) -> None:
    """Answer privately, whichever way the interaction was acknowledged."""
    await _services(interaction).intake.tell(interaction, text)


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
                label=label,
                emoji=emoji,
                style=style,
                custom_id=f"bb:{self.action}:{job_id}",
                row=0,
            )
        )
        self.job_id = job_id

    @classmethod
    async def from_custom_id(  # type: ignore[override]
        cls, interaction: discord.Interaction, item: discord.ui.Button[Any], match: re.Match[str]
    ) -> _JobButton:
        return cls(match["job"])  # type: ignore[call-arg]

    async def job(self, interaction: discord.Interaction, *, images: bool = False) -> Job | None:
        """The job behind the button, or None (after telling the user)."""
        job = await _services(interaction).engine.get_job(self.job_id, images=images)
        if job is None:
            await _tell(interaction, GONE)
        return job


async def _rerun(interaction: discord.Interaction, job: Job, *, upscale: bool) -> None:
    """Start the job's request again for whoever pressed (at 4K when ``upscale``)."""
    intake = _services(interaction).intake
    provider = intake.catalog.providers.get(job.provider)
    if upscale and (
        provider is None or "4K" not in provider.capabilities.model(job.model).resolutions
    ):
        await _tell(interaction, f"❌ 4K is not available on {job.provider} {job.model}.")
        return
    if job.request.references and job.references_purged_at is not None:
        await _tell(interaction, REFERENCES_DELETED)
        return
    if expired_urls([r.url for r in job.request.references if r.url], time.time()):
        await _tell(
            interaction,
            "❌ The reference images of this result have expired on Discord's CDN; run the "
            "command again with them attached. Nothing was charged.",
        )
        return
    update: dict[str, Any] = {"count": job.group_size} if job.group_size > 1 else {}
    if upscale:
        update["resolution"] = "4K"
    request = job.request.model_copy(update=update)
    await intake.start(
        interaction,
        job.provider,
        request,
        kind="upscale" if upscale else "reroll",
        parent_job_id=job.id,
    )


class RerollButton(_JobButton, template=r"bb:reroll:" + JOB):
    """Run the same request again, charged to whoever presses."""

    action = "reroll"

    def __init__(self, job_id: str) -> None:
        super().__init__(job_id, label="Re-roll", emoji="🔄")

    @guarded
    async def callback(self, interaction: discord.Interaction) -> None:
        await interaction.response.defer(ephemeral=True, thinking=True)
        job = await self.job(interaction, images=True)
        if job is not None:
            await _rerun(interaction, job, upscale=False)


class UpscaleButton(_JobButton, template=r"bb:4k:" + JOB):
    """Run the request again at 4K where the model supports it."""

    action = "4k"

    def __init__(self, job_id: str) -> None:
        super().__init__(job_id, label="4K", emoji="🔍")

    @guarded
    async def callback(self, interaction: discord.Interaction) -> None:
        await interaction.response.defer(ephemeral=True, thinking=True)
        job = await self.job(interaction, images=True)
        if job is not None:
            await _rerun(interaction, job, upscale=True)


class EditButton(_JobButton, template=r"bb:edit:" + JOB):
    """Ask for an instruction and edit this result."""

    action = "edit"

    def __init__(self, job_id: str) -> None:
        super().__init__(job_id, label="Edit", emoji="✏️")

    @guarded
    async def callback(self, interaction: discord.Interaction) -> None:
        message = interaction.message
        images = [a for a in message.attachments if is_image(a)] if message else []
        if not images:
            await interaction.response.send_message(
                "❌ This message has no image left to edit.", ephemeral=True
            )
            return
        # the modal is the acknowledgement: the job is read when it is submitted
        await interaction.response.send_modal(
            EditModal(
                _services(interaction).intake,
                images[0],
                parent_job_id=self.job_id,
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
        await interaction.response.defer(ephemeral=True, thinking=True)
        job = await self.job(interaction)
        if job is None:
            return
        allowed = str(interaction.user.id) == job.origin.user_id or (
            interaction.permissions.manage_messages
        )
        if not allowed:
            await _tell(
                interaction,
                "Sorry, only the person who made this image or a moderator can delete it.",
            )
            return
        if await self._delete(interaction, job):
            await _tell(interaction, "🗑️ Deleted.")
            audit = audit_of(interaction.client)
            if audit is not None and job.origin.guild_id is not None:
                await audit.record(
                    AuditEvent(
                        guild_id=job.origin.guild_id,
                        kind=AuditKind.DELETED,
                        at=time.time(),
                        actor_id=str(interaction.user.id),
                        job_id=job.id,
                        channel_id=job.origin.channel_id,
                        detail={"requester": job.origin.user_id, "prompt": job.request.prompt},
                    )
                )
        else:
            await _tell(interaction, "❌ I couldn't delete that message (missing permission?).")

    @staticmethod
    async def _delete(interaction: discord.Interaction, job: Job) -> bool:
        message = interaction.message
        if message is None:
            return False
        try:
            await message.delete()
            return True
        except discord.HTTPException:
            pass
        # without channel access the bot may still own it through the original interaction
        token, app_id = job.origin.interaction_token, interaction.client.application_id
        if token and app_id and job.posted_message_id == str(message.id):
            try:
                webhook = discord.Webhook.partial(app_id, token, client=interaction.client)
                await webhook.delete_message(message.id)
                return True
            except discord.HTTPException:
                return False
        return False


class CancelButton(_JobButton, template=r"bb:cancel:" + JOB):
    """On the private status message while queued: give up the job and get the credits back."""

    action = "cancel"

    def __init__(self, job_id: str) -> None:
        super().__init__(job_id, label="Cancel", emoji="✖️")

    @guarded
    async def callback(self, interaction: discord.Interaction) -> None:
        await interaction.response.defer()  # an update of the status message comes next
        job = await _services(interaction).engine.get_job(self.job_id, images=False)
        if job is None or str(interaction.user.id) != job.origin.user_id:
            text = GONE if job is None else "Only the requester can cancel this."
            await interaction.followup.send(text, ephemeral=True)
            return
        if await _services(interaction).engine.cancel(job.id):
            await interaction.edit_original_response(
                content=f"✖️ Cancelled. Your {job.cost} credit(s) were refunded.", view=None
            )
        else:
            await interaction.followup.send(
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
    """The buttons under a result (persistent: no timeout); with several images, 4K, Vary and
    Edit for each (:mod:`.image_buttons`)."""
    view = discord.ui.View(timeout=None)
    for button in (RerollButton, EditButton, UpscaleButton, DeleteButton):
        view.add_item(button(job.id))
    if len(job.results) > 1:  # a row of actions per image
        add_image_buttons(view, job.id, len(job.results))
    return view


def cancel_view(job: Job) -> discord.ui.View:
    """The Cancel button on the private status message of a queued job."""
    view = discord.ui.View(timeout=None)
    view.add_item(CancelButton(job.id))
    view.stop()  # clicks are routed by the registered DynamicItem; nothing to keep in memory
    return view
