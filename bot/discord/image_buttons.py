"""Per-image actions under a result of several images, in the spirit of Midjourney's U and V
buttons: **4K #n** (image n again at 4K, from that image), **Vary #n** (a new generation with
image n as the reference and the same prompt and settings) and **Edit #n** (an instruction for
image n). Their custom ids carry the job id and the image's position (``bb:u:<job>:<n>``), so
they keep working after a restart: the settings are read from the database, image n from the
result message's own attachment."""

from __future__ import annotations

import re
from typing import Any

import discord

from bot.discord.errors import guarded
from bot.discord.intake import UserFacingError, is_image
from bot.discord.modals import EditModal
from bot.discord.services import services_of
from bot.discord.texts import GONE
from bot.jobs.models import Job
from providers.base import Mode

JOB_IMAGE = r"(?P<job>[0-9a-f]{12}):(?P<n>[0-3])"
MAX_IMAGES = 4


class _ImageButton(discord.ui.DynamicItem[discord.ui.Button[Any]], template=r"bb:i:" + JOB_IMAGE):
    """Shared parts; subclasses set ``action``, the label and the template."""

    action = "i"
    label = "?"
    emoji = "❔"

    def __init__(self, job_id: str, index: int) -> None:
        super().__init__(
            discord.ui.Button(
                label=f"{self.label} #{index + 1}",
                emoji=self.emoji,
                style=discord.ButtonStyle.secondary,
                custom_id=f"bb:{self.action}:{job_id}:{index}",
                row=min(index + 1, 4),
            )
        )
        self.job_id = job_id
        self.index = index

    @classmethod
    async def from_custom_id(  # type: ignore[override]
        cls, interaction: discord.Interaction, item: discord.ui.Button[Any], match: re.Match[str]
    ) -> _ImageButton:
        return cls(match["job"], int(match["n"]))

    def image(self, interaction: discord.Interaction) -> discord.Attachment | None:
        """Image ``index`` of the result message pressed."""
        message = interaction.message
        images = [a for a in message.attachments if is_image(a)] if message else []
        return images[self.index] if self.index < len(images) else None

    async def _from_image(self, interaction: discord.Interaction, *, upscale: bool) -> None:
        """A new job from image ``index``: at 4K (``upscale``), or a variation."""
        await interaction.response.defer(ephemeral=True, thinking=True)
        intake = services_of(interaction.client).intake
        job = await services_of(interaction.client).engine.get_job(self.job_id, images=False)
        attachment = self.image(interaction)
        if job is None or attachment is None:
            await intake.tell(interaction, GONE if job is None else "❌ That image is gone.")
            return
        try:
            provider, model = intake.resolve(f"{job.provider}:{job.model}")
            if upscale and "4K" not in model.resolutions:
                raise UserFacingError(f"4K is not available on {provider.name} {model.name}.")
            if model.max_references < 1:
                raise UserFacingError(f"{provider.name} {model.name} takes no reference image.")
            request = _from(job, upscale=upscale)
            if await intake.screen(interaction, request) is None:  # before downloading
                return
            attached = [(f"image {self.index + 1}", attachment)]
            async with intake.references(provider, model, attached) as refs:
                await intake.start(
                    interaction,
                    provider.name,
                    request.model_copy(update={"references": refs}),
                    kind="upscale" if upscale else "vary",
                    parent_job_id=job.id,
                    origin_message_id=interaction.message.id if interaction.message else None,
                )
        except UserFacingError as exc:
            await intake.tell(interaction, f"❌ {exc}")


def _from(job: Job, *, upscale: bool) -> Any:
    """The request for a new job from one image of ``job``: its prompt and settings, one
    image; at 4K an edit of that image, otherwise a generation guided by it."""
    update: dict[str, Any] = {"count": 1, "references": ()}
    if upscale:
        update |= {"resolution": "4K", "mode": Mode.EDIT}
    else:
        update |= {"mode": Mode.GENERATE}
    return job.request.model_copy(update=update)


class ImageUpscaleButton(_ImageButton, template=r"bb:u:" + JOB_IMAGE):
    """Image n again at 4K."""

    action = "u"
    label = "4K"
    emoji = "🔍"

    @guarded
    async def callback(self, interaction: discord.Interaction) -> None:
        await self._from_image(interaction, upscale=True)


class VaryButton(_ImageButton, template=r"bb:v:" + JOB_IMAGE):
    """A new generation guided by image n, with the same prompt and settings."""

    action = "v"
    label = "Vary"
    emoji = "🎲"

    @guarded
    async def callback(self, interaction: discord.Interaction) -> None:
        await self._from_image(interaction, upscale=False)


class ImageEditButton(_ImageButton, template=r"bb:e:" + JOB_IMAGE):
    """An instruction for image n."""

    action = "e"
    label = "Edit"
    emoji = "✏️"

    @guarded
    async def callback(self, interaction: discord.Interaction) -> None:
        attachment = self.image(interaction)
        if attachment is None:
            await interaction.response.send_message("❌ That image is gone.", ephemeral=True)
            return
        message = interaction.message
        # the modal is the acknowledgement: the job is read when it is submitted
        await interaction.response.send_modal(
            EditModal(
                services_of(interaction.client).intake,
                attachment,
                parent_job_id=self.job_id,
                origin_message_id=message.id if message else None,
            )
        )


IMAGE_BUTTONS: tuple[type[_ImageButton], ...] = (ImageUpscaleButton, VaryButton, ImageEditButton)


def add_image_buttons(view: discord.ui.View, job_id: str, images: int) -> None:
    """A row per image (4K, Vary, Edit) under the job's own buttons, for up to four images."""
    for index in range(min(images, MAX_IMAGES)):
        for button in IMAGE_BUTTONS:
            view.add_item(button(job_id, index))
