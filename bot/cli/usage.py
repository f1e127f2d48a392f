"""The command line's shape and its help: every subcommand and option explained, the
providers listed from their capabilities, and usage errors as one line (exit code 2)."""

from __future__ import annotations

import argparse
import sys
import textwrap
from collections.abc import Sequence
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path
from typing import Any, NoReturn

from bot.cli.errors import EXIT_USAGE
from providers.base import Capabilities, ModelCapabilities
from providers.registry import PROVIDERS

MAX_COUNT = 4

DESCRIPTION = """\
bananabot: a Discord bot for Google's Nano Banana image models, through the API providers
that resell them or Google's Gemini API.

Settings come from the environment, a .env file in the working directory, and the TOML file
named by BANANABOT_CONFIG, in that order of precedence (README, "Configuration").
"""

EPILOG = """\
exit codes: 0 done; 1 a failure (settings, files, the network, a provider), said in one line
on stderr; 2 a usage error (an unknown option, provider or model, a value out of range).
"""

RUN_HELP = """\
Run the Discord bot until stopped (SIGTERM or Ctrl-C finish the work in hand first): log in
with DISCORD_TOKEN, apply any database migrations to BANANABOT_DB, register the slash commands
when they changed, and resume every unfinished job. Its ports are described in the README
("Ports").

Without DISCORD_TOKEN it exits with code 1 and one line saying what to set, so a service
manager or container orchestrator sees the misconfiguration.
"""

CHECK_HELP = """\
Say what is configured and what is wrong, without starting the bot: the Discord token, the
database, each provider's key, DEFAULT_PROVIDER and the callback URL, one line each. Exit
code 1 when anything would stop the bot from working.
"""

MIGRATE_HELP = """\
Create the database at BANANABOT_DB if needed and apply the pending schema migrations
(`run` does this on start too). Prints each migration applied and the schema version. With
DATABASE_URL set, the PostgreSQL database there is migrated instead.

With --from-sqlite PATH (and DATABASE_URL set): move to PostgreSQL. Brings both schemas up to
date (the SQLite file in place, as `run` would), then copies everything the SQLite database
keeps (jobs and their images, the quota ledger, server settings and usage, the audit log)
into the PostgreSQL database in one transaction, prints the rows of each table on both sides,
and commits only when every count agrees (exit 0). Refuses a PostgreSQL database that already
holds rows: two histories are never merged. Stop the bot using PATH first.
"""

IMAGINE_HELP = """\
Generate images without Discord, through the same providers and job engine as the bot, and
save them as files: prints each saved path on stdout, one per line. The request is checked
against the model's capabilities before anything is spent. `--provider local` works offline
and needs no key.
"""


class Parser(argparse.ArgumentParser):
    """argparse, reporting a usage error as one line (and exit code 2)."""

    def error(self, message: str) -> NoReturn:
        """Print ``error: <message>`` and where help is, then exit with code 2."""
        print(f"error: {message} (see `{self.prog} --help`)", file=sys.stderr)
        raise SystemExit(EXIT_USAGE)


def program_name() -> str:
    """``python -m bot`` when started that way, else the console command's name."""
    started = Path(sys.argv[0]).name if sys.argv and sys.argv[0] else ""
    if started in ("__main__.py", "-m", "-c", ""):
        return "python -m bot"
    return started


def package_version() -> str:
    """The installed package's version."""
    try:
        return version("bananabot")
    except PackageNotFoundError:
        return "unknown (not installed)"


