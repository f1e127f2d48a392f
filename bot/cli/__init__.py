"""The command line: parses arguments and hands each subcommand its settings."""

from __future__ import annotations

import argparse
import asyncio
import logging
import sys
from collections.abc import Sequence

from bot.cli.imagine import add_imagine_arguments, imagine_command
from bot.settings import Settings
from bot.storage.db import Database
from bot.storage.migrate import migrate, schema_version
from providers.registry import read_settings


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m bot", description="bananabot")
    parser.add_argument("-v", "--verbose", action="store_true", help="log debug detail")
    sub = parser.add_subparsers(dest="command", required=True)
    sub.add_parser("run", help="run the Discord bot")
    sub.add_parser("check", help="say what is configured and what is wrong")
    sub.add_parser("migrate", help="apply database migrations")
    add_imagine_arguments(
        sub.add_parser("imagine", help="generate images headlessly and save them to files")
    )
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Parse arguments, build settings once, run the subcommand; return the exit code."""
    args = _parser().parse_args(argv)
    logging.basicConfig(
        level=logging.DEBUG if args.verbose else logging.WARNING,
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
    )
    settings = Settings()
    provider_settings = read_settings()
    if args.command == "imagine":
        return asyncio.run(imagine_command(args, settings, provider_settings))
    if args.command == "run":
        from bot.cli.run import run_command

        return run_command(settings, provider_settings)
    if args.command == "check":
        from bot.cli.check import check_command

        return asyncio.run(check_command(settings, provider_settings))
    if args.command == "migrate":
        return asyncio.run(migrate_command(settings))
    print(f"{args.command}: not implemented yet", file=sys.stderr)
    return 2


async def migrate_command(settings: Settings) -> int:
    """Apply pending migrations to ``BANANABOT_DB`` and say what was done."""
    db = await Database.open(settings.bananabot_db)
    try:
        applied = await migrate(db)
        version = await schema_version(db)
    finally:
        await db.close()
    for name in applied:
        print(f"applied {name}")
    print(f"{settings.bananabot_db}: schema version {version}")
    return 0
