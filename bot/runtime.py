"""The composition root: settings → storage → providers → engine → receiver → Discord bot."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import signal
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import discord
import discord.gateway
import discord.http
import httpx
import yarl
from aiohttp import web

from bot.client import BananaBot
from bot.cogs.buttons import cancel_view, result_view
from bot.jobs.engine import JobEngine
from bot.media.fetch import ImageFetcher
from bot.posting import DiscordDelivery
from bot.settings import Settings
from bot.starter import JobStarter
from bot.storage.db import Database
from bot.storage.migrate import migrate
from bot.web.app import start_receiver
from providers.base import Provider, ProviderSettings
from providers.registry import build_providers

log = logging.getLogger(__name__)

SHUTDOWN_GRACE = 8.0  # seconds for in-flight work; `docker stop` kills after 10


async def point_at_discord(settings: Settings) -> None:
    """Use ``DISCORD_API_BASE`` (and its gateway) when set: Discord-compatible servers, tests."""
    base = settings.discord_api_base
    if not base:
        return
    discord.http.Route.BASE = base.rstrip("/")
    gateway = settings.discord_gateway_url
    if not gateway:
        token = settings.discord_token.get_secret_value() if settings.discord_token else ""
        async with httpx.AsyncClient(timeout=10) as client:
            response = await client.get(
                f"{base.rstrip('/')}/gateway/bot", headers={"Authorization": f"Bot {token}"}
            )
            response.raise_for_status()
            gateway = str(response.json()["url"])
    discord.gateway.DiscordWebSocket.DEFAULT_GATEWAY = yarl.URL(gateway)


@dataclass
class Runtime:
    """Everything the running bot owns, built once and closed in reverse."""

    settings: Settings
    db: Database
    providers: dict[str, Provider]
    http: httpx.AsyncClient
    bot: BananaBot
    engine: JobEngine
    delivery: DiscordDelivery
    receiver: web.AppRunner | None = None
    receiver_port: int | None = None
    unconfigured: dict[str, str] = field(default_factory=dict)

    async def stop_bot(self) -> None:
        """Stop taking work, let in-flight work finish (a few seconds), then disconnect.

        The engine goes first: its deliveries still need the bot's HTTP session.
        """
        await self.engine.stop(grace=SHUTDOWN_GRACE)
        await self.delivery.close()
        if not self.bot.is_closed():
            await self.bot.close()

    async def close(self) -> None:
        """Stop everything and close connections (safe to call after :meth:`stop_bot`)."""
        await self.stop_bot()
        if self.receiver is not None:
            await self.receiver.cleanup()
        for provider in self.providers.values():
            await provider.aclose()
        await self.http.aclose()
        await self.db.close()


async def build_runtime(
    settings: Settings,
    provider_settings: Mapping[str, ProviderSettings],
    *,
    receiver: bool = True,
    **client_options: Any,
) -> Runtime:
    """Build every part once (migrations applied); the bot is not started yet."""
    db = await Database.open(settings.bananabot_db)
    await migrate(db)
    providers, unconfigured = build_providers(provider_settings)
    for name, reason in unconfigured.items():
        log.info("provider %s not available: %s", name, reason)
    # no proxy from the environment: the SSRF guard must see the real peer address
    http = httpx.AsyncClient(timeout=httpx.Timeout(60.0, connect=10.0), trust_env=False)
    bot = BananaBot(db, **client_options)
    delivery = DiscordDelivery(bot, result_view, cancel_view)
    engine = JobEngine(
        db,
        providers,
        delivery,
        ImageFetcher(http, allow_private=settings.fetch_allow_private),
        allowance=settings.quota_daily_credits,
        config=settings.engine_config(),
    )
    delivery.quota = engine.quota
    bot.engine = engine
    bot.starter = JobStarter(engine, providers, settings.default_provider)
    runtime = Runtime(
        settings, db, providers, http, bot, engine, delivery, unconfigured=unconfigured
    )
    if receiver:
        runtime.receiver, runtime.receiver_port = await start_receiver(
            engine, settings.callback_host, settings.callback_port
        )
    return runtime


async def run_bot(settings: Settings, provider_settings: Mapping[str, ProviderSettings]) -> int:
    """Run until interrupted."""
    assert settings.discord_token is not None
    await point_at_discord(settings)
    runtime = await build_runtime(settings, provider_settings)
    loop = asyncio.get_running_loop()
    stopping: set[asyncio.Task[None]] = set()
    for signum in (signal.SIGTERM, signal.SIGINT):  # docker stop, Ctrl-C: shut down cleanly
        with contextlib.suppress(NotImplementedError, RuntimeError):
            loop.add_signal_handler(
                signum, lambda: stopping.add(loop.create_task(runtime.stop_bot()))
            )
    try:
        await runtime.bot.start(settings.discord_token.get_secret_value())
    except discord.LoginFailure:
        log.error("Discord refused the token: check DISCORD_TOKEN")
        return 1
    finally:
        await runtime.close()
    return 0
