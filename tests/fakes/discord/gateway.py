"""The gateway: Discord's websocket, from HELLO to dispatches.

HELLO with the heartbeat interval, heartbeat ACKs, IDENTIFY (token, privileged intents and
shard checked, closes 4004 / 4014 / 4010 / 4011) answered with READY and a GUILD_CREATE per
guild of the shard, RESUME with replay of the dispatches the client missed (op 9 when the
session is gone), REQUEST_GUILD_MEMBERS answered with one chunk, and op 7 / op 9 / server-side
closes on demand. Each shard is its own session (:mod:`.shards`): a guild's dispatches go to
the shard that owns it, DMs to shard 0; they carry the session's sequence numbers, and those
sent while it is disconnected are kept for its RESUME.

As the state's :class:`~tests.fakes.discord.state.WorldObserver` it turns world changes into
dispatches, and :meth:`Gateway.message_event` sends message events the way the bot's intents
allow (MESSAGE_CONTENT decides whether it sees the content).
"""

from __future__ import annotations

import asyncio
import json
import secrets
from collections.abc import Callable, Coroutine
from dataclasses import dataclass, field
from typing import Any

from aiohttp import WSMsgType, web

from tests.fakes.discord.models import (
    JSON,
    PRIVILEGED_INTENTS,
    FakeChannel,
    FakeGuild,
    FakeMember,
    FakeMessage,
    FakeRole,
    Intent,
    Perm,
)
from tests.fakes.discord.shards import (
    Connection,
    Session,
    ShardRefused,
    guild_of,
    identify_shard,
    shard_of,
)
from tests.fakes.discord.state import DiscordState, WorldObserver


@dataclass
class GatewayFrame:
    """A gateway frame, ``direction`` "send" (fake -> bot) or "recv" (bot -> fake)."""

    direction: str
    op: int
    t: str | None
    s: int | None
    d: Any = field(repr=False)
    #: the shard of the session the frame went to or came from (None: not identified yet)
    shard: int | None = None


@dataclass
class Resume:
    """A RESUME the fake accepted: the client's last seq and the events it replayed."""

    seq: int
    replayed: list[str]


