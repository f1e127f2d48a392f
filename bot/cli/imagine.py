"""``python -m bot imagine``: one generation through the provider layer, saved to files."""

from __future__ import annotations

import argparse
import re
import sys
import time
from pathlib import Path

import httpx

from bot.media.fetch import FetchError, ImageFetcher
from bot.media.sniff import NotAnImageError, inspect_image
from bot.settings import Settings
from providers.base import (
    GenerationRequest,
    Provider,
    ProviderError,
    ReferenceImage,
    ResultImage,
    TaskState,
    TaskStatus,
)
from providers.polling import run_to_completion
from providers.registry import provider_class
from providers.validation import validate_request

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
    name, _, model = spec.partition(":")
    return name, args.model or model or None


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


class _Progress:
    """A single updating status line on a terminal; silent otherwise."""

    def __init__(self, label: str) -> None:
        self.label = label
        self.active = sys.stderr.isatty()

    def __call__(self, status: TaskStatus, elapsed: float) -> None:
        if self.active:
            sys.stderr.write(f"\r{self.label}: {status.state.value} {elapsed:5.0f}s ")
            sys.stderr.flush()

    def done(self) -> None:
        if self.active:
            sys.stderr.write("\n")


def _slug(prompt: str) -> str:
    slug = re.sub(r"[^a-z0-9]+", "-", prompt.lower()).strip("-")
    return slug[:40] or "image"


async def _save_results(
    status: TaskStatus, prompt: str, out: Path, fetcher: ImageFetcher
) -> list[Path]:
    out.mkdir(parents=True, exist_ok=True)
    saved = []
    stamp = time.strftime("%Y%m%d-%H%M%S")
    for index, image in enumerate(status.images, start=1):
        data, extension = await _image_bytes(image, fetcher)
        path = out / f"{_slug(prompt)}-{stamp}-{index}.{extension}"
        path.write_bytes(data)
        saved.append(path)
    return saved


async def _image_bytes(image: ResultImage, fetcher: ImageFetcher) -> tuple[bytes, str]:
    if image.data is not None:
        try:
            return image.data, inspect_image(image.data).extension
        except NotAnImageError as exc:
            raise CliError(f"the provider returned something that is not an image: {exc}") from exc
    if image.url is None:
        raise CliError("the provider returned an empty result")
    try:
        fetched = await fetcher.fetch(image.url)
    except FetchError as exc:
        raise CliError(f"downloading the result failed: {exc}") from exc
    return fetched.data, fetched.info.extension


async def imagine_command(args: argparse.Namespace, settings: Settings) -> int:
    """Validate, submit, wait, download and print the saved paths; one-line error otherwise."""
    try:
        paths = await _imagine(args, settings)
    except CliError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return exc.code
    except ProviderError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return EXIT_FAILED
    for path in paths:
        print(path)
    return 0


async def _imagine(args: argparse.Namespace, settings: Settings) -> list[Path]:
    name, model = _provider_name(args, settings)
    cls = provider_class(name)
    provider = cls(settings.provider_config(name))
    async with httpx.AsyncClient(timeout=httpx.Timeout(60.0, connect=10.0)) as client:
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
            try:
                model_caps = validate_request(provider.capabilities, request)
            except ProviderError as exc:
                raise CliError(str(exc), EXIT_INVALID) from exc
            progress = _Progress(f"{name} {model_caps.name}")
            try:
                status = await run_to_completion(
                    provider, request, deadline_seconds=args.timeout, on_status=progress
                )
            finally:
                progress.done()
            if status.state is TaskState.FAILED:
                reason = status.reason or "no reason given"
                kind = "was rejected by its content policy" if status.content_policy else "failed"
                raise CliError(f"{name} generation {kind}: {reason}")
            if not status.images:
                raise CliError(f"{name} reported success but returned no image")
            return await _save_results(status, args.prompt, Path(args.out), fetcher)
        finally:
            await provider.aclose()
