"""Image decoding and encoding, and base64 / JSON of image payloads, never run on the event loop
(they take up to a second each; every interaction waits while the loop is held), and the pool
they run in is bounded."""

from __future__ import annotations

import asyncio
import base64
import io
import json
import sys
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx
import PIL.Image
import pytest

from bot.media.fetch import ImageFetcher
from providers import cpu
from providers.base import GenerationRequest, ReferenceImage
from providers.local import render_image
from tests.discord.bot_harness import result_of, running_bot, settings_for
from tests.fakes.discord import FakeDiscord
from tests.providers.test_gemini import mock_provider

ROOT = Path(__file__).resolve().parents[2]
OURS = (str(ROOT / "bot") + "/", str(ROOT / "providers") + "/")


class LoopCalls:
    """Wraps functions to record each call our code (``bot/``, ``providers/``) makes from a
    thread that is running an event loop."""

    def __init__(self, monkeypatch: pytest.MonkeyPatch) -> None:
        self.monkeypatch = monkeypatch
        self.on_loop: list[str] = []
        self.off_loop: list[str] = []

    def watch(self, owner: Any, name: str) -> None:
        original: Callable[..., Any] = getattr(owner, name)

        def wrapper(*args: Any, **kwargs: Any) -> Any:
            caller = sys._getframe(1).f_code.co_filename
            if caller.startswith(OURS):
                try:
                    asyncio.get_running_loop()
                    self.on_loop.append(f"{name} from {caller}")
                except RuntimeError:
                    self.off_loop.append(f"{name} from {caller}")
            return original(*args, **kwargs)

        self.monkeypatch.setattr(owner, name, wrapper)


async def test_the_bot_decodes_and_encodes_images_off_the_loop(tmp_path, monkeypatch):
    reference = render_image("ref", (640, 480), noise=True)
    calls = LoopCalls(monkeypatch)
    calls.watch(PIL.Image, "open")
    calls.watch(PIL.Image.Image, "save")
    async with FakeDiscord() as fake, running_bot(fake, settings_for(fake, tmp_path)):
        user = fake.add_user("ida")
        ix = await fake.slash(
            user,
            fake.channel,
            "imagine",
            {"prompt": "like this"},
            attachments={"reference": ("ref.png", reference, "image/png")},
        )
        result = await result_of(fake, ix)
        assert result.attachments
    assert calls.on_loop == []
    assert any("sniff.py" in call for call in calls.off_loop)  # the reference was checked
    assert any("local.py" in call for call in calls.off_loop)  # and drawn into the result


async def test_a_downloaded_image_is_checked_off_the_loop(monkeypatch):
    data = render_image("result", (800, 600), noise=True)
    client = httpx.AsyncClient(
        transport=httpx.MockTransport(lambda _: httpx.Response(200, content=data))
    )
    calls = LoopCalls(monkeypatch)
    calls.watch(PIL.Image, "open")
    try:
        fetched = await ImageFetcher(client, allow_private=True).fetch("http://cdn.test/r.png")
    finally:
        await client.aclose()
    assert (fetched.data, fetched.info.width) == (data, 800)
    assert calls.on_loop == []
    assert calls.off_loop


async def test_gemini_encodes_and_decodes_payloads_off_the_loop(monkeypatch):
    calls = LoopCalls(monkeypatch)
    for name in ("b64encode", "b64decode", "urlsafe_b64decode"):
        calls.watch(base64, name)
    calls.watch(json, "dumps")
    image = base64.b64encode(bytes(range(256)) * 2048).decode()  # 512 KB: a large answer
    answer = {"candidates": [{"content": {"parts": [{"inlineData": {"data": image}}]}}]}
    provider, client, seen = mock_provider(answer)
    try:
        reference = ReferenceImage(data=b"\x89PNG" + b"x" * 100_000, mime_type="image/png")
        status = await provider.submit(GenerationRequest(prompt="x", references=(reference,)))
    finally:
        await client.aclose()
    assert status.images[0].data == bytes(range(256)) * 2048
    sent = json.loads(seen[0].content)
    assert sent["contents"][0]["parts"][0]["inlineData"]["mimeType"] == "image/png"
    assert seen[0].headers["content-type"] == "application/json"
    assert calls.on_loop == []
    assert len(calls.off_loop) >= 3  # the reference's base64, the body's JSON, the image


async def test_the_pool_runs_at_most_one_thread_per_core():
    lock = threading.Lock()
    active = most = 0

    def work() -> str:
        nonlocal active, most
        with lock:
            active += 1
            most = max(most, active)
        time.sleep(0.01)
        with lock:
            active -= 1
        return threading.current_thread().name

    names = await asyncio.gather(*(cpu.run(work) for _ in range(4 * cpu.workers() + 4)))
    assert 1 <= most <= cpu.workers()
    assert all(name.startswith("bananabot-cpu") for name in names)


def test_decoding_in_the_pool_is_real_decoding():
    data = render_image("x", (32, 16))
    with PIL.Image.open(io.BytesIO(data)) as image:
        assert image.size == (32, 16)
