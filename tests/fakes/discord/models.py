"""Discord's objects as the fake keeps them, and Discord's numbers.

The permission, intent and message-flag bits, the limits and deadlines, and the objects of the
in-memory world: users, roles, members, channels (with permission overwrites), guilds,
attachments and messages. Each object renders the JSON payload Discord sends for it
(``payload()``). Computing permissions and changing the world is :mod:`.state`'s job.
"""

from __future__ import annotations

import copy
import re
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from enum import IntFlag
from typing import Any

JSON = dict[str, Any]

API_PREFIX = "/api/v10"
DISCORD_EPOCH_MS = 1420070400000
#: Discord's default per-file upload limit since 2025-01-16 (developers/reference.mdx "Uploading
#: Files"; change-log 2024-12-16 "Default File Upload Limit Change"; discord.py
#: ``utils.DEFAULT_FILE_SIZE_LIMIT_BYTES``). Bots have no Nitro, so it is their limit in DMs.
DEFAULT_ATTACHMENT_SIZE_LIMIT = 10 * 1024 * 1024
#: Per-file upload limit by a guild's boost tier (``premium_tier``): what the bot's own posts in
#: that guild may carry. discord.py ``Guild._PREMIUM_GUILD_LIMITS`` (``Guild.filesize_limit``).
PREMIUM_TIER_UPLOAD_LIMITS: dict[int, int] = {
    0: DEFAULT_ATTACHMENT_SIZE_LIMIT,
    1: DEFAULT_ATTACHMENT_SIZE_LIMIT,
    2: 50 * 1024 * 1024,
    3: 100 * 1024 * 1024,
}
#: "The maximum request size when sending a message is 25 MiB" (developers/resources/message.mdx,
#: Create Message, Limitations); applied to every request that carries a message.
REQUEST_SIZE_LIMIT = 25 * 1024 * 1024
#: An interaction must get its first callback within this many seconds.
ACK_DEADLINE = 3.0
#: Interaction tokens work for follow-ups and edits this long.
TOKEN_LIFETIME = 15 * 60.0


class Perm(IntFlag):
    """Discord permission bits (the ones tests and the fake care about)."""

    CREATE_INSTANT_INVITE = 1 << 0
    KICK_MEMBERS = 1 << 1
    BAN_MEMBERS = 1 << 2
    ADMINISTRATOR = 1 << 3
    MANAGE_CHANNELS = 1 << 4
    MANAGE_GUILD = 1 << 5
    ADD_REACTIONS = 1 << 6
    VIEW_CHANNEL = 1 << 10
    SEND_MESSAGES = 1 << 11
    SEND_TTS_MESSAGES = 1 << 12
    MANAGE_MESSAGES = 1 << 13
    EMBED_LINKS = 1 << 14
    ATTACH_FILES = 1 << 15
    READ_MESSAGE_HISTORY = 1 << 16
    MENTION_EVERYONE = 1 << 17
    USE_EXTERNAL_EMOJIS = 1 << 18
    CONNECT = 1 << 20
    CHANGE_NICKNAME = 1 << 26
    MANAGE_ROLES = 1 << 28
    USE_APPLICATION_COMMANDS = 1 << 31
    MANAGE_THREADS = 1 << 34
    CREATE_PUBLIC_THREADS = 1 << 35
    CREATE_PRIVATE_THREADS = 1 << 36
    SEND_MESSAGES_IN_THREADS = 1 << 38
    SEND_VOICE_MESSAGES = 1 << 46
    USE_EXTERNAL_APPS = 1 << 50


