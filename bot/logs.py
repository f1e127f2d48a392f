"""Logging for the bot process: text or JSON lines, and no secret in any of them.

``main()`` calls :func:`configure` once (level, ``LOG_FORMAT``); it installs one handler on the
root logger carrying a :class:`SecretFilter`. The runtime then calls :func:`register_secrets`
with the secrets it read from the settings (:func:`secret_values`: the Discord token, every
provider key and webhook secret), and from then on no log line, at any level and from any
library (discord.py, aiohttp, httpx...), shows them. Besides those literal values the filter
masks, wherever they appear in a message, an exception or a structured field:

* tokens in URL paths: ``/webhooks/<id>/<token>``, ``/interactions/<id>/<token>`` (Discord's
  interaction tokens), ``/callbacks/<job>/<token>`` (our per-job callback tokens);
* credentials in headers, as ``Name: value`` or in a dict's repr: ``Authorization`` (``Bot``,
  ``Bearer``...), ``x-…-api-key``, ``x-…-token``, ``Cookie``;
* ``token``, ``secret``, ``api_key``, ``password``... fields of JSON bodies and dict reprs
  (discord.py logs gateway events, interaction tokens included, at DEBUG);
* ``key=``, ``token=``, ``api_key=``, ``secret=`` query parameters;
* Discord interaction tokens wherever they stand (they begin ``aW50ZXJhY3Rpb246``, base64 for
  ``interaction:``).

Each is replaced by ``***``. aiosqlite's DEBUG lines (each statement with its bound values:
interaction and callback tokens) are dropped, and :func:`configure` keeps that logger at INFO.
The only state is the handler in the logging module itself: the filter holds the secrets, and
:func:`register_secrets` finds it there.
"""

from __future__ import annotations

import json
import logging
import sys
from collections.abc import Iterable
from datetime import UTC, datetime
from typing import IO, Any
from urllib.parse import urlsplit

from pydantic import BaseModel, SecretStr

from providers.scrub import Scrubber

TEXT_FORMAT = "%(asctime)s %(levelname)s %(name)s: %(message)s"
FORMATS = ("text", "json")

#: loggers whose lines below INFO carry stored values verbatim (SQL parameters)
_VERBATIM = ("aiosqlite",)
#: attributes every LogRecord has; anything else on a record is a structured field
_STANDARD = frozenset(logging.makeLogRecord({}).__dict__) | {"message", "asctime", "taskName"}


class SecretFilter(logging.Filter):
    """Masks secrets in every record it sees (message, arguments, exception, fields), with the
    process's one :class:`~providers.scrub.Scrubber`."""

    def __init__(self, scrubber: Scrubber | None = None) -> None:
        super().__init__()
        self.scrubber = scrubber if scrubber is not None else Scrubber()

    def add(self, *secrets: str | None) -> None:
        """Mask these values too."""
        self.scrubber.add(*secrets)

    def scrub(self, text: str) -> str:
        """``text`` with every secret masked."""
        return self.scrubber(text)

    def filter(self, record: logging.LogRecord) -> bool:
        """Rewrite ``record`` in place, masked (drops only aiosqlite's DEBUG lines)."""
        if record.levelno < logging.INFO and record.name.startswith(_VERBATIM):
            return False
        try:
            message = record.getMessage()
        except Exception:  # a bad format string still logs, masked
            message = f"{record.msg} {record.args}"
        record.msg, record.args = self.scrub(message), None
        if record.exc_info and not record.exc_text:
            record.exc_text = logging.Formatter().formatException(record.exc_info)
        if record.exc_text:
            record.exc_text = self.scrub(record.exc_text)
        if record.stack_info:
            record.stack_info = self.scrub(record.stack_info)
        for name, value in list(record.__dict__.items()):
            if name in _STANDARD or value is None or isinstance(value, bool | int | float):
                continue
            record.__dict__[name] = self.scrub(value if isinstance(value, str) else repr(value))
        return True


