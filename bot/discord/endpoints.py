"""Pointing discord.py at a Discord-compatible server (``DISCORD_API_BASE``), such as a test
double, instead of discord.com.

discord.py reads its REST base and its default gateway from two class attributes
(``discord.http.Route.BASE``, read whenever a request is built, webhooks included, and
``discord.gateway.DiscordWebSocket.DEFAULT_GATEWAY``); it has no per-client setting, so this
module is the one place that sets them.
"""

from __future__ import annotations

import discord.gateway
import discord.http
import httpx
import yarl

from bot.discord.client import DiscordUnreachableError, LoginRefusedError

DISCORD_API = "https://discord.com/api/v10"


async def gateway_url(api_base: str, token: str) -> str:
    """The gateway URL the server names for bots (``GET {api_base}/gateway/bot``).

    :class:`LoginRefusedError` when the token is refused (401), and
    :class:`DiscordUnreachableError` when the server cannot be reached or gives no URL.
    """
    base = api_base.rstrip("/")
    try:
        async with httpx.AsyncClient(timeout=10) as client:
            response = await client.get(
                f"{base}/gateway/bot", headers={"Authorization": f"Bot {token}"}
            )
    except httpx.HTTPError as exc:
        raise DiscordUnreachableError(base, str(exc) or type(exc).__name__) from exc
    if response.status_code == 401:
        raise LoginRefusedError("401 Unauthorized from GET /gateway/bot")
    try:
        response.raise_for_status()
        return str(response.json()["url"])
    except (httpx.HTTPStatusError, ValueError, KeyError, TypeError) as exc:
        reason = f"HTTP {response.status_code} from GET /gateway/bot without a gateway URL"
        raise DiscordUnreachableError(base, reason) from exc


async def use_endpoints(api_base: str | None, gateway: str | None, token: str) -> None:
    """Send discord.py's REST calls to ``api_base`` and open its gateway at ``gateway`` (or
    where ``api_base`` says). Nothing changes when ``api_base`` is None (discord.com)."""
    if not api_base:
        return
    discord.http.Route.BASE = api_base.rstrip("/")
    discord.gateway.DiscordWebSocket.DEFAULT_GATEWAY = yarl.URL(
        gateway or await gateway_url(api_base, token)
    )
