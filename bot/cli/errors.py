"""Fatal errors: the one line on stderr that names the problem and the fix, and the exit code.

Every command ends the same way when it cannot go on: ``main()`` catches the exception,
turns it into a :class:`FatalError` with :func:`explain` and prints ``error: <line>`` (the
traceback only with ``--debug`` or ``LOG_LEVEL=DEBUG``). Exit code 2 is a usage error (the
command line asks for something that cannot be: an unknown provider or model, a bad option);
1 is any other failure (settings, files, the network, a provider).
"""

from __future__ import annotations

import errno
import getpass
import sys
from typing import TYPE_CHECKING

from bot.logs import active_scrubber
from bot.storage.db import DatabaseOpenError, OpenProblem
from bot.storage.postgres.problems import PgOpenError
from providers.config import ConfigFileError
from providers.errors import ProviderError, RequestInvalidError

if TYPE_CHECKING:
    from bot.runtime import ListenError

EXIT_FAILED = 1
EXIT_USAGE = 2

DEVELOPER_PORTAL = "https://discord.com/developers/applications"


class FatalError(Exception):
    """A reason to stop: ``lines`` (usually one) for stderr, and the exit ``code``."""

    def __init__(self, *lines: str, code: int = EXIT_FAILED) -> None:
        super().__init__("; ".join(lines))
        self.lines = lines
        self.code = code


class UsageError(FatalError):
    """The command line asks for something that cannot be (exit code 2)."""

    def __init__(self, line: str) -> None:
        super().__init__(line, code=EXIT_USAGE)


def report(error: FatalError) -> None:
    """Print the error's lines on stderr, each as ``error: …``."""
    scrub = active_scrubber()  # the one scrubber: no secret in a CLI line either
    for line in error.lines:
        print(f"error: {scrub(line)}", file=sys.stderr)


def explain(exc: BaseException) -> FatalError:
    """The one line (and exit code) for an exception that ended a command."""
    if isinstance(exc, FatalError):
        return exc
    if isinstance(exc, DatabaseOpenError):
        return FatalError(_database_line(exc))
    if isinstance(exc, PgOpenError):
        return FatalError(str(exc))
    if "bot.runtime" in sys.modules:  # only `run` can fail these ways (no import otherwise)
        found = _runtime_error(exc)
        if found is not None:
            return found
    if isinstance(exc, ConfigFileError):
        return FatalError(str(exc))
    if isinstance(exc, RequestInvalidError):
        return UsageError(str(exc))
    if isinstance(exc, ProviderError):
        return FatalError(str(exc))
    if isinstance(exc, OSError) and exc.errno == errno.EADDRINUSE:
        return FatalError(f"a port is already in use ({exc.strerror}): stop the other process")
    if isinstance(exc, OSError) and exc.strerror:
        where = f" {exc.filename}" if exc.filename else ""
        return FatalError(f"{exc.strerror}:{where}".rstrip(":"))
    text = str(exc) or "no details"
    return FatalError(
        f"unexpected {type(exc).__name__}: {text} (run with --debug for the traceback)"
    )


def _runtime_error(exc: BaseException) -> FatalError | None:
    from bot.discord.client import DiscordUnreachableError, LoginRefusedError
    from bot.runtime import ListenError

    if isinstance(exc, ListenError):
        return FatalError(_listen_line(exc))
    if isinstance(exc, LoginRefusedError):
        return FatalError(
            "Discord refused DISCORD_TOKEN: copy a fresh token from the developer portal "
            f"({DEVELOPER_PORTAL} → your app → Bot → Reset Token) into DISCORD_TOKEN"
        )
    if isinstance(exc, DiscordUnreachableError):
        return FatalError(
            f"cannot reach the Discord API at {exc.url} ({exc.reason}): check the network, "
            "or DISCORD_API_BASE if you set it"
        )
    return None


def _database_line(exc: DatabaseOpenError) -> str:
    path = exc.path
    fix = {
        OpenProblem.NOT_A_DATABASE: "point BANANABOT_DB at another file, or move this one away",
        OpenProblem.DIRECTORY: f"set BANANABOT_DB to a file path, e.g. {path / 'bananabot.db'}",
        OpenProblem.NOT_WRITABLE: (
            f"set BANANABOT_DB to a path that {_user()} may create and write, or fix the "
            "permissions"
        ),
        OpenProblem.LOCKED: "stop the other bananabot using it, or set BANANABOT_DB elsewhere",
        OpenProblem.OTHER: "check BANANABOT_DB",
    }[exc.problem]
    return f"database BANANABOT_DB={path} {exc.problem.value} ({exc.reason}): {fix}"


def _listen_line(exc: ListenError) -> str:
    host_setting, port_setting = exc.settings
    address = f"{exc.host}:{exc.port}"
    if exc.errno == errno.EADDRINUSE:
        return (
            f"cannot listen on {address}: the port is already in use; stop the other process "
            f"or set {port_setting} to a free port"
        )
    if exc.errno == errno.EACCES:
        return (
            f"cannot listen on {address}: permission denied (ports below 1024 need privileges); "
            f"set {port_setting} to 1024 or above"
        )
    return (
        f"cannot listen on {address} ({exc.strerror}): set {host_setting} to an address of "
        f"this machine (0.0.0.0 for all) and {port_setting} to a free port"
    )


def _user() -> str:
    try:
        return f"this user ({getpass.getuser()})"
    except (KeyError, OSError):
        return "this user"
