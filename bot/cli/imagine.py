"""``python -m bot imagine``: one generation through the job engine, saved to files.

The same engine as the bot (validation, submission, polling, guarded downloads), on a
throwaway database with no quota; the delivery seam writes files instead of messages.
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
from collections.abc import Mapping
from pathlib import Path

import httpx

from bot.cli.errors import EXIT_USAGE, FatalError, UsageError
from bot.cli.files import TerminalNotifier
from bot.jobs.config import EngineConfig
from bot.jobs.engine import JobEngine
from bot.jobs.models import FailureKind, JobSpec, Origin
from bot.jobs.states import JobStatus
from bot.media.fetch import ImageFetcher
from bot.media.references import ReferenceImageError, ReferenceLoader
from bot.settings import Settings
from bot.storage.store import SqliteStore
from providers.base import GenerationRequest, Provider, Source
from providers.errors import NotConfiguredError, ProviderError
from providers.registry import parse_model_choice, provider_class
from providers.settings import ProviderSettings


def _provider_name(args: argparse.Namespace, settings: Settings) -> tuple[str, str | None]:
    spec: str | None = args.provider or settings.default_provider
    if not spec:
        raise UsageError("no provider given: pass --provider (try --provider local)")
    name, model = parse_model_choice(spec)
    return name, args.model or model


def _output_format(args: argparse.Namespace) -> str | None:
    """``--format``, lowercased (``PNG`` and ``png`` alike); None leaves the provider's own
    default. Callers that build the arguments themselves (the demo) may leave it out."""
    chosen: str | None = getattr(args, "format", None)
    return chosen.lower() if chosen else None


def check_out_dir(out: Path) -> None:
    """Refuse an ``--out`` that cannot become a directory before anything is spent."""
    existing = out
    while not existing.exists() and existing != existing.parent:
        existing = existing.parent
    if not existing.is_dir():
        where = f"--out {out}" + ("" if existing == out else f": {existing}")
        raise UsageError(f"{where} is a file, not a directory; name a directory")
    if not os.access(existing, os.W_OK | os.X_OK):
        raise FatalError(
            f"--out {out}: cannot write in {existing} (permission denied); "
            "name a writable directory"
        )


async def imagine_command(
    args: argparse.Namespace, settings: Settings, provider_settings: Mapping[str, ProviderSettings]
) -> int:
    """Validate, submit, wait, download and print the saved paths (a failure raises, for
    ``main()`` to say in one line)."""
    check_out_dir(Path(args.out))
    for path in await _imagine(args, settings, provider_settings):
        print(path)
    return 0


async def _imagine(
    args: argparse.Namespace, settings: Settings, provider_settings: Mapping[str, ProviderSettings]
) -> list[Path]:
    """Run one job through the real engine, on a throwaway database, delivering to files."""
    name, model = _provider_name(args, settings)
    try:
        cls = provider_class(name)
    except NotConfiguredError as exc:  # no such provider: the command line is wrong
        raise UsageError(str(exc)) from exc
    provider = cls(provider_settings[name])
    async with httpx.AsyncClient(
        timeout=httpx.Timeout(60.0, connect=10.0), trust_env=False
    ) as client:
        fetcher = ImageFetcher(client, allow_private=settings.fetch_allow_private)
        loader = ReferenceLoader(fetcher)
        try:
            try:
                captions = getattr(args, "captions", None) or {}
                references = [
                    await loader.from_source(provider.capabilities, src, caption=captions.get(i))
                    for i, src in enumerate(args.ref)
                ]
            except ReferenceImageError as exc:
                raise FatalError(str(exc), code=EXIT_USAGE if exc.invalid else 1) from exc
            request = GenerationRequest(
                prompt=args.prompt,
                model=model,
                references=tuple(references),
                aspect_ratio=args.aspect,
                resolution=args.resolution.upper() if args.resolution else None,
                grounding=args.grounding,
                count=args.count,
                output_format=_output_format(args),
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
        except ProviderError as exc:  # the request breaks the model's capabilities
            raise UsageError(str(exc)) from exc
        await engine.start(notifier)
        try:
            job = await engine.wait(job.id, args.timeout + 30)
        finally:
            notifier.done()
            await engine.stop(grace=1.0)
        if job.status is JobStatus.DELIVERED:
            print_sources(job.sources)
            return notifier.saved[job.id]
        kind, reason = notifier.failures.get(
            job.id, (FailureKind.TIMED_OUT, "the job did not finish in time")
        )
        raise FatalError(_failure_line(provider, kind, reason))
    finally:
        await store.close()


def print_sources(sources: tuple[Source, ...]) -> None:
    """The pages a grounded generation drew on, on stderr (stdout holds only the paths)."""
    if sources:
        lines = [f"  {source.title or '-'}: {source.url}" for source in sources]
        print("sources:", *lines, sep="\n", file=sys.stderr)


def _failure_line(provider: Provider, kind: FailureKind, reason: str) -> str:
    """The job's failure, with what to do about it where that is clear."""
    name, env = provider.name, provider.settings_type.env_name
    if kind is FailureKind.REJECTED:
        return f"{name} rejected the request: {reason}"
    if kind is FailureKind.TIMED_OUT:
        return f"timed out: {reason} (--timeout gives it longer)"
    if kind is FailureKind.UNAVAILABLE:
        return (
            f"{reason} at {provider.base_url}: check the network, or "
            f"{env('base_url')} if you set it"
        )
    if kind is FailureKind.BAD_KEY:
        return f"{reason}: check {env('api_key')}"
    return reason
