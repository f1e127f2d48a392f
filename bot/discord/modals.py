"""The "Edit image" modal, opened by the message context menu and the Edit button."""

from __future__ import annotations

import discord

from bot.discord.errors import guarded
from bot.discord.intake import JobIntake, UserFacingError
from bot.discord.texts import GONE
from providers.base import GenerationRequest, Mode


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
        intake: JobIntake,
        image: discord.Attachment,
        *,
        model: str | None = None,
        parent_job_id: str | None = None,
        origin_message_id: int | None = None,
    ) -> None:
        super().__init__(timeout=900)  # a dismissed modal is forgotten after 15 minutes
        self.intake = intake
        self.image = image
        self.model = model
        self.parent_job_id = parent_job_id
        self.origin_message_id = origin_message_id

    @guarded
    async def on_submit(self, interaction: discord.Interaction) -> None:
        """Start the edit job (with the parent result's model, when editing a result)."""
        await interaction.response.defer(ephemeral=True, thinking=True)
        try:
            self.intake.check_channel(interaction)
        except UserFacingError as exc:
            await self.intake.tell(interaction, f"❌ {exc}")
            return
        choice = self.model
        if self.parent_job_id is not None:
            parent = await self.intake.engine.get_job(self.parent_job_id)
            if parent is None:
                await self.intake.tell(interaction, GONE)
                return
            choice = f"{parent.provider}:{parent.model}"
        try:
            provider, model = self.intake.resolve(choice)
        except UserFacingError as exc:
            await self.intake.tell(interaction, f"❌ {exc}")
            return
        request = GenerationRequest(prompt=self.instruction.value, model=model.name, mode=Mode.EDIT)
        if await self.intake.screen(interaction, request) is None:  # before downloading
            return
        try:
            async with self.intake.references(provider, model, [("image", self.image)]) as refs:
                await self.intake.start(
                    interaction,
                    provider.name,
                    request.model_copy(update={"references": refs}),
                    kind="edit",
                    parent_job_id=self.parent_job_id,
                    origin_message_id=self.origin_message_id,
                )
        except UserFacingError as exc:
            await self.intake.tell(interaction, f"❌ {exc}")
