"""Gateway sharding as Discord does it: which shard a session is, and which shard an event
goes to.

A session IDENTIFYs with ``shard: [shard_id, num_shards]``. Discord closes the socket with
4010 (Invalid shard) when the pair is not one (``0 <= shard_id < num_shards``), and with 4011
(Sharding required) when the bot needs more shards than the session says (no ``shard`` at all
counts as one). A guild's events, and interactions in it, go only to the shard that owns it,
``(guild_id >> 22) % num_shards``; DMs go to shard 0 (Discord's developer documentation,
"Gateway", "Sharding").
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from aiohttp import web

JSON = dict[str, Any]

INVALID_SHARD = 4010
SHARDING_REQUIRED = 4011


class ShardRefused(Exception):
    """An IDENTIFY's ``shard`` that Discord refuses: close with ``code`` and ``reason``."""

    def __init__(self, code: int, reason: str) -> None:
        super().__init__(reason)
        self.code = code
        self.reason = reason


def identify_shard(data: JSON, required: int) -> tuple[int, int]:
    """``(shard_id, num_shards)`` of an IDENTIFY, for a bot that needs ``required`` shards;
    :class:`ShardRefused` when Discord would close the socket instead."""
    shard = data.get("shard")
    if shard is None:
        if required > 1:
            raise ShardRefused(SHARDING_REQUIRED, "Sharding required.")
        return 0, 1
    if (
        not isinstance(shard, list)
        or len(shard) != 2
        or not all(isinstance(n, int) and not isinstance(n, bool) for n in shard)
        or not 0 <= shard[0] < shard[1]
    ):
        raise ShardRefused(INVALID_SHARD, "Invalid shard.")
    if shard[1] < required:
        raise ShardRefused(SHARDING_REQUIRED, "Sharding required.")
    return int(shard[0]), int(shard[1])


def shard_of(guild_id: str | int | None, num_shards: int) -> int:
    """The shard that receives a guild's events (DMs, no guild: shard 0)."""
    if guild_id is None:
        return 0
    return (int(guild_id) >> 22) % max(num_shards, 1)


def guild_of(event: str, data: JSON) -> str | None:
    """The guild a dispatch is about (its ``id`` for the guild's own events), or None."""
    if event in ("GUILD_CREATE", "GUILD_UPDATE", "GUILD_DELETE"):
        return str(data["id"])
    guild = data.get("guild_id")
    return None if guild is None else str(guild)


@dataclass(eq=False)
class Connection:
    """One websocket to the gateway, and the query it was opened with."""

    ws: web.WebSocketResponse
    query: dict[str, str]


@dataclass(eq=False)
class Session:
    """One shard's gateway session: its sequence numbers, its dispatches (kept for a RESUME)
    and its open connection, if any."""

    shard_id: int
    num_shards: int
    session_id: str
    seq: int = 0
    events: list[JSON] = field(default_factory=list)
    active: Connection | None = None

    @property
    def connected(self) -> bool:
        """Its connection is open."""
        return self.active is not None and not self.active.ws.closed
