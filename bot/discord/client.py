"""The Discord client: loads the command extensions, routes the persistent buttons, syncs the
commands when they changed, and starts the engine with its Discord notifier; nothing else."""

from __future__ import annotations

import hashlib
import json
import logging
from typing import Any

import aiohttp
import discord
from discord import app_commands
from discord.ext import commands

from bot.discord.acks import ack_trace
from bot.discord.audit import AuditedNotifier, AuditLog
from bot.discord.buttons import BUTTONS, cancel_view, result_view
from bot.discord.errors import report_unexpected
from bot.discord.image_buttons import IMAGE_BUTTONS
from bot.discord.notifier import DiscordNotifier
from bot.discord.services import Services
from bot.jobs.models import Job
from bot.jobs.quota import QuotaSnapshot

log = logging.getLogger(__name__)

SYNC_KEY = "commands_hash"
#: the command extensions, each a module with ``async def setup(bot)``
EXTENSIONS = (
    "bot.discord.cogs.generate",
    "bot.discord.cogs.quota",
    "bot.discord.cogs.settings",
    "bot.discord.cogs.moderation",
)


class LoginRefusedError(Exception):
    """Discord refused the bot token."""


class DiscordUnreachableError(Exception):
    """Discord's API (``url``) could not be reached, or answered the login with an error."""

    def __init__(self, url: str, reason: str) -> None:
        super().__init__(f"cannot reach the Discord API at {url} ({reason})")
        self.url = url
        self.reason = reason


class BananaTree(app_commands.CommandTree["BananaBot"]):
    """A command tree whose unexpected errors become a reference the requester can quote."""

    async def on_error(
        self, interaction: discord.Interaction[BananaBot], error: app_commands.AppCommandError
    ) -> None:
        """Log the traceback; tell the user privately, with a reference id."""
        await report_unexpected(interaction, error)


def intents() -> discord.Intents:
    """Only what the bot uses: guilds (their channels, roles and the bot's own member, for
    permissions and upload limits). Interactions need no intent; messages, typing, reactions
    and voice events would only cost bandwidth."""
    wanted = discord.Intents.none()
    wanted.guilds = True
    return wanted


class BananaBot(commands.AutoShardedBot):
    """The bot, built with everything it uses (:class:`Services`).

    Auto-sharded: it runs as many gateway shards as Discord recommends (one until the bot is
    in 2,500 servers, when Discord requires more), or the ``shard_ids`` of ``shard_count``
    given (``SHARD_IDS``, ``SHARD_COUNT``: a process's share when several run the bot); only
    the process running shard 0 syncs the commands. Its commands are declared for servers that
    installed it and for DMs with it; user installs are not offered (results are posted by
    the bot, which needs to be in the server).
    """

    def __init__(self, services: Services, **options: Any) -> None:
        options.setdefault("intents", intents())
        # the bot has no voice features: no warning that voice libraries are missing
        discord.VoiceClient.warn_nacl = discord.VoiceClient.warn_dave = False
        options.setdefault("http_trace", ack_trace(services.metrics))
        super().__init__(
            command_prefix=commands.when_mentioned,
            tree_cls=BananaTree,
            allowed_mentions=discord.AllowedMentions.none(),
            help_command=None,
            allowed_contexts=app_commands.AppCommandContext(guild=True, dm_channel=True),
            allowed_installs=app_commands.AppInstallationType(guild=True),
            **options,
        )
        self.services = services
        #: each server's audit log (stored, and posted where a server asked)
        self.audit = AuditLog(self, services.guilds, services.engine.scrubber)
        self.notifier = AuditedNotifier(
            DiscordNotifier(
                self,
                self._credits_of,
                result_view,
                cancel_view,
                scrub=services.engine.scrubber,
            ),
            self.audit,
            services.engine.clock,
        )
        self.synced = False

    async def _credits_of(self, job: Job) -> QuotaSnapshot | None:
        """The requester's credits for a result's embed; None where role quotas apply (the
        member's roles are not known at delivery, so the allowance is not either)."""
        if job.origin.guild_id is not None:
            policy = await self.services.guilds.policy(job.origin.guild_id)
            if policy.role_quotas:
                return None
        return await self.services.engine.quota(job.origin.user_id)

    async def setup_hook(self) -> None:
        """Load the commands and buttons, sync commands if they changed, resume the engine."""
        for extension in EXTENSIONS:
            await self.load_extension(extension)
        self.add_dynamic_items(*BUTTONS, *IMAGE_BUTTONS)
        await self.sync_commands_if_changed()
        await self.services.engine.start(self.notifier)

    async def serve(self, token: str) -> None:
        """Log in and run until closed; :class:`LoginRefusedError` if the token is refused,
        :class:`DiscordUnreachableError` if the login request fails (once logged in, a lost
        gateway connection is retried by discord.py)."""
        try:
            await self.login(token)
        except discord.LoginFailure as exc:
            raise LoginRefusedError(str(exc)) from exc
        except discord.HTTPException as exc:
            raise DiscordUnreachableError(discord.http.Route.BASE, f"HTTP {exc.status}") from exc
        except (TimeoutError, aiohttp.ClientError, OSError) as exc:
            reason = str(exc) or type(exc).__name__
            raise DiscordUnreachableError(discord.http.Route.BASE, reason) from exc
        await self.connect(reconnect=True)

    async def shut_down(self, grace: float) -> None:
        """Stop taking work, let in-flight work finish (``grace`` seconds), then disconnect.

        The engine goes first: its deliveries still need the bot's HTTP session.
        """
        await self.services.engine.stop(grace=grace)
        await self.notifier.close()
        if not self.is_closed():
            await self.close()

    def commands_hash(self) -> str:
        """A hash of the application commands as Discord would receive them."""
        payload = [command.to_dict(self.tree) for command in self.tree.get_commands()]
        payload.sort(key=lambda c: (c.get("type", 1), c["name"]))
        return hashlib.sha256(json.dumps(payload, sort_keys=True).encode()).hexdigest()

    @property
    def syncs_commands(self) -> bool:
        """Whether this process syncs the commands: it runs shard 0 (every process of a bot
        loads the same commands, so one PUT is enough; DMs also arrive on shard 0)."""
        return self.shard_ids is None or 0 in self.shard_ids

    async def sync_commands_if_changed(self) -> None:
        """Sync global commands only when they differ from the last sync (kept in the store),
        and only from the process running shard 0 (:attr:`syncs_commands`)."""
        if not self.syncs_commands:
            log.info("application commands are synced by the process running shard 0")
            return
        digest = self.commands_hash()
        key = f"{SYNC_KEY}:{self.application_id}"  # another bot on this database syncs anew
        record = self.services.sync_record
        if await record.get(key) == digest:
            log.info("application commands unchanged; not syncing")
            return
        synced = await self.tree.sync()
        await record.set(key, digest)
        self.synced = True
        log.info("synced %d application commands", len(synced))
