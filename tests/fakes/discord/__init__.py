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
* Discord's rules that bots trip over, each with its source in the module that applies it:
  the 3 s acknowledgement window (enforced: 10062), "already acknowledged" (40060), expired
  tokens (50027), rate limits (429 with the bucket headers, per route and global), upload
  limits (per file: the interaction's ``attachment_size_limit`` or the guild's boost tier; per
  request: 25 MiB; 413 40005), permissions for posts and for interaction responses (50001,
  50013, embeds dropped without Embed Links), channel kinds (threads archived 50083 / locked
  160005, forums 40058, voice text chat, DMs, group DMs), installation and interaction
  contexts (``context``, ``authorizing_integration_owners``, a command's ``contexts`` and
  ``integration_types``), autocomplete and modal limits, embed/content/component limits
  (50035), empty messages (50006), the first follow-up after a defer filling the "thinking"
  placeholder, ``allowed_mentions``.

Point discord.py at it with :func:`point_discord_py_at`; drive it with :meth:`FakeDiscord.slash`,
:meth:`FakeDiscord.click`, :meth:`FakeDiscord.submit_modal`, ...; inspect ``fake.messages()``,
``fake.callbacks``, ``fake.requests`` (and ``fake.route_counts``: requests per route template),
``fake.commands``; wait with :meth:`FakeDiscord.wait_for`.
Time is the injected clock's (``FakeDiscord(clock=ManualClock())`` to step it by hand), except
rate-limit windows: clients wait those out with real sleeps, so they run on real time.

The package, one concern a module:

* :mod:`.models` - Discord's objects (users, roles, members, channels, guilds, attachments,
  messages) with their payloads, and its numbers (permission, intent and flag bits, limits);
* :mod:`.state` - the shared in-memory world: snowflakes, channels and threads, changes;
* :mod:`.permissions` - permissions as Discord computes them, ``app_permissions``;
* :mod:`.contexts` - interaction contexts and the installations that authorize a command;
* :mod:`.access` - who may post, edit and read where (permissions, channel kinds, threads);
* :mod:`.ratelimits` - per-route buckets, the global limit, their headers and 429s;
* :mod:`.clock` - the clock the fake judges time by;
* :mod:`.gateway` - the websocket gateway;
* :mod:`.shards` - gateway sharding: shard checks on IDENTIFY, guild-to-shard routing;
* :mod:`.rest` - the REST routes and Discord's checks on them;
* :mod:`.messages` - messages built and edited as Discord does (attachments, mentions);
* :mod:`.validation` - Discord's error format and its limits on request bodies;
* :mod:`.cdn` - attachment bytes served from signed URLs;
* :mod:`.interactions` - interactions users start, and what the bot did with them;
* :mod:`.server` - :class:`FakeDiscord`, composing it all, and :func:`point_discord_py_at`.
"""

from tests.fakes.discord.cdn import AttachmentSpec, Cdn
from tests.fakes.discord.clock import Clock, ManualClock, SystemClock
from tests.fakes.discord.contexts import Authorization
from tests.fakes.discord.gateway import Gateway, GatewayFrame, Resume
from tests.fakes.discord.interactions import (
    Callback,
    CallbackType,
    CommandUnavailable,
    FakeInteraction,
    InteractionDriver,
    InteractionType,
)
from tests.fakes.discord.messages import MessageWriter
from tests.fakes.discord.models import (
    ACK_DEADLINE,
    ALL_PERMISSIONS,
    API_PREFIX,
    DEFAULT_ATTACHMENT_SIZE_LIMIT,
    DEFAULT_BOT_PERMISSIONS,
    DEFAULT_EVERYONE_PERMISSIONS,
    DISCORD_EPOCH_MS,
    DM_PERMISSIONS,
    JSON,
    PREMIUM_TIER_UPLOAD_LIMITS,
    PRIVATE_CHANNEL_APP_PERMISSIONS,
    PRIVILEGED_INTENTS,
    REQUEST_SIZE_LIMIT,
    TOKEN_LIFETIME,
    USER_APP_GUILD_PERMISSIONS,
    ChannelType,
    FakeAttachment,
    FakeChannel,
    FakeGuild,
    FakeMember,
    FakeMessage,
    FakeRole,
    FakeUser,
    IntegrationType,
    Intent,
    InteractionContext,
    MessageFlag,
    OptionType,
    Overwrite,
    Perm,
    UploadedFile,
)
from tests.fakes.discord.ratelimits import RateLimit, RateLimitConfig
from tests.fakes.discord.rest import USER_INSTALL_FOLLOWUP_LIMIT, CommandSync, RestApi, RestRequest
from tests.fakes.discord.server import FakeDiscord, point_discord_py_at
from tests.fakes.discord.shards import Session, shard_of
from tests.fakes.discord.state import DiscordState, Snowflakes, WorldObserver
from tests.fakes.discord.validation import DiscordAPIError

__all__ = [
    "ACK_DEADLINE",
    "ALL_PERMISSIONS",
    "API_PREFIX",
    "DEFAULT_ATTACHMENT_SIZE_LIMIT",
    "DEFAULT_BOT_PERMISSIONS",
    "DEFAULT_EVERYONE_PERMISSIONS",
    "DISCORD_EPOCH_MS",
    "DM_PERMISSIONS",
    "JSON",
    "PREMIUM_TIER_UPLOAD_LIMITS",
    "PRIVATE_CHANNEL_APP_PERMISSIONS",
    "PRIVILEGED_INTENTS",
    "REQUEST_SIZE_LIMIT",
    "TOKEN_LIFETIME",
    "USER_APP_GUILD_PERMISSIONS",
    "USER_INSTALL_FOLLOWUP_LIMIT",
    "AttachmentSpec",
    "Authorization",
    "Callback",
    "CallbackType",
    "Cdn",
    "ChannelType",
    "Clock",
    "CommandSync",
    "CommandUnavailable",
    "DiscordAPIError",
    "DiscordState",
    "FakeAttachment",
    "FakeChannel",
    "FakeDiscord",
    "FakeGuild",
    "FakeInteraction",
    "FakeMember",
    "FakeMessage",
    "FakeRole",
    "FakeUser",
    "Gateway",
    "GatewayFrame",
    "IntegrationType",
    "Intent",
    "InteractionContext",
    "InteractionDriver",
    "InteractionType",
    "ManualClock",
    "MessageFlag",
    "MessageWriter",
    "OptionType",
    "Overwrite",
    "Perm",
    "RateLimit",
    "RateLimitConfig",
    "RestApi",
    "RestRequest",
    "Resume",
    "Session",
    "Snowflakes",
    "SystemClock",
    "UploadedFile",
    "WorldObserver",
    "point_discord_py_at",
    "shard_of",
]
