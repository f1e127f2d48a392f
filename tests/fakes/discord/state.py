"""The in-memory world every part of the fake Discord shares.

:class:`DiscordState` holds the application and its bot user, users, guilds with their roles,
members and channels, DM channels, every message, the registered application commands and the
interactions sent so far; it computes permissions as Discord does, mints snowflakes from the
injected :class:`~tests.fakes.discord.clock.Clock`, and tells waiters when anything changed.

The gateway hears about changes the bot would be told of (a guild joined, a channel or role
created, ...) through :class:`WorldObserver`; the state itself knows nothing of websockets.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Callable, Sequence
from datetime import UTC, datetime
from typing import TYPE_CHECKING, TypeVar

from tests.fakes.discord import permissions
from tests.fakes.discord.clock import Clock
from tests.fakes.discord.models import (
    ACK_DEADLINE,
    API_PREFIX,
    DEFAULT_ATTACHMENT_SIZE_LIMIT,
    DISCORD_EPOCH_MS,
    JSON,
    REQUEST_SIZE_LIMIT,
    THREAD_TYPES,
    TOKEN_LIFETIME,
    ChannelType,
    FakeChannel,
    FakeGuild,
    FakeMember,
    FakeMessage,
    FakeRole,
    FakeUser,
    IntegrationType,
    Overwrite,
    Perm,
    id_of,
)

if TYPE_CHECKING:
    from tests.fakes.discord.interactions import FakeInteraction

_T = TypeVar("_T")


class Snowflakes:
    """Monotonic snowflakes built from the clock's time, like Discord's."""

    def __init__(self, clock: Clock) -> None:
        """Mint ids from ``clock.time()``."""
        self._clock = clock
        self._last = 0

    def next(self) -> str:
        """The next snowflake, as a string."""
        now_ms = int(self._clock.time() * 1000)
        value = max((now_ms - DISCORD_EPOCH_MS) << 22, self._last + 1)
        self._last = value
        return str(value)


class WorldObserver:
    """Told about changes to the world a connected bot hears of (default: nobody listens).

    The gateway subclasses it and turns each change into a dispatch.
    """

    def guild_joined(self, guild: FakeGuild) -> None:
        """The bot became a member of ``guild`` (GUILD_CREATE)."""

    def channel_created(self, channel: FakeChannel) -> None:
        """A channel was created in a guild the bot is in (CHANNEL_CREATE)."""

    def channel_updated(self, channel: FakeChannel) -> None:
        """A channel's overwrites changed (CHANNEL_UPDATE)."""

    def guild_updated(self, guild: FakeGuild) -> None:
        """A guild's settings changed, e.g. its boost tier (GUILD_UPDATE)."""

    def thread_created(self, thread: FakeChannel) -> None:
        """A thread the bot can see was created (THREAD_CREATE)."""

    def thread_updated(self, thread: FakeChannel) -> None:
        """A thread was archived, unarchived, locked or unlocked (THREAD_UPDATE)."""

    def role_created(self, guild: FakeGuild, role: FakeRole) -> None:
        """A role was created in a guild the bot is in (GUILD_ROLE_CREATE)."""

    def member_added(self, guild: FakeGuild, member: FakeMember) -> None:
        """A user joined ``guild`` (GUILD_MEMBER_ADD, if the bot has the intent)."""