ALL_PERMISSIONS = (1 << 51) - 1
#: What @everyone gets in a new server (the part that matters here).
DEFAULT_EVERYONE_PERMISSIONS = int(
    Perm.CREATE_INSTANT_INVITE
    | Perm.ADD_REACTIONS
    | Perm.VIEW_CHANNEL
    | Perm.SEND_MESSAGES
    | Perm.EMBED_LINKS
    | Perm.ATTACH_FILES
    | Perm.READ_MESSAGE_HISTORY
    | Perm.USE_EXTERNAL_EMOJIS
    | Perm.CHANGE_NICKNAME
    | Perm.USE_APPLICATION_COMMANDS
    | Perm.SEND_MESSAGES_IN_THREADS
    | Perm.USE_EXTERNAL_APPS
    | Perm.CONNECT
    | Perm.CREATE_PUBLIC_THREADS
    | Perm.CREATE_PRIVATE_THREADS
)
#: The bot's managed role: what an invite link with the usual scopes grants.
DEFAULT_BOT_PERMISSIONS = int(
    Perm.VIEW_CHANNEL
    | Perm.SEND_MESSAGES
    | Perm.EMBED_LINKS
    | Perm.ATTACH_FILES
    | Perm.READ_MESSAGE_HISTORY
    | Perm.ADD_REACTIONS
    | Perm.USE_EXTERNAL_EMOJIS
    | Perm.USE_APPLICATION_COMMANDS
    | Perm.SEND_MESSAGES_IN_THREADS
)
#: The bot in its DM with a user. ``app_permissions`` "includes ATTACH_FILES | EMBED_LINKS |
#: MENTION_EVERYONE ... and additionally USE_EXTERNAL_EMOJIS for DMs with the app's bot user"
#: (developers/interactions/receiving-and-responding.mdx, Interaction Structure, note ***).
DM_PERMISSIONS = int(
    Perm.VIEW_CHANNEL
    | Perm.SEND_MESSAGES
    | Perm.EMBED_LINKS
    | Perm.ATTACH_FILES
    | Perm.MENTION_EVERYONE
    | Perm.READ_MESSAGE_HISTORY
    | Perm.ADD_REACTIONS
    | Perm.USE_EXTERNAL_EMOJIS
    | Perm.USE_APPLICATION_COMMANDS
)
#: ``app_permissions`` of a user-installed app in a (group) DM between users (same note).
PRIVATE_CHANNEL_APP_PERMISSIONS = int(Perm.ATTACH_FILES | Perm.EMBED_LINKS | Perm.MENTION_EVERYONE)
#: ``app_permissions`` of a user-installed app in a guild it is not installed to: what discord.py
#: mirrors from Discord (``Permissions._user_installed_permissions(in_guild=True)``).
USER_APP_GUILD_PERMISSIONS = int(
    Perm.VIEW_CHANNEL
    | Perm.SEND_MESSAGES
    | Perm.SEND_TTS_MESSAGES
    | Perm.ATTACH_FILES
    | Perm.EMBED_LINKS
    | Perm.USE_EXTERNAL_EMOJIS
    | Perm.SEND_MESSAGES_IN_THREADS
    | Perm.SEND_VOICE_MESSAGES
)


class Intent(IntFlag):
    """Gateway intent bits the fake honours."""

    GUILDS = 1 << 0
    GUILD_MEMBERS = 1 << 1
    GUILD_PRESENCES = 1 << 8
    GUILD_MESSAGES = 1 << 9
    DIRECT_MESSAGES = 1 << 12
    MESSAGE_CONTENT = 1 << 15


PRIVILEGED_INTENTS = int(Intent.GUILD_MEMBERS | Intent.GUILD_PRESENCES | Intent.MESSAGE_CONTENT)


class MessageFlag(IntFlag):
    """Message flag bits."""

    SUPPRESS_EMBEDS = 1 << 2
    EPHEMERAL = 1 << 6
    LOADING = 1 << 7
    SUPPRESS_NOTIFICATIONS = 1 << 12
    IS_COMPONENTS_V2 = 1 << 15


#: The flags a bot may set when it sends a message (others are dropped).
SENDABLE_FLAGS = int(
    MessageFlag.SUPPRESS_EMBEDS
    | MessageFlag.EPHEMERAL
    | MessageFlag.SUPPRESS_NOTIFICATIONS
    | MessageFlag.IS_COMPONENTS_V2
)


class ChannelType:
    """Channel types (developers/resources/channel.mdx, Channel Types)."""

    GUILD_TEXT = 0
    DM = 1
    GUILD_VOICE = 2
    GROUP_DM = 3
    GUILD_CATEGORY = 4
    GUILD_ANNOUNCEMENT = 5
    ANNOUNCEMENT_THREAD = 10
    PUBLIC_THREAD = 11
    PRIVATE_THREAD = 12
    GUILD_STAGE_VOICE = 13
    GUILD_FORUM = 15
    GUILD_MEDIA = 16


