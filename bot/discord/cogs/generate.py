"""``/imagine``, ``/edit`` and the "Edit image" message context menu."""

from __future__ import annotations

import discord
from discord import app_commands
from discord.ext import commands

from bot.discord.intake import JobIntake, UserFacingError, is_image
from bot.discord.modals import EditModal
from bot.discord.services import services_of
from providers.base import GenerationRequest, Mode

RESOLUTIONS = [app_commands.Choice(name=r, value=r) for r in ("1K", "2K", "4K")]
FORMATS = [app_commands.Choice(name=f.upper(), value=f) for f in ("png", "jpg")]

#: descriptions of the options /imagine and /edit share
SETTINGS_HELP = {
    "model": "Provider and model",
    "aspect": "Aspect ratio, e.g. 16:9 (unset: the model's default; an edit may keep its shape)",
    "resolution": "1K, 2K or 4K (costs more)",
    "grounding": "Ground in Google Search results",
    "reference2": "Another reference image",
    "reference3": "Another reference image",
}


def _given(**attachments: discord.Attachment | None) -> list[tuple[str, discord.Attachment]]:
    """The attachment options that were filled in, with their option names."""
    return [(name, a) for name, a in attachments.items() if a is not None]


class Generate(commands.Cog):
    """Image generation and editing commands."""

    def __init__(self, bot: commands.Bot, intake: JobIntake) -> None:
        self.bot = bot
        self.intake = intake
        self.edit_menu = app_commands.ContextMenu(name="Edit image", callback=self.edit_image)
        self.bot.tree.add_command(self.edit_menu)

    async def cog_unload(self) -> None:
        """Remove the context menu with the cog."""
        self.bot.tree.remove_command(self.edit_menu.name, type=self.edit_menu.type)

    async def model_autocomplete(
        self, interaction: discord.Interaction, current: str
    ) -> list[app_commands.Choice[str]]:
        """Configured provider models matching what was typed."""
        return [
            app_commands.Choice(name=label, value=value)
            for label, value in self.intake.catalog.choices()
            if current.lower() in label.lower()
        ][:25]

    async def aspect_autocomplete(
        self, interaction: discord.Interaction, current: str
    ) -> list[app_commands.Choice[str]]:
        """The aspect ratios the chosen model supports (from its capabilities)."""
        chosen = getattr(interaction.namespace, "model", None)
        aspects = self.intake.catalog.aspect_ratios(chosen if isinstance(chosen, str) else None)
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
        count: int = 1,
        output_format: str | None = None,
    ) -> None:
        await interaction.response.defer(ephemeral=True, thinking=True)
        rules = self.intake.rules
        policy = await rules.policy(interaction) if rules is not None else None
        if policy is not None:  # the server's defaults for what the member left out
            model = model or policy.default_model
            aspect = aspect or policy.default_aspect
        chosen_resolution = resolution.value if resolution else None
        if chosen_resolution is None and policy is not None:
            chosen_resolution = policy.default_resolution
        try:
            self.intake.check_channel(interaction)  # before downloading anything
            provider, chosen = self.intake.resolve(model)
        except UserFacingError as exc:
            await self.intake.tell(interaction, f"❌ {exc}")
            return
        if output_format is None and policy is not None:  # the server's, where it applies
            default = policy.default_format
            output_format = default if default in chosen.output_formats else None
        request = GenerationRequest(
            prompt=prompt,
            model=chosen.name,
            mode=mode,
            aspect_ratio=aspect if aspect and aspect != "default" else None,
            resolution=chosen_resolution,
            grounding=bool(grounding),
            count=count,
            output_format=output_format,
        )
        # the server's rules before anything is downloaded (checked again when admitted)
        if await self.intake.screen(interaction, request, policy) is None:
            return
        try:
            async with self.intake.references(provider, chosen, attachments) as refs:
                request = request.model_copy(update={"references": refs})
                await self.intake.start(
                    interaction,
                    provider.name,
                    request,
                    kind="edit" if mode is Mode.EDIT else "imagine",
                )
        except UserFacingError as exc:
            await self.intake.tell(interaction, f"❌ {exc}")

    @app_commands.command(name="imagine", description="Generate images from a prompt")
    @app_commands.describe(
        prompt="What to draw",
        reference="A reference image",
        reference4="Another reference image",
        count="How many images, 1-4 (each costs its own credits)",
        file_format="Image file type, where the model offers a choice",
        **SETTINGS_HELP,
    )
    @app_commands.choices(resolution=RESOLUTIONS, file_format=FORMATS)
    @app_commands.rename(file_format="format")
    @app_commands.autocomplete(model=model_autocomplete, aspect=aspect_autocomplete)
    async def imagine(
        self,
        interaction: discord.Interaction,
        prompt: app_commands.Range[str, 1, 4000],
        model: str | None = None,
        aspect: str | None = None,
        resolution: app_commands.Choice[str] | None = None,
        grounding: bool | None = None,
        count: app_commands.Range[int, 1, 4] = 1,
        file_format: app_commands.Choice[str] | None = None,
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
            count=count,
            output_format=file_format.value if file_format else None,
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
        images = [a for a in message.attachments if is_image(a)]
        if not images:
            await interaction.response.send_message(
                "❌ That message has no image attachment to edit.", ephemeral=True
            )
            return
        await interaction.response.send_modal(
            EditModal(self.intake, images[0], origin_message_id=message.id)
        )


async def setup(bot: commands.Bot) -> None:
    """Extension entry point."""
    await bot.add_cog(Generate(bot, services_of(bot).intake))
