"""Whatever reaches the callback port (paths, methods, headers, bodies of any size, encoding or
chunking, for every provider's jobs), the receiver answers 4xx, or 200 for a callback that
names its job's token and parses; never 5xx, and a refused request changes nothing.

The real receiver and engine run on their own event loop in a thread (one for the module,
jobs at each provider's fake); hypothesis sends raw HTTP over loopback sockets."""

from __future__ import annotations

import asyncio
import contextlib
import threading
import time
from collections.abc import Awaitable, Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar
from urllib.parse import quote

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from pydantic import SecretStr

from bot.jobs.config import EngineConfig
from bot.jobs.models import Job
from bot.jobs.states import FINAL, TRACKED
from bot.web.app import ReceiverLimits
from bot.web.connections import ServerLimits
from providers.base import Provider
from providers.gemini import GeminiProvider
from providers.local import LocalProvider, LocalSettings
from providers.magnific import MagnificProvider
from providers.nanobananaapi import NanoBananaApiProvider
from providers.nanobananapro import NanoBananaProProvider
from tests.fakes._base import FakeServer, provider_settings
from tests.fakes.gemini import FakeGemini
from tests.fakes.magnific import FakeMagnific
from tests.fakes.nanobananaapi import FakeNanoBananaApi
from tests.fakes.nanobananapro import FakeNanoBananaPro
from tests.fuzz.strategies import BODIES
from tests.jobs.harness import Harness, make_harness, spec, until

T = TypeVar("T")
FUZZ = settings(
    max_examples=150,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture],
)
LIMITS = ReceiverLimits(
    server=ServerLimits(header_timeout=1.0, body_timeout=0.3, lingering_time=0.1),
    rate=1e6,  # every example comes from 127.0.0.1: the rate limit is tested elsewhere
    burst=1_000_000,
)
TOKEN_CHARS = "!#$%&'*+-.^_`|~0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ"


@dataclass
class Receiver:
    run: Callable[[Awaitable[Any]], Any]
    harness: Harness
    jobs: list[Job]

    def snapshot(self) -> list[tuple[object, ...]]:
        async def read() -> list[tuple[object, ...]]:
            found: list[tuple[object, ...]] = []
            for job in self.jobs:
                now = await self.harness.engine.get_job(job.id, images=False)
                assert now is not None
                status = "tracked" if now.status in TRACKED else now.status
                found.append(
                    (
                        status,
                        now.results,
                        now.failure_reason,
                        now.callback_hinted,
                        now.poll_count,
                        now.next_poll_at,
                    )
                )
            return found

        return self.run(read())  # type: ignore[no-any-return]

    def polled(self, job: Job) -> None:
        """Wait until the poll a genuine callback caused has been made (bounded)."""

        async def done() -> bool:
            now = await self.harness.engine.get_job(job.id, images=False)
            assert now is not None
            due = now.next_poll_at
            return now.status in FINAL or (due is not None and due > time.time() + 100)

        self.run(until(done, timeout=10, what="the hinted poll"))


async def _start(tmp: Path, stack: contextlib.AsyncExitStack) -> tuple[Harness, list[Job]]:
    magnific = await stack.enter_async_context(FakeMagnific(webhook_secret="s3cret"))
    api = await stack.enter_async_context(FakeNanoBananaApi())
    pro = await stack.enter_async_context(FakeNanoBananaPro())
    gemini = await stack.enter_async_context(FakeGemini())
    fakes: list[FakeServer] = [magnific, api]
    for fake in fakes:  # these stay in progress: their jobs are tracked while fuzzed
        fake.steps_to_finish = 100_000
        fake.send_callbacks = False
    providers: dict[str, Provider] = {
        "magnific": MagnificProvider(
            provider_settings(MagnificProvider, magnific, webhook_secret=SecretStr("s3cret"))
        ),
        "nanobananaapi": NanoBananaApiProvider(provider_settings(NanoBananaApiProvider, api)),
        "nanobananapro": NanoBananaProProvider(provider_settings(NanoBananaProProvider, pro)),
        "gemini": GeminiProvider(provider_settings(GeminiProvider, gemini)),
        "local": LocalProvider(LocalSettings.from_values()),
    }
    h = await make_harness(
        tmp,
        providers,
        receiver=True,
        receiver_limits=LIMITS,
        config=EngineConfig(
            poll_floor=600, poll_cap=600, idle_tick=0.5, allowance=None, callback_coalesce_seconds=0
        ),
    )
    stack.push_async_callback(h.close)
    jobs = [await h.engine.accept(spec(provider=name, user=name)) for name in providers]

    async def settled() -> list[Job] | None:
        now = [await h.engine.get_job(job.id, images=False) for job in jobs]
        ready = all(
            j is not None and ((j.status in TRACKED and j.task_id) or j.status in FINAL)
            for j in now
        )
        return [j for j in now if j is not None] if ready else None

    return h, await until(settled, timeout=20, what="every provider's job to be under way")