#: Thread channel types.
THREAD_TYPES = frozenset(
    {ChannelType.ANNOUNCEMENT_THREAD, ChannelType.PUBLIC_THREAD, ChannelType.PRIVATE_THREAD}
)
#: Channels whose posts are threads: "Cannot send a message in a forum channel" (40058).
FORUM_TYPES = frozenset({ChannelType.GUILD_FORUM, ChannelType.GUILD_MEDIA})
#: Voice channels with a text chat (channel types V and S in topics/permissions.mdx).
VOICE_TYPES = frozenset({ChannelType.GUILD_VOICE, ChannelType.GUILD_STAGE_VOICE})


class InteractionContext:
    """Where an interaction happens (``context``; receiving-and-responding.mdx, Interaction
    Context Types)."""

    GUILD = 0
    BOT_DM = 1
    PRIVATE_CHANNEL = 2


class IntegrationType:
    """Installation contexts (``integration_types``, the keys of
    ``authorizing_integration_owners``; developers/resources/application.mdx)."""

    GUILD_INSTALL = 0
    USER_INSTALL = 1


class OptionType:
    """Application command option types (``options[].type``)."""

    SUB_COMMAND = 1
    SUB_COMMAND_GROUP = 2
    STRING = 3
    INTEGER = 4
    BOOLEAN = 5
    USER = 6
    CHANNEL = 7
    ROLE = 8
    MENTIONABLE = 9
    NUMBER = 10
    ATTACHMENT = 11


def now_iso() -> str:
    """The current wall time as Discord's ISO 8601 timestamps (default for new objects)."""
    return datetime.now(UTC).isoformat()


def id_of(obj: Any) -> str:
    """A snowflake from an id, a fake object or anything with ``.id`` (discord.py objects)."""
    if isinstance(obj, str | int):
        return str(obj)
    return str(obj.id)


@dataclass(eq=False)
class FakeUser:
    """A Discord user (a person or a bot)."""

    id: str
    username: str
    bot: bool = False
    global_name: str | None = None
    #: DMs to this user fail with 50007 (privacy settings / blocked the bot)
    dms_closed: bool = False
    #: the user's own per-file upload limit (Nitro raises it; None: Discord's default). An
    #: interaction's ``attachment_size_limit`` is the larger of this and the guild's boost limit
    #: (developers/reference.mdx, "Uploading Files").
    upload_limit: int | None = None

    @property
    def mention(self) -> str:
        """``<@id>``."""
        return f"<@{self.id}>"

    def payload(self) -> JSON:
        """The user object Discord sends."""
        data: JSON = {
            "id": self.id,
            "username": self.username,
            "discriminator": "0",
            "global_name": self.global_name,
            "avatar": None,
            "public_flags": 0,
        }
        if self.bot:
            data["bot"] = True
        return data


@dataclass(eq=False)
class FakeRole:
    """A guild role."""

    id: str
    name: str
    permissions: int = 0
    position: int = 1
    mentionable: bool = False
    managed: bool = False

    @property
    def mention(self) -> str:
        """``<@&id>``."""
        return f"<@&{self.id}>"

    def payload(self) -> JSON:
        """The role object Discord sends."""
        return {
            "id": self.id,
            "name": self.name,
            "color": 0,
            "colors": {"primary_color": 0, "secondary_color": None, "tertiary_color": None},
            "hoist": False,
            "icon": None,
            "unicode_emoji": None,
            "position": self.position,
            "permissions": str(self.permissions),
            "managed": self.managed,
            "mentionable": self.mentionable,
            "flags": 0,
        }


@dataclass(eq=False)
class FakeMember:
    """A user's membership of a guild."""

    user: FakeUser
    guild_id: str
    roles: list[str] = field(default_factory=list)  # role ids, @everyone not included
    nick: str | None = None
    joined_at: str = field(default_factory=now_iso)

    def payload(self, *, with_user: bool = True, permissions: int | None = None) -> JSON:
        """The guild member object Discord sends."""
        data: JSON = {
            "nick": self.nick,
            "avatar": None,
            "banner": None,
            "roles": list(self.roles),
            "joined_at": self.joined_at,
            "premium_since": None,
            "deaf": False,
            "mute": False,
            "pending": False,
            "flags": 0,
            "communication_disabled_until": None,
        }
        if with_user:
            data["user"] = self.user.payload()
        if permissions is not None:
            data["permissions"] = str(permissions)
        return data


