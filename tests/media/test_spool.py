"""Downloads spooled to disk: read back whole, never whole in memory while they arrive."""

from __future__ import annotations

import os

import httpx

from bot.media import spool as spool_module
from bot.media.fetch import ImageFetcher
from bot.media.spool import Spool


async def test_a_spool_keeps_at_most_one_batch_in_memory_and_reads_back_whole() -> None:
    spool = Spool()
    chunks = [os.urandom(10_000) for _ in range(100)]  # 1 MB in 10 kB chunks
    for chunk in chunks:
        await spool.write(chunk)
        assert spool._pending_size < spool_module.FLUSH_BYTES  # the rest is on disk
    await spool.flush()
    assert spool.size == 1_000_000
    assert spool.read() == b"".join(chunks)
    spool.close()
    spool.close()  # twice is harmless


async def test_the_fetcher_spools_a_download_under_its_cap() -> None:
    body = os.urandom(300_000)

    def answer(request: httpx.Request) -> httpx.Response:
        return httpx.Response(200, content=body)

    async with httpx.AsyncClient(transport=httpx.MockTransport(answer)) as client:
        fetcher = ImageFetcher(client, allow_private=True)
        spooled = await fetcher.spool("http://127.0.0.1/x.png")
        try:
            assert spooled.read() == body
        finally:
            spooled.close()
        small = ImageFetcher(client, allow_private=True, max_bytes=100_000)
        try:
            await small.spool("http://127.0.0.1/x.png")
        except Exception as exc:  # the cap holds for spooled downloads too
            assert "larger than" in str(exc)
        else:
            raise AssertionError("a download over the cap was spooled")