@pytest.fixture(scope="module")
def receiver(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Receiver]:
    loop = asyncio.new_event_loop()
    thread = threading.Thread(target=loop.run_forever, name="fuzzed-receiver", daemon=True)
    thread.start()

    def run(coro: Awaitable[T]) -> T:
        return asyncio.run_coroutine_threadsafe(coro, loop).result(30)  # type: ignore[arg-type]

    stack = contextlib.AsyncExitStack()
    try:
        harness, jobs = run(_start(tmp_path_factory.mktemp("fuzz-receiver"), stack))
        yield Receiver(run, harness, jobs)
    finally:
        run(stack.aclose())
        loop.call_soon_threadsafe(loop.stop)
        thread.join(10)
        loop.close()


HEADER_NAMES = st.one_of(
    st.sampled_from(
        [
            "webhook-id",
            "webhook-timestamp",
            "webhook-signature",
            "Content-Type",
            "Content-Encoding",
            "Transfer-Encoding",
            "Expect",
            "Connection",
            "X-Forwarded-For",
        ]
    ),
    st.text(alphabet=TOKEN_CHARS, min_size=1, max_size=30),
)
HEADER_VALUES = st.one_of(
    st.sampled_from(["gzip", "deflate", "br", "chunked", "100-continue", "v1,AAAA", "1", ""]),
    st.text(alphabet=st.characters(min_codepoint=32, max_codepoint=126), max_size=60),
)


@dataclass
class Sent:
    head: bytes
    chunks: list[bytes]


@st.composite
def requests(draw: st.DrawFn, jobs: list[Job]) -> tuple[Sent, Job | None, bool]:
    """A raw request; the job its path names (if any) and whether it carries that job's token."""
    job = draw(st.one_of(st.none(), st.sampled_from(jobs)))
    genuine_token = job is not None and draw(st.booleans())
    if job is None:
        path = "/" + "/".join(quote(p, safe="") for p in draw(st.lists(st.text(), max_size=4)))
        path = draw(st.sampled_from([path, "/callbacks/nosuchjob/x", "/callbacks/_probe/zz"]))
    else:
        token = job.callback_token if genuine_token else draw(st.text(min_size=1, max_size=40))
        path = f"/callbacks/{quote(job.id, safe='')}/{quote(token, safe='')}"
    method = draw(st.sampled_from(["POST"] * 6 + ["GET", "PUT", "DELETE", "PATCH", "HEAD"]))
    body = draw(
        st.one_of(
            BODIES,
            st.integers(0, 400_000).map(lambda n: b"{" * n),
            st.binary(max_size=2000),
        )
    )
    headers = draw(st.lists(st.tuples(HEADER_NAMES, HEADER_VALUES), max_size=6))
    headers = [
        (n, v) for n, v in headers if n.lower() not in ("content-length", "transfer-encoding")
    ]
    chunked = draw(st.booleans())
    short = draw(st.sampled_from([False] * 9 + [True]))  # announce more than is sent
    pieces = draw(st.integers(1, 4))
    step = max(1, -(-len(body) // pieces))
    parts = [body[i : i + step] for i in range(0, len(body), step)] or [b""]
    if chunked:
        headers.append(("Transfer-Encoding", "chunked"))
        chunks = [b"%x\r\n%s\r\n" % (len(p), p) for p in parts if p]
        chunks.append(b"" if short else b"0\r\n\r\n")
    else:
        headers.append(("Content-Length", str(len(body) + (10 if short else 0))))
        chunks = parts
    lines = [f"{method} {path} HTTP/1.1", "Host: 127.0.0.1", "Connection: close"]
    lines += [f"{name}: {value}" for name, value in headers]
    head = ("\r\n".join(lines) + "\r\n\r\n").encode()
    return Sent(head, chunks), job, genuine_token


async def exchange(port: int, sent: Sent) -> int:
    """Send the request (its body in pieces) and return the status the receiver answers."""
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    try:
        writer.write(sent.head)
        for chunk in sent.chunks:
            writer.write(chunk)
            with contextlib.suppress(ConnectionError):
                await writer.drain()
            await asyncio.sleep(0)
        async with asyncio.timeout(10):
            while True:
                line = await reader.readline()
                assert line.startswith((b"HTTP/1.1 ", b"HTTP/1.0 ")), line
                if not line.startswith((b"HTTP/1.1 1", b"HTTP/1.0 1")):
                    return int(line.split()[1])
                while (await reader.readline()).strip():  # an interim answer's headers
                    pass
    finally:
        writer.close()


@FUZZ
@given(data=st.data())
def test_any_request_gets_a_4xx_or_a_genuine_200_and_changes_nothing(receiver, data):
    before = receiver.snapshot()
    sent, job, genuine_token = data.draw(requests(receiver.jobs))
    assert receiver.harness.port is not None
    status = receiver.run(exchange(receiver.harness.port, sent))
    assert status < 500, status
    after = receiver.snapshot()
    if status == 200 and job is not None and genuine_token:
        # a genuine callback only makes its job due for a poll (the fakes' tasks are still in
        # progress): no status, result or failure changes
        receiver.polled(job)
        assert [s[:3] for s in receiver.snapshot()] == [s[:3] for s in before]
    else:
        assert status >= 400 or (status == 200 and "/_probe/" in sent.head.decode()), status
        assert after == before