@dataclass
class Overwrite:
    """A channel permission overwrite (type 0 role, 1 member)."""

    type: int
    allow: int = 0
    deny: int = 0


@dataclass(eq=False)
class FakeChannel:
    """A channel of any kind (:class:`ChannelType`): guild text, voice, category, forum,
    announcement, a thread (``parent_id``, archived / locked), the bot's DM (type 1), or a
    private channel the bot is not in (a group DM, type 3, or a DM between two users)."""

    id: str
    name: str
    type: int = ChannelType.GUILD_TEXT
    guild_id: str | None = None
    position: int = 0
    topic: str | None = None
    recipients: list[FakeUser] = field(default_factory=list)
    overwrites: dict[str, Overwrite] = field(default_factory=dict)
    last_message_id: str | None = None
    #: threads: the channel they live in; guild channels: their category
    parent_id: str | None = None
    #: threads: who started it; group DMs: the owner
    owner_id: str | None = None
    archived: bool = False
    locked: bool = False
    invitable: bool = True
    #: thread members (a private thread is visible only to them and MANAGE_THREADS holders)
    thread_members: set[str] = field(default_factory=set)
    #: the DM between the bot and ``recipients[0]`` (the bot can read and post there)
    bot_dm: bool = False
    created_at: str = field(default_factory=now_iso)
    archive_timestamp: str = field(default_factory=now_iso)
    message_count: int = 0

    @property
    def mention(self) -> str:
        """``<#id>``."""
        return f"<#{self.id}>"

    @property
    def is_dm(self) -> bool:
        """A DM channel (type 1): the bot's, or one between two users."""
        return self.type == ChannelType.DM

    @property
    def is_private(self) -> bool:
        """Not in a guild: a DM or a group DM."""
        return self.type in (ChannelType.DM, ChannelType.GROUP_DM)

    @property
    def is_thread(self) -> bool:
        """A public, private or announcement thread."""
        return self.type in THREAD_TYPES

    @property
    def is_forum(self) -> bool:
        """A forum or media channel: its posts are threads."""
        return self.type in FORUM_TYPES

    @property
    def is_voice(self) -> bool:
        """A voice or stage channel (with its text chat)."""
        return self.type in VOICE_TYPES

    def payload(self) -> JSON:
        """The channel object Discord sends."""
        if self.type == ChannelType.DM:
            return {
                "id": self.id,
                "type": 1,
                "last_message_id": self.last_message_id,
                "recipients": [user.payload() for user in self.recipients],
                "flags": 0,
            }
        if self.type == ChannelType.GROUP_DM:
            return {
                "id": self.id,
                "type": 3,
                "name": self.name or None,
                "icon": None,
                "owner_id": self.owner_id,
                "last_message_id": self.last_message_id,
                "recipients": [user.payload() for user in self.recipients],
                "flags": 0,
            }
        if self.is_thread:
            metadata: JSON = {
                "archived": self.archived,
                "auto_archive_duration": 4320,
                "archive_timestamp": self.archive_timestamp,
                "locked": self.locked,
                "create_timestamp": self.created_at,
            }
            if self.type == ChannelType.PRIVATE_THREAD:
                metadata["invitable"] = self.invitable
            return {
                "id": self.id,
                "type": self.type,
                "guild_id": self.guild_id,
                "parent_id": self.parent_id,
                "owner_id": self.owner_id,
                "name": self.name,
                "last_message_id": self.last_message_id,
                "message_count": self.message_count,
                "total_message_sent": self.message_count,
                "member_count": len(self.thread_members),
                "rate_limit_per_user": 0,
                "flags": 0,
                "applied_tags": [],
                "thread_metadata": metadata,
            }
        data: JSON = {
            "id": self.id,
            "type": self.type,
            "guild_id": self.guild_id,
            "name": self.name,
            "position": self.position,
            "permission_overwrites": [
                {"id": target, "type": ow.type, "allow": str(ow.allow), "deny": str(ow.deny)}
                for target, ow in self.overwrites.items()
            ],
            "topic": self.topic,
            "nsfw": False,
            "last_message_id": self.last_message_id,
            "rate_limit_per_user": 0,
            "parent_id": self.parent_id,
            "flags": 0,
        }
        if self.is_voice:
            data.update(bitrate=64000, user_limit=0, rtc_region=None, video_quality_mode=1)
        if self.is_forum:
            data.update(
                available_tags=[],
                default_reaction_emoji=None,
                default_sort_order=None,
                default_forum_layout=0,
                default_thread_rate_limit_per_user=0,
            )
        return data


