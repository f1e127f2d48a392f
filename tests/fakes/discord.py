"""A loopback fake of Discord: gateway websocket, REST API v10 and CDN on one aiohttp server.

It models Discord closely enough that the real discord.py client runs end to end against it
(see ../shared/DISCORD-TESTING.md for the recipe and the discord.py internals it relies on):

* login (``GET /users/@me``, ``GET /oauth2/applications/@me``) with ``Authorization: Bot``;
* the gateway: HELLO, heartbeat ACK, IDENTIFY -> READY + GUILD_CREATE, RESUME with replay of
  missed dispatches, op 7 / op 9 / server-side closes on demand;
* application command sync (PUTs counted), interactions sent the way Discord sends them
  (slash commands with ATTACHMENT options, context menus, component clicks, modal submits)
  and every response path: callbacks 4/5/6/7/8/9 with ``with_response``, follow-ups,
  ``@original`` edits, channel messages and DMs, multipart bodies with their bytes kept;
* Discord's rules that bots trip over: the 3 s acknowledgement window, "already
  acknowledged" (40060), expired tokens (50027), missing permissions (50013), attachment size
  (40005), embed/content/component limits (50035), empty messages (50006), the first
  follow-up after a defer filling the "thinking" placeholder, ``allowed_mentions``.

Point discord.py at it with :func:`point_discord_py_at`; drive it with :meth:`FakeDiscord.slash`,
:meth:`FakeDiscord.click`, :meth:`FakeDiscord.submit_modal`, ...; inspect ``fake.messages()``,
``fake.callbacks``, ``fake.requests``, ``fake.commands``; wait with :meth:`FakeDiscord.wait_for`.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import copy
import hashlib
import io
import json
import mimetypes
import re
import secrets
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from enum import IntFlag
from typing import Any, TypeVar
from urllib.parse import quote

import discord.asset
import discord.gateway
import discord.http
import yarl
from aiohttp import BodyPartReader, WSMsgType, web

from tests.fakes._base import json_response

JSON = dict[str, Any]
_T = TypeVar("_T")

API_PREFIX = "/api/v10"
DISCORD_EPOCH_MS = 1420070400000
#: Discord's default per-file upload limit since 2025-01 (``attachment_size_limit``).
DEFAULT_ATTACHMENT_SIZE_LIMIT = 10 * 1024 * 1024
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


_SENDABLE_FLAGS = int(
    MessageFlag.SUPPRESS_EMBEDS
    | MessageFlag.EPHEMERAL
    | MessageFlag.SUPPRESS_NOTIFICATIONS
    | MessageFlag.IS_COMPONENTS_V2
)


class InteractionType:
    """Interaction types (``payload['type']``)."""

    PING = 1
    APPLICATION_COMMAND = 2
    MESSAGE_COMPONENT = 3
    AUTOCOMPLETE = 4
    MODAL_SUBMIT = 5


class CallbackType:
    """Interaction callback types (``POST .../callback`` body ``type``)."""

    PONG = 1
    CHANNEL_MESSAGE = 4
    DEFERRED_CHANNEL_MESSAGE = 5
    DEFERRED_UPDATE_MESSAGE = 6
    UPDATE_MESSAGE = 7
    AUTOCOMPLETE_RESULT = 8
    MODAL = 9


_ALLOWED_CALLBACKS: dict[int, frozenset[int]] = {
    InteractionType.PING: frozenset({1}),
    InteractionType.APPLICATION_COMMAND: frozenset({4, 5, 9}),
    InteractionType.MESSAGE_COMPONENT: frozenset({4, 5, 6, 7, 9}),
    InteractionType.AUTOCOMPLETE: frozenset({8}),
    InteractionType.MODAL_SUBMIT: frozenset({4, 5, 6, 7}),
}

# application command option types
_SUB_COMMAND, _SUB_GROUP, _STRING, _INTEGER, _BOOLEAN = 1, 2, 3, 4, 5
_USER, _CHANNEL, _ROLE, _MENTIONABLE, _NUMBER, _ATTACHMENT = 6, 7, 8, 9, 10, 11

_SELECT_TYPES = frozenset({3, 5, 6, 7, 8})
_TINY_PNG = base64.b64decode(
    "iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mNk+M9QDwADhgGAWjR9awAAAABJRU5ErkJggg=="
)

#: ``(filename, bytes)`` or ``(filename, bytes, content_type)``: a file a user uploads.
AttachmentSpec = tuple[str, bytes] | tuple[str, bytes, str]


class DiscordAPIError(Exception):
    """An error the fake answers with, in Discord's JSON error format."""

    def __init__(self, status: int, code: int, message: str, errors: JSON | None = None) -> None:
        super().__init__(f"{status} {code} {message}")
        self.status = status
        self.code = code
        self.message = message
        self.errors = errors

    def body(self) -> JSON:
        """The JSON body Discord sends for this error."""
        data: JSON = {"message": self.message, "code": self.code}
        if self.errors is not None:
            data["errors"] = self.errors
        return data


class CommandUnavailable(Exception):
    """Discord's client would not let this user run this command here."""


def _form_error(path: Sequence[str | int], code: str, message: str) -> DiscordAPIError:
    """A 50035 "Invalid Form Body" error with the nested ``errors`` object Discord builds."""
    errors: JSON = {"_errors": [{"code": code, "message": message}]}
    for key in reversed(path):
        errors = {str(key): errors}
    return DiscordAPIError(400, 50035, "Invalid Form Body", errors)


def _now_iso() -> str:
    return datetime.now(UTC).isoformat()


# ---------------------------------------------------------------------------------- state


@dataclass(eq=False)
class FakeUser:
    """A Discord user (a person or a bot)."""

    id: str
    username: str
    bot: bool = False
    global_name: str | None = None
    #: DMs to this user fail with 50007 (privacy settings / blocked the bot)
    dms_closed: bool = False

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
    joined_at: str = field(default_factory=_now_iso)

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
    #: per-file limit for uploads with the bot token (boost tiers raise it)
    attachment_size_limit: int = DEFAULT_ATTACHMENT_SIZE_LIMIT
    locale: str = "en-US"

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
            "premium_tier": 0,
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
    timestamp: str = field(default_factory=_now_iso)
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
        yield from _walk_components(self.components)

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


def _walk_components(components: Sequence[JSON]) -> Iterator[JSON]:
    for component in components:
        yield component
        yield from _walk_components(component.get("components") or [])
        for key in ("accessory", "component"):
            child = component.get(key)
            if isinstance(child, dict):
                yield from _walk_components([child])


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


@dataclass
class RestRequest:
    """One REST request the fake received (``json`` is the body, or ``payload_json``)."""

    method: str
    path: str
    route: str  # the path without ``/api/v10``
    query: dict[str, str]
    headers: dict[str, str] = field(repr=False)
    json: Any = None
    files: list[UploadedFile] = field(default_factory=list)
    status: int = 0
    error_code: int | None = None


@dataclass
class Callback:
    """One ``POST /interactions/{id}/{token}/callback`` (accepted or rejected)."""

    interaction_id: str
    token: str
    type: int
    data: JSON | None
    files: list[UploadedFile]
    elapsed: float  # seconds since the interaction was dispatched
    late: bool  # after the acknowledgement deadline
    status: int = 200
    error_code: int | None = None
    message_id: str | None = None


@dataclass
class CommandSync:
    """One bulk overwrite of application commands (a ``tree.sync()``)."""

    guild_id: str | None
    body: list[JSON]
    changed: bool


@dataclass
class GatewayFrame:
    """A gateway frame, ``direction`` "send" (fake -> bot) or "recv" (bot -> fake)."""

    direction: str
    op: int
    t: str | None
    s: int | None
    d: Any = field(repr=False)


@dataclass
class Resume:
    """A RESUME the fake accepted: the client's last seq and the events it replayed."""

    seq: int
    replayed: list[str]


@dataclass(eq=False)
class FakeInteraction:
    """An interaction the fake sent, and everything the bot did with it."""

    id: str
    token: str
    type: int
    user: FakeUser
    channel_id: str
    guild_id: str | None
    payload: JSON = field(repr=False)
    attachment_size_limit: int
    fake: FakeDiscord = field(repr=False)
    name: str | None = None  # command name or custom_id
    source_message_id: str | None = None  # the message a component was on
    origin: FakeInteraction | None = field(default=None, repr=False)  # modal submit's origin
    created_at: float = 0.0  # loop time of dispatch
    callbacks: list[Callback] = field(default_factory=list, repr=False)  # accepted ones
    response_type: int | None = None
    original_message_id: str | None = None
    deferred: bool = False
    original_filled: bool = False
    followup_ids: list[str] = field(default_factory=list)
    modal: JSON | None = field(default=None, repr=False)
    expired: bool = False
    late: bool = False

    @property
    def acknowledged(self) -> bool:
        """The interaction got its (first, accepted) callback."""
        return self.response_type is not None

    @property
    def callback(self) -> Callback | None:
        """The accepted callback, if any."""
        return self.callbacks[0] if self.callbacks else None

    @property
    def original(self) -> FakeMessage | None:
        """The ``@original`` response message (or the component's message after 6/7)."""
        if self.original_message_id is None:
            return None
        return self.fake.message(self.original_message_id)

    @property
    def followups(self) -> list[FakeMessage]:
        """Follow-up messages that created new messages (not the filled placeholder)."""
        return [self.fake.message(mid) for mid in self.followup_ids]

    @property
    def messages(self) -> list[FakeMessage]:
        """The original response (if any) followed by the follow-ups."""
        original = self.original
        own = [original] if original is not None and original.interaction_id == self.id else []
        return own + self.followups

    async def wait_callback(self, timeout: float = 5.0) -> Callback:
        """Wait until the bot acknowledged this interaction; return the accepted callback."""
        return await self.fake.wait_for(
            lambda: self.callback, timeout=timeout, what=f"a callback for interaction {self.name}"
        )

    async def wait_original(self, timeout: float = 5.0) -> FakeMessage:
        """Wait for the original response to exist and not be a "thinking" placeholder."""

        def ready() -> FakeMessage | None:
            message = self.original
            return message if message is not None and not message.loading else None

        return await self.fake.wait_for(
            ready, timeout=timeout, what=f"the original response of {self.name}"
        )

    async def wait_followups(self, count: int = 1, timeout: float = 5.0) -> list[FakeMessage]:
        """Wait until ``count`` follow-ups created new messages; return them."""
        return await self.fake.wait_for(
            lambda: self.followups if len(self.followup_ids) >= count else None,
            timeout=timeout,
            what=f"{count} follow-ups of {self.name}",
        )

    async def wait_modal(self, timeout: float = 5.0) -> JSON:
        """Wait for a type 9 (modal) callback; return the modal the bot sent."""
        return await self.fake.wait_for(
            lambda: self.modal, timeout=timeout, what=f"a modal for {self.name}"
        )


@dataclass(eq=False)
class _Connection:
    ws: web.WebSocketResponse
    query: dict[str, str]


class _Snowflakes:
    """Monotonic snowflakes built from the current time, like Discord's."""

    def __init__(self) -> None:
        self._last = 0

    def next(self) -> str:
        """The next snowflake, as a string."""
        value = max((int(time.time() * 1000) - DISCORD_EPOCH_MS) << 22, self._last + 1)
        self._last = value
        return str(value)


def _image_size(data: bytes) -> tuple[int, int] | None:
    try:
        from PIL import Image

        with Image.open(io.BytesIO(data)) as image:
            return int(image.width), int(image.height)
    except Exception:
        return None


def _sanitize_filename(filename: str) -> str:
    name = filename.replace("/", "_").replace("\\", "_")
    return re.sub(r"\s+", "_", name) or "unknown"


def _guess_type(filename: str) -> str:
    return mimetypes.guess_type(filename)[0] or "application/octet-stream"


def _truthy(value: str | None) -> bool:
    return value is not None and value.lower() in ("1", "true")


def _id_of(obj: Any) -> str:
    """A snowflake from an id, a fake object or anything with ``.id`` (discord.py objects)."""
    if isinstance(obj, str | int):
        return str(obj)
    return str(obj.id)


# ------------------------------------------------------------------------------ the fake

_REC = web.RequestKey("rec", RestRequest)


