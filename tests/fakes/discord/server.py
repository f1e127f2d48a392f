"""``FakeDiscord``: the gateway, REST API and CDN on one aiohttp server, and the test API.

It composes the parts: one :class:`~tests.fakes.discord.state.DiscordState` (the world, the
clock) shared by the :class:`~tests.fakes.discord.gateway.Gateway`, the
:class:`~tests.fakes.discord.rest.RestApi` (posting through a
:class:`~tests.fakes.discord.messages.MessageWriter`) and the
:class:`~tests.fakes.discord.cdn.Cdn`. The public test API is here: starting and stopping,
building the world, users' actions (slash commands, clicks, modals come from
:class:`~tests.fakes.discord.interactions.InteractionDriver`), gateway controls, waiting and
inspection. Most of it forwards to the part that owns it; the tables below say which.

:func:`point_discord_py_at` points discord.py's process-global URLs at a running fake.
"""

from __future__ import annotations

import functools
from collections import Counter
from collections.abc import Callable, Sequence
from typing import Any, Concatenate, Generic, ParamSpec, TypeVar, overload

import discord.asset
import discord.gateway
import discord.http
import yarl
from aiohttp import web

from tests.fakes.discord.cdn import AttachmentSpec, Cdn
from tests.fakes.discord.clock import Clock, SystemClock
from tests.fakes.discord.gateway import Gateway, GatewayFrame, Resume
from tests.fakes.discord.interactions import Callback, FakeInteraction, InteractionDriver
from tests.fakes.discord.messages import MessageWriter, number_components
from tests.fakes.discord.models import (
    DEFAULT_ATTACHMENT_SIZE_LIMIT,
    DEFAULT_BOT_PERMISSIONS,
    DEFAULT_EVERYONE_PERMISSIONS,
    JSON,
    PRIVILEGED_INTENTS,
    FakeChannel,
    FakeGuild,
    FakeMessage,
    FakeUser,
    IntegrationType,
    id_of,
)
from tests.fakes.discord.ratelimits import RateLimitConfig
from tests.fakes.discord.rest import CommandSync, RestApi, RestRequest
from tests.fakes.discord.shards import Session, shard_of
from tests.fakes.discord.state import DiscordState

_P = ParamSpec("_P")
_R = TypeVar("_R")
_T = TypeVar("_T")


class _Forwarded(Generic[_T]):
    """An attribute of ``FakeDiscord`` that lives on one of its parts (read and written there)."""

    def __init__(self, part: str) -> None:
        self.part = part
        self.name = ""

    def __set_name__(self, owner: type, name: str) -> None:
        self.name = name

    @overload
    def __get__(self, obj: None, objtype: type | None = None) -> _Forwarded[_T]: ...
    @overload
    def __get__(self, obj: object, objtype: type | None = None) -> _T: ...
    def __get__(self, obj: object | None, objtype: type | None = None) -> _Forwarded[_T] | _T:
        if obj is None:
            return self
        value: _T = getattr(getattr(obj, self.part), self.name)
        return value

    def __set__(self, obj: object, value: _T) -> None:
        setattr(getattr(obj, self.part), self.name, value)


def _forward(
    part: str, method: Callable[Concatenate[Any, _P], _R]
) -> Callable[Concatenate[Any, _P], _R]:
    """A ``FakeDiscord`` method that calls ``method`` on its part ``part`` (same signature)."""

    @functools.wraps(method)
    def forwarded(self: Any, /, *args: _P.args, **kwargs: _P.kwargs) -> _R:
        return method(getattr(self, part), *args, **kwargs)

    return forwarded


