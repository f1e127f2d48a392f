"""The command line (``bananabot`` or ``python -m bot``): parses arguments, reads the settings
once, runs the subcommand, and turns any fatal error into one line on stderr and an exit code
(:mod:`bot.cli.errors`)."""

from __future__ import annotations

import argparse
import asyncio
import logging
import os
import sys
import traceback
from collections.abc import Sequence

from bot import logs
from bot.cli.config import load_settings
from bot.cli.errors import EXIT_USAGE, FatalError, explain, report
from bot.cli.usage import build_parser
from bot.settings import Settings
from bot.storage.migrate import migrate_file
from providers.settings import ProviderSettings

#: what is logged when neither LOG_LEVEL nor --debug says otherwise: the service tells of
#: trouble, the one-shot commands stay quiet (their failures are the one line on stderr)
DEFAULT_LEVELS = {"run": logging.WARNING}
ONE_SHOT_LEVEL = logging.ERROR
EXIT_INTERRUPTED = 130


def main(argv: Sequence[str] | None = None) -> int:
    """Parse arguments, build settings once, run the subcommand; return the exit code."""
    parser = build_parser()
    if not (sys.argv[1:] if argv is None else argv):  # a bare `bananabot`: what it can do
        parser.print_help()
        return EXIT_USAGE
    args = parser.parse_args(argv)
    debug = bool(getattr(args, "debug", False)) or _env_level() == "DEBUG"
    try:
        settings, provider_settings = load_settings()
        debug = debug or settings.log_level == "DEBUG"
        logs.configure(_level(args.command, settings, debug), settings.log_format)
        logs.register_secrets(*logs.secret_values(settings, *provider_settings.values()))
        return _dispatch(args, settings, provider_settings)
    except KeyboardInterrupt:
        return EXIT_INTERRUPTED
    except Exception as exc:
        error = explain(exc)
        if debug and not (type(exc) is FatalError and exc.__cause__ is None):
            traceback.print_exception(exc)
        report(error)
        return error.code


def _env_level() -> str:
    return os.environ.get("LOG_LEVEL", "").strip().upper()


def _level(command: str, settings: Settings, debug: bool) -> int:
    if debug:
        return logging.DEBUG
    if settings.log_level is not None:
        return int(logging.getLevelName(settings.log_level))
    return DEFAULT_LEVELS.get(command, ONE_SHOT_LEVEL)


def _dispatch(
    args: argparse.Namespace, settings: Settings, provider_settings: dict[str, ProviderSettings]
) -> int:
    if args.command == "imagine":
        from bot.cli.imagine import imagine_command

        return asyncio.run(imagine_command(args, settings, provider_settings))
    if args.command == "run":
        from bot.cli.run import run_command

        return run_command(settings, provider_settings, demo_without_token=args.demo_without_token)
    if args.command == "check":
        from bot.cli.check import check_command

        return asyncio.run(check_command(settings, provider_settings))
    if args.command == "migrate" and args.from_sqlite is not None:
        from bot.cli.from_sqlite import from_sqlite_command

        return asyncio.run(from_sqlite_command(settings, args.from_sqlite))
    if args.command == "migrate":
        return asyncio.run(migrate_command(settings))
    print(f"{args.command}: not implemented yet", file=sys.stderr)
    return EXIT_USAGE


async def migrate_command(settings: Settings) -> int:
    """Apply pending migrations to ``DATABASE_URL`` (else ``BANANABOT_DB``) and say what was
    done."""
    if settings.database_url is not None:
        from bot.storage.postgres.commands import migrate_postgres

        return await migrate_postgres(settings.database_url.get_secret_value())
    applied, version = await migrate_file(settings.bananabot_db)
    for name in applied:
        print(f"applied {name}")
    print(f"{settings.bananabot_db}: schema version {version}")
    return 0
