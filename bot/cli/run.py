"""``python -m bot run``: start the Discord bot, or explain how and show the offline demo."""

from __future__ import annotations

import argparse
import asyncio
import sys
from collections.abc import Mapping

from bot.cli.imagine import imagine_command
from bot.settings import Settings
from providers.base import ProviderSettings

SETUP_HELP = """\
bananabot: no DISCORD_TOKEN is set, so the Discord bot cannot start.

To run it on Discord:
  1. Create an application at https://discord.com/developers/applications,
     open "Bot", press "Reset Token" and copy the token.
  2. Put DISCORD_TOKEN=... (and a provider key, e.g. GEMINI_API_KEY=...) in a .env file
     in this directory, or export them.
  3. Invite the bot (README.md, "Run it on Discord", step 2) and run this command again.

Meanwhile, here is the offline demo (no keys needed):
  python -m bot imagine "a banana astronaut" --provider local --out out
"""


def run_command(settings: Settings, provider_settings: Mapping[str, ProviderSettings]) -> int:
    """Run the bot; with no token, print how to get one and run the offline demo instead."""
    if settings.discord_token is None or not settings.discord_token.get_secret_value():
        print(SETUP_HELP, file=sys.stderr)
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
    from bot.runtime import run_bot

    try:
        return asyncio.run(run_bot(settings, provider_settings))
    except KeyboardInterrupt:
        return 0
