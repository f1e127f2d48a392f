"""Permissions as Discord computes them, in every kind of channel.

Guild channels: base permissions from @everyone and the member's roles, then the channel's
overwrites in Discord's order, with the implicit denials (no View Channel: nothing; no Send
Messages: no Attach Files, Embed Links, TTS or @everyone) - developers/topics/permissions.mdx,
"Permission Overwrites" and "Implicit Permissions". Threads inherit from their parent except that
Send Messages has no effect there: Send Messages in Threads does (same page, "Inherited
Permissions (Threads)"; developers/topics/threads.mdx); a private thread is visible only to its
members and to holders of Manage Threads. discord.py computes the same
(``GuildChannel.permissions_for``, ``Thread.permissions_for``), so the bot's own view agrees.

An interaction's ``app_permissions`` are the bot's permissions in the channel when the app is
installed to the guild; otherwise the fixed sets Discord reports for user-installed apps
(receiving-and-responding.mdx, Interaction Structure, note ***; discord.py
``Permissions._user_installed_permissions``).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from tests.fakes.discord.models import (
    ALL_PERMISSIONS,
    DM_PERMISSIONS,
    PRIVATE_CHANNEL_APP_PERMISSIONS,
    USER_APP_GUILD_PERMISSIONS,
    ChannelType,
    FakeChannel,
    IntegrationType,
    Perm,
)

if TYPE_CHECKING:
    from tests.fakes.discord.state import DiscordState

#: What "you cannot send messages" takes away (Implicit Permissions).
_NEEDS_SEND = int(
    Perm.SEND_TTS_MESSAGES | Perm.MENTION_EVERYONE | Perm.EMBED_LINKS | Perm.ATTACH_FILES
)


def permissions_for(state: DiscordState, user_id: str, channel: FakeChannel) -> int:
    """``user_id``'s permissions in ``channel``."""
    if channel.is_private:
        members = {u.id for u in channel.recipients}
        if channel.bot_dm:
            members.add(state.bot_user.id)
        elif channel.owner_id is not None:
            members.add(channel.owner_id)
        return DM_PERMISSIONS if user_id in members else 0
    if channel.is_thread:
        assert channel.parent_id is not None
        perms = _guild_channel(state, user_id, state.get_channel(channel.parent_id))
        if perms == ALL_PERMISSIONS:
            return perms
        if not perms & Perm.SEND_MESSAGES_IN_THREADS:
            perms &= ~_NEEDS_SEND
        private = channel.type == ChannelType.PRIVATE_THREAD
        if private and user_id not in channel.thread_members and not perms & Perm.MANAGE_THREADS:
            return 0
        return perms
    return _guild_channel(state, user_id, channel)


def _guild_channel(state: DiscordState, user_id: str, channel: FakeChannel) -> int:
    assert channel.guild_id is not None
    guild = state.guilds[channel.guild_id]
    if user_id == guild.owner_id:
        return ALL_PERMISSIONS
    member = guild.members.get(user_id)
    if member is None:
        return 0
    perms = guild.everyone.permissions
    for role_id in member.roles:
        perms |= guild.roles[role_id].permissions
    if perms & Perm.ADMINISTRATOR:
        return ALL_PERMISSIONS
    everyone = channel.overwrites.get(guild.id)
    if everyone is not None:
        perms = (perms & ~everyone.deny) | everyone.allow
    allow = deny = 0
    for role_id in member.roles:
        ow = channel.overwrites.get(role_id)
        if ow is not None:
            allow |= ow.allow
            deny |= ow.deny
    perms = (perms & ~deny) | allow
    own = channel.overwrites.get(user_id)
    if own is not None:
        perms = (perms & ~own.deny) | own.allow
    if not perms & Perm.VIEW_CHANNEL:
        return 0
    if not perms & Perm.SEND_MESSAGES:
        perms &= ~_NEEDS_SEND
    return perms


def app_permissions(state: DiscordState, channel: FakeChannel, owners: dict[str, str]) -> int:
    """The ``app_permissions`` of an interaction in ``channel`` authorized by ``owners``."""
    if channel.is_private:
        return DM_PERMISSIONS if channel.bot_dm else PRIVATE_CHANNEL_APP_PERMISSIONS
    if str(IntegrationType.GUILD_INSTALL) in owners:
        return permissions_for(state, state.bot_user.id, channel)
    return USER_APP_GUILD_PERMISSIONS