class FakeDiscord(InteractionDriver):
    """One aiohttp server on 127.0.0.1 that is Discord's gateway, REST API and CDN.

    ``async with FakeDiscord() as fake:`` starts it on a free port. It comes with one
    application/bot user, an owner, a guild (:attr:`guild`) with a text channel
    (:attr:`channel`); add more with :meth:`add_guild`, :meth:`add_channel`, :meth:`add_user`.
    """

    # ------------------------------------------------------------------ attributes of the parts
    # Each lives on the part named; reading or setting it here reads or sets it there.

    token: _Forwarded[str] = _Forwarded("state")
    application_id: _Forwarded[str] = _Forwarded("state")
    bot_user: _Forwarded[FakeUser] = _Forwarded("state")
    owner: _Forwarded[FakeUser] = _Forwarded("state")
    users: _Forwarded[dict[str, FakeUser]] = _Forwarded("state")
    guilds: _Forwarded[dict[str, FakeGuild]] = _Forwarded("state")
    dm_channels: _Forwarded[dict[str, FakeChannel]] = _Forwarded("state")  # by recipient id
    guild: _Forwarded[FakeGuild] = _Forwarded("state")
    channel: _Forwarded[FakeChannel] = _Forwarded("state")
    #: registered commands: ``None`` -> global, guild id -> that guild's
    commands: _Forwarded[dict[str | None, list[JSON]]] = _Forwarded("state")
    interactions: _Forwarded[dict[str, FakeInteraction]] = _Forwarded("state")
    #: (command name, user id) pairs a server admin allowed whatever the command's defaults
    command_overrides: _Forwarded[set[tuple[str, str]]] = _Forwarded("state")
    bot_permissions: _Forwarded[int] = _Forwarded("state")
    everyone_permissions: _Forwarded[int] = _Forwarded("state")
    attachment_size_limit: _Forwarded[int] = _Forwarded("state")
    strict_commands: _Forwarded[bool] = _Forwarded("state")
    #: refuse a first response after ``ack_deadline`` with 404 10062 (default True, as Discord;
    #: a test studying lateness sets it False and reads ``late_interactions()``)
    enforce_ack_deadline: _Forwarded[bool] = _Forwarded("state")
    ack_deadline: _Forwarded[float] = _Forwarded("state")
    token_lifetime: _Forwarded[float] = _Forwarded("state")
    #: the largest request that may carry a message (413 40005 above; 25 MiB)
    request_size_limit: _Forwarded[int] = _Forwarded("state")
    #: the per-file limit of the bot's own posts in DMs (10 MiB)
    dm_upload_limit: _Forwarded[int] = _Forwarded("state")
    #: installation contexts the application supports (0 guild, 1 user)
    integration_types: _Forwarded[set[int]] = _Forwarded("state")
    #: ids of users who installed the app to their account
    user_installs: _Forwarded[set[str]] = _Forwarded("state")
    #: group DMs and DMs between users, by id (the bot is not in them)
    private_channels: _Forwarded[dict[str, FakeChannel]] = _Forwarded("state")
    port: _Forwarded[int] = _Forwarded("state")

    requests: _Forwarded[list[RestRequest]] = _Forwarded("rest")
    #: every REST request so far per route template, e.g. ``PATCH
    #: /webhooks/{id}/{token}/messages/{id}`` (kept even with ``keep_requests`` off)
    route_counts: _Forwarded[Counter[str]] = _Forwarded("rest")
    #: False: requests are only counted, not kept in ``requests`` (long benchmarks)
    keep_requests: _Forwarded[bool] = _Forwarded("rest")
    callbacks: _Forwarded[list[Callback]] = _Forwarded("rest")
    command_syncs: _Forwarded[list[CommandSync]] = _Forwarded("rest")
    #: the rate limits in force (:class:`~.ratelimits.RateLimitConfig`; set its fields, or
    #: assign ``RateLimitConfig.off()``)
    rate_limits: _Forwarded[RateLimitConfig] = _Forwarded("rest")
    #: 401, 403 and 429 answers so far (Discord bans at 10,000 per 10 minutes)
    invalid_requests: _Forwarded[int] = _Forwarded("rest")

    gateway_frames: _Forwarded[list[GatewayFrame]] = _Forwarded("gateway")
    identifies: _Forwarded[list[JSON]] = _Forwarded("gateway")
    resumes: _Forwarded[list[Resume]] = _Forwarded("gateway")
    heartbeats: _Forwarded[int] = _Forwarded("gateway")
    connections: _Forwarded[int] = _Forwarded("gateway")
    session_id: _Forwarded[str | None] = _Forwarded("gateway")
    intents: _Forwarded[int] = _Forwarded("gateway")
    allowed_privileged_intents: _Forwarded[int] = _Forwarded("gateway")
    heartbeat_interval_ms: _Forwarded[int] = _Forwarded("gateway")
    #: the shards the bot needs: ``/gateway/bot`` recommends it, and above 1 an IDENTIFY
    #: must name a shard of at least as many (else 4011; a shard that is none: 4010)
    shard_count: _Forwarded[int] = _Forwarded("gateway")
    #: the gateway sessions by shard id, and the shard count the bot identified with
    sessions: _Forwarded[dict[int, Session]] = _Forwarded("gateway")
    num_shards: _Forwarded[int] = _Forwarded("gateway")
    ack_heartbeats: _Forwarded[bool] = _Forwarded("gateway")

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
        clock: Clock | None = None,
        rate_limits: RateLimitConfig | None = None,
        integration_types: tuple[int, ...] = (
            IntegrationType.GUILD_INSTALL,
            IntegrationType.USER_INSTALL,
        ),
        shard_count: int = 1,
    ) -> None:
        """Build the state; nothing listens until :meth:`start`.

        ``strict_commands``: interactions can only name commands the bot registered (as on
        Discord); with False, unknown commands are sent as global ones with inferred types.
        ``clock``: what the fake judges time by (the acknowledgement deadline, token lifetime,
        snowflakes, timestamps, CDN URL signatures); default :class:`SystemClock`, the event
        loop's clock and the wall clock. A :class:`~tests.fakes.discord.clock.ManualClock`
        lets a test step past a deadline instead of sleeping.
        ``rate_limits``: per-route and global limits (default: close to Discord's; see
        :class:`~tests.fakes.discord.ratelimits.RateLimitConfig`).
        ``attachment_size_limit``: users' per-file limit (an interaction's
        ``attachment_size_limit`` is the larger of it and the guild's boost limit).
        ``integration_types``: the installation contexts the app supports (default both).
        ``shard_count``: the shards the bot needs (see :attr:`shard_count`).
        """
        self.state = DiscordState(
            clock=clock if clock is not None else SystemClock(),
            token=token,
            application_id=application_id,
            bot_user_id=bot_user_id,
            bot_name=bot_name,
            owner_id=owner_id,
            guild_id=guild_id,
            guild_name=guild_name,
            channel_id=channel_id,
            channel_name=channel_name,
            bot_permissions=bot_permissions,
            everyone_permissions=everyone_permissions,
            attachment_size_limit=attachment_size_limit,
            strict_commands=strict_commands,
            integration_types=integration_types,
        )
        self.cdn = Cdn(self.state)
        self.gateway = Gateway(self.state, allowed_privileged_intents=allowed_privileged_intents)
        self.state.observer = self.gateway
        self.gateway.shard_count = shard_count
        self.message_writer = MessageWriter(self.state, self.cdn)
        self.rest = RestApi(self.state, self.gateway, self.message_writer, rate_limits)
        self._runner: web.AppRunner | None = None

        self.app = web.Application(
            client_max_size=256 * 1024 * 1024, middlewares=[self.rest.middleware]
        )
        self.gateway.add_routes(self.app.router)
        self.cdn.add_routes(self.app.router)
        self.rest.add_routes(self.app.router)

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
        await self.gateway.close()
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
        return self.state.base_url

    @property
    def api_base(self) -> str:
        """What ``discord.http.Route.BASE`` must be."""
        return self.state.api_base

    @property
    def gateway_url(self) -> str:
        """What ``DiscordWebSocket.DEFAULT_GATEWAY`` must be (also READY's resume URL)."""
        return self.state.gateway_url

    @property
    def asset_base(self) -> str:
        """What ``discord.Asset.BASE`` can be (avatars etc. answer a 1x1 PNG)."""
        return self.state.asset_base

    # ------------------------------------------------------------------ waiting

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
        return await self.state.wait_for(predicate, timeout, what)

    # ------------------------------------------------------------------ the world (DiscordState)

    add_guild = _forward("state", DiscordState.add_guild)
    set_premium_tier = _forward("state", DiscordState.set_premium_tier)
    add_channel = _forward("state", DiscordState.add_channel)
    add_thread = _forward("state", DiscordState.add_thread)
    set_thread = _forward("state", DiscordState.set_thread)
    user_dm = _forward("state", DiscordState.user_dm)
    group_dm = _forward("state", DiscordState.group_dm)
    install_for_user = _forward("state", DiscordState.install_for_user)
    add_role = _forward("state", DiscordState.add_role)
    add_user = _forward("state", DiscordState.add_user)
    member = _forward("state", DiscordState.member)
    dm_channel = _forward("state", DiscordState.dm_channel)
    get_channel = _forward("state", DiscordState.get_channel)
    permissions_for = _forward("state", DiscordState.permissions_for)
    set_overwrite = _forward("state", DiscordState.set_overwrite)
    deny_send = _forward("state", DiscordState.deny_send)
    allow_send = _forward("state", DiscordState.allow_send)

    # ------------------------------------------------------------------ inspection

    message = _forward("state", DiscordState.message)
    messages = _forward("state", DiscordState.messages)
    dms = _forward("state", DiscordState.dms)
    find_command = _forward("state", DiscordState.find_command)
    requests_to = _forward("rest", RestApi.requests_to)
    count = _forward("rest", RestApi.count)
    add_cdn_file = _forward("cdn", Cdn.add_file)

    @property
    def connected(self) -> bool:
        """A gateway connection is open and identified or resumed."""
        return self.gateway.connected

    def shard_of(self, guild: FakeGuild | str) -> int:
        """The shard that receives ``guild``'s events with the bot's shard count."""
        return shard_of(id_of(guild), self.gateway.num_shards)

    @property
    def identify_count(self) -> int:
        """How many IDENTIFYs the fake accepted."""
        return self.gateway.identify_count

    @property
    def resume_count(self) -> int:
        """How many RESUMEs the fake accepted."""
        return self.gateway.resume_count

    # ------------------------------------------------------------------ the gateway (Gateway)

    dispatch = _forward("gateway", Gateway.dispatch)
    disconnect = _forward("gateway", Gateway.disconnect)
    send_reconnect = _forward("gateway", Gateway.send_reconnect)
    send_invalid_session = _forward("gateway", Gateway.send_invalid_session)
    pause_gateway = _forward("gateway", Gateway.pause_gateway)
    resume_gateway = _forward("gateway", Gateway.resume_gateway)
    wait_identified = _forward("gateway", Gateway.wait_identified)
    wait_resumed = _forward("gateway", Gateway.wait_resumed)

    # ------------------------------------------------------------------ users' messages

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
        ch = self.state.get_channel(channel)
        user = self.state.users[id_of(author)]
        mid = self.state.new_id()
        uploaded = [self.cdn.upload_spec(f"attachments/{ch.id}", spec) for spec in attachments]
        message = FakeMessage(
            id=mid,
            channel_id=ch.id,
            guild_id=ch.guild_id,
            author=user,
            content=content,
            embeds=[dict(e) for e in embeds],
            attachments=uploaded,
            components=number_components(list(components)),
            flags=flags,
            timestamp=self.state.now_iso(),
        )
        self.state.store(message)
        self.message_writer.apply_mentions(message, webhook=False)
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
            ref = self.state.message(id_of(reply_to))
            message.type = 19
            message.referenced = ref
            message.message_reference = {
                "type": 0,
                "message_id": ref.id,
                "channel_id": ref.channel_id,
                "guild_id": ref.guild_id,
            }
            self.message_writer.apply_mentions(message, webhook=False)
        await self.gateway.message_event("MESSAGE_CREATE", message)
        return message


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
