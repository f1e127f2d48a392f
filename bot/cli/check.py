"""``python -m bot check``: say what is configured and what is wrong, without starting the bot."""

from __future__ import annotations

from collections.abc import Mapping
from urllib.parse import urlsplit

import httpx

from bot.settings import Settings
from bot.storage.db import Database
from bot.storage.migrate import migration_files, schema_version
from providers.base import BadKeyError, ProviderError, ProviderSettings
from providers.registry import build_providers, parse_model_choice

DISCORD_API = "https://discord.com/api/v10"
OK, WARN, FAIL = "ok  ", "warn", "FAIL"


async def check_command(
    settings: Settings, provider_settings: Mapping[str, ProviderSettings]
) -> int:
    """Print one line per check; exit 1 if anything would stop the bot from working."""
    lines: list[tuple[str, str]] = []
    lines.append(await _discord(settings))
    lines.append(await _database(settings))
    lines.extend(await _providers(settings, provider_settings))
    lines.append(_callbacks(settings))
    lines.append((OK, f"quota: {settings.quota_daily_credits} credit(s) per user per UTC day"))
    for level, text in lines:
        print(f"[{level}] {text}")
    return 1 if any(level == FAIL for level, _ in lines) else 0


async def _discord(settings: Settings) -> tuple[str, str]:
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


async def _database(settings: Settings) -> tuple[str, str]:
    path = settings.bananabot_db
    existed = path.exists()
    try:
        db = await Database.open(path)
        try:
            version = await schema_version(db)
        finally:
            await db.close()
    except Exception as exc:  # any failure here is the report
        return FAIL, f"database {path}: cannot open ({exc})"
    latest = len(migration_files())
    if not existed:
        return OK, f"database {path}: new; migrations run on start"
    if version < latest:
        return (
            WARN,
            f"database {path}: schema {version} of {latest}; `run` or `migrate` applies the rest",
        )
    return OK, f"database {path}: schema {version}"


async def _providers(
    settings: Settings, provider_settings: Mapping[str, ProviderSettings]
) -> list[tuple[str, str]]:
    ready, unconfigured = build_providers(provider_settings)
    lines: list[tuple[str, str]] = []
    for name, provider in ready.items():
        try:
            credits = await provider.balance()
        except BadKeyError:
            key = provider.settings_type.env_name("api_key")
            lines.append((FAIL, f"{name}: the provider refused {key}"))
            continue
        except ProviderError as exc:
            lines.append((WARN, f"{name}: key set, but the check failed ({exc})"))
            continue
        finally:
            await provider.aclose()
        models = ", ".join(provider.capabilities.model_names)
        balance = f"; {credits:g} credits left" if credits is not None else ""
        lines.append((OK, f"{name}: ready ({models}){balance}"))
    for name, reason in unconfigured.items():
        lines.append((OK, f"{name}: not configured ({reason.split(': ', 1)[-1]})"))
    if set(ready) <= {"local"}:
        lines.append((WARN, "only the offline `local` provider is available: set a provider key"))
    if settings.default_provider:
        name, _ = parse_model_choice(settings.default_provider)
        if name not in ready:
            lines.append((FAIL, f"DEFAULT_PROVIDER {settings.default_provider!r} is not available"))
    return lines


def _callbacks(settings: Settings) -> tuple[str, str]:
    url = settings.callback_public_url
    if not url:
        return OK, "callbacks: off (CALLBACK_PUBLIC_URL unset); jobs are tracked by polling"
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        return FAIL, f"CALLBACK_PUBLIC_URL {url!r} is not an absolute http(s) URL"
    if parts.scheme != "https":
        return WARN, f"CALLBACK_PUBLIC_URL {url} is not https: providers may refuse it"
    return OK, (
        f"callbacks: {url.rstrip('/')}/callbacks/… → receiver on "
        f"{settings.callback_host}:{settings.callback_port}"
    )