class JsonFormatter(logging.Formatter):
    """One JSON object per line: ``time``, ``level``, ``logger``, ``message``, any structured
    fields (``extra=``), and ``exc_info`` / ``stack_info`` as text when present."""

    def format(self, record: logging.LogRecord) -> str:
        """The record as one line of JSON."""
        data: dict[str, Any] = {
            "time": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname,
            "logger": record.name,
            "message": record.getMessage(),
        }
        for name, value in record.__dict__.items():
            if name not in _STANDARD:
                data[name] = value
        if record.exc_info and not record.exc_text:
            record.exc_text = self.formatException(record.exc_info)
        if record.exc_text:
            data["exc_info"] = record.exc_text
        if record.stack_info:
            data["stack_info"] = record.stack_info
        return json.dumps(data, default=str, ensure_ascii=False)


class _Handler(logging.StreamHandler):  # type: ignore[type-arg]
    """The handler :func:`configure` installs (so a second call replaces it)."""


def configure(
    level: int = logging.WARNING,
    fmt: str = "text",
    *,
    stream: IO[str] | None = None,
    secrets: Iterable[str | None] = (),
    scrubber: Scrubber | None = None,
) -> logging.Handler:
    """Log ``level`` and above from every logger to ``stream`` (default stderr), as ``fmt``
    (``text``: ``time LEVEL logger: message``; ``json``: :class:`JsonFormatter`), through a
    :class:`SecretFilter` using ``scrubber`` (the process's one; a new one when None) with
    ``secrets`` added (more later with :func:`register_secrets`).

    Replaces the handler an earlier call installed; returns the new one.
    """
    if fmt not in FORMATS:
        raise ValueError(f"LOG_FORMAT must be one of {', '.join(FORMATS)}, not {fmt!r}")
    root = logging.getLogger()
    for old in [h for h in root.handlers if isinstance(h, _Handler)]:
        root.removeHandler(old)
        old.close()
    handler = _Handler(stream if stream is not None else sys.stderr)
    handler.setFormatter(JsonFormatter() if fmt == "json" else logging.Formatter(TEXT_FORMAT))
    scrubber = scrubber if scrubber is not None else Scrubber()
    scrubber.add(*secrets)
    handler.addFilter(SecretFilter(scrubber))
    root.addHandler(handler)
    root.setLevel(level)
    for name in _VERBATIM:  # their DEBUG lines are dropped anyway: not even formatted
        logging.getLogger(name).setLevel(max(level, logging.INFO))
    return handler


def active_scrubber() -> Scrubber:
    """The process's one scrubber: the one :func:`configure` installed on the logs (so what is
    masked in a log line is masked in a message, a stored reason and a CLI line alike); a fresh
    one when logging was never configured (tests building parts directly)."""
    for handler in logging.getLogger().handlers:
        for found in handler.filters:
            if isinstance(found, SecretFilter):
                return found.scrubber
    return Scrubber()


def register_secrets(*values: str | None) -> None:
    """Mask ``values`` in every log line from now on (on each root handler's
    :class:`SecretFilter`; none are kept when :func:`configure` was never called)."""
    for handler in logging.getLogger().handlers:
        for found in handler.filters:
            if isinstance(found, SecretFilter):
                found.add(*values)


def secret_values(*models: BaseModel) -> list[str]:
    """Every :class:`~pydantic.SecretStr` value set in these settings objects."""
    found = []
    for model in models:
        for name in type(model).model_fields:
            value = getattr(model, name)
            if isinstance(value, SecretStr) and value.get_secret_value():
                found.append(value.get_secret_value())
                password = _url_password(value.get_secret_value())
                if password:  # a database URL's password, wherever it shows up alone
                    found.append(password)
    return found


def _url_password(value: str) -> str | None:
    """The password in ``value`` when it is a URL with one (``scheme://user:pw@host``)."""
    if "://" not in value:
        return None
    try:
        return urlsplit(value).password
    except ValueError:
        return None
