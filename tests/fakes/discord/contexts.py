"""Where a command may be used, and which installation of the app answers.

Sources: developers/interactions/application-commands.mdx ("Contexts", Application Command
Structure), developers/interactions/receiving-and-responding.mdx (Interaction Context Types,
Authorizing Integration Owners Object), developers/resources/application.mdx ("Installation
Context"), change-log 2024-03-18 "User-Installable Apps Preview".

* An interaction's ``context`` is GUILD (0) in a server, BOT_DM (1) in the DM with the app's bot,
  PRIVATE_CHANNEL (2) in a group DM or a DM between users.
* ``authorizing_integration_owners`` has a key per installation that reaches the interaction:
  ``"0"`` (GUILD_INSTALL) -> the guild id in a server where the app is installed, ``"0"`` in the
  bot's DM (global commands reach a user's DMs with a bot they share a server with); ``"1"``
  (USER_INSTALL) -> the id of the user who installed the app to their account. A command only
  counts an installation listed in its ``integration_types`` (default: the app's supported
  installation contexts when the command was created).
* A global command's ``contexts`` lists where it can be used (unset: everywhere; the deprecated
  ``dm_permission: false`` removes BOT_DM). PRIVATE_CHANNEL needs USER_INSTALL. Guild commands
  work in their guild only, through the guild installation.

What Discord's client would not offer raises :class:`CommandUnavailable`, so a test notices.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

from tests.fakes.discord.models import (
    JSON,
    ChannelType,
    FakeChannel,
    FakeUser,
    IntegrationType,
    InteractionContext,
    Perm,
)

if TYPE_CHECKING:
    from tests.fakes.discord.state import DiscordState

GUILD_KEY = str(IntegrationType.GUILD_INSTALL)
USER_KEY = str(IntegrationType.USER_INSTALL)
_ALL_CONTEXTS = frozenset(
    {InteractionContext.GUILD, InteractionContext.BOT_DM, InteractionContext.PRIVATE_CHANNEL}
)
_CONTEXT_NAMES = {0: "servers", 1: "DMs with the bot", 2: "group DMs and DMs between users"}


class CommandUnavailable(Exception):
    """Discord's client would not let this user run this command here."""


@dataclass(frozen=True)
class Authorization:
    """Where an interaction happens and which installations answer it."""

    context: int
    owners: dict[str, str]

    @property
    def user_install_only(self) -> bool:
        """Only the user's installation reaches it (the app is not installed here)."""
        return set(self.owners) == {USER_KEY}


def context_of(user: FakeUser, channel: FakeChannel) -> int:
    """The interaction context of ``user`` acting in ``channel`` (ValueError if they cannot)."""
    if not channel.is_private:
        return InteractionContext.GUILD
    if user.id not in {u.id for u in channel.recipients}:
        raise ValueError(f"{user.username} is not in channel {channel.id}")
    return InteractionContext.BOT_DM if channel.bot_dm else InteractionContext.PRIVATE_CHANNEL


def installations(state: DiscordState, user: FakeUser, channel: FakeChannel) -> dict[str, str]:
    """Every installation of the app that reaches ``user`` in ``channel``."""
    context = context_of(user, channel)
    owners: dict[str, str] = {}
    bot = state.bot_user.id
    if context == InteractionContext.GUILD:
        assert channel.guild_id is not None
        if bot in state.guilds[channel.guild_id].members:
            owners[GUILD_KEY] = channel.guild_id
    elif context == InteractionContext.BOT_DM and any(
        bot in g.members and user.id in g.members for g in state.guilds.values()
    ):
        owners[GUILD_KEY] = "0"
    if IntegrationType.USER_INSTALL in state.integration_types and user.id in state.user_installs:
        owners[USER_KEY] = user.id
    return owners


def authorize(
    state: DiscordState, command: JSON | None, user: FakeUser, channel: FakeChannel
) -> Authorization:
    """The context and authorizing owners of running ``command`` (None: an unregistered one)."""
    context = context_of(user, channel)
    if context == InteractionContext.GUILD:
        _check_guild_channel(state, user, channel)
    available = installations(state, user, channel)
    name = command["name"] if command else "?"
    if command is None:
        owners = available
    elif command.get("guild_id") is not None:
        if channel.guild_id != command["guild_id"] or GUILD_KEY not in available:
            raise CommandUnavailable(f"/{name} is registered to another guild")
        owners = {GUILD_KEY: available[GUILD_KEY]}
    else:
        if context not in command_contexts(command):
            raise CommandUnavailable(f"/{name} cannot be used in {_CONTEXT_NAMES[context]}")
        types = command_integration_types(state, command)
        owners = {k: v for k, v in available.items() if int(k) in types}
        if context == InteractionContext.PRIVATE_CHANNEL:
            owners.pop(GUILD_KEY, None)
    if not owners:
        raise CommandUnavailable(
            f"no installation of the app reaches {user.username} in {_CONTEXT_NAMES[context]}"
        )
    if command is not None and GUILD_KEY in owners and context == InteractionContext.GUILD:
        _check_member_permissions(state, command, user, channel)
    return Authorization(context, owners)


def command_contexts(command: JSON) -> frozenset[int]:
    """Where a global command can be used."""
    contexts = command.get("contexts")
    if contexts is not None:
        return frozenset(int(c) for c in contexts)
    if command.get("dm_permission") is False:
        return _ALL_CONTEXTS - {InteractionContext.BOT_DM}
    return _ALL_CONTEXTS


def command_integration_types(state: DiscordState, command: JSON) -> frozenset[int]:
    """The installation contexts a command supports."""
    types = command.get("integration_types")
    if types is None:
        return frozenset(state.integration_types)
    return frozenset(int(t) for t in types)


def _check_guild_channel(state: DiscordState, user: FakeUser, channel: FakeChannel) -> None:
    """A user can only run commands where there is a chat box they can see."""
    if channel.type == ChannelType.GUILD_CATEGORY or channel.is_forum:
        raise CommandUnavailable(f"channel {channel.name} has no chat: post in a thread of it")
    if channel.is_thread and channel.archived:
        # "Users cannot edit messages, add reactions, use application commands, or join archived
        # threads" (developers/topics/threads.mdx)
        raise CommandUnavailable(f"thread {channel.name} is archived")
    if not state.permissions_for(user, channel) & Perm.VIEW_CHANNEL:
        raise CommandUnavailable(f"{user.username} cannot see {channel.name}")


def _check_member_permissions(
    state: DiscordState, command: JSON, user: FakeUser, channel: FakeChannel
) -> None:
    """``default_member_permissions`` and Use Application Commands (topics/permissions.mdx)."""
    perms = state.permissions_for(user, channel)
    if not perms & Perm.USE_APPLICATION_COMMANDS:
        raise CommandUnavailable(f"{user.username} may not use application commands here")
    required = command.get("default_member_permissions")
    if required is None or (command["name"], user.id) in state.command_overrides:
        return
    need = int(required)
    if not perms & Perm.ADMINISTRATOR and (need == 0 or perms & need != need):
        raise CommandUnavailable(f"{user.username} lacks the permissions /{command['name']} needs")