class FakeDiscord:
    """One aiohttp server on 127.0.0.1 that is Discord's gateway, REST API and CDN.

    ``async with FakeDiscord() as fake:`` starts it on a free port. It comes with one
    application/bot user, an owner, a guild (:attr:`guild`) with a text channel
    (:attr:`channel`); add more with :meth:`add_guild`, :meth:`add_channel`, :meth:`add_user`.
    """

    #: reject late acknowledgements with 10062 as Discord does (default: only record them)
    enforce_ack_deadline: bool = False
    ack_deadline: float = ACK_DEADLINE
    token_lifetime: float = TOKEN_LIFETIME
    heartbeat_interval_ms: int = 41250
    ack_heartbeats: bool = True

    def __init__(
        self,
        *,
        token: str = "test-token",  # noqa: S107 - a fake's fixed test token
        application_id: int | str | None = None,
        bot_user_id: int | str | None = None,
        bot_name: str = "bananabot",
        owner_id: int | str | None = None,
        guild_id: int | str | None = None,
        guild_name: str = "Test Guild",
        channel_id: int | str | None = None,
        channel_name: str = "general",
        bot_permissions: int = DEFAULT_BOT_PERMISSIONS,
        everyone_permissions: int = DEFAULT_EVERYONE_PERMISSIONS,
        attachment_size_limit: int = DEFAULT_ATTACHMENT_SIZE_LIMIT,
        allowed_privileged_intents: int = PRIVILEGED_INTENTS,
        strict_commands: bool = True,
    ) -> None:
        """Build the state; nothing listens until :meth:`start`.

        ``strict_commands``: interactions can only name commands the bot registered (as on
        Discord); with False, unknown commands are sent as global ones with inferred types.
        """
        self._ids = _Snowflakes()
        self.token = token
        self.application_id = str(application_id) if application_id is not None else self._id()
        self.bot_user = FakeUser(
            str(bot_user_id) if bot_user_id is not None else self.application_id,
            bot_name,
            bot=True,
        )
        self.owner = FakeUser(str(owner_id) if owner_id is not None else self._id(), "owner")
        self.users: dict[str, FakeUser] = {
            self.bot_user.id: self.bot_user,
            self.owner.id: self.owner,
        }
        self.bot_permissions = bot_permissions
        self.everyone_permissions = everyone_permissions
        self.attachment_size_limit = attachment_size_limit
        self.allowed_privileged_intents = allowed_privileged_intents
        self.strict_commands = strict_commands

        self.guilds: dict[str, FakeGuild] = {}
        self.dm_channels: dict[str, FakeChannel] = {}  # by recipient user id
        self._messages: dict[str, FakeMessage] = {}
        self._channel_messages: dict[str, list[str]] = {}
        self._cdn: dict[str, tuple[bytes, str]] = {}

        #: registered commands: ``None`` -> global, guild id -> that guild's
        self.commands: dict[str | None, list[JSON]] = {None: []}
        self.command_syncs: list[CommandSync] = []
        self.interactions: dict[str, FakeInteraction] = {}
        self._interactions_by_token: dict[str, FakeInteraction] = {}
        self.callbacks: list[Callback] = []
        self.requests: list[RestRequest] = []

        self.gateway_frames: list[GatewayFrame] = []
        self.identifies: list[JSON] = []
        self.resumes: list[Resume] = []
        self.heartbeats = 0
        self.connections = 0
        self.session_id: str | None = None
        self.intents = 0
        self._seq = 0
        self._events: list[JSON] = []
        self._pending: list[tuple[str, JSON]] = []
        self._active: _Connection | None = None
        self._all_connections: set[_Connection] = set()
        self._gateway_lock = asyncio.Lock()
        self._gateway_open = asyncio.Event()
        self._gateway_open.set()
        self._closing = False
        self._joined_at = _now_iso()

        self._change = asyncio.Event()
        self._background: set[asyncio.Task[Any]] = set()
        self._runner: web.AppRunner | None = None
        self.port = 0

        self.guild = self.add_guild(
            guild_name,
            guild_id=guild_id,
            channel_id=channel_id,
            channel_name=channel_name,
        )
        self.channel = next(iter(self.guild.channels.values()))

        self.app = web.Application(
            client_max_size=256 * 1024 * 1024, middlewares=[self._middleware]
        )
        self._add_routes()

    # ------------------------------------------------------------------ lifecycle

    async def start(self) -> str:
        """Listen on a free loopback port; return the base URL."""
        self._runner = web.AppRunner(self.app, access_log=None, shutdown_timeout=2.0)
        await self._runner.setup()
        site = web.TCPSite(self._runner, "127.0.0.1", 0)
        await site.start()
        server = site._server
        assert server is not None
        self.port = server.sockets[0].getsockname()[1]  # type: ignore[attr-defined]
        return self.base_url

    async def close(self) -> None:
        """Close every gateway connection and stop the server."""
        self._closing = True
        self._gateway_open.set()
        for conn in list(self._all_connections):
            if not conn.ws.closed:
                await conn.ws.close(code=1001, message=b"fake discord shutting down")
        for task in list(self._background):
            task.cancel()
        await asyncio.gather(*self._background, return_exceptions=True)
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None

    async def __aenter__(self) -> FakeDiscord:
        await self.start()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.close()

    @property
    def base_url(self) -> str:
        """``http://127.0.0.1:PORT``."""
        return f"http://127.0.0.1:{self.port}"

    @property
    def api_base(self) -> str:
        """What ``discord.http.Route.BASE`` must be."""
        return f"{self.base_url}{API_PREFIX}"

    @property
    def gateway_url(self) -> str:
        """What ``DiscordWebSocket.DEFAULT_GATEWAY`` must be (also READY's resume URL)."""
        return f"ws://127.0.0.1:{self.port}/gateway"

    @property
    def asset_base(self) -> str:
        """What ``discord.Asset.BASE`` can be (avatars etc. answer a 1x1 PNG)."""
        return f"{self.base_url}/assets"

    # ------------------------------------------------------------------ waiting

    def _changed(self) -> None:
        self._change.set()
        self._change = asyncio.Event()

    async def wait_for(
        self,
        predicate: Callable[[], _T | None],
        timeout: float = 5.0,
        what: str | None = None,
    ) -> _T:
        """Wait until ``predicate()`` is truthy; return its value (TimeoutError after ``timeout``).

        Re-checked on every change in the fake, and at least every 50 ms (so predicates about
        the bot's own state work too).
        """
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        while True:
            result = predicate()
            if result:
                return result
            remaining = deadline - loop.time()
            if remaining <= 0:
                raise TimeoutError(f"timed out after {timeout} s waiting for {what or predicate}")
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._change.wait(), min(remaining, 0.05))

    def _spawn(self, coro: Any) -> None:
        task = asyncio.get_running_loop().create_task(coro)
        self._background.add(task)
        task.add_done_callback(self._background.discard)

    # ------------------------------------------------------------------ ids, users, guilds

    def _id(self) -> str:
        return self._ids.next()

    def add_guild(
        self,
        name: str = "Another Guild",
        *,
        guild_id: int | str | None = None,
        owner: FakeUser | None = None,
        channel_id: int | str | None = None,
        channel_name: str = "general",
        attachment_size_limit: int | None = None,
        with_bot: bool = True,
    ) -> FakeGuild:
        """Create a guild with @everyone, the bot's managed role and one text channel.

        If the bot is connected, it receives GUILD_CREATE (as when it is invited).
        """
        owner = owner or self.owner
        gid = str(guild_id) if guild_id is not None else self._id()
        guild = FakeGuild(
            gid,
            name,
            owner.id,
            attachment_size_limit=attachment_size_limit or self.attachment_size_limit,
        )
        guild.roles[gid] = FakeRole(gid, "@everyone", self.everyone_permissions, position=0)
        guild.members[owner.id] = FakeMember(owner, gid)
        self.users.setdefault(owner.id, owner)
        self.guilds[gid] = guild
        self.add_channel(guild, channel_name, channel_id=channel_id)
        if with_bot:
            role = FakeRole(self._id(), self.bot_user.username, self.bot_permissions, managed=True)
            guild.roles[role.id] = role
            guild.members[self.bot_user.id] = FakeMember(self.bot_user, gid, roles=[role.id])
            self._dispatch_soon("GUILD_CREATE", lambda: self._guild_create_payload(guild))
        return guild

    def add_channel(
        self,
        guild: FakeGuild | str | None = None,
        name: str = "channel",
        *,
        channel_id: int | str | None = None,
    ) -> FakeChannel:
        """Create a text channel (CHANNEL_CREATE is dispatched if the bot is connected)."""
        g = self._guild(guild)
        channel = FakeChannel(
            str(channel_id) if channel_id is not None else self._id(),
            name,
            guild_id=g.id,
            position=len(g.channels),
        )
        g.channels[channel.id] = channel
        self._channel_messages[channel.id] = []
        if self.bot_user.id in g.members:
            self._dispatch_soon("CHANNEL_CREATE", channel.payload)
        return channel

    def add_role(
        self,
        guild: FakeGuild | str | None = None,
        name: str = "role",
        permissions: int = 0,
        *,
        mentionable: bool = False,
    ) -> FakeRole:
        """Create a role in a guild."""
        g = self._guild(guild)
        role = FakeRole(
            self._id(), name, int(permissions), position=len(g.roles), mentionable=mentionable
        )
        g.roles[role.id] = role
        if self.bot_user.id in g.members:
            self._dispatch_soon(
                "GUILD_ROLE_CREATE", lambda: {"guild_id": g.id, "role": role.payload()}
            )
        return role

    def add_user(
        self,
        username: str,
        *,
        guild: FakeGuild | str | None = None,
        roles: Sequence[FakeRole | str] = (),
        permissions: int | None = None,
        member: bool = True,
        bot: bool = False,
        user_id: int | str | None = None,
    ) -> FakeUser:
        """Create a user, by default a member of the main guild with @everyone's permissions.

        ``permissions`` adds a role granting them (``Perm.MANAGE_MESSAGES`` makes a
        moderator); ``member=False`` makes a user who shares no guild with the bot.
        """
        user = FakeUser(str(user_id) if user_id is not None else self._id(), username, bot=bot)
        self.users[user.id] = user
        if member:
            g = self._guild(guild)
            role_ids = [_id_of(r) for r in roles]
            if permissions is not None:
                role_ids.append(self.add_role(g, f"{username} role", permissions).id)
            g.members[user.id] = FakeMember(user, g.id, roles=role_ids)
            if self.intents & Intent.GUILD_MEMBERS:
                self._dispatch_soon(
                    "GUILD_MEMBER_ADD", lambda: {**g.members[user.id].payload(), "guild_id": g.id}
                )
        return user

    def member(self, user: FakeUser | str, guild: FakeGuild | str | None = None) -> FakeMember:
        """A user's membership of a guild (KeyError if not a member)."""
        return self._guild(guild).members[_id_of(user)]

    def dm_channel(self, user: FakeUser | str) -> FakeChannel:
        """The bot's DM channel with ``user`` (created if needed)."""
        recipient = self.users[_id_of(user)]
        channel = self.dm_channels.get(recipient.id)
        if channel is None:
            channel = FakeChannel(self._id(), "", type=1, recipients=[recipient])
            self.dm_channels[recipient.id] = channel
            self._channel_messages[channel.id] = []
        return channel

    def _guild(self, guild: FakeGuild | str | None) -> FakeGuild:
        if guild is None:
            return self.guild
        if isinstance(guild, FakeGuild):
            return guild
        return self.guilds[_id_of(guild)]

    def get_channel(self, channel: FakeChannel | str | int) -> FakeChannel:
        """A guild or DM channel by id (KeyError if unknown)."""
        if isinstance(channel, FakeChannel):
            return channel
        cid = _id_of(channel)
        for guild in self.guilds.values():
            if cid in guild.channels:
                return guild.channels[cid]
        for dm in self.dm_channels.values():
            if dm.id == cid:
                return dm
        raise KeyError(cid)

    # ------------------------------------------------------------------ permissions

    def permissions_for(self, user: FakeUser | str, channel: FakeChannel | str) -> int:
        """The user's permissions in the channel, computed as Discord does (overwrites too)."""
        uid = _id_of(user)
        ch = self.get_channel(channel)
        if ch.is_dm:
            return DM_PERMISSIONS
        assert ch.guild_id is not None
        guild = self.guilds[ch.guild_id]
        if uid == guild.owner_id:
            return ALL_PERMISSIONS
        member = guild.members.get(uid)
        if member is None:
            return 0
        perms = guild.everyone.permissions
        for role_id in member.roles:
            perms |= guild.roles[role_id].permissions
        if perms & Perm.ADMINISTRATOR:
            return ALL_PERMISSIONS
        everyone = ch.overwrites.get(guild.id)
        if everyone is not None:
            perms = (perms & ~everyone.deny) | everyone.allow
        allow = deny = 0
        for role_id in member.roles:
            ow = ch.overwrites.get(role_id)
            if ow is not None:
                allow |= ow.allow
                deny |= ow.deny
        perms = (perms & ~deny) | allow
        own = ch.overwrites.get(uid)
        if own is not None:
            perms = (perms & ~own.deny) | own.allow
        if not perms & Perm.VIEW_CHANNEL:
            return 0
        if not perms & Perm.SEND_MESSAGES:
            perms &= ~(
                Perm.SEND_TTS_MESSAGES
                | Perm.MENTION_EVERYONE
                | Perm.EMBED_LINKS
                | Perm.ATTACH_FILES
            )
        return perms

    def set_overwrite(
        self,
        channel: FakeChannel | str,
        target: FakeUser | FakeRole | str,
        *,
        allow: int = 0,
        deny: int = 0,
    ) -> None:
        """Set a channel permission overwrite for a role or member (CHANNEL_UPDATE follows)."""
        ch = self.get_channel(channel)
        if isinstance(target, FakeRole):
            kind = 0
        elif isinstance(target, FakeUser) or ch.guild_id is None:
            kind = 1
        else:
            kind = 0 if target in self.guilds[ch.guild_id].roles else 1
        if allow == 0 and deny == 0:
            ch.overwrites.pop(_id_of(target), None)
        else:
            ch.overwrites[_id_of(target)] = Overwrite(kind, int(allow), int(deny))
        self._dispatch_soon("CHANNEL_UPDATE", ch.payload)
        self._changed()

    def deny_send(self, channel: FakeChannel | str, user: FakeUser | str | None = None) -> None:
        """Revoke Send Messages in a channel (for the bot by default): sends then get 403 50013."""
        ch = self.get_channel(channel)
        target = _id_of(user) if user is not None else self.bot_user.id
        ow = ch.overwrites.get(target, Overwrite(1))
        self.set_overwrite(
            ch, target, allow=ow.allow & ~Perm.SEND_MESSAGES, deny=ow.deny | Perm.SEND_MESSAGES
        )

    def allow_send(self, channel: FakeChannel | str, user: FakeUser | str | None = None) -> None:
        """Undo :meth:`deny_send`."""
        ch = self.get_channel(channel)
        target = _id_of(user) if user is not None else self.bot_user.id
        ow = ch.overwrites.get(target, Overwrite(1))
        self.set_overwrite(ch, target, allow=ow.allow, deny=ow.deny & ~Perm.SEND_MESSAGES)

    # ------------------------------------------------------------------ inspection

    def message(self, message_id: str | int) -> FakeMessage:
        """A message by id (deleted and ephemeral ones included; KeyError if unknown)."""
        return self._messages[str(message_id)]

    def messages(
        self,
        channel: FakeChannel | str | int | None = None,
        *,
        ephemeral: bool | None = None,
        include_deleted: bool = False,
    ) -> list[FakeMessage]:
        """Messages in creation order, in one channel (default: the main channel) or all.

        ``channel="*"`` means every channel. ``ephemeral`` filters (None: both kinds).
        """
        if channel == "*":
            ids: list[str] = list(self._messages)
        else:
            ids = self._channel_messages.get(self.get_channel(channel or self.channel).id, [])
        found = [self._messages[i] for i in ids]
        return [
            m
            for m in found
            if (include_deleted or not m.deleted)
            and (ephemeral is None or m.ephemeral == ephemeral)
        ]

    def dms(self, user: FakeUser | str) -> list[FakeMessage]:
        """Messages in the bot's DM channel with ``user``."""
        channel = self.dm_channels.get(_id_of(user))
        return [] if channel is None else self.messages(channel)

    def find_command(
        self, name: str, guild: FakeGuild | str | None = None, type: int = 1
    ) -> JSON | None:
        """A registered command, by name, in a guild's commands then the global ones."""
        scopes: list[str | None] = [None] if guild is None else [_id_of(guild), None]
        for scope in scopes:
            for command in self.commands.get(scope, []):
                if command["name"] == name and command.get("type", 1) == type:
                    return command
        return None

    def requests_to(self, path_part: str, method: str | None = None) -> list[RestRequest]:
        """Recorded REST requests whose route contains ``path_part``."""
        return [
            r
            for r in self.requests
            if path_part in r.route and (method is None or r.method == method.upper())
        ]

    def late_interactions(self) -> list[FakeInteraction]:
        """Interactions acknowledged late, or not yet acknowledged and past the deadline."""
        now = asyncio.get_running_loop().time()
        return [
            ix
            for ix in self.interactions.values()
            if ix.late
            or (not ix.acknowledged and ix.created_at and now - ix.created_at > self.ack_deadline)
        ]

    def expire_token(self, token: FakeInteraction | str) -> None:
        """Make an interaction token invalid now, as after 15 minutes (webhooks -> 401 50027)."""
        ix = token if isinstance(token, FakeInteraction) else self._interactions_by_token[token]
        ix.expired = True

    def add_cdn_file(self, filename: str, data: bytes, content_type: str | None = None) -> str:
        """Serve ``data`` from the fake CDN; return its URL."""
        attachment = self._upload(
            "attachments/0", filename, data, content_type or _guess_type(filename)
        )
        return attachment.url

    @property
    def connected(self) -> bool:
        """A gateway connection is open and identified or resumed."""
        return self._active is not None and not self._active.ws.closed

    @property
    def identify_count(self) -> int:
        """How many IDENTIFYs the fake accepted."""
        return len(self.identifies)

    @property
    def resume_count(self) -> int:
        """How many RESUMEs the fake accepted."""
        return len(self.resumes)

    # ------------------------------------------------------------------ CDN

    def _upload(
        self,
        folder: str,
        filename: str,
        data: bytes,
        content_type: str,
        *,
        description: str | None = None,
        ephemeral: bool = False,
    ) -> FakeAttachment:
        aid = self._id()
        name = _sanitize_filename(filename)
        key = f"{folder}/{aid}/{name}"
        self._cdn[key] = (data, content_type)
        now = int(time.time())
        signature = hashlib.sha256(f"{key}{now}".encode()).hexdigest()
        query = f"?ex={now + 86400:x}&is={now:x}&hm={signature}&"
        size = _image_size(data) if content_type.startswith("image/") else None
        return FakeAttachment(
            id=aid,
            filename=name,
            data=data,
            content_type=content_type,
            url=f"{self.base_url}/cdn/{quote(key)}{query}",
            proxy_url=f"{self.base_url}/media/{quote(key)}{query}",
            width=size[0] if size else None,
            height=size[1] if size else None,
            description=description,
            ephemeral=ephemeral,
        )

    async def _serve_cdn(self, request: web.Request) -> web.Response:
        entry = self._cdn.get(request.match_info["tail"])
        if entry is None:
            return web.Response(status=404, text="Not Found")
        data, content_type = entry
        return web.Response(body=data, headers={"Content-Type": content_type})

    async def _serve_asset(self, request: web.Request) -> web.Response:
        return web.Response(body=_TINY_PNG, headers={"Content-Type": "image/png"})

    # ------------------------------------------------------------------ gateway

    async def _gateway(self, request: web.Request) -> web.StreamResponse:
        ws = web.WebSocketResponse(timeout=2.0, max_msg_size=16 * 1024 * 1024)
        await ws.prepare(request)
        conn = _Connection(ws, dict(request.query))
        self._all_connections.add(conn)
        self.connections += 1
        self._changed()
        try:
            await self._gateway_open.wait()
            if self._closing:
                return ws
            await self._send(
                conn,
                {
                    "op": 10,
                    "d": {"heartbeat_interval": self.heartbeat_interval_ms},
                    "s": None,
                    "t": None,
                },
            )
            async for msg in ws:
                if msg.type in (WSMsgType.TEXT, WSMsgType.BINARY):
                    frame = json.loads(msg.data)
                    self.gateway_frames.append(
                        GatewayFrame("recv", frame.get("op", -1), None, None, frame.get("d"))
                    )
                    await self._on_gateway_frame(conn, frame)
                    self._changed()
                elif msg.type is WSMsgType.ERROR:
                    break
        finally:
            self._all_connections.discard(conn)
            if self._active is conn:
                self._active = None
            self._changed()
        return ws

    async def _send(self, conn: _Connection, frame: JSON) -> bool:
        if conn.ws.closed:
            return False
        try:
            await conn.ws.send_str(json.dumps(frame))
        except (ConnectionError, RuntimeError):
            return False
        self.gateway_frames.append(
            GatewayFrame("send", frame["op"], frame.get("t"), frame.get("s"), frame.get("d"))
        )
        return True

    async def _on_gateway_frame(self, conn: _Connection, frame: JSON) -> None:
        op = frame.get("op")
        raw = frame.get("d")
        data: JSON = raw if isinstance(raw, dict) else {}
        if op == 1:
            self.heartbeats += 1
            if self.ack_heartbeats:
                await self._send(conn, {"op": 11, "d": None, "s": None, "t": None})
        elif op == 2:
            await self._identify(conn, data)
        elif op == 6:
            await self._resume(conn, data)
        elif op == 8:
            await self._request_members(conn, data)
        # op 3 (presence), 4 (voice) and others are accepted and ignored

    async def _identify(self, conn: _Connection, data: JSON) -> None:
        if data.get("token") != self.token:
            await conn.ws.close(code=4004, message=b"Authentication failed.")
            return
        intents = int(data.get("intents", 0))
        if intents & PRIVILEGED_INTENTS & ~self.allowed_privileged_intents:
            await conn.ws.close(code=4014, message=b"Disallowed intent(s).")
            return
        async with self._gateway_lock:
            self.identifies.append(data)
            self.intents = intents
            self.session_id = secrets.token_hex(16)
            self._seq = 0
            self._events = []
            self._pending = []
            self._active = conn
            guilds = [g for g in self.guilds.values() if self.bot_user.id in g.members]
            ready: JSON = {
                "v": 10,
                "user": {
                    **self.bot_user.payload(),
                    "verified": True,
                    "mfa_enabled": False,
                    "flags": 0,
                },
                "guilds": [{"id": g.id, "unavailable": True} for g in guilds],
                "session_id": self.session_id,
                "session_type": "normal",
                "resume_gateway_url": self.gateway_url,
                "application": {"id": self.application_id, "flags": 0},
                "private_channels": [],
                "relationships": [],
                "user_settings": {},
                "geo_ordered_rtc_regions": [],
                "guild_join_requests": [],
            }
            if "shard" in data:
                ready["shard"] = data["shard"]
            await self._dispatch_locked("READY", ready)
            for guild in guilds:
                await self._dispatch_locked("GUILD_CREATE", self._guild_create_payload(guild))

    async def _resume(self, conn: _Connection, data: JSON) -> None:
        if data.get("token") != self.token:
            await conn.ws.close(code=4004, message=b"Authentication failed.")
            return
        async with self._gateway_lock:
            seq = int(data.get("seq") or 0)
            if (
                self.session_id is None
                or data.get("session_id") != self.session_id
                or seq > self._seq
            ):
                await self._send(conn, {"op": 9, "d": False, "s": None, "t": None})
                return
            self._active = conn
            missed = [frame for frame in self._events if frame["s"] > seq]
            for frame in missed:
                await self._send(conn, frame)
            self._seq += 1
            await self._send(conn, {"op": 0, "t": "RESUMED", "s": self._seq, "d": {}})
            self.resumes.append(Resume(seq, [frame["t"] for frame in missed]))

    async def _request_members(self, conn: _Connection, data: JSON) -> None:
        guild = self.guilds.get(str(data.get("guild_id")))
        if guild is None:
            return
        members = list(guild.members.values())
        if data.get("user_ids"):
            wanted = {str(u) for u in data["user_ids"]}
            members = [m for m in members if m.user.id in wanted]
        elif data.get("query"):
            members = [m for m in members if m.user.username.startswith(str(data["query"]))]
        if data.get("limit"):
            members = members[: int(data["limit"])]
        chunk: JSON = {
            "guild_id": guild.id,
            "members": [m.payload() for m in members],
            "chunk_index": 0,
            "chunk_count": 1,
            "not_found": [],
        }
        if data.get("nonce") is not None:
            chunk["nonce"] = data["nonce"]
        await self.dispatch("GUILD_MEMBERS_CHUNK", chunk)

    def _guild_create_payload(self, guild: FakeGuild) -> JSON:
        if self.intents & Intent.GUILD_MEMBERS:
            members = list(guild.members.values())
        else:
            members = [guild.members[self.bot_user.id]]
        return guild.payload(members=members, joined_at=self._joined_at)

    async def _dispatch_locked(self, event: str, data: JSON) -> int:
        self._seq += 1
        frame: JSON = {"op": 0, "t": event, "s": self._seq, "d": data}
        self._events.append(frame)
        if self._active is not None:
            await self._send(self._active, frame)
        return self._seq

    async def dispatch(self, event: str, data: JSON) -> int:
        """Send a dispatch (op 0) event; return its seq.

        Events dispatched while the bot is disconnected are buffered and replayed on RESUME.
        RuntimeError if the bot never identified (there is no session to deliver to).
        """
        async with self._gateway_lock:
            if self.session_id is None:
                raise RuntimeError(
                    f"cannot dispatch {event}: no gateway session (bot not connected)"
                )
            await self._flush_pending_locked()
            seq = await self._dispatch_locked(event, data)
        self._changed()
        return seq

    def _dispatch_soon(self, event: str, build: Callable[[], JSON]) -> None:
        """Queue a dispatch from synchronous code (if a session exists).

        Queued events go out in order, before any later :meth:`dispatch`.
        """
        if self.session_id is None:
            return
        self._pending.append((event, build()))
        self._spawn(self._flush_pending())

    async def _flush_pending(self) -> None:
        async with self._gateway_lock:
            await self._flush_pending_locked()
        self._changed()

    async def _flush_pending_locked(self) -> None:
        while self._pending:
            event, data = self._pending.pop(0)
            if self.session_id is not None:
                await self._dispatch_locked(event, data)

    async def disconnect(self, code: int = 4000, *, invalidate_session: bool = False) -> None:
        """Close the bot's gateway socket from the server side (4000: the client RESUMEs).

        ``invalidate_session`` drops the session so a RESUME gets op 9 and the bot identifies.
        """
        conn = self._active
        if conn is None:
            raise RuntimeError("no active gateway connection")
        self._active = None
        if invalidate_session:
            self.session_id = None
        await conn.ws.close(code=code, message=b"closed by fake discord")
        self._changed()

    async def send_reconnect(self) -> None:
        """Send op 7 RECONNECT: the client closes and RESUMEs."""
        conn = self._active
        if conn is None:
            raise RuntimeError("no active gateway connection")
        await self._send(conn, {"op": 7, "d": None, "s": None, "t": None})

    async def send_invalid_session(self, resumable: bool = False) -> None:
        """Send op 9 INVALID_SESSION; not resumable -> the client identifies again."""
        conn = self._active
        if conn is None:
            raise RuntimeError("no active gateway connection")
        if not resumable:
            self.session_id = None
        await self._send(conn, {"op": 9, "d": resumable, "s": None, "t": None})

    def pause_gateway(self) -> None:
        """Hold new gateway connections before HELLO (so dispatches pile up for replay)."""
        self._gateway_open.clear()

    def resume_gateway(self) -> None:
        """Let held gateway connections proceed."""
        self._gateway_open.set()

    async def wait_identified(self, count: int = 1, timeout: float = 5.0) -> None:
        """Wait until the bot has identified ``count`` times in total."""
        await self.wait_for(
            lambda: self.identify_count >= count and self.connected,
            timeout=timeout,
            what=f"IDENTIFY #{count}",
        )

    async def wait_resumed(self, count: int = 1, timeout: float = 5.0) -> Resume:
        """Wait until the bot has resumed ``count`` times in total; return the latest resume."""
        await self.wait_for(
            lambda: self.resume_count >= count and self.connected,
            timeout=timeout,
            what=f"RESUME #{count}",
        )
        return self.resumes[-1]

    # ------------------------------------------------------------------ user actions

    def add_message(
        self,
        channel: FakeChannel | str,
        author: FakeUser | str,
        content: str = "",
        *,
        attachments: Sequence[AttachmentSpec] = (),
        embeds: Sequence[JSON] = (),
        components: Sequence[JSON] = (),
        flags: int = 0,
    ) -> FakeMessage:
        """Store a message without any gateway event (seeds history, e.g. "from a past run")."""
        ch = self.get_channel(channel)
        user = self.users[_id_of(author)]
        mid = self._id()
        uploaded = [
            self._upload(f"attachments/{ch.id}", *_spec_parts(spec)) for spec in attachments
        ]
        message = FakeMessage(
            id=mid,
            channel_id=ch.id,
            guild_id=ch.guild_id,
            author=user,
            content=content,
            embeds=[dict(e) for e in embeds],
            attachments=uploaded,
            components=_number_components(list(components)),
            flags=flags,
        )
        self._store(message)
        self._apply_mentions(message, webhook=False)
        return message

    async def user_message(
        self,
        user: FakeUser | str,
        channel: FakeChannel | str,
        content: str = "",
        *,
        attachments: Sequence[AttachmentSpec] = (),
        reply_to: FakeMessage | str | None = None,
    ) -> FakeMessage:
        """A user posts a message; the bot receives MESSAGE_CREATE (content per its intents)."""
        message = self.add_message(channel, user, content, attachments=attachments)
        if reply_to is not None:
            ref = self.message(_id_of(reply_to))
            message.type = 19
            message.referenced = ref
            message.message_reference = {
                "type": 0,
                "message_id": ref.id,
                "channel_id": ref.channel_id,
                "guild_id": ref.guild_id,
            }
            self._apply_mentions(message, webhook=False)
        await self._dispatch_message_event("MESSAGE_CREATE", message)
        return message

    async def slash(
        self,
        user: FakeUser | str,
        channel: FakeChannel | str | None,
        name: str,
        options: Mapping[str, Any] | None = None,
        *,
        attachments: Mapping[str, AttachmentSpec] | None = None,
        attachment_size_limit: int | None = None,
        locale: str = "en-US",
    ) -> FakeInteraction:
        """A user runs a slash command; the bot receives INTERACTION_CREATE (type 2).

        ``name`` may be ``"group sub"`` / ``"cmd group sub"`` for subcommands. ``options`` maps
        option names to values (str, int, float, bool, FakeUser, FakeChannel, FakeRole);
        ``attachments`` maps ATTACHMENT option names to ``(filename, bytes[, content_type])``,
        uploaded to the CDN and put in ``data.resolved.attachments``. Option types come from
        the registered command; a missing required option or a value Discord's client would
        refuse raises ValueError. :class:`CommandUnavailable` if the user may not run it here.
        """
        parts = name.split()
        ch, invoker, command, scope = self._resolve_command(user, channel, parts[0], 1)
        given: dict[str, Any] = dict(options or {})
        for key, spec in (attachments or {}).items():
            given[key] = spec
        resolved: JSON = {}
        schema: list[JSON] | None = command.get("options", []) if command else None
        leaf_options: list[JSON]
        nested: list[JSON] = []
        path = parts[1:]
        container = nested
        for depth, sub in enumerate(path):
            if schema is not None:
                found = next((o for o in schema if o["name"] == sub), None)
                if found is None:
                    raise ValueError(f"/{parts[0]} has no subcommand {sub!r}")
                schema = found.get("options", [])
                sub_type = found["type"]
            else:
                sub_type = _SUB_COMMAND if depth == len(path) - 1 else _SUB_GROUP
            entry: JSON = {"name": sub, "type": sub_type, "options": []}
            container.append(entry)
            container = entry["options"]
        leaf_options = self._build_options(schema, given, resolved, invoker, ch)
        container.extend(leaf_options)
        data: JSON = {
            "id": command["id"] if command else self._id(),
            "name": parts[0],
            "type": 1,
            "options": nested if path else leaf_options,
        }
        if resolved:
            data["resolved"] = resolved
        if scope is not None:
            data["guild_id"] = scope
        return await self._send_interaction(
            invoker,
            ch,
            InteractionType.APPLICATION_COMMAND,
            data,
            name=name,
            attachment_size_limit=attachment_size_limit,
            locale=locale,
        )

    async def autocomplete(
        self,
        user: FakeUser | str,
        channel: FakeChannel | str | None,
        name: str,
        options: Mapping[str, Any],
        *,
        focused: str,
    ) -> FakeInteraction:
        """A user types into option ``focused`` of ``/name``: an AUTOCOMPLETE interaction (type
        4). The bot answers with callback type 8; its ``data.choices`` are the suggestions."""
        ch, invoker, command, scope = self._resolve_command(user, channel, name, 1)
        schema = {o["name"]: o for o in (command or {}).get("options", [])}
        if focused not in options:
            raise ValueError(f"the focused option {focused!r} needs a (partial) value")
        entries: list[JSON] = []
        for key, value in options.items():
            option = schema.get(key)
            if command is not None and option is None:
                raise ValueError(f"/{name} has no option {key!r}")
            entry: JSON = {"name": key, "type": option["type"] if option else 3, "value": value}
            if key == focused:
                if option is not None and not option.get("autocomplete"):
                    raise ValueError(f"option {key!r} of /{name} has no autocomplete")
                entry["focused"] = True
            entries.append(entry)
        data: JSON = {
            "id": command["id"] if command else self._id(),
            "name": name,
            "type": 1,
            "options": entries,
        }
        if scope is not None:
            data["guild_id"] = scope
        return await self._send_interaction(
            invoker, ch, InteractionType.AUTOCOMPLETE, data, name=name
        )

    async def context_menu_message(
        self,
        user: FakeUser | str,
        channel: FakeChannel | str | None,
        name: str,
        message: FakeMessage | str | int,
        *,
        attachment_size_limit: int | None = None,
        locale: str = "en-US",
    ) -> FakeInteraction:
        """A user runs a message context-menu command (data.type 3) on ``message``."""
        target = self.message(_id_of(message))
        ch, invoker, command, scope = self._resolve_command(user, channel, name, 3)
        data: JSON = {
            "id": command["id"] if command else self._id(),
            "name": name,
            "type": 3,
            "target_id": target.id,
            "resolved": {"messages": {target.id: target.payload()}},
        }
        if scope is not None:
            data["guild_id"] = scope
        return await self._send_interaction(
            invoker,
            ch,
            InteractionType.APPLICATION_COMMAND,
            data,
            name=name,
            attachment_size_limit=attachment_size_limit,
            locale=locale,
        )

    async def context_menu_user(
        self,
        user: FakeUser | str,
        channel: FakeChannel | str | None,
        name: str,
        target: FakeUser | str,
        *,
        locale: str = "en-US",
    ) -> FakeInteraction:
        """A user runs a user context-menu command (data.type 2) on ``target``."""
        target_user = self.users[_id_of(target)]
        ch, invoker, command, scope = self._resolve_command(user, channel, name, 2)
        resolved: JSON = {}
        self._resolve_user(resolved, target_user, ch)
        data: JSON = {
            "id": command["id"] if command else self._id(),
            "name": name,
            "type": 2,
            "target_id": target_user.id,
            "resolved": resolved,
        }
        if scope is not None:
            data["guild_id"] = scope
        return await self._send_interaction(
            invoker, ch, InteractionType.APPLICATION_COMMAND, data, name=name, locale=locale
        )

    async def click(
        self,
        user: FakeUser | str,
        message: FakeMessage | str | int,
        custom_id: str,
        *,
        values: Sequence[str] | None = None,
        attachment_size_limit: int | None = None,
        locale: str = "en-US",
    ) -> FakeInteraction:
        """A user clicks a button (or picks ``values`` in a select) on a message (type 3).

        The payload carries the full message, as Discord's does, so discord.py can find the
        view (by message id) or a DynamicItem (by custom_id template). ValueError if the
        message has no such enabled component.
        """
        msg = self.message(_id_of(message))
        if msg.deleted:
            raise ValueError(f"message {msg.id} was deleted")
        component = msg.find_component(custom_id)
        if component is None:
            raise ValueError(f"message {msg.id} has no component {custom_id!r}: {msg.custom_ids}")
        if component.get("disabled"):
            raise ValueError(f"component {custom_id!r} is disabled")
        data: JSON = {"custom_id": custom_id, "component_type": component["type"]}
        if component["type"] in _SELECT_TYPES:
            data["values"] = list(values or [])
        elif values is not None:
            raise ValueError("values only apply to select menus")
        return await self._send_interaction(
            self.users[_id_of(user)],
            self.get_channel(msg.channel_id),
            InteractionType.MESSAGE_COMPONENT,
            data,
            name=custom_id,
            message=msg,
            attachment_size_limit=attachment_size_limit,
            locale=locale,
        )

    async def submit_modal(
        self,
        user: FakeUser | str,
        modal_from: FakeInteraction | str | JSON,
        values: Mapping[str, str | Sequence[str]],
        *,
        timeout: float = 5.0,
    ) -> FakeInteraction:
        """A user submits the modal the bot sent (type 9 callback) with ``values`` by custom_id.

        ``modal_from`` is the interaction the bot answered with the modal (waited for, up to
        ``timeout``), its id, or a modal dict (then the main channel is used). Text inputs
        take a str, selects a list of values. Required/min/max length are checked as
        Discord's client does (ValueError).
        """
        origin: FakeInteraction | None
        if isinstance(modal_from, FakeInteraction):
            origin = modal_from
        elif isinstance(modal_from, str):
            origin = self.interactions[modal_from]
        else:
            origin = None
        modal = await origin.wait_modal(timeout) if origin is not None else modal_from
        assert isinstance(modal, dict)
        unknown = set(values) - {c.get("custom_id") for c in _walk_components(modal["components"])}
        if unknown:
            raise ValueError(f"the modal has no inputs {sorted(unknown)}")
        components = [_submitted_component(c, values) for c in modal["components"]]
        data: JSON = {"custom_id": modal["custom_id"], "components": components}
        channel = self.get_channel(origin.channel_id) if origin else self.channel
        source = (
            self.message(origin.source_message_id)
            if origin is not None and origin.source_message_id is not None
            else None
        )
        return await self._send_interaction(
            self.users[_id_of(user)],
            channel,
            InteractionType.MODAL_SUBMIT,
            data,
            name=modal["custom_id"],
            message=source,
            attachment_size_limit=origin.attachment_size_limit if origin else None,
            origin=origin,
        )

    # ------------------------------------------------------------------ interaction building

    def _resolve_command(
        self, user: FakeUser | str, channel: FakeChannel | str | None, name: str, kind: int
    ) -> tuple[FakeChannel, FakeUser, JSON | None, str | None]:
        """Channel, invoker, registered command (or None) and its scope, checked for use."""
        ch = self.get_channel(channel or self.channel)
        invoker = self.users[_id_of(user)]
        command = self.find_command(name, ch.guild_id, kind)
        return ch, invoker, command, self._check_command(command, name, invoker, ch)

    def _check_command(
        self, command: JSON | None, name: str, user: FakeUser, channel: FakeChannel
    ) -> str | None:
        """Refuse what Discord's client would not offer; return the command's guild id."""
        if command is None:
            if self.strict_commands:
                raise LookupError(
                    f"command {name!r} is not registered here "
                    "(sync first, or use strict_commands=False)"
                )
            return None
        scope: str | None = command.get("guild_id")
        if channel.is_dm:
            contexts = command.get("contexts")
            if (
                scope is not None
                or command.get("dm_permission") is False
                or (contexts is not None and 1 not in contexts)
            ):
                raise CommandUnavailable(f"/{name} cannot be used in DMs")
            return scope
        required = command.get("default_member_permissions")
        if required is not None:
            perms = self.permissions_for(user, channel)
            need = int(required)
            if not perms & Perm.ADMINISTRATOR and (need == 0 or perms & need != need):
                raise CommandUnavailable(f"{user.username} lacks the permissions /{name} needs")
        contexts = command.get("contexts")
        if contexts is not None and 0 not in contexts:
            raise CommandUnavailable(f"/{name} cannot be used in servers")
        return scope

    def _resolve_user(self, resolved: JSON, user: FakeUser, channel: FakeChannel) -> None:
        resolved.setdefault("users", {})[user.id] = user.payload()
        if channel.guild_id is not None:
            member = self.guilds[channel.guild_id].members.get(user.id)
            if member is not None:
                resolved.setdefault("members", {})[user.id] = member.payload(
                    with_user=False, permissions=self.permissions_for(user, channel)
                )

    def _build_options(
        self,
        schema: list[JSON] | None,
        given: Mapping[str, Any],
        resolved: JSON,
        user: FakeUser,
        channel: FakeChannel,
    ) -> list[JSON]:
        by_name = {o["name"]: o for o in schema} if schema is not None else {}
        if schema is not None:
            unknown = set(given) - set(by_name)
            if unknown:
                raise ValueError(f"the command has no options {sorted(unknown)}")
            missing = [o["name"] for o in schema if o.get("required") and o["name"] not in given]
            if missing:
                raise ValueError(f"required options missing: {missing}")
        result = []
        for option_name, value in given.items():
            spec = by_name.get(option_name)
            kind = spec["type"] if spec else _infer_option_type(value)
            result.append(
                {
                    "name": option_name,
                    "type": kind,
                    "value": self._option_value(kind, spec or {}, value, resolved, channel),
                }
            )
        return result

    def _option_value(
        self, kind: int, spec: JSON, value: Any, resolved: JSON, channel: FakeChannel
    ) -> Any:
        name = spec.get("name", "?")
        if kind == _ATTACHMENT:
            if not isinstance(value, tuple):
                raise ValueError(f"option {name}: give (filename, bytes[, content_type])")
            attachment = self._upload(
                f"ephemeral-attachments/{self.application_id}", *_spec_parts(value), ephemeral=True
            )
            resolved.setdefault("attachments", {})[attachment.id] = attachment.payload()
            return attachment.id
        if kind in (_USER, _MENTIONABLE) and isinstance(value, FakeUser):
            self._resolve_user(resolved, value, channel)
            return value.id
        if kind in (_ROLE, _MENTIONABLE) and isinstance(value, FakeRole):
            resolved.setdefault("roles", {})[value.id] = value.payload()
            return value.id
        if kind == _CHANNEL:
            ch = self.get_channel(value)
            resolved.setdefault("channels", {})[ch.id] = {
                "id": ch.id,
                "name": ch.name,
                "type": ch.type,
                "permissions": str(self.permissions_for(self.bot_user, ch)),
                "parent_id": None,
                "flags": 0,
            }
            return ch.id
        if kind in (_USER, _ROLE, _MENTIONABLE):
            return _id_of(value)
        converted: Any
        if kind == _STRING:
            converted = str(value)
            if len(converted) > int(spec.get("max_length", 6000)) or len(converted) < int(
                spec.get("min_length", 0)
            ):
                raise ValueError(f"option {name}: length out of bounds")
        elif kind == _INTEGER:
            converted = int(value)
        elif kind == _NUMBER:
            converted = float(value)
        elif kind == _BOOLEAN:
            converted = bool(value)
        else:
            raise ValueError(f"option {name}: unsupported option type {kind}")
        if kind in (_INTEGER, _NUMBER):
            if "min_value" in spec and converted < spec["min_value"]:
                raise ValueError(f"option {name}: below min_value")
            if "max_value" in spec and converted > spec["max_value"]:
                raise ValueError(f"option {name}: above max_value")
        choices = spec.get("choices")
        if choices and converted not in [c["value"] for c in choices]:
            raise ValueError(f"option {name}: {converted!r} is not one of the choices")
        return converted

    async def _send_interaction(
        self,
        user: FakeUser,
        channel: FakeChannel,
        kind: int,
        data: JSON,
        *,
        name: str | None,
        message: FakeMessage | None = None,
        attachment_size_limit: int | None = None,
        locale: str = "en-US",
        origin: FakeInteraction | None = None,
    ) -> FakeInteraction:
        iid = self._id()
        token = "aW50ZXJhY3Rpb246" + secrets.token_urlsafe(48)
        limit = attachment_size_limit or self.attachment_size_limit
        payload: JSON = {
            "id": iid,
            "application_id": self.application_id,
            "type": kind,
            "data": data,
            "token": token,
            "version": 1,
            "app_permissions": str(self.permissions_for(self.bot_user, channel)),
            "locale": locale,
            "entitlements": [],
            "entitlement_sku_ids": [],
            "attachment_size_limit": limit,
            "channel_id": channel.id,
        }
        if channel.is_dm:
            payload["channel"] = channel.payload()
            payload["user"] = user.payload()
            payload["context"] = 1
            payload["authorizing_integration_owners"] = {"0": "0"}
        else:
            assert channel.guild_id is not None
            guild = self.guilds[channel.guild_id]
            member = guild.members.get(user.id)
            if member is None:
                raise ValueError(f"{user.username} is not a member of {guild.name}")
            perms = self.permissions_for(user, channel)
            payload["guild_id"] = guild.id
            payload["guild"] = {"id": guild.id, "locale": guild.locale, "features": []}
            payload["guild_locale"] = guild.locale
            payload["channel"] = {**channel.payload(), "permissions": str(perms)}
            payload["member"] = member.payload(permissions=perms)
            payload["context"] = 0
            payload["authorizing_integration_owners"] = {"0": guild.id}
        if message is not None:
            payload["message"] = message.payload()
        ix = FakeInteraction(
            id=iid,
            token=token,
            type=kind,
            user=user,
            channel_id=channel.id,
            guild_id=channel.guild_id,
            payload=payload,
            attachment_size_limit=limit,
            fake=self,
            name=name,
            source_message_id=message.id if message is not None else None,
            origin=origin,
        )
        self.interactions[iid] = ix
        self._interactions_by_token[token] = ix
        ix.created_at = asyncio.get_running_loop().time()
        await self.dispatch("INTERACTION_CREATE", payload)
        return ix

    # ------------------------------------------------------------------ messages

    def _store(self, message: FakeMessage) -> None:
        self._messages[message.id] = message
        self._channel_messages.setdefault(message.channel_id, []).append(message.id)
        if not message.ephemeral:
            self.get_channel(message.channel_id).last_message_id = message.id
        self._changed()

    def _attachments_from(
        self,
        data: JSON,
        files: Sequence[UploadedFile],
        channel_id: str,
        limit: int,
        *,
        ephemeral: bool,
    ) -> tuple[list[FakeAttachment], list[str]]:
        """New attachments from ``files[n]`` parts (+ ids of existing ones listed to keep)."""
        for part in files:
            if len(part.data) > limit:
                raise DiscordAPIError(413, 40005, "Request entity too large")
        if len(files) > 10:
            raise _form_error(
                ["attachments"], "BASE_TYPE_MAX_LENGTH", "Must be 10 or fewer in length."
            )
        listed = data.get("attachments")
        by_index: dict[int | None, UploadedFile] = {u.index: u for u in files}
        new: list[FakeAttachment] = []
        keep: list[str] = []
        folder = (
            f"ephemeral-attachments/{self.application_id}"
            if ephemeral
            else f"attachments/{channel_id}"
        )
        if isinstance(listed, list):
            if len(listed) > 10:
                raise _form_error(
                    ["attachments"], "BASE_TYPE_MAX_LENGTH", "Must be 10 or fewer in length."
                )
            for entry in listed:
                described = by_index.pop(_maybe_int(entry.get("id")), None)
                if described is None:
                    keep.append(str(entry.get("id")))
                    continue
                filename = entry.get("filename") or described.filename
                new.append(
                    self._upload(
                        folder,
                        filename,
                        described.data,
                        _guess_type(filename),
                        description=entry.get("description"),
                        ephemeral=ephemeral,
                    )
                )
        for upload in by_index.values():  # files not described in ``attachments``
            new.append(
                self._upload(
                    folder,
                    upload.filename,
                    upload.data,
                    _guess_type(upload.filename),
                    ephemeral=ephemeral,
                )
            )
        return new, keep

    def _new_message(
        self,
        channel: FakeChannel,
        data: JSON,
        files: Sequence[UploadedFile],
        *,
        limit: int,
        interaction: FakeInteraction | None = None,
        message_type: int = 0,
    ) -> FakeMessage:
        """Validate and store a message the bot sends (REST or webhook)."""
        flags = int(data.get("flags") or 0) & _SENDABLE_FLAGS
        ephemeral = bool(flags & MessageFlag.EPHEMERAL)
        new, _keep = self._attachments_from(data, files, channel.id, limit, ephemeral=ephemeral)
        message = FakeMessage(
            id=self._id(),
            channel_id=channel.id,
            guild_id=channel.guild_id,
            author=self.bot_user,
            content=str(data.get("content") or ""),
            type=message_type,
            embeds=[dict(e) for e in data.get("embeds") or []],
            attachments=new,
            components=_number_components(data.get("components") or []),
            flags=flags,
            allowed_mentions=data.get("allowed_mentions"),
            nonce=data.get("nonce"),
            tts=bool(data.get("tts")),
        )
        if interaction is not None:
            message.webhook_id = self.application_id
            message.application_id = self.application_id
            message.interaction_id = interaction.id
            message.interaction_metadata = {
                "id": interaction.id,
                "type": interaction.type,
                "user": interaction.user.payload(),
                "authorizing_integration_owners": interaction.payload[
                    "authorizing_integration_owners"
                ],
            }
            if interaction.source_message_id is not None:
                message.interaction_metadata["interacted_message_id"] = (
                    interaction.source_message_id
                )
        ref = data.get("message_reference")
        if isinstance(ref, dict) and ref.get("message_id") is not None:
            target = self._messages.get(str(ref["message_id"]))
            if target is None or target.deleted or target.channel_id != channel.id:
                if ref.get("fail_if_not_exists", True):
                    raise _form_error(
                        ["message_reference"],
                        "MESSAGE_REFERENCE_UNKNOWN_MESSAGE",
                        "Unknown message",
                    )
            else:
                message.type = 19
                message.referenced = target
                message.message_reference = {
                    "type": int(ref.get("type", 0)),
                    "message_id": target.id,
                    "channel_id": target.channel_id,
                    "guild_id": target.guild_id,
                }
        _resolve_attachment_urls(message)
        _validate_message(message)
        self._apply_mentions(message, webhook=interaction is not None)
        self._store(message)
        return message

    def _edit(
        self,
        message: FakeMessage,
        data: JSON,
        files: Sequence[UploadedFile],
        *,
        limit: int,
        webhook: bool,
    ) -> FakeMessage:
        """Apply an edit (only the fields present change); fills a loading placeholder."""
        new, keep = self._attachments_from(
            data, files, message.channel_id, limit, ephemeral=message.ephemeral
        )
        edited = copy.copy(message)
        if "content" in data:
            edited.content = str(data["content"] or "")
        if "embeds" in data:
            edited.embeds = [dict(e) for e in data["embeds"] or []]
        if "components" in data:
            edited.components = _number_components(data["components"] or [])
        if "attachments" in data:
            existing = [a for a in message.attachments if a.id in keep]
            edited.attachments = existing + new
        else:
            edited.attachments = list(message.attachments) + new
        if "flags" in data and data["flags"] is not None:
            toggle = int(MessageFlag.SUPPRESS_EMBEDS)
            edited.flags = (message.flags & ~toggle) | (int(data["flags"]) & toggle)
        if "allowed_mentions" in data:
            edited.allowed_mentions = data["allowed_mentions"]
        filling = message.loading
        if filling:
            edited.flags &= ~MessageFlag.LOADING
        _resolve_attachment_urls(edited)
        _validate_message(edited)
        # commit
        message.content = edited.content
        message.embeds = edited.embeds
        message.components = edited.components
        message.attachments = edited.attachments
        message.flags = edited.flags
        message.allowed_mentions = edited.allowed_mentions
        message.edits.append(copy.deepcopy(data))
        if filling:
            self._apply_mentions(message, webhook=webhook)
        else:
            message.edited_timestamp = _now_iso()
            self._apply_mentions(message, webhook=webhook, notify=False)
        self._changed()
        return message

    def _apply_mentions(self, message: FakeMessage, *, webhook: bool, notify: bool = True) -> None:
        """Resolve mentions as Discord does: content + ``allowed_mentions`` + permissions."""
        am = message.allowed_mentions
        if am is None:
            parse = {"users", "roles", "everyone"}
            listed_users: set[str] = set()
            listed_roles: set[str] = set()
            replied_user = True
        else:
            parse = set(am.get("parse") or [])
            listed_users = {str(u) for u in am.get("users") or []}
            listed_roles = {str(r) for r in am.get("roles") or []}
            replied_user = bool(am.get("replied_user", False))
        content = message.content
        guild = self.guilds.get(message.guild_id) if message.guild_id else None
        channel = self.get_channel(message.channel_id)
        author_perms = self.permissions_for(message.author, channel) if not channel.is_dm else 0
        privileged = webhook or bool(author_perms & Perm.MENTION_EVERYONE)
        pinged: set[str] = set()
        users: list[FakeUser] = []
        roles: list[str] = []
        for uid in dict.fromkeys(re.findall(r"<@!?(\d+)>", content)):
            if ("users" in parse or uid in listed_users) and uid in self.users:
                pinged.add(f"<@{uid}>")
                users.append(self.users[uid])
        for rid in dict.fromkeys(re.findall(r"<@&(\d+)>", content)):
            role = guild.roles.get(rid) if guild else None
            if (
                role is not None
                and ("roles" in parse or rid in listed_roles)
                and (role.mentionable or privileged)
            ):
                pinged.add(f"<@&{rid}>")
                roles.append(rid)
        everyone = False
        for word in ("@everyone", "@here"):
            if word in content and "everyone" in parse and privileged and guild is not None:
                pinged.add(word)
                everyone = True
        ref = message.referenced
        if ref is not None and replied_user and ref.author.id != message.author.id:
            pinged.add(f"<@{ref.author.id}>")
            if ref.author not in users:
                users.append(ref.author)
        message.mention_users = users
        message.mention_roles = roles
        message.mention_everyone = everyone
        if not notify:
            return
        message.pinged = pinged
        notified: set[str] = {u.id for u in users}
        if guild is not None:
            for member in guild.members.values():
                if everyone or set(member.roles) & set(roles):
                    notified.add(member.user.id)
        notified.discard(message.author.id)
        if message.flags & MessageFlag.SUPPRESS_NOTIFICATIONS:
            notified = set()
        message.notified_users = notified

    async def _dispatch_message_event(self, event: str, message: FakeMessage) -> None:
        if message.ephemeral or self.session_id is None:
            return
        channel = self.get_channel(message.channel_id)
        needed = Intent.DIRECT_MESSAGES if channel.is_dm else Intent.GUILD_MESSAGES
        if not self.intents & needed:
            return
        if event == "MESSAGE_DELETE":
            data: JSON = {"id": message.id, "channel_id": message.channel_id}
            if message.guild_id:
                data["guild_id"] = message.guild_id
            await self.dispatch(event, data)
            return
        data = message.payload()
        if message.guild_id:
            member = self.guilds[message.guild_id].members.get(message.author.id)
            if member is not None:
                data["member"] = member.payload(with_user=False)
        own = message.author.id == self.bot_user.id
        mentioned = any(u.id == self.bot_user.id for u in message.mention_users)
        if not (self.intents & Intent.MESSAGE_CONTENT or own or mentioned or channel.is_dm):
            data.update(content="", embeds=[], attachments=[], components=[])
        await self.dispatch(event, data)

    # ------------------------------------------------------------------ HTTP plumbing

    def _add_routes(self) -> None:
        r = self.app.router
        p = API_PREFIX
        r.add_get("/gateway", self._gateway)
        r.add_get("/gateway/", self._gateway)
        r.add_get("/cdn/{tail:.*}", self._serve_cdn)
        r.add_get("/media/{tail:.*}", self._serve_cdn)
        r.add_get("/assets/{tail:.*}", self._serve_asset)
        r.add_get(f"{p}/gateway", self._h_gateway)
        r.add_get(f"{p}/gateway/bot", self._h_gateway_bot)
        r.add_get(f"{p}/users/@me", self._h_me)
        r.add_post(f"{p}/users/@me/channels", self._h_create_dm)
        r.add_get(f"{p}/users/{{user_id}}", self._h_user)
        r.add_get(f"{p}/oauth2/applications/@me", self._h_application)
        r.add_get(f"{p}/applications/@me", self._h_application)
        r.add_get(f"{p}/applications/{{app_id}}/commands", self._h_get_commands)
        r.add_put(f"{p}/applications/{{app_id}}/commands", self._h_put_commands)
        r.add_get(f"{p}/applications/{{app_id}}/guilds/{{guild_id}}/commands", self._h_get_commands)
        r.add_put(f"{p}/applications/{{app_id}}/guilds/{{guild_id}}/commands", self._h_put_commands)
        r.add_post(f"{p}/interactions/{{interaction_id}}/{{token}}/callback", self._h_callback)
        r.add_post(f"{p}/webhooks/{{app_id}}/{{token}}", self._h_followup)
        wm = f"{p}/webhooks/{{app_id}}/{{token}}/messages/{{message_id}}"
        r.add_get(wm, self._h_webhook_message)
        r.add_patch(wm, self._h_webhook_message)
        r.add_delete(wm, self._h_webhook_message)
        r.add_get(f"{p}/channels/{{channel_id}}", self._h_channel)
        r.add_get(f"{p}/channels/{{channel_id}}/messages", self._h_list_messages)
        r.add_post(f"{p}/channels/{{channel_id}}/messages", self._h_send_message)
        cm = f"{p}/channels/{{channel_id}}/messages/{{message_id}}"
        r.add_get(cm, self._h_channel_message)
        r.add_patch(cm, self._h_channel_message)
        r.add_delete(cm, self._h_channel_message)
        r.add_post(f"{p}/channels/{{channel_id}}/typing", self._h_typing)
        r.add_get(f"{p}/guilds/{{guild_id}}/members/{{user_id}}", self._h_member)
        r.add_route("*", f"{p}/{{tail:.*}}", self._h_not_found)

    @web.middleware
    async def _middleware(
        self, request: web.Request, handler: Callable[[web.Request], Any]
    ) -> web.StreamResponse:
        if not request.path.startswith(API_PREFIX + "/"):
            response: web.StreamResponse = await handler(request)
            return response
        rec = await self._record(request)
        request[_REC] = rec
        try:
            if (
                self._needs_auth(rec.route)
                and request.headers.get("Authorization") != f"Bot {self.token}"
            ):
                raise DiscordAPIError(401, 0, "401: Unauthorized")
            response = await handler(request)
        except DiscordAPIError as error:
            rec.error_code = error.code
            response = json_response(error.body(), status=error.status)
        except web.HTTPMethodNotAllowed:
            response = json_response({"message": "405: Method Not Allowed", "code": 0}, status=405)
        rec.status = response.status
        self._changed()
        return response

    @staticmethod
    def _needs_auth(route: str) -> bool:
        if route == "/gateway" or route.startswith("/interactions/"):
            return False
        return not re.match(r"^/webhooks/\d+/[^/]+", route)

    async def _record(self, request: web.Request) -> RestRequest:
        rec = RestRequest(
            method=request.method,
            path=request.path,
            route=request.path[len(API_PREFIX) :],
            query=dict(request.query),
            headers=dict(request.headers),
        )
        if request.content_type == "multipart/form-data":
            reader = await request.multipart()
            while True:
                part = await reader.next()
                if part is None:
                    break
                if not isinstance(part, BodyPartReader):
                    continue
                raw = await part.read(decode=False)
                if part.filename is not None:
                    rec.files.append(
                        UploadedFile(
                            str(part.name),
                            part.filename,
                            bytes(raw),
                            part.headers.get("Content-Type", "application/octet-stream"),
                        )
                    )
                elif part.name == "payload_json":
                    rec.json = json.loads(bytes(raw))
        else:
            body = await request.read()
            if body:
                try:
                    rec.json = json.loads(body)
                except ValueError:
                    rec.json = None
        self.requests.append(rec)
        return rec

    @staticmethod
    def _rec(request: web.Request) -> RestRequest:
        return request[_REC]

    def _body(self, request: web.Request) -> JSON:
        body = self._rec(request).json
        if body is None:
            return {}
        if not isinstance(body, dict):
            raise DiscordAPIError(400, 50109, "The request body contains invalid JSON.")
        return body

    # ------------------------------------------------------------------ REST: basics

    async def _h_not_found(self, request: web.Request) -> web.Response:
        return json_response({"message": "404: Not Found", "code": 0}, status=404)

    async def _h_gateway(self, request: web.Request) -> web.Response:
        return json_response({"url": self.gateway_url})

    async def _h_gateway_bot(self, request: web.Request) -> web.Response:
        return json_response(
            {
                "url": self.gateway_url,
                "shards": 1,
                "session_start_limit": {
                    "total": 1000,
                    "remaining": 999,
                    "reset_after": 14400000,
                    "max_concurrency": 1,
                },
            }
        )

    async def _h_me(self, request: web.Request) -> web.Response:
        return json_response(
            {
                **self.bot_user.payload(),
                "verified": True,
                "mfa_enabled": False,
                "flags": 0,
                "locale": "en-US",
            }
        )

    async def _h_user(self, request: web.Request) -> web.Response:
        user = self.users.get(request.match_info["user_id"])
        if user is None:
            raise DiscordAPIError(404, 10013, "Unknown User")
        return json_response(user.payload())

    async def _h_application(self, request: web.Request) -> web.Response:
        return json_response(
            {
                "id": self.application_id,
                "name": self.bot_user.username,
                "icon": None,
                "description": "",
                "summary": "",
                "type": None,
                "bot_public": True,
                "bot_require_code_grant": False,
                "verify_key": "0" * 64,
                "owner": self.owner.payload(),
                "team": None,
                "flags": 0,
                "bot": self.bot_user.payload(),
                "rpc_origins": [],
                "tags": [],
                "redirect_uris": [],
                "interactions_endpoint_url": None,
                "approximate_guild_count": len(self.guilds),
            }
        )

    async def _h_create_dm(self, request: web.Request) -> web.Response:
        body = self._body(request)
        user = self.users.get(str(body.get("recipient_id")))
        if user is None:
            raise DiscordAPIError(404, 10013, "Unknown User")
        return json_response(self.dm_channel(user).payload())

    async def _h_member(self, request: web.Request) -> web.Response:
        guild = self.guilds.get(request.match_info["guild_id"])
        if guild is None:
            raise DiscordAPIError(404, 10004, "Unknown Guild")
        member = guild.members.get(request.match_info["user_id"])
        if member is None:
            raise DiscordAPIError(404, 10007, "Unknown Member")
        return json_response(member.payload())

    async def _h_typing(self, request: web.Request) -> web.Response:
        self._channel_or_404(request.match_info["channel_id"])
        return web.Response(status=204)

    # ------------------------------------------------------------------ REST: commands

    def _command_scope(self, request: web.Request) -> str | None:
        if request.match_info["app_id"] != self.application_id:
            raise DiscordAPIError(403, 50001, "Missing Access")
        guild_id = request.match_info.get("guild_id")
        if guild_id is not None and guild_id not in self.guilds:
            raise DiscordAPIError(404, 10004, "Unknown Guild")
        if guild_id is not None and self.bot_user.id not in self.guilds[guild_id].members:
            raise DiscordAPIError(403, 50001, "Missing Access")
        return guild_id

    async def _h_get_commands(self, request: web.Request) -> web.Response:
        return json_response(self.commands.get(self._command_scope(request), []))

    async def _h_put_commands(self, request: web.Request) -> web.Response:
        scope = self._command_scope(request)
        body = self._rec(request).json
        if not isinstance(body, list):
            raise DiscordAPIError(400, 50035, "Invalid Form Body")
        _validate_commands(body)
        old = {(c["name"], c.get("type", 1)): c for c in self.commands.get(scope, [])}
        stored: list[JSON] = []
        for raw in body:
            kind = int(raw.get("type", 1))
            previous = old.get((raw["name"], kind))
            command: JSON = {
                "default_member_permissions": None,
                "nsfw": False,
                "description": "",
                "options": [],
                **copy.deepcopy(raw),
                "type": kind,
                "application_id": self.application_id,
            }
            if command["default_member_permissions"] is not None:
                command["default_member_permissions"] = str(
                    int(command["default_member_permissions"])
                )
            command["id"] = previous["id"] if previous else self._id()
            if scope is not None:
                command["guild_id"] = scope
            same = previous is not None and _command_key(previous) == _command_key(command)
            command["version"] = previous["version"] if same and previous else self._id()
            stored.append(command)
        changed = [_command_key(c) for c in self.commands.get(scope, [])] != [
            _command_key(c) for c in stored
        ]
        self.commands[scope] = stored
        self.command_syncs.append(CommandSync(scope, copy.deepcopy(body), changed))
        return json_response(stored)

    # ------------------------------------------------------------------ REST: interactions

    def _interaction_for_webhook(self, request: web.Request) -> FakeInteraction:
        if request.match_info["app_id"] != self.application_id:
            raise DiscordAPIError(404, 10015, "Unknown Webhook")
        ix = self._interactions_by_token.get(request.match_info["token"])
        if ix is None or self._token_dead(ix):
            raise DiscordAPIError(401, 50027, "Invalid Webhook Token")
        if not ix.acknowledged:
            raise DiscordAPIError(404, 10015, "Unknown Webhook")
        return ix

    def _token_dead(self, ix: FakeInteraction) -> bool:
        age = asyncio.get_running_loop().time() - ix.created_at
        return ix.expired or age > self.token_lifetime

    async def _h_callback(self, request: web.Request) -> web.Response:
        rec = self._rec(request)
        body = self._body(request)
        if "type" not in body:
            raise _form_error(["type"], "BASE_TYPE_REQUIRED", "This field is required")
        cb_type = int(body["type"])
        data = body.get("data")
        ix = self.interactions.get(request.match_info["interaction_id"])
        elapsed = asyncio.get_running_loop().time() - ix.created_at if ix else 0.0
        late = elapsed > self.ack_deadline
        callback = Callback(
            request.match_info["interaction_id"],
            request.match_info["token"],
            cb_type,
            data if isinstance(data, dict) else None,
            rec.files,
            elapsed,
            late and ix is not None and not ix.acknowledged,
        )
        self.callbacks.append(callback)
        try:
            if ix is None or ix.token != request.match_info["token"] or self._token_dead(ix):
                raise DiscordAPIError(404, 10062, "Unknown interaction")
            if ix.acknowledged:
                raise DiscordAPIError(400, 40060, "Interaction has already been acknowledged.")
            if late:
                ix.late = True
                if self.enforce_ack_deadline:
                    raise DiscordAPIError(404, 10062, "Unknown interaction")
            if cb_type not in _ALLOWED_CALLBACKS.get(ix.type, frozenset()) or (
                cb_type in (6, 7) and ix.source_message_id is None
            ):
                raise _form_error(
                    ["type"],
                    "INTERACTION_RESPONSE_TYPE_INVALID",
                    "Interaction response type is not valid for this interaction type",
                )
            message = await self._apply_callback(ix, cb_type, callback.data or {}, rec.files)
        except DiscordAPIError as error:
            callback.status = error.status
            callback.error_code = error.code
            raise
        callback.message_id = message.id if message is not None else None
        ix.callbacks.append(callback)
        ix.response_type = cb_type
        self._changed()
        if not _truthy(request.query.get("with_response")):
            return web.Response(status=204)
        original = ix.original
        resource: JSON = {"type": cb_type}
        if message is not None:
            resource["message"] = message.payload()
        return json_response(
            {
                "interaction": {
                    "id": ix.id,
                    "type": ix.type,
                    "response_message_id": original.id if original else None,
                    "response_message_loading": bool(original and original.loading),
                    "response_message_ephemeral": bool(original and original.ephemeral),
                },
                "resource": resource,
            }
        )

    async def _apply_callback(
        self, ix: FakeInteraction, cb_type: int, data: JSON, files: list[UploadedFile]
    ) -> FakeMessage | None:
        channel = self.get_channel(ix.channel_id)
        command_type = ix.payload.get("data", {}).get("type", 1)
        message_type = (
            (20 if command_type == 1 else 23)
            if ix.type == InteractionType.APPLICATION_COMMAND
            else 0
        )
        if cb_type == CallbackType.CHANNEL_MESSAGE:
            message = self._new_message(
                channel,
                data,
                files,
                limit=ix.attachment_size_limit,
                interaction=ix,
                message_type=message_type,
            )
            ix.original_message_id = message.id
            ix.original_filled = True
            await self._dispatch_message_event("MESSAGE_CREATE", message)
            return message
        if cb_type == CallbackType.DEFERRED_CHANNEL_MESSAGE:
            flags = int(MessageFlag.LOADING) | (int(data.get("flags") or 0) & MessageFlag.EPHEMERAL)
            message = FakeMessage(
                id=self._id(),
                channel_id=channel.id,
                guild_id=channel.guild_id,
                author=self.bot_user,
                type=message_type,
                flags=flags,
                webhook_id=self.application_id,
                application_id=self.application_id,
                interaction_id=ix.id,
                interaction_metadata={
                    "id": ix.id,
                    "type": ix.type,
                    "user": ix.user.payload(),
                    "authorizing_integration_owners": ix.payload["authorizing_integration_owners"],
                },
            )
            self._store(message)
            ix.original_message_id = message.id
            ix.deferred = True
            await self._dispatch_message_event("MESSAGE_CREATE", message)
            return message
        if cb_type == CallbackType.DEFERRED_UPDATE_MESSAGE:
            ix.original_message_id = ix.source_message_id
            return None
        if cb_type == CallbackType.UPDATE_MESSAGE:
            assert ix.source_message_id is not None
            message = self._edit(
                self.message(ix.source_message_id),
                data,
                files,
                limit=ix.attachment_size_limit,
                webhook=True,
            )
            ix.original_message_id = message.id
            await self._dispatch_message_event("MESSAGE_UPDATE", message)
            return message
        if cb_type == CallbackType.MODAL:
            _validate_modal(data)
            ix.modal = copy.deepcopy(data)
            return None
        return None  # PONG, AUTOCOMPLETE_RESULT: recorded in the callback

    async def _h_followup(self, request: web.Request) -> web.Response:
        ix = self._interaction_for_webhook(request)
        rec = self._rec(request)
        data = self._body(request)
        channel = self.get_channel(ix.channel_id)
        original = ix.original
        if ix.deferred and not ix.original_filled and original is not None:
            # the first follow-up after a defer fills the "thinking" placeholder; its
            # ephemerality was decided by the defer, the follow-up's flags are ignored
            message = self._edit(
                original, data, rec.files, limit=ix.attachment_size_limit, webhook=True
            )
            ix.original_filled = True
            await self._dispatch_message_event("MESSAGE_UPDATE", message)
        else:
            message = self._new_message(
                channel, data, rec.files, limit=ix.attachment_size_limit, interaction=ix
            )
            ix.followup_ids.append(message.id)
            await self._dispatch_message_event("MESSAGE_CREATE", message)
        self._changed()
        if not _truthy(request.query.get("wait")):
            return web.Response(status=204)
        return json_response(message.payload())

    async def _h_webhook_message(self, request: web.Request) -> web.Response:
        ix = self._interaction_for_webhook(request)
        mid = request.match_info["message_id"]
        if mid == "@original":
            mid = ix.original_message_id or ""
        if mid not in {ix.original_message_id, *ix.followup_ids} or mid not in self._messages:
            raise DiscordAPIError(404, 10008, "Unknown Message")
        message = self._messages[mid]
        if message.deleted:
            raise DiscordAPIError(404, 10008, "Unknown Message")
        if request.method == "GET":
            return json_response(message.payload())
        if request.method == "DELETE":
            message.deleted = True
            self._changed()
            await self._dispatch_message_event("MESSAGE_DELETE", message)
            return web.Response(status=204)
        was_loading = message.loading
        self._edit(
            message,
            self._body(request),
            self._rec(request).files,
            limit=ix.attachment_size_limit,
            webhook=True,
        )
        if was_loading and mid == ix.original_message_id:
            ix.original_filled = True
        await self._dispatch_message_event("MESSAGE_UPDATE", message)
        return json_response(message.payload())

    # ------------------------------------------------------------------ REST: channels

    def _channel_or_404(self, channel_id: str) -> FakeChannel:
        try:
            return self.get_channel(channel_id)
        except KeyError:
            raise DiscordAPIError(404, 10003, "Unknown Channel") from None

    def _require(self, channel: FakeChannel, needed: int) -> None:
        perms = self.permissions_for(self.bot_user, channel)
        if not perms & Perm.VIEW_CHANNEL:
            raise DiscordAPIError(403, 50001, "Missing Access")
        if perms & needed != needed:
            raise DiscordAPIError(403, 50013, "Missing Permissions")

    async def _h_channel(self, request: web.Request) -> web.Response:
        channel = self._channel_or_404(request.match_info["channel_id"])
        if not channel.is_dm:
            self._require(channel, Perm.VIEW_CHANNEL)
        return json_response(channel.payload())

    async def _h_send_message(self, request: web.Request) -> web.Response:
        channel = self._channel_or_404(request.match_info["channel_id"])
        rec = self._rec(request)
        data = self._body(request)
        if channel.is_dm:
            if any(user.dms_closed or user.bot for user in channel.recipients):
                raise DiscordAPIError(403, 50007, "Cannot send messages to this user")
            limit = self.attachment_size_limit
        else:
            needed = Perm.SEND_MESSAGES | (Perm.ATTACH_FILES if rec.files else 0)
            self._require(channel, needed)
            assert channel.guild_id is not None
            limit = self.guilds[channel.guild_id].attachment_size_limit
        message = self._new_message(channel, data, rec.files, limit=limit)
        await self._dispatch_message_event("MESSAGE_CREATE", message)
        return json_response(message.payload())

    async def _h_list_messages(self, request: web.Request) -> web.Response:
        channel = self._channel_or_404(request.match_info["channel_id"])
        if not channel.is_dm:
            self._require(channel, Perm.VIEW_CHANNEL | Perm.READ_MESSAGE_HISTORY)
        try:
            limit = int(request.query.get("limit", "50"))
        except ValueError:
            raise _form_error(["limit"], "NUMBER_TYPE_COERCE", "Value is not int.") from None
        if not 1 <= limit <= 100:
            raise _form_error(["limit"], "NUMBER_TYPE_MAX", "int value should be <= 100 and >= 1.")
        visible = [m for m in self.messages(channel) if not m.ephemeral]
        before, after, around = (request.query.get(k) for k in ("before", "after", "around"))
        if before:
            visible = [m for m in visible if int(m.id) < int(before)]
        if after:
            chosen = [m for m in visible if int(m.id) > int(after)][:limit]
            return json_response([m.payload() for m in reversed(chosen)])
        if around:
            index = next(
                (i for i, m in enumerate(visible) if int(m.id) >= int(around)), len(visible)
            )
            start = max(0, index - limit // 2)
            visible = visible[start : start + limit]
        return json_response([m.payload() for m in reversed(visible[-limit:])])

    async def _h_channel_message(self, request: web.Request) -> web.Response:
        channel = self._channel_or_404(request.match_info["channel_id"])
        message = self._messages.get(request.match_info["message_id"])
        if (
            message is None
            or message.deleted
            or message.ephemeral
            or message.channel_id != channel.id
        ):
            raise DiscordAPIError(404, 10008, "Unknown Message")
        if request.method == "GET":
            if not channel.is_dm:
                self._require(channel, Perm.VIEW_CHANNEL | Perm.READ_MESSAGE_HISTORY)
            return json_response(message.payload())
        own = message.author.id == self.bot_user.id
        if request.method == "DELETE":
            if not own and not channel.is_dm:
                self._require(channel, Perm.MANAGE_MESSAGES)
            elif not own:
                raise DiscordAPIError(403, 50003, "Cannot execute action on a DM channel")
            message.deleted = True
            self._changed()
            await self._dispatch_message_event("MESSAGE_DELETE", message)
            return web.Response(status=204)
        if not own:
            raise DiscordAPIError(403, 50005, "Cannot edit a message authored by another user")
        limit = (
            self.guilds[channel.guild_id].attachment_size_limit
            if channel.guild_id
            else self.attachment_size_limit
        )
        self._edit(
            message, self._body(request), self._rec(request).files, limit=limit, webhook=False
        )
        await self._dispatch_message_event("MESSAGE_UPDATE", message)
        return json_response(message.payload())


# ---------------------------------------------------------------------------------- helpers


def point_discord_py_at(fake: FakeDiscord) -> Callable[[], None]:
    """Point discord.py's REST base, default gateway and asset CDN at ``fake``.

    Returns a callable that restores the originals (they are process-global class attributes).
    """
    route = discord.http.Route
    websocket = discord.gateway.DiscordWebSocket
    asset = discord.asset.Asset
    saved = (route.BASE, websocket.DEFAULT_GATEWAY, asset.BASE)
    route.BASE = fake.api_base
    websocket.DEFAULT_GATEWAY = yarl.URL(fake.gateway_url)
    asset.BASE = fake.asset_base

    def restore() -> None:
        """Put the saved class attributes back."""
        route.BASE, websocket.DEFAULT_GATEWAY, asset.BASE = saved

    return restore


def _spec_parts(spec: AttachmentSpec) -> tuple[str, bytes, str]:
    """``(filename, bytes[, content_type])`` with the type guessed from the name if absent."""
    if len(spec) == 3:
        return spec[0], spec[1], spec[2]
    return spec[0], spec[1], _guess_type(spec[0])


def _maybe_int(value: Any) -> int | None:
    try:
        return int(value)
    except (TypeError, ValueError):
        return None


def _infer_option_type(value: Any) -> int:
    if isinstance(value, tuple):
        return _ATTACHMENT
    if isinstance(value, bool):
        return _BOOLEAN
    if isinstance(value, int):
        return _INTEGER
    if isinstance(value, float):
        return _NUMBER
    if isinstance(value, FakeUser):
        return _USER
    if isinstance(value, FakeRole):
        return _ROLE
    if isinstance(value, FakeChannel):
        return _CHANNEL
    return _STRING


def _number_components(components: list[JSON]) -> list[JSON]:
    """Copy components, giving each one the numeric ``id`` Discord assigns when absent."""
    result = copy.deepcopy(components)
    used = {c["id"] for c in _walk_components(result) if isinstance(c.get("id"), int)}
    counter = 1
    for component in _walk_components(result):
        if component.get("id") is None:
            while counter in used:
                counter += 1
            component["id"] = counter
            used.add(counter)
    return result


def _resolve_attachment_urls(message: FakeMessage) -> None:
    """``attachment://name`` in embeds becomes the uploaded file's URL, as on Discord."""
    by_name = {a.filename: a.url for a in message.attachments}
    for embed in message.embeds:
        for key in ("image", "thumbnail"):
            part = embed.get(key)
            if isinstance(part, dict) and str(part.get("url", "")).startswith("attachment://"):
                name = str(part["url"])[len("attachment://") :]
                if name in by_name:
                    part["url"] = by_name[name]
                    part["proxy_url"] = by_name[name]


def _validate_message(message: FakeMessage) -> None:
    """Discord's limits on content, embeds and components; 50006 for empty messages."""
    am = message.allowed_mentions or {}
    for kind in ("users", "roles"):
        if kind in (am.get("parse") or []) and am.get(kind):
            raise _form_error(
                ["allowed_mentions"],
                "MESSAGE_ALLOWED_MENTIONS_PARSE_EXCLUSIVE",
                f'parse:["{kind}"] and {kind}: [ids] are mutually exclusive.',
            )
    if len(message.content) > 2000:
        raise _form_error(["content"], "BASE_TYPE_MAX_LENGTH", "Must be 2000 or fewer in length.")
    if len(message.embeds) > 10:
        raise _form_error(["embeds"], "BASE_TYPE_MAX_LENGTH", "Must be 10 or fewer in length.")
    total = 0
    for i, embed in enumerate(message.embeds):
        embed.setdefault("type", "rich")
        limits: list[tuple[list[str | int], str | None, int]] = [
            (["title"], embed.get("title"), 256),
            (["description"], embed.get("description"), 4096),
            (["footer", "text"], (embed.get("footer") or {}).get("text"), 2048),
            (["author", "name"], (embed.get("author") or {}).get("name"), 256),
        ]
        fields = embed.get("fields") or []
        if len(fields) > 25:
            raise _form_error(
                ["embeds", i, "fields"], "BASE_TYPE_MAX_LENGTH", "Must be 25 or fewer in length."
            )
        for j, item in enumerate(fields):
            limits.append((["fields", j, "name"], item.get("name"), 256))
            limits.append((["fields", j, "value"], item.get("value"), 1024))
        for path, text, limit in limits:
            if text is None:
                continue
            if len(str(text)) > limit:
                raise _form_error(
                    ["embeds", i, *path],
                    "BASE_TYPE_MAX_LENGTH",
                    f"Must be {limit} or fewer in length.",
                )
            total += len(str(text))
    if total > 6000:
        raise _form_error(
            ["embeds"], "MAX_EMBED_SIZE_EXCEEDED", "Embed size exceeds maximum size of 6000"
        )
    _validate_components(message.components, v2=bool(message.flags & MessageFlag.IS_COMPONENTS_V2))
    if message.flags & MessageFlag.IS_COMPONENTS_V2 and (message.content or message.embeds):
        raise _form_error(
            ["content"],
            "MESSAGE_CANNOT_USE_LEGACY_FIELDS_WITH_COMPONENTS_V2",
            "The 'content' and 'embeds' fields cannot be used with IS_COMPONENTS_V2",
        )
    empty = not (message.content or message.embeds or message.attachments or message.components)
    if empty and not message.loading:
        raise DiscordAPIError(400, 50006, "Cannot send an empty message")


def _validate_components(components: list[JSON], *, v2: bool) -> None:
    if not v2 and len(components) > 5:
        raise _form_error(["components"], "BASE_TYPE_MAX_LENGTH", "Must be 5 or fewer in length.")
    all_components = list(_walk_components(components))
    if v2 and len(all_components) > 40:
        raise _form_error(["components"], "BASE_TYPE_MAX_LENGTH", "Must be 40 or fewer in length.")
    seen: set[str] = set()
    for row_index, row in enumerate(components):
        if not v2 and row.get("type") != 1:
            raise _form_error(
                ["components", row_index],
                "COMPONENT_LAYOUT_WIDTH_EXCEEDED",
                "Top-level components must be action rows",
            )
        if row.get("type") == 1 and len(row.get("components") or []) > 5:
            raise _form_error(
                ["components", row_index, "components"],
                "BASE_TYPE_MAX_LENGTH",
                "Must be 5 or fewer in length.",
            )
    for component in all_components:
        custom_id = component.get("custom_id")
        if custom_id is not None:
            if not 1 <= len(custom_id) <= 100:
                raise _form_error(
                    ["components", "custom_id"],
                    "BASE_TYPE_BAD_LENGTH",
                    "Must be between 1 and 100 in length.",
                )
            if custom_id in seen:
                raise _form_error(
                    ["components", "custom_id"],
                    "COMPONENT_CUSTOM_ID_DUPLICATED",
                    "Component custom id cannot be duplicated",
                )
            seen.add(custom_id)
        label = component.get("label")
        if component.get("type") == 2 and label is not None and len(label) > 80:
            raise _form_error(
                ["components", "label"], "BASE_TYPE_MAX_LENGTH", "Must be 80 or fewer in length."
            )


def _validate_modal(data: JSON) -> None:
    custom_id = str(data.get("custom_id") or "")
    if not 1 <= len(custom_id) <= 100:
        raise _form_error(
            ["data", "custom_id"], "BASE_TYPE_BAD_LENGTH", "Must be between 1 and 100 in length."
        )
    if not 1 <= len(str(data.get("title") or "")) <= 45:
        raise _form_error(
            ["data", "title"], "BASE_TYPE_BAD_LENGTH", "Must be between 1 and 45 in length."
        )
    if not 1 <= len(data.get("components") or []) <= 5:
        raise _form_error(
            ["data", "components"], "BASE_TYPE_BAD_LENGTH", "Must be between 1 and 5 in length."
        )


_NAME_RE = re.compile(r"^[-_'\w]{1,32}$")


def _validate_commands(body: list[JSON]) -> None:
    """The subset of Discord's command validation that catches real mistakes."""
    counts: dict[int, int] = {}
    for i, command in enumerate(body):
        kind = int(command.get("type", 1))
        counts[kind] = counts.get(kind, 0) + 1
        name = str(command.get("name", ""))
        if kind == 1:
            if not _NAME_RE.match(name) or name != name.lower():
                raise _form_error(
                    [i, "name"], "APPLICATION_COMMAND_INVALID_NAME", "Command name is invalid"
                )
            if not 1 <= len(str(command.get("description", ""))) <= 100:
                raise _form_error(
                    [i, "description"],
                    "BASE_TYPE_BAD_LENGTH",
                    "Must be between 1 and 100 in length.",
                )
            _validate_options(command.get("options") or [], [i, "options"])
        elif not 1 <= len(name) <= 32:
            raise _form_error(
                [i, "name"], "BASE_TYPE_BAD_LENGTH", "Must be between 1 and 32 in length."
            )
    limits = {1: 100, 2: 15, 3: 15}
    for kind, count in counts.items():
        if count > limits.get(kind, 100):
            raise _form_error(
                [], "APPLICATION_COMMANDS_TOO_MANY", f"Too many commands of type {kind}"
            )
    names = [(c["name"], int(c.get("type", 1))) for c in body]
    if len(set(names)) != len(names):
        raise _form_error(
            [], "APPLICATION_COMMANDS_DUPLICATE_NAME", "Application command names must be unique"
        )


def _validate_options(options: list[JSON], path: list[str | int]) -> None:
    if len(options) > 25:
        raise _form_error(path, "BASE_TYPE_MAX_LENGTH", "Must be 25 or fewer in length.")
    seen_optional = False
    for j, option in enumerate(options):
        name = str(option.get("name", ""))
        if not _NAME_RE.match(name) or name != name.lower():
            raise _form_error(
                [*path, j, "name"], "APPLICATION_COMMAND_INVALID_NAME", "Option name is invalid"
            )
        if not 1 <= len(str(option.get("description", ""))) <= 100:
            raise _form_error(
                [*path, j, "description"],
                "BASE_TYPE_BAD_LENGTH",
                "Must be between 1 and 100 in length.",
            )
        if len(option.get("choices") or []) > 25:
            raise _form_error(
                [*path, j, "choices"], "BASE_TYPE_MAX_LENGTH", "Must be 25 or fewer in length."
            )
        if option.get("type") in (_SUB_COMMAND, _SUB_GROUP):
            _validate_options(option.get("options") or [], [*path, j, "options"])
            continue
        if option.get("required"):
            if seen_optional:
                raise _form_error(
                    [*path, j],
                    "APPLICATION_COMMAND_OPTIONS_REQUIRED_INVALID",
                    "Required options must be placed before non-required options",
                )
        else:
            seen_optional = True


def _command_key(command: JSON) -> str:
    """What makes two registrations of a command the same (ids and versions excluded)."""
    ignored = {"id", "version", "application_id", "guild_id"}
    return json.dumps({k: v for k, v in command.items() if k not in ignored}, sort_keys=True)


def _submitted_component(component: JSON, values: Mapping[str, str | Sequence[str]]) -> JSON:
    """The modal-submit form of one modal component, filled with the user's ``values``."""
    kind = component.get("type")
    if kind == 1:
        return {
            "type": 1,
            "id": component.get("id"),
            "components": [
                _submitted_component(c, values) for c in component.get("components") or []
            ],
        }
    if kind == 18:
        return {
            "type": 18,
            "id": component.get("id"),
            "component": _submitted_component(component["component"], values),
        }
    custom_id = component.get("custom_id")
    if kind == 4:
        raw = values.get(str(custom_id), component.get("value") or "")
        value = raw if isinstance(raw, str) else "".join(raw)
        if component.get("required", True) and not value:
            raise ValueError(f"text input {custom_id!r} is required")
        if value and len(value) < int(component.get("min_length", 0)):
            raise ValueError(f"text input {custom_id!r} is shorter than min_length")
        if len(value) > int(component.get("max_length", 4000)):
            raise ValueError(f"text input {custom_id!r} is longer than max_length")
        return {"type": 4, "id": component.get("id"), "custom_id": custom_id, "value": value}
    if kind in _SELECT_TYPES:
        raw_values = values.get(str(custom_id), [])
        picked = [raw_values] if isinstance(raw_values, str) else list(raw_values)
        return {"type": kind, "id": component.get("id"), "custom_id": custom_id, "values": picked}
    return {"type": kind, "id": component.get("id")}
