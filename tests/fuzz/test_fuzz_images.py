"""Attachment bytes of every kind: a clear refusal or a usable reference, never a crash."""

from __future__ import annotations

import asyncio

import httpx
from hypothesis import HealthCheck, given, settings

from bot.media.fetch import ImageFetcher
from bot.media.fit import ImageTooLargeError, fit_image, still_png
from bot.media.references import ReferenceImageError, ReferenceLoader
from bot.media.sniff import ImageFile, NotAnImageError, inspect_image
from providers.gemini import GeminiProvider
from providers.magnific import MagnificProvider
from tests.fuzz.strategies import almost_images

FUZZ = settings(max_examples=120, deadline=None, suppress_health_check=[HealthCheck.too_slow])


@FUZZ
@given(data=almost_images())
def test_inspect_and_fit_refuse_cleanly(data):
    try:
        info = inspect_image(data)
    except NotAnImageError:
        return
    assert info.width > 0 and info.height > 0
    try:
        fitted = fit_image(ImageFile.of(data, info), max(200, len(data) // 2))
    except (NotAnImageError, ImageTooLargeError):
        return
    assert inspect_image(fitted.data).mime_type == fitted.mime_type
    assert inspect_image(still_png(data).data).mime_type == "image/png"


@FUZZ
@given(data=almost_images())
def test_references_are_usable_or_refused_for_every_kind_of_provider(data):
    async def load() -> None:
        async with httpx.AsyncClient() as client:
            loader = ReferenceLoader(ImageFetcher(client))
            for caps in (GeminiProvider.capabilities, MagnificProvider.capabilities):
                try:
                    ref = await loader.from_bytes(
                        caps, "`reference`", data, url="https://cdn.example/a.png"
                    )
                except ReferenceImageError as exc:
                    assert len(str(exc)) < 400
                    continue
                assert ref.mime_type in caps.reference_formats
                if ref.data is not None:
                    assert not inspect_image(ref.data).animated

    asyncio.run(load())
