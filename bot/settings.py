"""Settings from the environment (and an optional ``.env``), built once in ``main()``."""

from __future__ import annotations

from pathlib import Path

from pydantic import Field, SecretStr
from pydantic_settings import BaseSettings, SettingsConfigDict

from bot.jobs.config import DEFAULT_COSTS, EngineConfig
from providers.base import ProviderConfig


class Settings(BaseSettings):
    """Every setting the bot reads; names are the fixed contract in DESIGN.md."""

    model_config = SettingsConfigDict(env_file=".env", extra="ignore", case_sensitive=False)

    discord_token: SecretStr | None = None
    discord_api_base: str | None = None
    discord_gateway_url: str | None = None

    bananabot_db: Path = Path("bananabot.db")

    callback_public_url: str | None = None
    callback_host: str = "0.0.0.0"  # noqa: S104 - the receiver must be reachable by providers
    callback_port: int = 8080

    default_provider: str | None = None

    magnific_api_key: SecretStr | None = None
    magnific_base_url: str | None = None
    magnific_webhook_secret: SecretStr | None = None
    nanobananaapi_api_key: SecretStr | None = None
    nanobananaapi_base_url: str | None = None
    nanobananapro_api_key: SecretStr | None = None
    nanobananapro_base_url: str | None = None
    gemini_api_key: SecretStr | None = None
    gemini_base_url: str | None = None

    #: a fixed provider polling interval in seconds (default: adaptive, per model)
    poll_interval_seconds: float | None = None

    quota_daily_credits: int = 20
    #: credits per image by resolution, e.g. {"1K": 1, "2K": 2, "4K": 4} (JSON in the env var)
    quota_costs: dict[str, int] = Field(default_factory=lambda: dict(DEFAULT_COSTS))
    #: concurrent generations per provider, e.g. {"magnific": 5} (JSON); others use the default
    provider_concurrency: dict[str, int] = Field(default_factory=dict)
    provider_concurrency_default: int = 5
    #: jobs a user may have waiting or running at once
    user_max_jobs: int = 3
    #: seconds after which an unfinished job is timed out and refunded
    job_deadline_seconds: float = 900.0
    fetch_allow_private: bool = False

    def provider_config(self, name: str) -> ProviderConfig:
        """The :class:`ProviderConfig` for provider ``name`` (``<NAME>_API_KEY`` and friends)."""
        key: SecretStr | None = getattr(self, f"{name}_api_key", None)
        base_url: str | None = getattr(self, f"{name}_base_url", None)
        secret: SecretStr | None = getattr(self, f"{name}_webhook_secret", None)
        return ProviderConfig(
            api_key=key if key and key.get_secret_value() else None,
            base_url=base_url or None,
            webhook_secret=secret if secret and secret.get_secret_value() else None,
        )

    def provider_configs(self, names: list[str]) -> dict[str, ProviderConfig]:
        """Configs for each named provider."""
        return {name: self.provider_config(name) for name in names}

    def engine_config(self) -> EngineConfig:
        """The job engine's limits and timings."""
        return EngineConfig(
            default_concurrency=self.provider_concurrency_default,
            provider_concurrency=dict(self.provider_concurrency),
            per_user_active_limit=self.user_max_jobs,
            allowance=self.quota_daily_credits,
            deadline_seconds=self.job_deadline_seconds,
            callback_base_url=self.callback_public_url,
            poll_interval=self.poll_interval_seconds,
            costs=dict(self.quota_costs),
        )