def build_parser() -> Parser:
    """The whole command line."""
    common = Parser(add_help=False)
    common.add_argument(
        "--debug",
        "-v",
        "--verbose",
        action="store_true",
        default=argparse.SUPPRESS,
        help="log debug detail, and show the traceback of a fatal error",
    )
    prog = program_name()
    parser = Parser(
        prog=prog,
        description=DESCRIPTION,
        epilog=EPILOG,
        parents=[common],
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--version", action="version", version=f"bananabot {package_version()}")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    run = sub.add_parser(
        "run",
        help="run the Discord bot",
        description=RUN_HELP,
        parents=[common],
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    run.add_argument(
        "--demo-without-token",
        action="store_true",
        help="with no DISCORD_TOKEN, explain how to get one and run the offline demo "
        "instead, exiting 0 (what ./scripts/run does)",
    )
    sub.add_parser(
        "check",
        help="say what is configured and what is wrong",
        description=CHECK_HELP,
        parents=[common],
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    migrate = sub.add_parser(
        "migrate",
        help="create or update the database, or copy SQLite's into PostgreSQL",
        description=MIGRATE_HELP,
        parents=[common],
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    migrate.add_argument(
        "--from-sqlite",
        type=Path,
        metavar="PATH",
        help="copy the SQLite database at PATH (and its PATH.blobs images) into the empty "
        "PostgreSQL database at DATABASE_URL, verified by counts",
    )
    add_imagine_arguments(
        sub.add_parser(
            "imagine",
            help="generate images without Discord and save them to files",
            description=IMAGINE_HELP,
            epilog=providers_listing(),
            parents=[common],
            formatter_class=argparse.RawDescriptionHelpFormatter,
        )
    )
    return parser


def count(text: str) -> int:
    """``--count``: a whole number from 1 to 4."""
    try:
        value = int(text)
    except ValueError:
        value = 0
    if not 1 <= value <= MAX_COUNT:
        raise argparse.ArgumentTypeError(
            f"expected a whole number from 1 to {MAX_COUNT}, got {text!r}"
        )
    return value


class _Caption(argparse.Action):
    """``--caption TEXT``: the caption of the ``--ref`` given just before it (by position)."""

    def __call__(
        self,
        parser: argparse.ArgumentParser,
        namespace: argparse.Namespace,
        values: str | Sequence[Any] | None,
        option_string: str | None = None,
    ) -> None:
        refs = getattr(namespace, "ref", None) or []
        if not refs:
            parser.error("--caption describes the --ref before it: give a --ref first")
        captions = dict(getattr(namespace, self.dest, None) or {})
        if len(refs) - 1 in captions:
            parser.error(f"--ref {refs[-1]} has two captions: give one --caption per --ref")
        captions[len(refs) - 1] = str(values)
        setattr(namespace, self.dest, captions)


def add_imagine_arguments(parser: argparse.ArgumentParser) -> None:
    """``imagine``'s options (the CLI contract, plus ``--timeout``)."""
    parser.add_argument(
        "prompt",
        help='what to draw, in words (quote it: "a red fox in the snow"); with --ref, also '
        "how to use or change the reference images",
    )
    parser.add_argument(
        "--provider",
        metavar="NAME[:MODEL]",
        help="the provider to use, listed below; NAME:MODEL also picks the model "
        "(default: DEFAULT_PROVIDER)",
    )
    parser.add_argument(
        "--model",
        metavar="MODEL",
        help="one of the provider's models listed below (default: the provider's first)",
    )
    parser.add_argument(
        "--aspect", metavar="W:H", help="aspect ratio, e.g. 16:9 (the model's list below)"
    )
    parser.add_argument(
        "--resolution", metavar="1K|2K|4K", help="output size, where the model offers a choice"
    )
    parser.add_argument(
        "--format",
        metavar="FORMAT",
        help="output image format, where the model offers a choice (its 'formats' below, e.g. "
        "png or jpg); default: the provider's own",
    )
    parser.add_argument(
        "--grounding",
        action="store_true",
        help="let the model search Google before drawing (models marked 'grounding')",
    )
    parser.add_argument(
        "--ref",
        action="append",
        default=[],
        metavar="URL_OR_PATH",
        help="a reference image: a file or an http(s) URL; repeat for several, up to the "
        "model's 'refs' below",
    )
    parser.add_argument(
        "--caption",
        action=_Caption,
        dest="captions",
        default={},
        metavar="TEXT",
        help='what the --ref just before it is, e.g. "the face" or "the style"; sent '
        "beside it where the provider takes captions (magnific, gemini)",
    )
    parser.add_argument(
        "--count",
        type=count,
        default=1,
        metavar="N",
        help=f"how many images, 1 to {MAX_COUNT} (default 1); a model makes at most its "
        "'images' below",
    )
    parser.add_argument(
        "--out",
        default=".",
        metavar="DIR",
        help="directory to save the images in, created if needed (default: here)",
    )
    parser.add_argument(
        "--timeout",
        type=float,
        default=600.0,
        metavar="SECONDS",
        help="give up after this long (default 600)",
    )


def providers_listing(width: int = 92) -> str:
    """Every provider and model with what it accepts, from the providers' capabilities."""
    lines = ["providers and models (the default model first):"]
    for name, cls in PROVIDERS.items():
        caps = cls.capabilities
        key = f"set {cls.settings_type.env_name('api_key')}" if cls.needs_key else "offline, no key"
        lines.append(f"  {name} ({key})")
        for model_name in caps.model_names:
            text = _model_line(caps, caps.model(model_name))
            lines += textwrap.wrap(
                text, width=width, initial_indent="    ", subsequent_indent="        "
            )
    return "\n".join(lines) + "\n"


def _model_line(caps: Capabilities, model: ModelCapabilities) -> str:
    parts = [f"aspect {', '.join(model.aspect_ratios)}"]
    if model.resolutions:
        parts.append(f"resolution {', '.join(model.resolutions)}")
    parts.append(f"images 1-{model.max_images}" if model.max_images > 1 else "images 1")
    refs = f"refs {model.max_references}"
    if not caps.accepts_reference_bytes:
        refs += " (URLs only)"
    parts.append(refs)
    if model.output_formats:
        parts.append(f"formats {', '.join(model.output_formats)}")
    if model.grounding:
        parts.append("grounding")
    return f"{model.name}: " + "; ".join(parts)
