"""The composition root: settings → store → providers → engine → listeners → Discord bot.

Every part is built here once, in order, and handed what it uses through its constructor;
:meth:`Runtime.close` takes them down in reverse.
"""

from __future__ import annotations

import asyncio
import contextlib
import gc
import logging
import signal
import socket
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import httpx
from aiohttp import web

from bot.discord.client import BananaBot
from bot.discord.endpoints import use_endpoints
from bot.discord.intake import JobIntake
from bot.discord.rules import ServerRules
from bot.discord.services import Services
from bot.jobs.engine import JobEngine
from bot.jobs.metrics import Metrics
from bot.logs import active_scrubber, secret_values
from bot.media.fetch import ImageFetcher
from bot.media.references import ReferenceLoader
from bot.settings import Settings
from bot.storage.backend import AnyStore, open_store
from bot.web.app import start_receiver, start_status
from bot.web.lag import LagCollector, LagMonitor
from bot.web.sockets import listen
from providers import transport
from providers.base import Provider
from providers.catalog import Catalog
from providers.registry import build_providers
from providers.settings import ProviderSettings

log = logging.getLogger(__name__)

SHUTDOWN_GRACE = 8.0  # seconds for in-flight work; `docker stop` kills after 10


class ListenError(OSError):
    """A listening socket could not be bound; names the address and the settings that set it."""

    def __init__(self, host: str, port: int, settings: tuple[str, str], exc: OSError) -> None:
        super().__init__(exc.errno, exc.strerror)
        self.host, self.port, self.settings = host, port, settings


def bind(host: str, port: int, settings: tuple[str, str]) -> socket.socket:
    """:func:`bot.web.sockets.listen`, failing with a :class:`ListenError` naming ``settings``
    (the host and port variables, e.g. ``("CALLBACK_HOST", "CALLBACK_PORT")``)."""
    try:
        return listen(host, port)
    except OSError as exc:
        raise ListenError(host, port, settings, exc) from exc


@dataclass
class Runtime:
    """Everything the running bot owns, built once and closed in reverse."""

    settings: Settings
    store: AnyStore
    providers: dict[str, Provider]
    http: httpx.AsyncClient
    engine: JobEngine
    bot: BananaBot
    receiver: web.AppRunner | None = None
    receiver_port: int | None = None
    unconfigured: dict[str, str] = field(default_factory=dict)
    lag: LagMonitor = field(default_factory=LagMonitor)
    metrics: Metrics = field(default_factory=Metrics)
    #: the listener for /healthz and /metrics, and its port
    status: web.AppRunner | None = None
    metrics_port: int | None = None

    async def stop_bot(self) -> None:
        """Stop taking work, let in-flight work finish (a few seconds), then disconnect."""
        await self.bot.shut_down(grace=SHUTDOWN_GRACE)

    async def close(self) -> None:
        """Stop everything and close connections (safe to call after :meth:`stop_bot`)."""
        await self.stop_bot()
        await self.lag.stop()
        if self.receiver is not None:
            await self.receiver.cleanup()
        if self.status is not None:
            await self.status.cleanup()
        for provider in self.providers.values():
            await provider.aclose()
        await self.http.aclose()
        await self.store.close()