@dataclass(eq=False)
class FakeGuild:
    """A guild with its roles, channels and members."""

    id: str
    name: str
    owner_id: str
    roles: dict[str, FakeRole] = field(default_factory=dict)
    channels: dict[str, FakeChannel] = field(default_factory=dict)
    members: dict[str, FakeMember] = field(default_factory=dict)
    #: the boost tier (0-3): it sets the per-file limit of the bot's own posts here
    premium_tier: int = 0
    #: an explicit per-file limit for the bot's own posts (None: from ``premium_tier``)
    attachment_size_limit: int | None = None
    locale: str = "en-US"

    @property
    def upload_limit(self) -> int:
        """The per-file limit of uploads with the bot token in this guild."""
        if self.attachment_size_limit is not None:
            return self.attachment_size_limit
        return PREMIUM_TIER_UPLOAD_LIMITS[self.premium_tier]

    @property
    def everyone(self) -> FakeRole:
        """The @everyone role (its id is the guild id)."""
        return self.roles[self.id]

    def payload(
        self, *, members: Sequence[FakeMember], joined_at: str, threads: Sequence[FakeChannel] = ()
    ) -> JSON:
        """The GUILD_CREATE payload (``threads``: the active threads the bot can see)."""
        return {
            "id": self.id,
            "name": self.name,
            "icon": None,
            "splash": None,
            "discovery_splash": None,
            "banner": None,
            "description": None,
            "owner_id": self.owner_id,
            "afk_channel_id": None,
            "afk_timeout": 300,
            "verification_level": 0,
            "default_message_notifications": 0,
            "explicit_content_filter": 0,
            "mfa_level": 0,
            "nsfw_level": 0,
            "premium_tier": self.premium_tier,
            "premium_subscription_count": 0,
            "premium_progress_bar_enabled": False,
            "preferred_locale": self.locale,
            "system_channel_id": None,
            "system_channel_flags": 0,
            "rules_channel_id": None,
            "public_updates_channel_id": None,
            "vanity_url_code": None,
            "application_id": None,
            "max_members": 500000,
            "features": [],
            "emojis": [],
            "stickers": [],
            "roles": [role.payload() for role in self.roles.values()],
            "channels": [c.payload() for c in self.channels.values() if not c.is_thread],
            "threads": [thread.payload() for thread in threads],
            "members": [member.payload() for member in members],
            "member_count": len(self.members),
            "presences": [],
            "voice_states": [],
            "stage_instances": [],
            "guild_scheduled_events": [],
            "soundboard_sounds": [],
            "joined_at": joined_at,
            "large": False,
            "unavailable": False,
        }


@dataclass(eq=False)
class FakeAttachment:
    """An uploaded file, kept with its bytes and served from the fake CDN."""

    id: str
    filename: str
    data: bytes = field(repr=False)
    content_type: str
    url: str
    proxy_url: str
    width: int | None = None
    height: int | None = None
    description: str | None = None
    ephemeral: bool = False

    @property
    def size(self) -> int:
        """Size in bytes."""
        return len(self.data)

    def payload(self) -> JSON:
        """The attachment object Discord sends."""
        data: JSON = {
            "id": self.id,
            "filename": self.filename,
            "size": self.size,
            "url": self.url,
            "proxy_url": self.proxy_url,
            "content_type": self.content_type,
            "flags": 0,
        }
        if self.width is not None:
            data["width"] = self.width
            data["height"] = self.height
        if self.description is not None:
            data["description"] = self.description
        if self.ephemeral:
            data["ephemeral"] = True
        return data


