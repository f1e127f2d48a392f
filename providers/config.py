"""The optional settings file: TOML named by ``BANANABOT_CONFIG`` (in the environment or the
``.env`` file), for structured settings such as costs, concurrency and timeouts.

Its top level holds the bot's own settings under their lower-case names
(``quota_daily_credits = 20``, a ``[quota_costs]`` table…); each provider reads the table
named after it (``[gemini]`` ``timeout_seconds = 120``). Environment variables (and ``.env``)
win over the file, and the file over the defaults: it is one more pydantic-settings source,
below those two.
"""

from __future__ import annotations

import tomllib
from pathlib import Path
from typing import Any

from pydantic_settings import (
    BaseSettings,
    EnvSettingsSource,
    PydanticBaseSettingsSource,
    TomlConfigSettingsSource,
)

#: the environment variable naming the settings file
CONFIG_VARIABLE = "BANANABOT_CONFIG"


class ConfigFileError(Exception):
    """The settings file cannot be read or is not TOML; ``str()`` is one line naming it."""


def config_path(*sources: PydanticBaseSettingsSource) -> Path | None:
    """The file ``BANANABOT_CONFIG`` names in the first of ``sources`` (the environment, then
    ``.env``) that sets it; None when none does."""
    for source in sources:
        if isinstance(source, EnvSettingsSource):
            value = source.env_vars.get(CONFIG_VARIABLE.lower()) or source.env_vars.get(
                CONFIG_VARIABLE
            )
            if value:
                return Path(value)
    return None


def read_config(path: Path) -> dict[str, Any]:
    """The file's contents; :class:`ConfigFileError` when it cannot be read or parsed."""
    where = f"{CONFIG_VARIABLE}={path}"
    try:
        text = path.read_bytes()
    except FileNotFoundError:
        raise ConfigFileError(
            f"{where}: no such file (create it, or unset {CONFIG_VARIABLE})"
        ) from None
    except IsADirectoryError:
        raise ConfigFileError(f"{where} is a directory: name a TOML file") from None
    except OSError as exc:
        raise ConfigFileError(f"{where}: cannot read it ({exc.strerror})") from None
    try:
        return tomllib.loads(text.decode("utf-8"))
    except UnicodeDecodeError:
        raise ConfigFileError(f"{where} is not a text file: name a TOML file") from None
    except tomllib.TOMLDecodeError as exc:
        raise ConfigFileError(f"{where} is not valid TOML: {exc}") from None


def toml_source(
    settings_cls: type[BaseSettings], path: Path, table: str | None = None
) -> TomlConfigSettingsSource | None:
    """pydantic-settings' TOML source for ``settings_cls``: the file's top level, or its
    ``[table]`` (None when the file has no such table)."""
    data = read_config(path)  # a clear error before pydantic-settings reads it
    if table is None:
        return TomlConfigSettingsSource(settings_cls, toml_file=path)
    if not isinstance(data.get(table), dict):
        return None
    return TomlConfigSettingsSource(settings_cls, toml_file=path, toml_table_header=(table,))


def table_name(settings_cls: type[BaseSettings]) -> str:
    """The table a provider's settings class reads (prefix ``GEMINI_`` -> ``gemini``)."""
    return str(settings_cls.model_config.get("env_prefix", "")).rstrip("_").lower()


def file_sources(
    settings_cls: type[BaseSettings],
    env_settings: PydanticBaseSettingsSource,
    dotenv_settings: PydanticBaseSettingsSource,
    *,
    table: bool = False,
) -> tuple[PydanticBaseSettingsSource, ...]:
    """The TOML source to put below the environment and ``.env`` (none without a file):
    the file's top level, or with ``table`` the table named after the settings' prefix."""
    path = config_path(env_settings, dotenv_settings)
    if path is None:
        return ()
    source = toml_source(settings_cls, path, table_name(settings_cls) if table else None)
    return (source,) if source is not None else ()


class TableSettings(BaseSettings):
    """Settings that also read their table of the settings file (named after their
    ``env_prefix``), below the environment and ``.env``: each provider's settings."""

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        """Given values, then the environment, ``.env``, and the settings file's table."""
        toml = file_sources(settings_cls, env_settings, dotenv_settings, table=True)
        return (init_settings, env_settings, dotenv_settings, *toml, file_secret_settings)