async def build_runtime(
    settings: Settings,
    provider_settings: Mapping[str, ProviderSettings],
    *,
    receiver: bool = True,
    listener: socket.socket | None = None,
    metrics_listener: socket.socket | None = None,
    **client_options: Any,
) -> Runtime:
    """Build every part once (migrations applied); the bot is not started yet.

    ``provider_settings``: each provider's own settings (see ``providers.registry``).
    ``receiver``: serve HTTP: ``/healthz`` and ``/metrics`` on ``metrics_listener`` (else a
    socket bound to ``METRICS_HOST:METRICS_PORT``) and, only when ``CALLBACK_PUBLIC_URL`` is
    set, the callback receiver on ``listener`` (else bound to ``CALLBACK_HOST:CALLBACK_PORT``).
    """
    scrubber = active_scrubber()  # the logs' own, so every text is masked alike
    scrubber.add(*secret_values(settings, *provider_settings.values()))
    if listener is not None and not settings.callback_public_url:
        raise ValueError("a callback listener was given but CALLBACK_PUBLIC_URL is not set")
    bound: list[socket.socket] = []  # what this call binds, closed again if a later step fails
    try:
        if receiver and listener is None and settings.callback_public_url:
            listener = bind(
                settings.callback_host, settings.callback_port, ("CALLBACK_HOST", "CALLBACK_PORT")
            )
            bound.append(listener)
        if receiver and metrics_listener is None:
            metrics_listener = bind(
                settings.metrics_host, settings.metrics_port, ("METRICS_HOST", "METRICS_PORT")
            )
            bound.append(metrics_listener)
        url = settings.database_url.get_secret_value() if settings.database_url else None
        store = await open_store(url, settings.bananabot_db)
    except BaseException:
        for sock in bound:
            sock.close()
        raise
    providers, unconfigured = build_providers(provider_settings)
    for name, reason in unconfigured.items():
        log.info("provider %s not available: %s", name, reason)
    # no proxy from the environment: the SSRF guard must see the real peer address
    http = transport.client(timeout=httpx.Timeout(60.0, connect=10.0), trust_env=False)
    fetcher = ImageFetcher(http, allow_private=settings.fetch_allow_private)
    metrics = Metrics()
    engine = JobEngine(
        store,
        providers,
        fetcher,
        config=settings.engine_config(),
        metrics=metrics,
        scrubber=scrubber,
    )
    intake = JobIntake(
        engine,
        Catalog(providers, settings.default_provider),
        ReferenceLoader(fetcher),
        ServerRules(store.guilds, engine.config.allowance),
    )
    if settings.shard_count is not None:  # else discord.py asks Discord how many
        client_options.setdefault("shard_count", settings.shard_count)
        client_options.setdefault("shard_ids", settings.shards())
    bot = BananaBot(Services(engine, intake, store.meta, store.guilds, metrics), **client_options)
    runtime = Runtime(
        settings, store, providers, http, engine, bot, unconfigured=unconfigured, metrics=metrics
    )
    metrics.registry.register(LagCollector(runtime.lag))
    runtime.lag.start()  # measured from here on, shown on /metrics
    try:
        if metrics_listener is not None:
            runtime.status = await start_status(engine, metrics, metrics_listener)
            runtime.metrics_port = int(metrics_listener.getsockname()[1])
        if listener is not None:
            runtime.receiver = await start_receiver(engine, listener)
            runtime.receiver_port = int(listener.getsockname()[1])
    except BaseException:
        await runtime.close()  # nothing left open to keep the process alive
        for sock in bound:
            sock.close()
        raise
    return runtime


async def run_bot(settings: Settings, provider_settings: Mapping[str, ProviderSettings]) -> int:
    """Run until interrupted."""
    assert settings.discord_token is not None
    token = settings.discord_token.get_secret_value()
    await use_endpoints(settings.discord_api_base, settings.discord_gateway_url, token)
    runtime = await build_runtime(settings, provider_settings)
    freeze_heap()
    loop = asyncio.get_running_loop()
    stopping: set[asyncio.Task[None]] = set()
    for signum in (signal.SIGTERM, signal.SIGINT):  # docker stop, Ctrl-C: shut down cleanly
        with contextlib.suppress(NotImplementedError, RuntimeError):
            loop.add_signal_handler(
                signum, lambda: stopping.add(loop.create_task(runtime.stop_bot()))
            )
    ready = loop.create_task(_freeze_when_ready(runtime.bot))
    try:  # LoginRefusedError, DiscordUnreachableError: the CLI says what to fix
        await runtime.bot.serve(token)
    finally:
        ready.cancel()
        await runtime.close()
    return 0


def freeze_heap(*, collect: bool = True) -> None:
    """Keep what exists now (it lives as long as the process) out of the garbage collector's
    full passes, which would walk it all again and again, holding the event loop for tens of
    milliseconds each time. ``collect`` first when nothing is being served yet."""
    if collect:
        gc.collect()
    gc.freeze()


async def _freeze_when_ready(bot: BananaBot) -> None:
    await bot.wait_until_ready()
    freeze_heap(collect=False)  # the caches the gateway filled; no pause while serving