class Gateway(WorldObserver):
    """The websocket endpoint at ``/gateway`` and the bot's sessions, one per shard."""

    heartbeat_interval_ms: int = 41250
    ack_heartbeats: bool = True
    #: the shards the bot needs (``/gateway/bot``'s ``shards``): above 1, an IDENTIFY must
    #: name one of at least this many
    shard_count: int = 1

    def __init__(self, state: DiscordState, *, allowed_privileged_intents: int) -> None:
        """Serve ``state``'s world; IDENTIFY may ask for ``allowed_privileged_intents``."""
        self.state = state
        self.allowed_privileged_intents = allowed_privileged_intents
        self.gateway_frames: list[GatewayFrame] = []
        self.identifies: list[JSON] = []
        self.resumes: list[Resume] = []
        self.heartbeats = 0
        self.connections = 0
        #: the sessions by shard id (0 alone when the bot does not shard)
        self.sessions: dict[int, Session] = {}
        #: the shard count the bot identified with
        self.num_shards = 1
        self.intents = 0
        self._pending: list[tuple[str, JSON]] = []
        self._all_connections: set[Connection] = set()
        self._gateway_lock = asyncio.Lock()
        self._gateway_open = asyncio.Event()
        self._gateway_open.set()
        self._closing = False
        self._joined_at = state.now_iso()
        self._background: set[asyncio.Task[Any]] = set()

    def add_routes(self, router: web.UrlDispatcher) -> None:
        """``/gateway`` (with or without the trailing slash discord.py may add)."""
        router.add_get("/gateway", self._gateway)
        router.add_get("/gateway/", self._gateway)

    async def close(self) -> None:
        """Close every connection (1001) and cancel queued dispatches."""
        self._closing = True
        self._gateway_open.set()
        for conn in list(self._all_connections):
            if not conn.ws.closed:
                await conn.ws.close(code=1001, message=b"fake discord shutting down")
        for task in list(self._background):
            task.cancel()
        await asyncio.gather(*self._background, return_exceptions=True)

    def _spawn(self, coro: Coroutine[Any, Any, Any]) -> None:
        task = asyncio.get_running_loop().create_task(coro)
        self._background.add(task)
        task.add_done_callback(self._background.discard)

    @property
    def session_id(self) -> str | None:
        """Shard 0's session id (the bot's one session when it does not shard)."""
        session = self.sessions.get(0)
        return session.session_id if session is not None else None

    @property
    def connected(self) -> bool:
        """A gateway connection is open and identified or resumed, for every session."""
        return bool(self.sessions) and all(s.connected for s in self.sessions.values())

    def session(self, shard: int | None = None) -> Session:
        """The session of ``shard`` (default: shard 0, or the only one); RuntimeError if none."""
        if shard is None and len(self.sessions) == 1:
            return next(iter(self.sessions.values()))
        session = self.sessions.get(shard or 0)
        if session is None:
            raise RuntimeError(f"no gateway session for shard {shard or 0}")
        return session

    @property
    def identify_count(self) -> int:
        """How many IDENTIFYs the fake accepted."""
        return len(self.identifies)

    @property
    def resume_count(self) -> int:
        """How many RESUMEs the fake accepted."""
        return len(self.resumes)

    # ------------------------------------------------------------------ the protocol

    async def _gateway(self, request: web.Request) -> web.StreamResponse:
        ws = web.WebSocketResponse(timeout=2.0, max_msg_size=16 * 1024 * 1024)
        await ws.prepare(request)
        conn = Connection(ws, dict(request.query))
        self._all_connections.add(conn)
        self.connections += 1
        self.state.changed()
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
                    self.state.changed()
                elif msg.type is WSMsgType.ERROR:
                    break
        finally:
            self._all_connections.discard(conn)
            for session in self.sessions.values():
                if session.active is conn:
                    session.active = None
            self.state.changed()
        return ws

    async def _send(self, conn: Connection, frame: JSON, shard: int | None = None) -> bool:
        if conn.ws.closed:
            return False
        try:
            await conn.ws.send_str(json.dumps(frame))
        except (ConnectionError, RuntimeError):
            return False
        self.gateway_frames.append(
            GatewayFrame("send", frame["op"], frame.get("t"), frame.get("s"), frame.get("d"), shard)
        )
        return True

    async def _on_gateway_frame(self, conn: Connection, frame: JSON) -> None:
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

    async def _identify(self, conn: Connection, data: JSON) -> None:
        if data.get("token") != self.state.token:
            await conn.ws.close(code=4004, message=b"Authentication failed.")
            return
        intents = int(data.get("intents", 0))
        if intents & PRIVILEGED_INTENTS & ~self.allowed_privileged_intents:
            await conn.ws.close(code=4014, message=b"Disallowed intent(s).")
            return
        try:
            shard_id, num_shards = identify_shard(data, self.shard_count)
        except ShardRefused as refused:
            await conn.ws.close(code=refused.code, message=refused.reason.encode())
            return
        async with self._gateway_lock:
            self.identifies.append(data)
            self.intents = intents
            self.num_shards = num_shards
            session = Session(shard_id, num_shards, secrets.token_hex(16), active=conn)
            self.sessions[shard_id] = session
            guilds = [
                g
                for g in self.state.guilds.values()
                if self.state.bot_user.id in g.members and shard_of(g.id, num_shards) == shard_id
            ]
            ready: JSON = {
                "v": 10,
                "user": {
                    **self.state.bot_user.payload(),
                    "verified": True,
                    "mfa_enabled": False,
                    "flags": 0,
                },
                "guilds": [{"id": g.id, "unavailable": True} for g in guilds],
                "session_id": session.session_id,
                "session_type": "normal",
                "resume_gateway_url": self.state.gateway_url,
                "application": {"id": self.state.application_id, "flags": 0},
                "private_channels": [],
                "relationships": [],
                "user_settings": {},
                "geo_ordered_rtc_regions": [],
                "guild_join_requests": [],
            }
            if "shard" in data:
                ready["shard"] = data["shard"]
            await self._dispatch_locked(session, "READY", ready)
            for guild in guilds:
                await self._dispatch_locked(
                    session, "GUILD_CREATE", self.guild_create_payload(guild)
                )

    async def _resume(self, conn: Connection, data: JSON) -> None:
        if data.get("token") != self.state.token:
            await conn.ws.close(code=4004, message=b"Authentication failed.")
            return
        async with self._gateway_lock:
            seq = int(data.get("seq") or 0)
            session = next(
                (s for s in self.sessions.values() if s.session_id == data.get("session_id")),
                None,
            )
            if session is None or seq > session.seq:
                await self._send(conn, {"op": 9, "d": False, "s": None, "t": None})
                return
            session.active = conn
            missed = [frame for frame in session.events if frame["s"] > seq]
            for frame in missed:
                await self._send(conn, frame, session.shard_id)
            session.seq += 1
            resumed = {"op": 0, "t": "RESUMED", "s": session.seq, "d": {}}
            await self._send(conn, resumed, session.shard_id)
            self.resumes.append(Resume(seq, [frame["t"] for frame in missed]))

    async def _request_members(self, conn: Connection, data: JSON) -> None:
        guild = self.state.guilds.get(str(data.get("guild_id")))
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

    def guild_create_payload(self, guild: FakeGuild) -> JSON:
        """GUILD_CREATE: the members the intents allow, the active threads the bot can see."""
        if self.intents & Intent.GUILD_MEMBERS:
            members = list(guild.members.values())
        else:
            members = [guild.members[self.state.bot_user.id]]
        threads = [
            c
            for c in guild.channels.values()
            if c.is_thread
            and not c.archived
            and self.state.permissions_for(self.state.bot_user, c) & Perm.VIEW_CHANNEL
        ]
        return guild.payload(members=members, joined_at=self._joined_at, threads=threads)

    async def _dispatch_locked(self, session: Session, event: str, data: JSON) -> int:
        session.seq += 1
        frame: JSON = {"op": 0, "t": event, "s": session.seq, "d": data}
        session.events.append(frame)
        if session.active is not None:
            await self._send(session.active, frame, session.shard_id)
        return session.seq

    def route(self, event: str, data: JSON) -> Session | None:
        """The session that receives the event: the shard owning its guild (DMs: shard 0)."""
        return self.sessions.get(shard_of(guild_of(event, data), self.num_shards))

    async def dispatch(self, event: str, data: JSON) -> int:
        """Send a dispatch (op 0) event to the shard it belongs to; return its seq there.

        Events dispatched while that shard is disconnected are buffered and replayed on its
        RESUME. RuntimeError if that shard never identified (no session to deliver to).
        """
        async with self._gateway_lock:
            session = self.route(event, data)
            if session is None:
                shard = shard_of(guild_of(event, data), self.num_shards)
                raise RuntimeError(
                    f"cannot dispatch {event}: no gateway session for shard {shard} "
                    "(bot not connected)"
                )
            await self._flush_pending_locked()
            seq = await self._dispatch_locked(session, event, data)
        self.state.changed()
        return seq

    def _dispatch_soon(self, event: str, build: Callable[[], JSON]) -> None:
        """Queue a dispatch from synchronous code (if a session exists).

        Queued events go out in order, before any later :meth:`dispatch`.
        """
        if not self.sessions:
            return
        self._pending.append((event, build()))
        self._spawn(self._flush_pending())

    async def _flush_pending(self) -> None:
        async with self._gateway_lock:
            await self._flush_pending_locked()
        self.state.changed()

    async def _flush_pending_locked(self) -> None:
        while self._pending:
            event, data = self._pending.pop(0)
            session = self.route(event, data)
            if session is not None:
                await self._dispatch_locked(session, event, data)

    def _open(self, shard: int | None) -> tuple[Session, Connection]:
        session = self.session(shard)
        if session.active is None:
            raise RuntimeError("no active gateway connection")
        return session, session.active

    async def disconnect(
        self, code: int = 4000, *, invalidate_session: bool = False, shard: int | None = None
    ) -> None:
        """Close a shard's gateway socket from the server side (4000: the client RESUMEs).

        ``invalidate_session`` drops the session so a RESUME gets op 9 and the bot identifies.
        """
        session, conn = self._open(shard)
        session.active = None
        if invalidate_session:
            del self.sessions[session.shard_id]
        await conn.ws.close(code=code, message=b"closed by fake discord")
        self.state.changed()

    async def send_reconnect(self, shard: int | None = None) -> None:
        """Send op 7 RECONNECT: the client closes and RESUMEs."""
        session, conn = self._open(shard)
        await self._send(conn, {"op": 7, "d": None, "s": None, "t": None}, session.shard_id)

    async def send_invalid_session(self, resumable: bool = False, shard: int | None = None) -> None:
        """Send op 9 INVALID_SESSION; not resumable -> the client identifies again."""
        session, conn = self._open(shard)
        if not resumable:
            del self.sessions[session.shard_id]
        frame = {"op": 9, "d": resumable, "s": None, "t": None}
        await self._send(conn, frame, session.shard_id)

    def pause_gateway(self) -> None:
        """Hold new gateway connections before HELLO (so dispatches pile up for replay)."""
        self._gateway_open.clear()

    def resume_gateway(self) -> None:
        """Let held gateway connections proceed."""
        self._gateway_open.set()

    async def wait_identified(self, count: int = 1, timeout: float = 5.0) -> None:
        """Wait until the bot has identified ``count`` times in total."""
        await self.state.wait_for(
            lambda: self.identify_count >= count and self.connected,
            timeout=timeout,
            what=f"IDENTIFY #{count}",
        )

    async def wait_resumed(self, count: int = 1, timeout: float = 5.0) -> Resume:
        """Wait until the bot has resumed ``count`` times in total; return the latest resume."""
        await self.state.wait_for(
            lambda: self.resume_count >= count and self.connected,
            timeout=timeout,
            what=f"RESUME #{count}",
        )
        return self.resumes[-1]

    # ------------------------------------------------------------------ world changes

    def guild_joined(self, guild: FakeGuild) -> None:
        """GUILD_CREATE, with the members the bot's intents let it see."""
        self._dispatch_soon("GUILD_CREATE", lambda: self.guild_create_payload(guild))

    def channel_created(self, channel: FakeChannel) -> None:
        """CHANNEL_CREATE."""
        self._dispatch_soon("CHANNEL_CREATE", channel.payload)

    def channel_updated(self, channel: FakeChannel) -> None:
        """CHANNEL_UPDATE."""
        self._dispatch_soon("CHANNEL_UPDATE", channel.payload)

    def guild_updated(self, guild: FakeGuild) -> None:
        """GUILD_UPDATE: the guild's own fields (no members, channels or threads)."""

        def build() -> JSON:
            data = self.guild_create_payload(guild)
            for key in ("members", "channels", "threads", "presences", "voice_states"):
                data.pop(key, None)
            return data

        self._dispatch_soon("GUILD_UPDATE", build)

    def thread_created(self, thread: FakeChannel) -> None:
        """THREAD_CREATE."""
        self._dispatch_soon("THREAD_CREATE", lambda: {**thread.payload(), "newly_created": True})

    def thread_updated(self, thread: FakeChannel) -> None:
        """THREAD_UPDATE."""
        self._dispatch_soon("THREAD_UPDATE", thread.payload)

    def role_created(self, guild: FakeGuild, role: FakeRole) -> None:
        """GUILD_ROLE_CREATE."""
        self._dispatch_soon(
            "GUILD_ROLE_CREATE", lambda: {"guild_id": guild.id, "role": role.payload()}
        )

    def member_added(self, guild: FakeGuild, member: FakeMember) -> None:
        """GUILD_MEMBER_ADD, only with the GUILD_MEMBERS intent."""
        if self.intents & Intent.GUILD_MEMBERS:
            self._dispatch_soon(
                "GUILD_MEMBER_ADD", lambda: {**member.payload(), "guild_id": guild.id}
            )

    # ------------------------------------------------------------------ message events

    async def message_event(self, event: str, message: FakeMessage) -> None:
        """MESSAGE_CREATE/UPDATE/DELETE for a non-ephemeral message, as the intents allow.

        Without MESSAGE_CONTENT the bot gets content, embeds, attachments and components only
        for its own messages, messages mentioning it, and DMs.
        """
        if message.ephemeral or not self.sessions:
            return
        channel = self.state.get_channel(message.channel_id)
        if channel.is_private and not channel.bot_dm:
            return  # a group DM or a DM between users: the bot is not there
        needed = Intent.DIRECT_MESSAGES if channel.is_dm else Intent.GUILD_MESSAGES
        if not self.intents & needed:
            return
        if self.route(event, {"guild_id": message.guild_id}) is None:
            return  # the shard that would receive it is not connected
        if event == "MESSAGE_DELETE":
            data: JSON = {"id": message.id, "channel_id": message.channel_id}
            if message.guild_id:
                data["guild_id"] = message.guild_id
            await self.dispatch(event, data)
            return
        data = message.payload()
        if message.guild_id:
            member = self.state.guilds[message.guild_id].members.get(message.author.id)
            if member is not None:
                data["member"] = member.payload(with_user=False)
        own = message.author.id == self.state.bot_user.id
        mentioned = any(u.id == self.state.bot_user.id for u in message.mention_users)
        if not (self.intents & Intent.MESSAGE_CONTENT or own or mentioned or channel.is_dm):
            data.update(content="", embeds=[], attachments=[], components=[])
        await self.dispatch(event, data)
