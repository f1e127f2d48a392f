"""``python -m bot check``: say what is configured and what is wrong, changing nothing.

The database is opened read-only (never created or migrated); each configured provider gets
one harmless authenticated request (never a generation); ``CALLBACK_PUBLIC_URL`` is asked for a
fresh nonce that only this machine's receiver can answer.
"""

from __future__ import annotations

import asyncio
from collections.abc import Mapping
from urllib.parse import urlsplit

import httpx

from bot.logs import active_scrubber
from bot.settings import Settings
from bot.storage.inspect import UnreadableDatabaseError, schema_state
from bot.web.probe import probe_public_url
from providers.base import Provider
from providers.catalog import Catalog
from providers.errors import BadKeyError, ProviderError
from providers.registry import build_providers
from providers.settings import ProviderSettings

DISCORD_API = "https://discord.com/api/v10"
OK, WARN, FAIL = "ok  ", "warn", "FAIL"
Line = tuple[str, str]


async def check_command(
    settings: Settings, provider_settings: Mapping[str, ProviderSettings]
) -> int:
    """Print one line per check; exit 1 if anything would stop the bot from working."""
    lines: list[Line] = []
    lines.append(await _discord(settings))
    lines.append(_shards(settings))
    lines.append(await _database(settings))
    lines.extend(await _providers(settings, provider_settings))
    lines.append(await _callbacks(settings))
    lines.append((OK, f"quota: {settings.quota_daily_credits} credit(s) per user per UTC day"))
    scrub = active_scrubber()
    for level, text in lines:
        print(f"[{level}] {scrub(text)}")
    return 1 if any(level == FAIL for level, _ in lines) else 0


async def _discord(settings: Settings) -> Line:
    token = settings.discord_token.get_secret_value() if settings.discord_token else ""
    if not token:
        return (
            FAIL,
            "DISCORD_TOKEN is not set: the bot cannot start (see README, 'Run it on Discord')",
        )
    base = (settings.discord_api_base or DISCORD_API).rstrip("/")
    try:
        async with httpx.AsyncClient(timeout=10) as client:
            response = await client.get(
                f"{base}/users/@me", headers={"Authorization": f"Bot {token}"}
            )
    except httpx.HTTPError as exc:
        return FAIL, f"cannot reach the Discord API at {base} ({type(exc).__name__})"
    if response.status_code == 401:
        return FAIL, "Discord refused DISCORD_TOKEN (reset it in the developer portal)"
    if response.status_code != 200:
        return FAIL, f"Discord answered HTTP {response.status_code} to the token check"
    return OK, f"Discord token accepted (bot {response.json().get('username', '?')})"


def _shards(settings: Settings) -> Line:
    shards = settings.shards()
    if shards is None:
        return OK, "gateway shards: as many as Discord recommends, all in this process"
    sync = (
        "this process syncs the commands"
        if settings.syncs_commands
        else "the process running shard 0 syncs the commands"
    )
    ids = ",".join(map(str, shards))
    return OK, f"gateway shards: {ids} of SHARD_COUNT={settings.shard_count} here; {sync}"


async def _database(settings: Settings) -> Line:
    if settings.database_url is not None:
        from bot.storage.postgres.commands import check_postgres

        ok, text = await check_postgres(settings.database_url.get_secret_value())
        return (OK if ok else FAIL), text
    path = settings.bananabot_db
    try:
        state = await asyncio.to_thread(schema_state, path)
    except UnreadableDatabaseError as exc:
        return FAIL, f"database {path}: cannot be read ({exc}); fix BANANABOT_DB"
    if not state.exists:
        return OK, f"database {path}: does not exist yet; `run` or `migrate` creates it"
    if not state.current:
        return (
            WARN,
            f"database {path}: schema {state.version} of {state.latest}; "
            "`run` or `migrate` applies the rest",
        )
    return OK, f"database {path}: schema {state.version}"


async def _providers(
    settings: Settings, provider_settings: Mapping[str, ProviderSettings]
) -> list[Line]:
    ready, unconfigured = build_providers(provider_settings)
    try:
        lines = [await _provider(provider) for provider in ready.values()]
    finally:
        for provider in ready.values():
            await provider.aclose()
    for name, reason in unconfigured.items():
        lines.append((OK, f"{name}: not configured ({reason.split(': ', 1)[-1]})"))
    if set(ready) <= {"local"}:
        lines.append((WARN, "only the offline `local` provider is available: set a provider key"))
    if settings.default_provider:
        try:
            provider, model = Catalog(ready, settings.default_provider).resolve(None)
        except ProviderError as exc:
            lines.append((FAIL, f"DEFAULT_PROVIDER {settings.default_provider!r}: {exc}"))
        else:
            lines.append((OK, f"default: {provider.name}:{model.name}"))
    return lines


async def _provider(provider: Provider) -> Line:
    name = provider.name
    models = ", ".join(provider.capabilities.model_names)
    if not provider.needs_key:
        return OK, f"{name}: ready, no key needed ({models})"
    key = provider.settings_type.env_name("api_key")
    try:
        check = await provider.verify_key()
    except BadKeyError:
        return FAIL, f"{name}: the provider refused {key}"
    except ProviderError as exc:
        return WARN, f"{name}: {key} is set, but it could not be checked ({exc})"
    if not check.verified:
        return (
            WARN,
            f"{name}: {key} is set; {name} offers no way to verify it without generating an "
            f"image ({models})",
        )
    credits = f"; {check.credits:g} credits left" if check.credits is not None else ""
    return OK, f"{name}: {key} accepted ({models}){credits}"


async def _callbacks(settings: Settings) -> Line:
    url = settings.callback_public_url
    if not url:
        return OK, "callbacks: off (CALLBACK_PUBLIC_URL unset); jobs are tracked by polling"
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        return FAIL, f"CALLBACK_PUBLIC_URL {url!r} is not an absolute http(s) URL"
    where = f"{settings.callback_host}:{settings.callback_port}"
    result = await probe_public_url(url, settings.callback_host, settings.callback_port)
    if not result.reached:
        return (
            FAIL,
            f"CALLBACK_PUBLIC_URL {url} does not reach the receiver on {where} "
            f"({result.detail}); providers could not call back",
        )
    whose = "the running bot's receiver" if result.running_bot else f"this machine's {where}"
    if parts.scheme != "https":
        return WARN, f"CALLBACK_PUBLIC_URL {url} reaches {whose}, but is not https"
    return OK, f"callbacks: {url} reaches {whose}"
