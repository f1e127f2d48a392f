"""Reading the settings once for a command, and saying which setting is wrong when one is.

A bad value is reported as the operator wrote it: ``QUOTA_DAILY_CREDITS: expected an
integer, got 'abc'``, one line per bad setting, naming the environment variable (or the
``.env`` file, or the settings file's key) it came from. The provider settings classes are
read the same way (``GEMINI_TIMEOUT_SECONDS``).
"""

from __future__ import annotations

import difflib
import os
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, get_args

from dotenv import dotenv_values
from pydantic import SecretStr, ValidationError
from pydantic_settings import BaseSettings, SettingsError

from bot.cli.errors import FatalError
from bot.settings import Settings
from providers.config import CONFIG_VARIABLE, read_config, table_name
from providers.registry import PROVIDERS
from providers.settings import ProviderSettings

ENV_FILE = ".env"
_GOT_LIMIT = 60
_SETTINGS_ERROR = re.compile(r'field "(\w+)" from source "(\w+)"')


def load_settings() -> tuple[Settings, dict[str, ProviderSettings]]:
    """The bot's and every provider's settings; :class:`FatalError` naming each bad one."""
    origins = Origins.gather()
    lines: list[str] = []
    if origins.config_path is not None:
        origins.config = read_config(origins.config_path)  # ConfigFileError: one line
        lines += _unknown_keys(origins)
    settings: Settings | None = None
    try:
        settings = Settings()
    except (ValidationError, SettingsError) as exc:
        lines += describe(exc, Settings, origins)
    provider_settings: dict[str, ProviderSettings] = {}
    for name, cls in PROVIDERS.items():  # as providers.registry.read_settings, one by one
        try:
            provider_settings[name] = cls.settings_type(_env_file=ENV_FILE)
        except (ValidationError, SettingsError) as exc:
            lines += describe(exc, cls.settings_type, origins)
    if lines or settings is None:
        raise FatalError(*lines)
    return settings, provider_settings


@dataclass
class Origins:
    """Where a value may have come from: the environment, ``.env``, the settings file."""

    environment: Mapping[str, str]
    dotenv: Mapping[str, str]
    config_path: Path | None = None
    config: dict[str, Any] = field(default_factory=dict)

    @classmethod
    def gather(cls) -> Origins:
        """Read the environment and ``.env`` (keys upper-cased, as the settings match them)."""
        environment = {k.upper(): v for k, v in os.environ.items()}
        dotenv = {
            k.upper(): v for k, v in dotenv_values(ENV_FILE).items() if v is not None
        }  # a missing .env is an empty one
        path = environment.get(CONFIG_VARIABLE) or dotenv.get(CONFIG_VARIABLE)
        return cls(environment, dotenv, Path(path) if path else None)

    def label(self, env_name: str, key: str, table: str | None, inner: str = "") -> str:
        """How the operator wrote the setting: ``NAME``, ``NAME (in .env)`` or the file's key
        (``inner``: the place inside a structured value, e.g. ``['4K']``)."""
        if env_name in self.environment:
            return f"{env_name}{inner}"
        if env_name in self.dotenv:
            return f"{env_name}{inner} (in {ENV_FILE})"
        scope = self.config.get(table, {}) if table else self.config
        if isinstance(scope, dict) and key in scope and self.config_path is not None:
            where = f"[{table}] {key}" if table else key
            return f"{where}{inner} (in {self.config_path})"
        return f"{env_name}{inner}"

    def raw(self, env_name: str) -> str | None:
        """The text given for ``env_name`` in the environment or ``.env``."""
        return self.environment.get(env_name, self.dotenv.get(env_name))


