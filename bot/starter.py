"""Turning an interaction into a job: model choice, attachments, acceptance, first status.

Shared by the slash commands, the context menu, the modal and the result buttons, so each of
them behaves the same: the interaction is deferred privately first (within Discord's 3 s), every
problem is a short private message, and no credit is reserved before the request is valid.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from datetime import timedelta

import aiohttp
import discord

from bot.jobs.engine import JobEngine, UserLimitError
from bot.jobs.models import ImageFile, Job, JobSpec, Origin
from bot.media.fit import ImageTooLargeError, fit_image_async
from bot.media.sniff import NotAnImageError, inspect_image
from bot.messages import NO_MENTIONS, quota_line
from bot.storage.quota import QuotaExceededError
from providers.base import (
    GenerationRequest,
    Provider,
    ProviderError,
    ReferenceImage,
)
from providers.registry import parse_model_choice
from providers.validation import validate_request

log = logging.getLogger(__name__)

MAX_ATTACHMENT_BYTES = 25 * 1024 * 1024
PROVIDER_FORMATS = {"image/png", "image/jpeg", "image/webp"}
TOKEN_LIFETIME = timedelta(minutes=15)


class UserFacingError(Exception):
    """A problem to show the requester privately; nothing was reserved or sent."""


class JobStarter:
    """Builds and accepts jobs for interactions."""

    def __init__(
        self,
        engine: JobEngine,
        providers: Mapping[str, Provider],
        default: str | None,
    ) -> None:
        self.engine = engine
        self.providers = providers
        self.default = default

    # ------------------------------------------------------------------ choices

    def model_choices(self) -> list[tuple[str, str]]:
        """(label, value) for every configured provider model, the default first."""
        choices = []
        for name, provider in self.providers.items():
            for model in provider.capabilities.model_names:
                choices.append((f"{model} ({name})", f"{name}:{model}"))
        default = self.resolve(None)
        choices.sort(key=lambda c: c[1] != f"{default[0]}:{default[1] or ''}".rstrip(":"))
        return choices

    def resolve(self, choice: str | None) -> tuple[str, str | None]:
        """``provider[:model]`` → (provider, model or None); the default when ``choice`` is None."""
        spec = choice or self.default
        if not spec:
            preferred = [n for n in self.providers if n != "local"] or list(self.providers)
            if not preferred:
                raise UserFacingError("No image provider is configured on this bot.")
            spec = preferred[0]
        name, model = parse_model_choice(spec)
        if name not in self.providers:
            known = ", ".join(sorted(self.providers)) or "none"
            raise UserFacingError(f"Unknown provider `{name}`. Available: {known}.")
        return name, model

    # ------------------------------------------------------------------ attachments

    async def references(
        self,
        provider: Provider,
        model: str | None,
        attachments: Sequence[tuple[str, discord.Attachment]],
    ) -> tuple[ReferenceImage, ...]:
        """Download and check each attachment now (CDN URLs expire), by content.

        The count is checked against the model first, so nothing is downloaded in vain.
        URL-only providers get the attachment's URL; upload-capable ones get the bytes,
        re-encoded to fit the provider's size limit where it has one.
        """
        caps = provider.capabilities.model(model)
        if len(attachments) > caps.max_references:
            raise UserFacingError(
                f"{len(attachments)} images attached; {provider.name} {caps.name} accepts at "
                f"most {caps.max_references}."
            )
        refs = []
        for label, attachment in attachments:
            if attachment.size > MAX_ATTACHMENT_BYTES:
                raise UserFacingError(
                    f"`{label}` is {attachment.size / 1e6:.1f} MB; the limit is "
                    f"{MAX_ATTACHMENT_BYTES / 1e6:.0f} MB."
                )
            try:
                data = await attachment.read()
            except (discord.HTTPException, aiohttp.ClientError) as exc:
                raise UserFacingError(f"`{label}` could not be downloaded.") from exc
            refs.append(await self._reference(provider, label, attachment.url, data))
        return tuple(refs)

    async def _reference(
        self, provider: Provider, label: str, url: str, data: bytes
    ) -> ReferenceImage:
        caps = provider.capabilities
        try:
            info = inspect_image(data)
        except NotAnImageError as exc:
            raise UserFacingError(f"`{label}` is not a usable image: {exc}.") from exc
        if not caps.accepts_reference_bytes:
            return ReferenceImage(url=url, mime_type=info.mime_type)
        image = ImageFile(data=data, mime_type=info.mime_type, extension=info.extension)
        limit = caps.max_reference_bytes
        if info.mime_type not in PROVIDER_FORMATS or (limit is not None and len(data) > limit):
            try:
                image = await fit_image_async(image, limit or len(data) * 2)
            except ImageTooLargeError as exc:
                raise UserFacingError(f"`{label}` is too large for {caps.provider}.") from exc
        return ReferenceImage(data=image.data, mime_type=image.mime_type)

    # ------------------------------------------------------------------ acceptance

    async def start(
        self,
        interaction: discord.Interaction,
        provider_name: str,
        request: GenerationRequest,
        *,
        kind: str = "imagine",
        parent_job_id: str | None = None,
        origin_message_id: int | None = None,
    ) -> Job | None:
        """Validate, show a status message, accept (reserving credits); None if refused.

        The interaction must already be deferred ephemerally.
        """
        provider = self.providers.get(provider_name)
        if provider is None:
            await self.tell(
                interaction,
                f"❌ `{provider_name}` is not configured on this bot "
                "any more. Nothing was charged.",
            )
            return None
        try:
            validate_request(provider.capabilities, request)
        except ProviderError as exc:
            await self.tell(interaction, f"❌ {exc}.")
            return None
        status = await interaction.edit_original_response(
            content="⏳ Accepted…", allowed_mentions=NO_MENTIONS
        )
        origin = Origin(
            user_id=str(interaction.user.id),
            guild_id=str(interaction.guild_id) if interaction.guild_id else None,
            channel_id=str(interaction.channel_id) if interaction.channel_id else None,
            interaction_id=str(interaction.id),
            interaction_token=interaction.token,
            token_expires_at=(interaction.created_at + TOKEN_LIFETIME).timestamp(),
            origin_message_id=str(origin_message_id) if origin_message_id else None,
            status_message_id=str(status.id),
            upload_limit=interaction.filesize_limit,
        )
        try:
            job = await self.engine.accept(
                JobSpec(
                    origin=origin,
                    provider=provider_name,
                    request=request,
                    kind=kind,
                    parent_job_id=parent_job_id,
                )
            )
        except QuotaExceededError as exc:
            await self.tell(
                interaction,
                f"❌ Not enough credits: this needs {exc.cost}. "
                f"{quota_line(exc.snapshot)} Nothing was charged.",
            )
            return None
        except UserLimitError as exc:
            await self.tell(interaction, f"❌ {str(exc).capitalize()}. Nothing was charged.")
            return None
        except ProviderError as exc:
            await self.tell(interaction, f"❌ {exc}. Nothing was charged.")
            return None
        return job

    @staticmethod
    async def tell(
        interaction: discord.Interaction, text: str, view: discord.ui.View | None = None
    ) -> None:
        """Replace the private status message's text (and its buttons)."""
        try:
            await interaction.edit_original_response(
                content=text, allowed_mentions=NO_MENTIONS, view=view
            )
        except discord.HTTPException as exc:
            log.info("could not update the status message (%s)", exc)
