"""``/imagine``, ``/edit`` and the "Edit image" message context menu."""

from __future__ import annotations

from typing import TYPE_CHECKING

import discord
from discord import app_commands
from discord.ext import commands

from bot.cogs.errors import guarded
from bot.starter import JobStarter, UserFacingError
from providers.base import GenerationRequest, Mode, ProviderError

if TYPE_CHECKING:
    from bot.client import BananaBot

ASPECTS = (
    "1:1",
    "2:3",
    "3:2",
    "3:4",
    "4:3",
    "4:5",
    "5:4",
    "9:16",
    "16:9",
    "21:9",
    "1:4",
    "4:1",
    "1:8",
    "8:1",
    "auto",
)
RESOLUTIONS = [app_commands.Choice(name=r, value=r) for r in ("1K", "2K", "4K")]
IMAGE_EXTENSIONS = (".png", ".jpg", ".jpeg", ".webp", ".gif")


#: descriptions of the options /imagine and /edit share
SETTINGS_HELP = {
    "model": "Provider and model",
    "aspect": "Aspect ratio, e.g. 16:9",
    "resolution": "1K, 2K or 4K (costs more)",
    "grounding": "Ground in Google Search results",
    "reference2": "Another reference image",
    "reference3": "Another reference image",
}


def _given(**attachments: discord.Attachment | None) -> list[tuple[str, discord.Attachment]]:
    """The attachment options that were filled in, with their option names."""
    return [(name, a) for name, a in attachments.items() if a is not None]


def _is_image(attachment: discord.Attachment) -> bool:
    declared = (attachment.content_type or "").startswith("image/")
    return declared or attachment.filename.lower().endswith(IMAGE_EXTENSIONS)


class EditModal(discord.ui.Modal, title="Edit image"):
    """Asks for the edit instruction, then starts an edit of the given image."""

    instruction: discord.ui.TextInput[EditModal] = discord.ui.TextInput(
        label="What should change?",
        style=discord.TextStyle.paragraph,
        max_length=2000,
        custom_id="instruction",
        placeholder="e.g. make it night time, add snow",
    )

    def __init__(
        self,
        starter: JobStarter,
        image: discord.Attachment,
        *,
        model: str | None = None,
        parent_job_id: str | None = None,
        origin_message_id: int | None = None,
    ) -> None:
        super().__init__(timeout=900)  # a dismissed modal is forgotten after 15 minutes
        self.starter = starter
        self.image = image
        self.model = model
        self.parent_job_id = parent_job_id
        self.origin_message_id = origin_message_id

    @guarded
    async def on_submit(self, interaction: discord.Interaction) -> None:
        """Start the edit job."""
        await interaction.response.defer(ephemeral=True, thinking=True)
        try:
            name, model = self.starter.resolve(self.model)
            provider = self.starter.providers[name]
            refs = await self.starter.references(provider, model, [("image", self.image)])
        except (UserFacingError, ProviderError) as exc:
            await self.starter.tell(interaction, f"❌ {exc}")
            return
        request = GenerationRequest(
            prompt=self.instruction.value, model=model, mode=Mode.EDIT, references=refs
        )
        await self.starter.start(
            interaction,
            name,
            request,
            kind="edit",
            parent_job_id=self.parent_job_id,
            origin_message_id=self.origin_message_id,
        )


