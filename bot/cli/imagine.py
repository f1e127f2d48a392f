"""``python -m bot imagine``: one generation through the job engine, saved to files.

The same engine as the bot (validation, submission, polling, guarded downloads), on a
throwaway database with no quota; the delivery seam writes files instead of messages.
"""

from __future__ import annotations

import argparse
import re
import sys
import tempfile
import time
from collections.abc import Mapping
from pathlib import Path

import httpx

from bot.jobs.delivery import FileDelivery
from bot.jobs.engine import EngineConfig, JobEngine
from bot.jobs.models import FailureKind, Job, JobSpec, Origin, Progress
from bot.jobs.states import JobStatus
from bot.media.fetch import FetchError, ImageFetcher
from bot.media.sniff import NotAnImageError, inspect_image
from bot.settings import Settings
from bot.storage.db import Database
from bot.storage.migrate import migrate
from providers.base import (
    GenerationRequest,
    Provider,
    ProviderError,
    ProviderSettings,
    ReferenceImage,
)
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


async def _load_reference(spec: str, provider: Provider, fetcher: ImageFetcher) -> ReferenceImage:
    caps = provider.capabilities
    if re.match(r"^https?://", spec):
        if caps.accepts_reference_urls:
            return ReferenceImage(url=spec)
        try:
            fetched = await fetcher.fetch(spec)
        except FetchError as exc:
            raise CliError(f"reference {spec}: {exc}") from exc
        return ReferenceImage(data=fetched.data, mime_type=fetched.info.mime_type)
    path = Path(spec)
    if not path.is_file():
        raise CliError(f"reference {spec}: no such file", EXIT_INVALID)
    data = path.read_bytes()
    try:
        info = inspect_image(data)
    except NotAnImageError as exc:
        raise CliError(f"reference {spec}: {exc}", EXIT_INVALID) from exc
    if not caps.accepts_reference_bytes:
        raise CliError(
            f"reference {spec}: {provider.name} only takes reference images by public URL; "
            "host the file and pass its https:// URL",
            EXIT_INVALID,
        )
    return ReferenceImage(data=data, mime_type=info.mime_type)


class TerminalDelivery(FileDelivery):
    """Saves files, and draws a single updating progress line when stderr is a terminal."""

    def __init__(self, out_dir: Path, label: str) -> None:
        super().__init__(out_dir)
        self.label = label
        self.active = sys.stderr.isatty()
        self.started = time.monotonic()

    async def progress(self, job: Job, progress: Progress) -> None:
        """Draw the progress line."""
        await super().progress(job, progress)
        if self.active:
            where = f" (position {progress.position})" if progress.position else ""
            elapsed = time.monotonic() - self.started
            sys.stderr.write(f"\r{self.label}: {progress.stage.value}{where} {elapsed:5.0f}s ")
            sys.stderr.flush()

    def done(self) -> None:
        """End the progress line."""
        if self.active:
            sys.stderr.write("\n")


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
        try:
            references = [await _load_reference(s, provider, fetcher) for s in args.ref]
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
    db = await Database.open(scratch / "cli.db")
    try:
        await migrate(db)
        label = f"{provider.name} {request.model or ''}".strip()
        delivery = TerminalDelivery(Path(args.out), label)
        config = EngineConfig(
            deadline_seconds=args.timeout, idle_tick=1.0, poll_interval=poll_interval
        )
        engine = JobEngine(
            db, {provider.name: provider}, delivery, fetcher, allowance=None, config=config
        )
        try:
            job = await engine.accept(
                JobSpec(origin=Origin(user_id="cli"), provider=provider.name, request=request)
            )
        except ProviderError as exc:
            raise CliError(str(exc), EXIT_INVALID) from exc
        await engine.start()
        try:
            job = await engine.wait(job.id, args.timeout + 30)
        finally:
            delivery.done()
            await engine.stop(grace=1.0)
        if job.status is JobStatus.DELIVERED:
            return delivery.saved[job.id]
        kind, reason = delivery.failures.get(
            job.id, (FailureKind.TIMED_OUT, "the job did not finish in time")
        )
        raise CliError(_failure_line(provider.name, kind, reason))
    finally:
        await db.close()


def _failure_line(provider: str, kind: FailureKind, reason: str) -> str:
    if kind is FailureKind.REJECTED:
        return f"{provider} rejected the request: {reason}"
    if kind is FailureKind.TIMED_OUT:
        return f"timed out: {reason}"
    return reason
