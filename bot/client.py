"""The Discord client: wires cogs, persistent buttons and command sync; nothing else."""

from __future__ import annotations

import hashlib
import json
import logging
from typing import Any

import discord
from discord import app_commands
from discord.ext import commands

from bot.cogs.buttons import BUTTONS
from bot.cogs.errors import report_unexpected
from bot.cogs.generate import Generate
from bot.cogs.quota import Quota
from bot.jobs.engine import JobEngine
from bot.jobs.ports import MetaStore, Notifier
from bot.starter import JobStarter

log = logging.getLogger(__name__)

SYNC_KEY = "commands_hash"


class BananaTree(app_commands.CommandTree["BananaBot"]):
    """A command tree whose unexpected errors become a reference the requester can quote."""

    async def on_error(
        self, interaction: discord.Interaction[BananaBot], error: app_commands.AppCommandError
    ) -> None:
        """Log the traceback; tell the user privately, with a reference id."""
        await report_unexpected(interaction, error)


class BananaBot(commands.Bot):
    """The bot. The engine and starter are attached by the composition root."""

    engine: JobEngine
    starter: JobStarter
    notifier: Notifier

    def __init__(self, meta: MetaStore, **options: Any) -> None:
        options.setdefault("intents", discord.Intents.default())
        super().__init__(
            command_prefix=commands.when_mentioned,
            tree_cls=BananaTree,
            allowed_mentions=discord.AllowedMentions.none(),
            help_command=None,
            **options,
        )
        self.meta = meta
        self.synced = False

    async def setup_hook(self) -> None:
        """Add the cogs and buttons, sync commands if they changed, resume the engine."""
        await self.add_cog(Generate(self))
        await self.add_cog(Quota(self))
        self.add_dynamic_items(*BUTTONS)
        await self.sync_commands_if_changed()
        await self.engine.start(self.notifier)

    def commands_hash(self) -> str:
        """A hash of the application commands as Discord would receive them."""
        payload = [command.to_dict(self.tree) for command in self.tree.get_commands()]
        payload.sort(key=lambda c: (c.get("type", 1), c["name"]))
        return hashlib.sha256(json.dumps(payload, sort_keys=True).encode()).hexdigest()

    async def sync_commands_if_changed(self) -> None:
        """Sync global commands only when they differ from the last sync (kept in the db)."""
        digest = self.commands_hash()
        key = f"{SYNC_KEY}:{self.application_id}"  # another bot on this database syncs anew
        if await self.meta.get(key) == digest:
            log.info("application commands unchanged; not syncing")
            return
        synced = await self.tree.sync()
        await self.meta.set(key, digest)
        self.synced = True
        log.info("synced %d application commands", len(synced))
