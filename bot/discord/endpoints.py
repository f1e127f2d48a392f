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

DISCORD_API = "https://discord.com/api/v10"


async def gateway_url(api_base: str, token: str) -> str:
    """The gateway URL the server names for bots (``GET {api_base}/gateway/bot``)."""
    async with httpx.AsyncClient(timeout=10) as client:
        response = await client.get(
            f"{api_base.rstrip('/')}/gateway/bot", headers={"Authorization": f"Bot {token}"}
        )
        response.raise_for_status()
        return str(response.json()["url"])


async def use_endpoints(api_base: str | None, gateway: str | None, token: str) -> None:
    """Send discord.py's REST calls to ``api_base`` and open its gateway at ``gateway`` (or
    where ``api_base`` says). Nothing changes when ``api_base`` is None (discord.com)."""
    if not api_base:
        return
    discord.http.Route.BASE = api_base.rstrip("/")
    discord.gateway.DiscordWebSocket.DEFAULT_GATEWAY = yarl.URL(
        gateway or await gateway_url(api_base, token)
    )
