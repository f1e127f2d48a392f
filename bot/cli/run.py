"""``bananabot run``: start the Discord bot.

With no ``DISCORD_TOKEN`` it stops with one line and exit code 1, so a service manager or a
container orchestrator sees the misconfiguration; with ``--demo-without-token`` (what
``./scripts/run``, the README's first command, passes) it explains how to get a token and runs
the offline demo instead, exiting 0.
"""

from __future__ import annotations

import argparse
import asyncio
import sys
from collections.abc import Mapping
from pathlib import Path

from bot.cli.errors import DEVELOPER_PORTAL, FatalError
from bot.cli.imagine import imagine_command
from bot.settings import Settings
from providers.settings import ProviderSettings

SETUP_HELP = """\
bananabot: no DISCORD_TOKEN is set, so the Discord bot cannot start.

To run it on Discord:
  1. Create an application at {portal},
     open "Bot", press "Reset Token" and copy the token.
  2. Put DISCORD_TOKEN=... (and a provider key, e.g. GEMINI_API_KEY=...) in a .env file
     in this directory, or export them.
  3. Invite the bot (README.md, "Run it on Discord", step 2) and run this command again.

Meanwhile, here is the offline demo (no keys needed); try your own prompt with:
  {command} imagine "a banana astronaut" --provider local --out out
"""

NO_TOKEN = (
    "DISCORD_TOKEN is not set, so the bot cannot start: set it to your bot's token "
    f"({DEVELOPER_PORTAL} → your app → Bot → Reset Token); `check` says what else is missing"
)


def console_command() -> str:
    """How to start bananabot from here: the console command beside this interpreter
    (``.venv/bin/bananabot``), else ``bananabot`` (on the PATH)."""
    script = Path(sys.executable).with_name("bananabot")
    if not script.exists():
        return "bananabot"
    try:
        return str(script.relative_to(Path.cwd()))
    except ValueError:
        return str(script)


def run_command(
    settings: Settings,
    provider_settings: Mapping[str, ProviderSettings],
    *,
    demo_without_token: bool = False,
) -> int:
    """Run the bot; with no token, fail in one line, or (``demo_without_token``) print how
    to get one and run the offline demo."""
    if settings.discord_token is None or not settings.discord_token.get_secret_value():
        if not demo_without_token:
            raise FatalError(NO_TOKEN)
        print(
            SETUP_HELP.format(portal=DEVELOPER_PORTAL, command=console_command()), file=sys.stderr
        )
        demo = argparse.Namespace(
            prompt="a banana astronaut",
            provider="local",
            model=None,
            aspect="16:9",
            resolution="1K",
            grounding=False,
            ref=[],
            count=1,
            out="out",
            timeout=60.0,
        )
        return asyncio.run(imagine_command(demo, settings, provider_settings))
    from bot.allocator import tune
    from bot.runtime import run_bot

    tune()  # before any thread starts: memory that does not grow with attachments
    try:
        return asyncio.run(run_bot(settings, provider_settings))
    except KeyboardInterrupt:
        return 0
