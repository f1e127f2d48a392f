"""Turning an interaction into a job: model choice, attachments, admission, first status.

Shared by the slash commands, the context menu, the modal and the result buttons, so each of
them behaves the same: the interaction is deferred privately first (within Discord's 3 s), every
problem is a short private message, and no credit is reserved before the request is valid.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator, Awaitable, Sequence
from datetime import timedelta
from typing import TypeVar

import aiohttp
import discord

from bot.discord.audit import audit_of
from bot.discord.errors import STORE_DOWN
from bot.discord.rules import Screened, ServerRules
from bot.discord.texts import (
    MESSAGE_LIMIT,
    NO_MENTIONS,
    budget_line,
    quota_line,
    sentence,
    truncate,
)
from bot.jobs.engine import JobEngine
from bot.jobs.models import Job, JobSpec, Origin
from bot.jobs.ports import StoreUnavailableError, UserLimitError
from bot.jobs.quota import BudgetExceededError, QuotaExceededError
from bot.media.references import ReferenceImageError, ReferenceLoader
from bot.media.spool import Spool
from bot.moderation.policy import GuildPolicy
from providers.base import GenerationRequest, ModelCapabilities, Provider, ReferenceImage
from providers.catalog import Catalog
from providers.errors import ProviderError

log = logging.getLogger(__name__)
_T = TypeVar("_T")

MAX_ATTACHMENT_BYTES = 25 * 1024 * 1024
#: interactions whose reference images may be in memory at once (the others wait on disk):
#: as many as the worker pool checks at once on two cores
REFERENCES_IN_MEMORY = 2
TOKEN_LIFETIME = timedelta(minutes=15)
IMAGE_EXTENSIONS = (".png", ".jpg", ".jpeg", ".webp", ".gif")


async def _checked(label: str, step: Awaitable[_T]) -> _T:
    """A step with attachment ``label``, its failure made a :class:`UserFacingError`."""
    try:
        return await step
    except ReferenceImageError as exc:
        if not exc.invalid:
            raise UserFacingError(f"`{label}` could not be downloaded.") from exc
        raise UserFacingError(sentence(str(exc))) from exc


class UserFacingError(Exception):
    """A problem to show the requester privately; nothing was reserved or sent."""


def delivery_problem(interaction: discord.Interaction) -> str | None:
    """Why the results could not be posted where ``interaction`` came from, or None.

    Checked before anything is downloaded or reserved: the channel kind, and the bot's
    permissions there as Discord reports them with the interaction (``app_permissions``).
    Without Embed Links the results still arrive, as plain text; without Send Messages they
    arrive as a follow-up (or by DM once the interaction's token has expired).
    """
    channel = interaction.channel
    if isinstance(channel, discord.ForumChannel):
        return "Run this inside a forum post, not in the forum itself."
    if isinstance(channel, discord.Thread) and channel.locked:
        return "This thread is locked, so I couldn't post the images here. Try an open channel."
    if not interaction.app_permissions.attach_files:
        return (
            "I'm not allowed to attach files in this channel, so I couldn't post the images. "
            "A server admin can give me the Attach Files permission here."
        )
    return None


def is_image(attachment: discord.Attachment) -> bool:
    """Whether an attachment says it is an image (its bytes are checked when it is used)."""
    declared = (attachment.content_type or "").startswith("image/")
    return declared or attachment.filename.lower().endswith(IMAGE_EXTENSIONS)


class JobIntake:
    """Builds and admits jobs for interactions."""

    def __init__(
        self,
        engine: JobEngine,
        catalog: Catalog,
        loader: ReferenceLoader,
        rules: ServerRules | None = None,
    ) -> None:
        """``rules``: each server's policy (None: no server has any)."""
        self.engine = engine
        self.catalog = catalog
        self.loader = loader
        self.rules = rules
        self._in_memory = asyncio.Semaphore(REFERENCES_IN_MEMORY)

    async def screen(
        self,
        interaction: discord.Interaction,
        request: GenerationRequest,
        policy: GuildPolicy | None = None,
    ) -> Screened | None:
        """The server's rules for ``request``; None (after telling the requester) when they
        refuse it."""
        if self.rules is None:
            return Screened(refusal=None)
        screened = await self.rules.screen(
            interaction, request, audit_of(interaction.client), policy
        )
        if screened.refusal is not None:
            await self.tell(interaction, screened.refusal.message)
            return None
        return screened

    @staticmethod
    def check_channel(interaction: discord.Interaction) -> None:
        """Refuse (:class:`UserFacingError`) where the results could not be posted."""
        problem = delivery_problem(interaction)
        if problem is not None:
            raise UserFacingError(f"{problem} Nothing was charged.")

    def resolve(self, choice: str | None) -> tuple[Provider, ModelCapabilities]:
        """The provider and model for a ``provider[:model]`` choice (the default when None)."""
        try:
            return self.catalog.resolve(choice)
        except ProviderError as exc:
            raise UserFacingError(sentence(str(exc))) from exc

    @contextlib.asynccontextmanager
    async def references(
        self,
        provider: Provider,
        model: ModelCapabilities,
        attachments: Sequence[tuple[str, discord.Attachment]],
    ) -> AsyncIterator[tuple[ReferenceImage, ...]]:
        """Download and check each attachment now (CDN URLs expire), by content; admit the job
        inside (``async with intake.references(...) as refs: ... await intake.start(...)``).

        The count is checked against the model first, so nothing is downloaded in vain.
        URL-only providers get the attachment's URL; upload-capable ones get the bytes,
        re-encoded to fit the provider's size limit where it has one. An attachment's
        description (its alt text) becomes the reference's caption.

        Memory does not grow with attachments: the downloads go to disk, and only
        :data:`REFERENCES_IN_MEMORY` interactions at a time read theirs and hold the bytes,
        until the block ends (the job admitted, its images files beside the database).
        """
        if len(attachments) > model.max_references:
            raise UserFacingError(
                f"{len(attachments)} images attached; {provider.name} {model.name} accepts at "
                f"most {model.max_references}."
            )
        # a provider that takes one uploaded file only on its own gets several by link
        upload_limit = provider.capabilities.max_references_with_upload
        by_url = upload_limit is not None and len(attachments) > upload_limit
        for label, attachment in attachments:
            if attachment.size > MAX_ATTACHMENT_BYTES:
                raise UserFacingError(
                    f"`{label}` is {attachment.size / 1e6:.1f} MB; the limit is "
                    f"{MAX_ATTACHMENT_BYTES / 1e6:.0f} MB."
                )
        spools: list[Spool] = []
        try:
            for label, attachment in attachments:
                spools.append(
                    await _checked(label, self.loader.spool(f"`{label}`", attachment.url))
                )
            async with self._in_memory if attachments else contextlib.nullcontext():
                refs = []
                for (label, attachment), spool in zip(attachments, spools, strict=True):
                    refs.append(
                        await _checked(
                            label,
                            self.loader.from_spool(
                                provider.capabilities,
                                f"`{label}`",
                                spool,
                                url=attachment.url,
                                caption=attachment.description,  # its alt text
                                by_url=by_url,
                            ),
                        )
                    )
                    spool.close()
                yield tuple(refs)
        finally:
            for spool in spools:
                spool.close()

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
        """Check the channel, validate, admit (reserving credits); None if refused.

        The interaction must already be deferred ephemerally; its deferred response becomes the
        job's status message, which the engine's first progress report fills in (so nothing
        says "accepted" before the credits are reserved).
        """
        try:
            self.check_channel(interaction)
        except UserFacingError as exc:
            await self.tell(interaction, f"❌ {exc}")
            return None
        if provider_name not in self.catalog.providers:
            await self.tell(
                interaction,
                f"❌ `{provider_name}` is not configured on this bot "
                "any more. Nothing was charged.",
            )
            return None
        try:
            checked = self.engine.check(provider_name, request)
        except ProviderError as exc:
            await self.tell(interaction, f"❌ {sentence(str(exc))}")
            return None
        screened = await self.screen(interaction, checked.request)
        if screened is None:
            return None
        status_id = await self._status_message_id(interaction)
        origin = Origin(
            user_id=str(interaction.user.id),
            guild_id=str(interaction.guild_id) if interaction.guild_id else None,
            channel_id=str(interaction.channel_id) if interaction.channel_id else None,
            interaction_id=str(interaction.id),
            interaction_token=interaction.token,
            token_expires_at=(interaction.created_at + TOKEN_LIFETIME).timestamp(),
            origin_message_id=str(origin_message_id) if origin_message_id else None,
            status_message_id=status_id,
            upload_limit=interaction.filesize_limit,
        )
        spec = JobSpec(
            origin=origin,
            provider=provider_name,
            request=checked,
            kind=kind,
            parent_job_id=parent_job_id,
            limits=screened.limits,
        )
        try:
            return await self.engine.accept(spec)
        except QuotaExceededError as exc:
            await self.tell(
                interaction,
                f"❌ Not enough credits: this needs {exc.cost}. "
                f"{quota_line(exc.snapshot)} Nothing was charged.",
            )
        except BudgetExceededError as exc:
            await self.tell(interaction, budget_line(exc))
        except StoreUnavailableError as exc:  # the engine's guard has logged the store's state
            log.info(
                "interaction %s: not admitted, the store is unavailable (%s)", interaction.id, exc
            )
            await self.tell(interaction, STORE_DOWN)
        except UserLimitError as exc:
            await self.tell(
                interaction, f"❌ {sentence(str(exc).capitalize())} Nothing was charged."
            )
        except ProviderError as exc:
            await self.tell(interaction, f"❌ {sentence(str(exc))} Nothing was charged.")
        return None

    @staticmethod
    async def _status_message_id(interaction: discord.Interaction) -> str | None:
        """The id of the deferred response, where progress is shown (None if Discord does not
        say: the job then runs without progress lines, and its results still arrive)."""
        try:
            return str((await interaction.original_response()).id)
        except (discord.HTTPException, aiohttp.ClientError, TimeoutError) as exc:
            log.info("could not read the status message (%s); no progress lines", exc)
            return None

    async def tell(
        self, interaction: discord.Interaction, text: str, view: discord.ui.View | None = None
    ) -> None:
        """Replace the private status message's text (and its buttons), scrubbed and cut to
        Discord's limit."""
        content = truncate(self.engine.scrubber(text), MESSAGE_LIMIT)
        try:
            await interaction.edit_original_response(
                content=content, allowed_mentions=NO_MENTIONS, view=view
            )
        except discord.HTTPException as exc:
            log.info("could not update the status message (%s)", exc)