class Generate(commands.Cog):
    """Image generation and editing commands."""

    def __init__(self, bot: BananaBot) -> None:
        self.bot = bot
        self.edit_menu = app_commands.ContextMenu(name="Edit image", callback=self.edit_image)
        self.bot.tree.add_command(self.edit_menu)

    async def cog_unload(self) -> None:
        """Remove the context menu with the cog."""
        self.bot.tree.remove_command(self.edit_menu.name, type=self.edit_menu.type)

    @property
    def starter(self) -> JobStarter:
        return self.bot.starter

    async def model_autocomplete(
        self, interaction: discord.Interaction, current: str
    ) -> list[app_commands.Choice[str]]:
        """Configured provider models matching what was typed."""
        choices = self.starter.model_choices()
        return [
            app_commands.Choice(name=label, value=value)
            for label, value in choices
            if current.lower() in label.lower()
        ][:25]

    async def aspect_autocomplete(
        self, interaction: discord.Interaction, current: str
    ) -> list[app_commands.Choice[str]]:
        """The aspect ratios the chosen model supports."""
        try:
            name, model = self.starter.resolve(getattr(interaction.namespace, "model", None))
            aspects = self.starter.providers[name].capabilities.model(model).aspect_ratios
        except Exception:  # autocomplete must answer something
            aspects = ASPECTS
        return [app_commands.Choice(name=a, value=a) for a in aspects if current in a][:25]

    async def _run(
        self,
        interaction: discord.Interaction,
        *,
        prompt: str,
        model: str | None,
        aspect: str | None,
        resolution: app_commands.Choice[str] | None,
        grounding: bool | None,
        attachments: list[tuple[str, discord.Attachment]],
        mode: Mode,
    ) -> None:
        await interaction.response.defer(ephemeral=True, thinking=True)
        try:
            name, model_name = self.starter.resolve(model)
            provider = self.starter.providers[name]
            refs = await self.starter.references(provider, model_name, attachments)
        except UserFacingError as exc:
            await self.starter.tell(interaction, f"❌ {exc}")
            return
        except ProviderError as exc:  # e.g. an unknown model name
            await self.starter.tell(interaction, f"❌ {exc}.")
            return
        request = GenerationRequest(
            prompt=prompt,
            model=model_name,
            mode=mode,
            references=refs,
            aspect_ratio=aspect if aspect and aspect != "default" else None,
            resolution=resolution.value if resolution else None,
            grounding=bool(grounding),
        )
        await self.starter.start(
            interaction, name, request, kind="edit" if mode is Mode.EDIT else "imagine"
        )

    @app_commands.command(name="imagine", description="Generate images from a prompt")
    @app_commands.describe(
        prompt="What to draw",
        reference="A reference image",
        reference4="Another reference image",
        **SETTINGS_HELP,
    )
    @app_commands.choices(resolution=RESOLUTIONS)
    @app_commands.autocomplete(model=model_autocomplete, aspect=aspect_autocomplete)
    async def imagine(
        self,
        interaction: discord.Interaction,
        prompt: app_commands.Range[str, 1, 4000],
        model: str | None = None,
        aspect: str | None = None,
        resolution: app_commands.Choice[str] | None = None,
        grounding: bool | None = None,
        reference: discord.Attachment | None = None,
        reference2: discord.Attachment | None = None,
        reference3: discord.Attachment | None = None,
        reference4: discord.Attachment | None = None,
    ) -> None:
        """Generate images from a prompt."""
        attachments = _given(
            reference=reference, reference2=reference2, reference3=reference3, reference4=reference4
        )
        await self._run(
            interaction,
            prompt=prompt,
            model=model,
            aspect=aspect,
            resolution=resolution,
            grounding=grounding,
            attachments=attachments,
            mode=Mode.GENERATE,
        )

    @app_commands.command(name="edit", description="Edit an image with an instruction")
    @app_commands.describe(image="The image to edit", prompt="What should change", **SETTINGS_HELP)
    @app_commands.choices(resolution=RESOLUTIONS)
    @app_commands.autocomplete(model=model_autocomplete, aspect=aspect_autocomplete)
    async def edit(
        self,
        interaction: discord.Interaction,
        image: discord.Attachment,
        prompt: app_commands.Range[str, 1, 4000],
        model: str | None = None,
        aspect: str | None = None,
        resolution: app_commands.Choice[str] | None = None,
        grounding: bool | None = None,
        reference2: discord.Attachment | None = None,
        reference3: discord.Attachment | None = None,
    ) -> None:
        """Edit an image with an instruction."""
        attachments = _given(image=image, reference2=reference2, reference3=reference3)
        await self._run(
            interaction,
            prompt=prompt,
            model=model,
            aspect=aspect,
            resolution=resolution,
            grounding=grounding,
            attachments=attachments,
            mode=Mode.EDIT,
        )

    async def edit_image(self, interaction: discord.Interaction, message: discord.Message) -> None:
        """Message context menu: edit the first image of a message."""
        images = [a for a in message.attachments if _is_image(a)]
        if not images:
            await interaction.response.send_message(
                "❌ That message has no image attachment to edit.", ephemeral=True
            )
            return
        await interaction.response.send_modal(
            EditModal(self.starter, images[0], origin_message_id=message.id)
        )
