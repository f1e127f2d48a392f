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
    CHANGE_NICKNAME = 1 << 26
    MANAGE_ROLES = 1 << 28
    USE_APPLICATION_COMMANDS = 1 << 31
    SEND_MESSAGES_IN_THREADS = 1 << 38
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
DM_PERMISSIONS = int(
    Perm.VIEW_CHANNEL
    | Perm.SEND_MESSAGES
    | Perm.EMBED_LINKS
    | Perm.ATTACH_FILES
    | Perm.READ_MESSAGE_HISTORY
    | Perm.ADD_REACTIONS
    | Perm.USE_EXTERNAL_EMOJIS
    | Perm.USE_APPLICATION_COMMANDS
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
    """A guild text channel (type 0) or a DM (type 1)."""

    id: str
    name: str
    type: int = 0
    guild_id: str | None = None
    position: int = 0
    topic: str | None = None
    recipients: list[FakeUser] = field(default_factory=list)
    overwrites: dict[str, Overwrite] = field(default_factory=dict)
    last_message_id: str | None = None

    @property
    def mention(self) -> str:
        """``<#id>``."""
        return f"<#{self.id}>"

    @property
    def is_dm(self) -> bool:
        """A DM channel (type 1)."""
        return self.type == 1

    def payload(self) -> JSON:
        """The channel object Discord sends."""
        if self.is_dm:
            return {
                "id": self.id,
                "type": 1,
                "last_message_id": self.last_message_id,
                "recipients": [user.payload() for user in self.recipients],
                "flags": 0,
            }
        return {
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
            "parent_id": None,
            "flags": 0,
        }


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

    def payload(self, *, members: Sequence[FakeMember], joined_at: str) -> JSON:
        """The GUILD_CREATE payload."""
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
            "channels": [channel.payload() for channel in self.channels.values()],
            "threads": [],
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
