"""``python -m bot imagine``: one generation through the job engine, saved to files.

The same engine as the bot (validation, submission, polling, guarded downloads), on a
throwaway database with no quota; the delivery seam writes files instead of messages.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
from collections.abc import Mapping
from pathlib import Path

import httpx

from bot.cli.files import TerminalNotifier
from bot.jobs.config import EngineConfig
from bot.jobs.engine import JobEngine
from bot.jobs.models import FailureKind, JobSpec, Origin
from bot.jobs.states import JobStatus
from bot.media.fetch import ImageFetcher
from bot.media.references import ReferenceImageError, ReferenceLoader
from bot.settings import Settings
from bot.storage.store import SqliteStore
from providers.base import GenerationRequest, Provider, ProviderError, ProviderSettings
from providers.registry import parse_model_choice, provider_class

EXIT_FAILED = 1
EXIT_INVALID = 2


class CliError(Exception):
    """A one-line reason to print before exiting non-zero."""

    def __init__(self, message: str, code: int = EXIT_FAILED) -> None:
        super().__init__(message)
        self.code = code


def add_imagine_arguments(parser: argparse.ArgumentParser) -> None:
    """The fixed ``imagine`` contract from DESIGN.md (plus a deadline)."""
    parser.add_argument("prompt")
    parser.add_argument("--provider", help="provider name (default: DEFAULT_PROVIDER)")
    parser.add_argument("--model")
    parser.add_argument("--aspect", help="aspect ratio, e.g. 16:9")
    parser.add_argument("--resolution", help="1K, 2K or 4K")
    parser.add_argument("--grounding", action="store_true", help="Google-search grounding")
    parser.add_argument(
        "--ref",
        action="append",
        default=[],
        metavar="URL_OR_PATH",
        help="reference image (repeatable)",
    )
    parser.add_argument("--count", type=int, default=1)
    parser.add_argument("--out", default=".", help="directory for the images")
    parser.add_argument("--timeout", type=float, default=600.0, help="seconds to wait at most")


def _provider_name(args: argparse.Namespace, settings: Settings) -> tuple[str, str | None]:
    spec: str | None = args.provider or settings.default_provider
    if not spec:
        raise CliError("no provider given: pass --provider (try --provider local)", EXIT_INVALID)
    name, model = parse_model_choice(spec)
    return name, args.model or model


async def imagine_command(
    args: argparse.Namespace, settings: Settings, provider_settings: Mapping[str, ProviderSettings]
) -> int:
    """Validate, submit, wait, download and print the saved paths; one-line error otherwise."""
    try:
        paths = await _imagine(args, settings, provider_settings)
    except CliError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return exc.code
    except ProviderError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return EXIT_FAILED
    for path in paths:
        print(path)
    return 0


async def _imagine(
    args: argparse.Namespace, settings: Settings, provider_settings: Mapping[str, ProviderSettings]
) -> list[Path]:
    """Run one job through the real engine, on a throwaway database, delivering to files."""
    name, model = _provider_name(args, settings)
    provider = provider_class(name)(provider_settings[name])
    async with httpx.AsyncClient(
        timeout=httpx.Timeout(60.0, connect=10.0), trust_env=False
    ) as client:
        fetcher = ImageFetcher(client, allow_private=settings.fetch_allow_private)
        loader = ReferenceLoader(fetcher)
        try:
            try:
                references = [
                    await loader.from_source(provider.capabilities, source) for source in args.ref
                ]
            except ReferenceImageError as exc:
                raise CliError(str(exc), EXIT_INVALID if exc.invalid else EXIT_FAILED) from exc
            request = GenerationRequest(
                prompt=args.prompt,
                model=model,
                references=tuple(references),
                aspect_ratio=args.aspect,
                resolution=args.resolution.upper() if args.resolution else None,
                grounding=args.grounding,
                count=max(1, args.count),
            )
            with tempfile.TemporaryDirectory(prefix="bananabot-") as scratch:
                return await _run_job(
                    provider, request, args, fetcher, Path(scratch), settings.poll_interval_seconds
                )
        finally:
            await provider.aclose()


async def _run_job(
    provider: Provider,
    request: GenerationRequest,
    args: argparse.Namespace,
    fetcher: ImageFetcher,
    scratch: Path,
    poll_interval: float | None,
) -> list[Path]:
    store = await SqliteStore.open(scratch / "cli.db")
    try:
        label = f"{provider.name} {request.model or ''}".strip()
        notifier = TerminalNotifier(Path(args.out), label)
        config = EngineConfig(
            allowance=None,
            deadline_seconds=args.timeout,
            idle_tick=1.0,
            poll_interval=poll_interval,
        )
        engine = JobEngine(store, {provider.name: provider}, fetcher, config=config)
        try:
            job = await engine.accept(
                JobSpec(origin=Origin(user_id="cli"), provider=provider.name, request=request)
            )
        except ProviderError as exc:
            raise CliError(str(exc), EXIT_INVALID) from exc
        await engine.start(notifier)
        try:
            job = await engine.wait(job.id, args.timeout + 30)
        finally:
            notifier.done()
            await engine.stop(grace=1.0)
        if job.status is JobStatus.DELIVERED:
            return notifier.saved[job.id]
        kind, reason = notifier.failures.get(
            job.id, (FailureKind.TIMED_OUT, "the job did not finish in time")
        )
        raise CliError(_failure_line(provider.name, kind, reason))
    finally:
        await store.close()


def _failure_line(provider: str, kind: FailureKind, reason: str) -> str:
    if kind is FailureKind.REJECTED:
        return f"{provider} rejected the request: {reason}"
    if kind is FailureKind.TIMED_OUT:
        return f"timed out: {reason}"
    return reason