class DiscordState:
    """The world, shared by the gateway, the REST API, the CDN and the test API."""

    #: reject a first response later than ``ack_deadline`` with 404 10062 "Unknown interaction",
    #: as Discord does ("you must send an initial response within 3 seconds",
    #: receiving-and-responding.mdx); a test studying lateness may switch it off
    enforce_ack_deadline: bool = True
    ack_deadline: float = ACK_DEADLINE
    token_lifetime: float = TOKEN_LIFETIME
    #: the largest request that may carry a message (413 40005 above it)
    request_size_limit: int = REQUEST_SIZE_LIMIT
    #: the per-file limit of the bot's own posts in DMs (bots have no Nitro)
    dm_upload_limit: int = DEFAULT_ATTACHMENT_SIZE_LIMIT

    def __init__(
        self,
        *,
        clock: Clock,
        token: str,
        application_id: int | str | None,
        bot_user_id: int | str | None,
        bot_name: str,
        owner_id: int | str | None,
        guild_id: int | str | None,
        guild_name: str,
        channel_id: int | str | None,
        channel_name: str,
        bot_permissions: int,
        everyone_permissions: int,
        attachment_size_limit: int,
        strict_commands: bool,
        integration_types: tuple[int, ...] = (
            IntegrationType.GUILD_INSTALL,
            IntegrationType.USER_INSTALL,
        ),
    ) -> None:
        """The application, its bot user, an owner, and a guild with one text channel."""
        self.clock = clock
        self._ids = Snowflakes(clock)
        self.observer = WorldObserver()
        self.port = 0
        self.token = token
        self.application_id = str(application_id) if application_id is not None else self.new_id()
        self.bot_user = FakeUser(
            str(bot_user_id) if bot_user_id is not None else self.application_id,
            bot_name,
            bot=True,
        )
        self.owner = FakeUser(str(owner_id) if owner_id is not None else self.new_id(), "owner")
        self.users: dict[str, FakeUser] = {
            self.bot_user.id: self.bot_user,
            self.owner.id: self.owner,
        }
        self.bot_permissions = bot_permissions
        self.everyone_permissions = everyone_permissions
        #: a user's per-file upload limit unless the user has one (``FakeUser.upload_limit``)
        self.attachment_size_limit = attachment_size_limit
        self.strict_commands = strict_commands
        #: the installation contexts the application supports (``integration_types`` a command
        #: may declare, and what it gets when it declares none)
        self.integration_types: set[int] = set(integration_types)
        #: users who installed the app to their account (USER_INSTALL)
        self.user_installs: set[str] = set()

        self.guilds: dict[str, FakeGuild] = {}
        self.dm_channels: dict[str, FakeChannel] = {}  # by recipient user id
        #: group DMs and DMs between users: the bot is not in them
        self.private_channels: dict[str, FakeChannel] = {}
        self.messages_by_id: dict[str, FakeMessage] = {}
        self.channel_messages: dict[str, list[str]] = {}  # channel id -> message ids

        #: registered commands: ``None`` -> global, guild id -> that guild's
        self.commands: dict[str | None, list[JSON]] = {None: []}
        #: per-server command permission overrides an admin made (Server Settings >
        #: Integrations): (command name, user id) may run the command whatever its
        #: ``default_member_permissions`` (topics/permissions.mdx, "application command
        #: permissions": they replace the defaults for that server)
        self.command_overrides: set[tuple[str, str]] = set()
        self.interactions: dict[str, FakeInteraction] = {}
        self.interactions_by_token: dict[str, FakeInteraction] = {}

        self._change = asyncio.Event()

        self.guild = self.add_guild(
            guild_name,
            guild_id=guild_id,
            channel_id=channel_id,
            channel_name=channel_name,
        )
        self.channel = next(iter(self.guild.channels.values()))

    # ------------------------------------------------------------------ where it listens

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

    # ------------------------------------------------------------------ time and ids

    def new_id(self) -> str:
        """A fresh snowflake."""
        return self._ids.next()

    def now_iso(self) -> str:
        """The clock's Unix time as Discord's ISO 8601 timestamps."""
        return datetime.fromtimestamp(self.clock.time(), UTC).isoformat()

    # ------------------------------------------------------------------ waiting

    def changed(self) -> None:
        """Wake everything in :meth:`wait_for` (call after every change)."""
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
        the bot's own state work too). ``timeout`` is real time, whatever the clock.
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

    # ------------------------------------------------------------------ users, guilds, channels

    def add_guild(
        self,
        name: str = "Another Guild",
        *,
        guild_id: int | str | None = None,
        owner: FakeUser | None = None,
        channel_id: int | str | None = None,
        channel_name: str = "general",
        premium_tier: int = 0,
        attachment_size_limit: int | None = None,
        with_bot: bool = True,
    ) -> FakeGuild:
        """Create a guild with @everyone, the bot's managed role and one text channel.

        ``premium_tier`` (0-3) sets the per-file limit of the bot's own posts there (10, 10, 50,
        100 MiB); ``attachment_size_limit`` overrides it. ``with_bot=False``: the app is not
        installed there (only a user install can bring it). If the bot is connected, it
        receives GUILD_CREATE (as when it is invited).
        """
        owner = owner or self.owner
        gid = str(guild_id) if guild_id is not None else self.new_id()
        guild = FakeGuild(
            gid,
            name,
            owner.id,
            premium_tier=premium_tier,
            attachment_size_limit=attachment_size_limit,
        )
        guild.roles[gid] = FakeRole(gid, "@everyone", self.everyone_permissions, position=0)
        guild.members[owner.id] = FakeMember(owner, gid, joined_at=self.now_iso())
        self.users.setdefault(owner.id, owner)
        self.guilds[gid] = guild
        self.add_channel(guild, channel_name, channel_id=channel_id)
        if with_bot:
            role = FakeRole(
                self.new_id(), self.bot_user.username, self.bot_permissions, managed=True
            )
            guild.roles[role.id] = role
            guild.members[self.bot_user.id] = FakeMember(
                self.bot_user, gid, roles=[role.id], joined_at=self.now_iso()
            )
            self.observer.guild_joined(guild)
        return guild

    def set_premium_tier(self, guild: FakeGuild | str | None, tier: int) -> None:
        """Boost a guild to ``tier`` (0-3): the bot's own posts there get that tier's per-file
        limit; the bot hears GUILD_UPDATE (discord.py's ``Guild.filesize_limit`` follows)."""
        if tier not in (0, 1, 2, 3):
            raise ValueError("boost tiers are 0-3")
        g = self.guild_of(guild)
        g.premium_tier = tier
        if self.bot_user.id in g.members:
            self.observer.guild_updated(g)
        self.changed()

    def add_channel(
        self,
        guild: FakeGuild | str | None = None,
        name: str = "channel",
        *,
        channel_id: int | str | None = None,
        type: int = ChannelType.GUILD_TEXT,
        category: FakeChannel | str | None = None,
    ) -> FakeChannel:
        """Create a guild channel: text by default, or any :class:`ChannelType` that is not a
        thread (voice, stage, category, announcement, forum, media). CHANNEL_CREATE is
        dispatched if the bot is connected."""
        if type in (ChannelType.DM, ChannelType.GROUP_DM) or type in THREAD_TYPES:
            raise ValueError("use dm_channel, group_dm, user_dm or add_thread for that type")
        g = self.guild_of(guild)
        channel = FakeChannel(
            str(channel_id) if channel_id is not None else self.new_id(),
            name,
            type=type,
            guild_id=g.id,
            position=len(g.channels),
            parent_id=id_of(category) if category is not None else None,
            created_at=self.now_iso(),
        )
        g.channels[channel.id] = channel
        self.channel_messages[channel.id] = []
        if self.bot_user.id in g.members:
            self.observer.channel_created(channel)
        return channel

    def add_thread(
        self,
        parent: FakeChannel | str | None = None,
        name: str = "thread",
        *,
        private: bool = False,
        owner: FakeUser | str | None = None,
        members: Sequence[FakeUser | str] = (),
        archived: bool = False,
        locked: bool = False,
    ) -> FakeChannel:
        """Create a thread in ``parent`` (default: the main channel): public, or ``private``
        (visible to its ``members`` and the owner; add the bot to let it in), in a forum a
        post. Announcement channels get announcement threads. THREAD_CREATE is dispatched if
        the bot can see it."""
        container = self.get_channel(parent or self.channel)
        if container.is_private or container.is_thread or container.guild_id is None:
            raise ValueError("threads live in guild text, announcement and forum channels")
        if private and container.type != ChannelType.GUILD_TEXT:
            raise ValueError("private threads can only be created in text channels")
        if container.type == ChannelType.GUILD_ANNOUNCEMENT:
            kind = ChannelType.ANNOUNCEMENT_THREAD
        else:
            kind = ChannelType.PRIVATE_THREAD if private else ChannelType.PUBLIC_THREAD
        starter = self.users[id_of(owner)] if owner is not None else self.owner
        now = self.now_iso()
        thread = FakeChannel(
            self.new_id(),
            name,
            type=kind,
            guild_id=container.guild_id,
            parent_id=container.id,
            owner_id=starter.id,
            archived=archived,
            locked=locked,
            thread_members={starter.id, *(id_of(m) for m in members)},
            created_at=now,
            archive_timestamp=now,
        )
        self.guilds[container.guild_id].channels[thread.id] = thread
        self.channel_messages[thread.id] = []
        if permissions.permissions_for(self, self.bot_user.id, thread) & Perm.VIEW_CHANNEL:
            self.observer.thread_created(thread)
        return thread

    def set_thread(
        self,
        thread: FakeChannel | str,
        *,
        archived: bool | None = None,
        locked: bool | None = None,
    ) -> None:
        """Archive / unarchive, lock / unlock a thread (THREAD_UPDATE follows)."""
        ch = self.get_channel(thread)
        if not ch.is_thread:
            raise ValueError(f"{ch.name} is not a thread")
        if archived is not None and archived != ch.archived:
            ch.archived = archived
            ch.archive_timestamp = self.now_iso()
        if locked is not None:
            ch.locked = locked
        self.observer.thread_updated(ch)
        self.changed()

    def add_role(
        self,
        guild: FakeGuild | str | None = None,
        name: str = "role",
        permissions: int = 0,
        *,
        mentionable: bool = False,
    ) -> FakeRole:
        """Create a role in a guild."""
        g = self.guild_of(guild)
        role = FakeRole(
            self.new_id(), name, int(permissions), position=len(g.roles), mentionable=mentionable
        )
        g.roles[role.id] = role
        if self.bot_user.id in g.members:
            self.observer.role_created(g, role)
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
        user = FakeUser(str(user_id) if user_id is not None else self.new_id(), username, bot=bot)
        self.users[user.id] = user
        if member:
            g = self.guild_of(guild)
            role_ids = [id_of(r) for r in roles]
            if permissions is not None:
                role_ids.append(self.add_role(g, f"{username} role", permissions).id)
            g.members[user.id] = FakeMember(user, g.id, roles=role_ids, joined_at=self.now_iso())
            self.observer.member_added(g, g.members[user.id])
        return user

    def member(self, user: FakeUser | str, guild: FakeGuild | str | None = None) -> FakeMember:
        """A user's membership of a guild (KeyError if not a member)."""
        return self.guild_of(guild).members[id_of(user)]

    def dm_channel(self, user: FakeUser | str) -> FakeChannel:
        """The bot's DM channel with ``user`` (created if needed)."""
        recipient = self.users[id_of(user)]
        channel = self.dm_channels.get(recipient.id)
        if channel is None:
            channel = FakeChannel(
                self.new_id(), "", type=ChannelType.DM, recipients=[recipient], bot_dm=True
            )
            self.dm_channels[recipient.id] = channel
            self.channel_messages[channel.id] = []
        return channel

    def user_dm(self, user: FakeUser | str, other: FakeUser | str) -> FakeChannel:
        """A DM between two users (the bot is not in it; only a user install reaches it)."""
        a, b = self.users[id_of(user)], self.users[id_of(other)]
        channel = FakeChannel(self.new_id(), "", type=ChannelType.DM, recipients=[a, b])
        self.private_channels[channel.id] = channel
        self.channel_messages[channel.id] = []
        return channel

    def group_dm(
        self, owner: FakeUser | str, *others: FakeUser | str, name: str = ""
    ) -> FakeChannel:
        """A group DM (type 3) owned by ``owner`` (bots cannot be in one)."""
        starter = self.users[id_of(owner)]
        recipients = [starter, *(self.users[id_of(o)] for o in others)]
        channel = FakeChannel(
            self.new_id(),
            name,
            type=ChannelType.GROUP_DM,
            recipients=recipients,
            owner_id=starter.id,
        )
        self.private_channels[channel.id] = channel
        self.channel_messages[channel.id] = []
        return channel

    def install_for_user(self, user: FakeUser | str) -> None:
        """``user`` installs the app to their account (USER_INSTALL): its global commands that
        allow user installs follow them to guilds without the bot and to their DMs."""
        self.user_installs.add(id_of(user))

    def guild_of(self, guild: FakeGuild | str | None) -> FakeGuild:
        """A guild by object or id (None: the main guild)."""
        if guild is None:
            return self.guild
        if isinstance(guild, FakeGuild):
            return guild
        return self.guilds[id_of(guild)]

    def get_channel(self, channel: FakeChannel | str | int) -> FakeChannel:
        """A guild or DM channel by id (KeyError if unknown)."""
        if isinstance(channel, FakeChannel):
            return channel
        cid = id_of(channel)
        for guild in self.guilds.values():
            if cid in guild.channels:
                return guild.channels[cid]
        for dm in self.dm_channels.values():
            if dm.id == cid:
                return dm
        if cid in self.private_channels:
            return self.private_channels[cid]
        raise KeyError(cid)

    # ------------------------------------------------------------------ permissions

    def permissions_for(self, user: FakeUser | str, channel: FakeChannel | str) -> int:
        """The user's permissions in the channel, computed as Discord does (overwrites, threads,
        DMs; see :mod:`.permissions`)."""
        return permissions.permissions_for(self, id_of(user), self.get_channel(channel))

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
            ch.overwrites.pop(id_of(target), None)
        else:
            ch.overwrites[id_of(target)] = Overwrite(kind, int(allow), int(deny))
        self.observer.channel_updated(ch)
        self.changed()

    def deny_send(self, channel: FakeChannel | str, user: FakeUser | str | None = None) -> None:
        """Revoke Send Messages in a channel (for the bot by default): sends then get 403 50013."""
        ch = self.get_channel(channel)
        target = id_of(user) if user is not None else self.bot_user.id
        ow = ch.overwrites.get(target, Overwrite(1))
        self.set_overwrite(
            ch, target, allow=ow.allow & ~Perm.SEND_MESSAGES, deny=ow.deny | Perm.SEND_MESSAGES
        )

    def allow_send(self, channel: FakeChannel | str, user: FakeUser | str | None = None) -> None:
        """Undo :meth:`deny_send`."""
        ch = self.get_channel(channel)
        target = id_of(user) if user is not None else self.bot_user.id
        ow = ch.overwrites.get(target, Overwrite(1))
        self.set_overwrite(ch, target, allow=ow.allow, deny=ow.deny & ~Perm.SEND_MESSAGES)

    # ------------------------------------------------------------------ messages and commands

    def store(self, message: FakeMessage) -> None:
        """Keep a new message (its channel's last message unless ephemeral)."""
        self.messages_by_id[message.id] = message
        self.channel_messages.setdefault(message.channel_id, []).append(message.id)
        if not message.ephemeral:
            channel = self.get_channel(message.channel_id)
            channel.last_message_id = message.id
            channel.message_count += 1
        self.changed()

    def message(self, message_id: str | int) -> FakeMessage:
        """A message by id (deleted and ephemeral ones included; KeyError if unknown)."""
        return self.messages_by_id[str(message_id)]

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
            ids: list[str] = list(self.messages_by_id)
        else:
            ids = self.channel_messages.get(self.get_channel(channel or self.channel).id, [])
        found = [self.messages_by_id[i] for i in ids]
        return [
            m
            for m in found
            if (include_deleted or not m.deleted)
            and (ephemeral is None or m.ephemeral == ephemeral)
        ]

    def dms(self, user: FakeUser | str) -> list[FakeMessage]:
        """Messages in the bot's DM channel with ``user``."""
        channel = self.dm_channels.get(id_of(user))
        return [] if channel is None else self.messages(channel)

    def find_command(
        self, name: str, guild: FakeGuild | str | None = None, type: int = 1
    ) -> JSON | None:
        """A registered command, by name, in a guild's commands then the global ones."""
        scopes: list[str | None] = [None] if guild is None else [id_of(guild), None]
        for scope in scopes:
            for command in self.commands.get(scope, []):
                if command["name"] == name and command.get("type", 1) == type:
                    return command
        return None