@dataclass(eq=False)
class FakeMessage:
    """A message, with everything that was sent for it."""

    id: str
    channel_id: str
    guild_id: str | None
    author: FakeUser
    content: str = ""
    type: int = 0
    embeds: list[JSON] = field(default_factory=list)
    attachments: list[FakeAttachment] = field(default_factory=list)
    components: list[JSON] = field(default_factory=list)
    flags: int = 0
    #: ``allowed_mentions`` exactly as sent (None when the request had none)
    allowed_mentions: JSON | None = None
    webhook_id: str | None = None
    application_id: str | None = None
    interaction_id: str | None = None
    interaction_metadata: JSON | None = None
    message_reference: JSON | None = None
    referenced: FakeMessage | None = field(default=None, repr=False)
    nonce: str | int | None = None
    tts: bool = False
    timestamp: str = field(default_factory=now_iso)
    edited_timestamp: str | None = None
    deleted: bool = False
    mention_users: list[FakeUser] = field(default_factory=list, repr=False)
    mention_roles: list[str] = field(default_factory=list)
    mention_everyone: bool = False
    #: mentions that notify, as Discord resolved them: ``<@id>``, ``<@&id>``, ``@everyone``,
    #: ``@here`` (computed when the message becomes visible: created, or a placeholder filled)
    pinged: set[str] = field(default_factory=set)
    #: user ids that get a notification (``pinged`` expanded through roles and @everyone)
    notified_users: set[str] = field(default_factory=set)
    #: every edit's request body, in order
    edits: list[JSON] = field(default_factory=list, repr=False)
    #: embeds Discord dropped without telling the sender (the sender lacked Embed Links)
    dropped_embeds: list[JSON] = field(default_factory=list, repr=False)

    @property
    def ephemeral(self) -> bool:
        """Flag 64: only the invoking user sees it."""
        return bool(self.flags & MessageFlag.EPHEMERAL)

    @property
    def loading(self) -> bool:
        """Still the "... is thinking" placeholder of a deferred interaction."""
        return bool(self.flags & MessageFlag.LOADING)

    def walk_components(self) -> Iterator[JSON]:
        """Every component, depth first (rows, containers, sections and labels included)."""
        yield from walk_components(self.components)

    def find_component(self, custom_id: str) -> JSON | None:
        """The component with this ``custom_id``, if any."""
        for component in self.walk_components():
            if component.get("custom_id") == custom_id:
                return component
        return None

    @property
    def custom_ids(self) -> list[str]:
        """Every ``custom_id`` in the message's components."""
        return [c["custom_id"] for c in self.walk_components() if "custom_id" in c]

    def payload(self, *, nested: bool = True) -> JSON:
        """The message object Discord sends."""
        data: JSON = {
            "id": self.id,
            "type": self.type,
            "channel_id": self.channel_id,
            "author": self.author.payload(),
            "content": self.content,
            "timestamp": self.timestamp,
            "edited_timestamp": self.edited_timestamp,
            "tts": self.tts,
            "mention_everyone": self.mention_everyone,
            "mentions": [user.payload() for user in self.mention_users],
            "mention_roles": list(self.mention_roles),
            "mention_channels": [],
            "attachments": [attachment.payload() for attachment in self.attachments],
            "embeds": copy.deepcopy(self.embeds),
            "components": copy.deepcopy(self.components),
            "pinned": False,
            "flags": self.flags,
        }
        if self.guild_id is not None:
            data["guild_id"] = self.guild_id
        if self.nonce is not None:
            data["nonce"] = self.nonce
        if self.webhook_id is not None:
            data["webhook_id"] = self.webhook_id
        if self.application_id is not None:
            data["application_id"] = self.application_id
        if self.interaction_metadata is not None:
            data["interaction_metadata"] = copy.deepcopy(self.interaction_metadata)
        if self.message_reference is not None:
            data["message_reference"] = dict(self.message_reference)
            if nested:
                ref = self.referenced
                data["referenced_message"] = (
                    None if ref is None or ref.deleted else ref.payload(nested=False)
                )
        return data


def walk_components(components: Sequence[JSON]) -> Iterator[JSON]:
    """Every component, depth first (rows, containers, sections and labels included)."""
    for component in components:
        yield component
        yield from walk_components(component.get("components") or [])
        for key in ("accessory", "component"):
            child = component.get(key)
            if isinstance(child, dict):
                yield from walk_components([child])


@dataclass
class UploadedFile:
    """A ``files[n]`` part of a multipart request."""

    part: str  # the form field name, ``files[n]``
    filename: str
    data: bytes = field(repr=False)
    content_type: str

    @property
    def index(self) -> int | None:
        """``n`` of ``files[n]``."""
        match = re.fullmatch(r"files\[(\d+)\]", self.part)
        return int(match.group(1)) if match else None
