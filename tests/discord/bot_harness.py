"""Runs the real bananabot (composition root and all) against the loopback fake Discord."""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import io
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

from PIL import Image
from pydantic import SecretStr

from bot.runtime import Runtime, build_runtime
from bot.settings import Settings
from bot.web.sockets import listen
from providers.registry import PROVIDERS
from providers.settings import ProviderSettings
from tests.fakes.discord import FakeDiscord, FakeInteraction, FakeMessage, point_discord_py_at


def png(width: int = 64, height: int = 64, color: str = "red") -> bytes:
    buffer = io.BytesIO()
    Image.new("RGB", (width, height), color).save(buffer, format="PNG")
    return buffer.getvalue()


@dataclasses.dataclass(frozen=True)
class BotSettings:
    """What ``main()`` reads: the bot's settings and, separately, each provider's."""

    bot: Settings
    providers: dict[str, ProviderSettings]


def keys_for(name: str, server: Any) -> dict[str, ProviderSettings]:
    """Settings that point provider ``name`` at its loopback fake (for :func:`settings_for`)."""
    settings_type = PROVIDERS[name].settings_type
    return {name: settings_type.from_values(api_key=server.api_key, base_url=server.base_url)}


def settings_for(fake: FakeDiscord, tmp_path: Path, **overrides: Any) -> BotSettings:
    """Bot settings for the fake Discord; ``overrides`` may hold :func:`keys_for` entries,
    which become provider settings (providers not named are unconfigured)."""
    providers = {k: v for k, v in overrides.items() if isinstance(v, ProviderSettings)}
    values: dict[str, Any] = {
        "discord_token": SecretStr(fake.token),
        "bananabot_db": tmp_path / "bot.db",
        "fetch_allow_private": True,
        "poll_interval_seconds": 0.05,
        "callback_host": "127.0.0.1",
        "callback_port": 0,
        "metrics_port": 0,
        "default_provider": "local",
        "quota_daily_credits": 50,
    }
    values.update({k: v for k, v in overrides.items() if k not in providers})
    return BotSettings(Settings(_env_file=None, **values), providers)


@contextlib.asynccontextmanager
async def running_bot(
    fake: FakeDiscord, settings: BotSettings, *, callbacks: bool = False, bind: bool = False
) -> AsyncIterator[Runtime]:
    """Start the bot as ``python -m bot run`` would, wait until it is ready, stop it after.

    The listeners are sockets bound here on free loopback ports (the callback receiver only
    with ``callbacks``, which also sets ``CALLBACK_PUBLIC_URL``), or with ``bind`` the ones the
    runtime binds itself from the settings.
    """
    restore = point_discord_py_at(fake)
    listener = listen("127.0.0.1", 0) if callbacks and not bind else None
    if listener is not None:
        port = listener.getsockname()[1]
        url = f"http://127.0.0.1:{port}"
        bot = settings.bot.model_copy(update={"callback_public_url": url})
        settings = dataclasses.replace(settings, bot=bot)
    runtime = await build_runtime(
        settings.bot,
        settings.providers,
        listener=listener,
        metrics_listener=None if bind else listen("127.0.0.1", 0),
        guild_ready_timeout=0.1,
    )
    errors: list[BaseException] = []
    runtime.bot.tree.on_error = _record(errors, runtime.bot.tree.on_error)  # type: ignore[method-assign]
    task = asyncio.create_task(runtime.bot.start(settings.bot.discord_token.get_secret_value()))  # type: ignore[union-attr]
    try:
        await asyncio.wait_for(runtime.bot.wait_until_ready(), 10)
        yield runtime
    finally:
        await runtime.close()
        with contextlib.suppress(asyncio.CancelledError, Exception):
            await asyncio.wait_for(task, 5)
        restore()
    assert not errors, errors


def _record(errors: list[BaseException], handler: Any) -> Any:
    async def on_error(interaction: Any, error: BaseException) -> None:
        errors.append(error)
        await handler(interaction, error)

    return on_error


async def result_of(fake: FakeDiscord, ix: FakeInteraction, timeout: float = 15.0) -> FakeMessage:
    """The public message carrying the interaction's results (follow-up or channel post)."""

    def posted() -> FakeMessage | None:
        for message in fake.messages("*"):
            if (
                message.attachments
                and not message.ephemeral
                and not message.deleted
                and (message.id in ix.followup_ids or _for_interaction(message, ix))
            ):
                return message
        return None

    return await fake.wait_for(posted, timeout=timeout, what="a result message")


def _for_interaction(message: FakeMessage, ix: FakeInteraction) -> bool:
    return any(ix.user.id in str(embed) for embed in message.embeds) and message.webhook_id is None


async def imagine(fake: FakeDiscord, user: Any, **options: Any) -> FakeInteraction:
    """``/imagine prompt:a fox`` (plus ``options``) by ``user`` in the main channel."""
    return await fake.slash(user, fake.channel, "imagine", {"prompt": "a fox", **options})


def job_id_of(message: FakeMessage) -> str:
    for component in message.walk_components():
        custom_id = str(component.get("custom_id", ""))
        if custom_id.startswith("bb:reroll:"):
            return custom_id.rsplit(":", 1)[1]
    raise AssertionError(f"no job buttons on {message.id}")


async def status_text(
    fake: FakeDiscord, ix: FakeInteraction, contains: str, timeout: float = 15.0
) -> str:
    """Wait until the requester's private status message contains ``contains``."""

    def current() -> str | None:
        original = ix.original
        if original is not None and contains in original.content:
            return original.content
        return None

    return await fake.wait_for(current, timeout=timeout, what=f"status containing {contains!r}")
