"""The bot's own settings from the environment (and an optional ``.env``, and below both the
optional TOML file named by ``BANANABOT_CONFIG``), built once in ``main()``. Each provider
reads its own (``<NAME>_API_KEY``…) with its settings class, through
:func:`providers.registry.read_settings`."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Literal

from pydantic import Field, SecretStr, ValidationInfo, field_validator
from pydantic_settings import (
    BaseSettings,
    NoDecode,
    PydanticBaseSettingsSource,
    SettingsConfigDict,
)

from bot.jobs.config import DEFAULT_COSTS, EngineConfig
from providers.config import file_sources

LogLevel = Literal["DEBUG", "INFO", "WARNING", "ERROR"]


class Settings(BaseSettings):
    """Every setting the bot itself reads; the variable names are a fixed contract that
    operators and tests rely on."""

    model_config = SettingsConfigDict(env_file=".env", extra="ignore", case_sensitive=False)

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        """Given values, then the environment, ``.env``, then the ``BANANABOT_CONFIG`` file."""
        toml = file_sources(settings_cls, env_settings, dotenv_settings)
        return (init_settings, env_settings, dotenv_settings, *toml, file_secret_settings)

    #: the TOML settings file (read by the sources above; here so it is documented and shown)
    bananabot_config: Path | None = None
    #: how much is logged (default: WARNING for ``run``, ERROR for the one-shot commands)
    log_level: LogLevel | None = None

    discord_token: SecretStr | None = None
    discord_api_base: str | None = None
    discord_gateway_url: str | None = None

    #: the gateway shards of the whole bot, and those this process runs (comma-separated);
    #: both unset: this process runs every shard Discord recommends
    shard_count: int | None = Field(default=None, ge=1)
    shard_ids: Annotated[list[int] | None, NoDecode] = None

    bananabot_db: Path = Path("bananabot.db")
    #: ``postgresql://…``: PostgreSQL instead of SQLite (``BANANABOT_DB`` is then ignored)
    database_url: SecretStr | None = None

    callback_public_url: str | None = None
    callback_host: str = "0.0.0.0"  # noqa: S104 - the receiver must be reachable by providers
    callback_port: int = Field(default=8080, ge=0, le=65535)
    #: /healthz and /metrics, on their own listener (loopback unless configured)
    metrics_host: str = "127.0.0.1"
    metrics_port: int = Field(default=8081, ge=0, le=65535)

    #: log lines as text, or one JSON object per line (see bot.logs)
    log_format: Literal["text", "json"] = "text"

    default_provider: str | None = None

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
    #: hours a delivered job's reference images are kept for re-rolls (0: not kept)
    reference_retention_hours: float = Field(default=24.0, ge=0)
    fetch_allow_private: bool = False
    #: seconds a worker stays alive unheard, and a claim on a job lasts (processes sharing a
    #: PostgreSQL database must agree on it; see bot.jobs.leases)
    lease_seconds: float = Field(default=30.0, gt=0)

    @field_validator("log_level", mode="before")
    @classmethod
    def _level_in_any_case(cls, value: object) -> object:
        if isinstance(value, str):
            return value.strip().upper() or None
        return value

    @field_validator("database_url", mode="after")
    @classmethod
    def _postgresql_url(cls, value: SecretStr | None) -> SecretStr | None:
        if value is None or not value.get_secret_value().strip():
            return None
        scheme = value.get_secret_value().strip().partition("://")[0].lower()
        if scheme not in ("postgresql", "postgres"):
            # the value itself is not repeated: it may hold a password
            raise ValueError("must be a postgresql:// (or postgres://) URL")
        return SecretStr(value.get_secret_value().strip())

    @field_validator("shard_ids", mode="before")
    @classmethod
    def _comma_separated(cls, value: object) -> object:
        if isinstance(value, str):
            parts = [part.strip() for part in value.split(",")]
            if parts == [""]:
                return None
            try:
                return [int(part) for part in parts]
            except ValueError:
                raise ValueError("expected shard numbers separated by commas, e.g. 0,1") from None
        return value

    @field_validator("shard_ids")
    @classmethod
    def _shards_of_count(cls, value: list[int] | None, info: ValidationInfo) -> list[int] | None:
        if value is None:
            return None
        count = info.data.get("shard_count")
        if count is None:
            raise ValueError(
                "needs SHARD_COUNT too (the number of shards of the whole bot, all "
                "processes together)"
            )
        if not value:
            raise ValueError("expected at least one shard number")
        wrong = [i for i in value if not 0 <= i < count]
        if wrong:
            raise ValueError(
                f"shard {wrong[0]} does not exist: with SHARD_COUNT={count} shards are "
                f"numbered 0 to {count - 1}"
            )
        if len(set(value)) != len(value):
            raise ValueError("a shard is named twice")
        return value

    def shards(self) -> list[int] | None:
        """The shards this process runs, or None for every shard Discord recommends."""
        if self.shard_ids is not None:
            return list(self.shard_ids)
        if self.shard_count is not None:
            return list(range(self.shard_count))
        return None

    @property
    def syncs_commands(self) -> bool:
        """Whether this process syncs the application commands: the one running shard 0."""
        shards = self.shards()
        return shards is None or 0 in shards

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
            reference_retention=self.reference_retention_hours * 3600.0,
            lease_seconds=self.lease_seconds,
        )
