"""Who may post, edit and read where: the checks Discord makes before a message exists.

The bot's own REST calls (``/channels/{id}/messages``) are judged by the bot user's permissions
in the channel (developers/resources/message.mdx, Create Message "Limitations": Send Messages;
Send TTS Messages for ``tts``; Read Message History for a reply; Get Channel Message: View
Channel + Read Message History, and Connect in a voice channel). In a thread Send Messages in
Threads replaces Send Messages (topics/permissions.mdx, "Inherited Permissions (Threads)").
Uploads need Attach Files (topics/permissions.mdx); embeds sent without Embed Links are dropped,
not refused - the message goes out without them (the issue the fake serves observed it;
``FakeMessage.dropped_embeds`` keeps what was dropped).

Interaction responses and follow-ups are webhook messages: they need no Send Messages, but since
2023-11-01 "follow a bot user's permissions" (change-log "Fix Message Edit Interaction Response
Permissions"), so Attach Files and Embed Links apply, judged on the interaction's
``app_permissions`` recomputed now. For a user-installed app in a server it is not installed to,
the invoking user's permissions rule: without Use External Apps responses become ephemeral, and
without Send Messages it cannot answer publicly (topics/permissions.mdx USE_EXTERNAL_APPS;
resources/application.mdx "User Context").

Channel kinds and thread states (developers/topics/threads.mdx, JSON error codes in
topics/opcodes-and-status-codes.mdx): forum and media channels take no messages (40058), a
category is no text channel (50008), a private channel the bot is not in is Missing Access
(50001). In a locked thread only Manage Threads may create or update messages (160005 "Thread is
locked"); an archived thread takes no edits (50083) and a new message unarchives it unless it is
locked. Ephemeral interaction messages are not channel messages and skip the thread checks.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

from tests.fakes.discord.models import JSON, ChannelType, FakeChannel, FakeUser, Perm
from tests.fakes.discord.permissions import app_permissions
from tests.fakes.discord.validation import DiscordAPIError

if TYPE_CHECKING:
    from tests.fakes.discord.interactions import FakeInteraction
    from tests.fakes.discord.state import DiscordState

MISSING_ACCESS = (403, 50001, "Missing Access")
MISSING_PERMISSIONS = (403, 50013, "Missing Permissions")


@dataclass
class Verdict:
    """What Discord does with a message it accepts."""

    drop_embeds: bool = False
    unarchive: bool = False
    force_ephemeral: bool = False


def _refuse(error: tuple[int, int, str]) -> DiscordAPIError:
    return DiscordAPIError(*error)


def bot_can_see(state: DiscordState, channel: FakeChannel) -> int:
    """The bot's permissions in ``channel``; 403 50001 if it cannot see it at all."""
    if channel.is_private and not channel.bot_dm:
        raise _refuse(MISSING_ACCESS)
    perms = state.permissions_for(state.bot_user, channel)
    if not perms & Perm.VIEW_CHANNEL:
        raise _refuse(MISSING_ACCESS)
    return perms


def bot_post(state: DiscordState, channel: FakeChannel, data: JSON, has_files: bool) -> Verdict:
    """``POST /channels/{id}/messages`` with the bot token."""
    perms = bot_can_see(state, channel)
    if channel.bot_dm:
        return Verdict()
    if channel.type == ChannelType.GUILD_CATEGORY:
        raise DiscordAPIError(400, 50008, "Cannot send messages in a non-text channel")
    if channel.is_forum:
        raise DiscordAPIError(400, 40058, "Cannot send a message in a forum channel")
    send = Perm.SEND_MESSAGES_IN_THREADS if channel.is_thread else Perm.SEND_MESSAGES
    needed = int(send)
    if has_files:
        needed |= Perm.ATTACH_FILES
    if data.get("tts"):
        needed |= Perm.SEND_TTS_MESSAGES
    if perms & needed != needed:
        raise _refuse(MISSING_PERMISSIONS)
    reference = data.get("message_reference")
    if isinstance(reference, dict) and not perms & Perm.READ_MESSAGE_HISTORY:
        raise DiscordAPIError(
            400, 160002, "Cannot reply without permission to read message history"
        )
    verdict = Verdict(drop_embeds=bool(data.get("embeds")) and not perms & Perm.EMBED_LINKS)
    verdict.unarchive = _thread_create(channel, perms)
    return verdict


def bot_edit(state: DiscordState, channel: FakeChannel, data: JSON, has_files: bool) -> Verdict:
    """``PATCH /channels/{id}/messages/{id}`` of the bot's own message."""
    perms = bot_can_see(state, channel)
    if channel.bot_dm:
        return Verdict()
    if has_files and not perms & Perm.ATTACH_FILES:
        raise _refuse(MISSING_PERMISSIONS)
    _thread_update(channel, perms)
    return Verdict(drop_embeds=bool(data.get("embeds")) and not perms & Perm.EMBED_LINKS)


def bot_read_history(state: DiscordState, channel: FakeChannel) -> None:
    """Reading messages: View Channel + Read Message History (+ Connect in voice channels)."""
    perms = bot_can_see(state, channel)
    if channel.bot_dm:
        return
    needed = Perm.READ_MESSAGE_HISTORY | (Perm.CONNECT if channel.is_voice else 0)
    if perms & needed != needed:
        raise _refuse(MISSING_PERMISSIONS)


def interaction_message(
    state: DiscordState,
    ix: FakeInteraction,
    channel: FakeChannel,
    data: JSON,
    has_files: bool,
    *,
    create: bool,
    ephemeral: bool,
) -> Verdict:
    """An interaction response or follow-up that creates (``create``) or edits a message."""
    perms = app_permissions(state, channel, ix.owners)
    if has_files and not perms & Perm.ATTACH_FILES:
        raise _refuse(MISSING_PERMISSIONS)
    verdict = Verdict(drop_embeds=bool(data.get("embeds")) and not perms & Perm.EMBED_LINKS)
    if create and ix.authorization.user_install_only and not channel.is_private:
        user_perms = state.permissions_for(ix.user, channel)
        if not ephemeral and not user_perms & Perm.USE_EXTERNAL_APPS:
            verdict.force_ephemeral = ephemeral = True
        send = Perm.SEND_MESSAGES_IN_THREADS if channel.is_thread else Perm.SEND_MESSAGES
        if not ephemeral and not user_perms & send:
            raise _refuse(MISSING_PERMISSIONS)
    if not ephemeral and channel.is_thread:
        if create:
            verdict.unarchive = _thread_create(channel, perms)
        else:
            _thread_update(channel, perms)
    return verdict


def _thread_create(channel: FakeChannel, perms: int) -> bool:
    """Posting in a thread: True if the post unarchives it."""
    if not channel.is_thread:
        return False
    moderator = bool(perms & Perm.MANAGE_THREADS)
    if channel.locked and not moderator:
        if channel.archived:
            raise _archived()
        raise DiscordAPIError(400, 160005, "Thread is locked")
    return channel.archived


def _thread_update(channel: FakeChannel, perms: int) -> None:
    if not channel.is_thread:
        return
    if channel.archived:
        raise _archived()
    if channel.locked and not perms & Perm.MANAGE_THREADS:
        raise DiscordAPIError(400, 160005, "Thread is locked")


def _archived() -> DiscordAPIError:
    return DiscordAPIError(400, 50083, "Thread is archived")


def can_dm(user: FakeUser) -> bool:
    """Whether the bot may DM ``user`` (50007 otherwise: closed DMs, or another bot)."""
    return not (user.dms_closed or user.bot)
