"""What a provider reads from settings: its key, base URL, time limit and retry policy, each
provider under its own prefix (``GEMINI_API_KEY``…) or its table in the settings file."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Self

from pydantic import SecretStr, field_validator
from pydantic_settings import SettingsConfigDict

from providers.config import TableSettings


@dataclass(frozen=True)
class RetryPolicy:
    """How often and how patiently transient failures are retried (see ``providers/_http``)."""

    attempts: int = 4
    initial_wait: float = 0.5
    max_wait: float = 20.0
    max_retry_after: float = 60.0  # a longer Retry-After is not waited out here


class ProviderSettings(TableSettings):
    """A provider's settings, under its own ``env_prefix`` (``MAGNIFIC_API_KEY``..., or the settings
    file's ``[magnific]`` table), read once by ``read_settings``. Empty counts as unset."""

    model_config = SettingsConfigDict(extra="ignore", frozen=True, case_sensitive=False)

    api_key: SecretStr | None = None
    base_url: str | None = None
    timeout_seconds: float | None = None  # overrides the provider's own read timeout
    retry: RetryPolicy = RetryPolicy()

    @field_validator("*", mode="before")
    @classmethod
    def _empty_is_unset(cls, value: Any) -> Any:
        if value == "" or (isinstance(value, SecretStr) and not value.get_secret_value()):
            return None
        return value

    @classmethod
    def env_name(cls, field: str) -> str:
        """The environment variable that sets ``field`` (``api_key`` -> ``GEMINI_API_KEY``)."""
        return f"{cls.model_config.get('env_prefix', '')}{field}".upper()

    @classmethod
    def from_values(cls, **values: Any) -> Self:
        """Settings holding ``values`` and the defaults, read from neither the environment nor
        a .env file (every field is given explicitly, and given values win over both)."""
        given = {
            name: field.get_default(call_default_factory=True)
            for name, field in cls.model_fields.items()
        }
        given.update(values)
        return cls(_env_file=None, **given)