def describe(
    exc: ValidationError | SettingsError, settings_cls: type[BaseSettings], origins: Origins
) -> list[str]:
    """One line per bad setting in ``exc`` (raised building ``settings_cls``)."""
    table = table_name(settings_cls) if issubclass(settings_cls, ProviderSettings) else None
    if isinstance(exc, SettingsError):  # JSON that does not parse, for a structured setting
        match = _SETTINGS_ERROR.search(str(exc))
        if match is None:
            return [str(exc)]
        key = match.group(1)
        name = _env_name(settings_cls, key)
        got = origins.raw(name)
        return [
            f"{origins.label(name, key, table)}: expected JSON such as "
            f"{_example(settings_cls, key)}{_got(got)}"
        ]
    lines: dict[str, str] = {}
    for error in exc.errors():
        key = str(error["loc"][0]) if error["loc"] else "?"
        if key in lines:
            continue  # one line per setting
        name = _env_name(settings_cls, key)
        inner = "".join(f"[{part!r}]" for part in error["loc"][1:])
        given = origins.raw(name) if not inner else None  # as written, before any clean-up
        got = "" if _is_secret(settings_cls, key) else _got(given or error.get("input"))
        lines[key] = f"{origins.label(name, key, table, inner)}: {_expected(error)}{got}"
    return list(lines.values())


def _expected(error: Mapping[str, Any]) -> str:
    kind = str(error["type"])
    ctx: Mapping[str, Any] = error.get("ctx") or {}
    simple = {
        "int_parsing": "expected an integer",
        "int_type": "expected an integer",
        "int_from_float": "expected an integer",
        "float_parsing": "expected a number",
        "float_type": "expected a number",
        "finite_number": "expected a finite number",
        "bool_parsing": "expected true or false (1/0, yes/no, on/off)",
        "bool_type": "expected true or false",
        "dict_type": "expected a table of names to values",
        "string_type": "expected text",
        "missing": "is required",
    }
    if kind in simple:
        return simple[kind]
    bounds = {
        "greater_than": "greater than {gt}",
        "greater_than_equal": "at least {ge}",
        "less_than": "less than {lt}",
        "less_than_equal": "at most {le}",
    }
    if kind in bounds:
        return "expected a number " + bounds[kind].format(**ctx)
    if kind == "value_error":  # a validator's own words
        return str(ctx.get("error", error.get("msg", "invalid value")))
    if kind == "literal_error":
        return f"expected one of {ctx.get('expected', '?')}"
    message = str(error.get("msg", "invalid value"))
    return re.sub(r"^Input should be ", "expected ", message)


def _got(value: object) -> str:
    if value is None or isinstance(value, dict | list):
        return ""
    shown = repr(value if isinstance(value, str) else str(value))
    if len(shown) > _GOT_LIMIT:
        shown = shown[: _GOT_LIMIT - 4] + "…" + shown[-1]
    return f", got {shown}"


def _env_name(settings_cls: type[BaseSettings], key: str) -> str:
    if issubclass(settings_cls, ProviderSettings):
        return settings_cls.env_name(key)
    return key.upper()


def _is_secret(settings_cls: type[BaseSettings], key: str) -> bool:
    info = settings_cls.model_fields.get(key)
    annotation = info.annotation if info is not None else None
    return annotation is SecretStr or SecretStr in get_args(annotation)


def _example(settings_cls: type[BaseSettings], key: str) -> str:
    info = settings_cls.model_fields.get(key)
    default = info.get_default(call_default_factory=True) if info is not None else None
    if isinstance(default, dict) and default:
        return "{" + ", ".join(f'"{k}": {v}' for k, v in default.items()) + "}"
    return '{"magnific": 5}' if key.startswith("provider") else '{"name": 1}'


def _unknown_keys(origins: Origins) -> list[str]:
    """A line for each key of the settings file that no setting reads (a typo, probably)."""
    known = set(Settings.model_fields) - {"bananabot_config"}
    tables = {table_name(cls.settings_type): cls.settings_type for cls in PROVIDERS.values()}
    lines = []
    for key, value in origins.config.items():
        if key in tables and isinstance(value, dict):
            fields = set(tables[key].model_fields) - {"retry"}
            lines += [
                _unknown(f"[{key}] {inner}", inner, fields, origins)
                for inner in value
                if inner not in fields
            ]
        elif key not in known:
            lines.append(_unknown(key, key, known | set(tables), origins))
    return lines


def _unknown(label: str, key: str, known: set[str], origins: Origins) -> str:
    close = difflib.get_close_matches(key, sorted(known), n=1)
    hint = f"; did you mean {close[0]!r}?" if close else ""
    return f"{label} (in {origins.config_path}): no such setting{hint}"
