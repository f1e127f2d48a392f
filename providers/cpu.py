"""One bounded pool of threads for CPU-heavy work, so it never runs on the event loop.

Decoding, encoding and fitting images, and base64 / JSON of large image payloads, take tens
to hundreds of milliseconds each; on the loop they would hold up every interaction. Pillow
and zlib release the GIL while they work, so in a thread they run beside the loop. The pool
is bounded (one thread per core, at least two): a hundred simultaneous decodes queue here
instead of thrashing the cores or holding a hundred decoded images in memory at once.

It lives in the lowest layer because providers use it too (``bot.media`` and ``bot.jobs``
import it from here).
"""

from __future__ import annotations

import asyncio
import functools
import os
import threading
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import ParamSpec, TypeVar

_P = ParamSpec("_P")
_T = TypeVar("_T")

#: responses and payloads at least this large are handled off the loop
LARGE_BYTES = 256 * 1024

_pool: ThreadPoolExecutor | None = None
_pool_lock = threading.Lock()


def workers() -> int:
    """How many threads the pool runs: one per core, at least two."""
    return max(2, os.cpu_count() or 1)


def pool() -> ThreadPoolExecutor:
    """The process's pool (created on first use)."""
    global _pool
    with _pool_lock:
        if _pool is None:
            _pool = ThreadPoolExecutor(max_workers=workers(), thread_name_prefix="bananabot-cpu")
        return _pool


async def run(func: Callable[_P, _T], /, *args: _P.args, **kwargs: _P.kwargs) -> _T:
    """``func(*args, **kwargs)`` in the pool; the event loop stays free meanwhile."""
    loop = asyncio.get_running_loop()
    return await loop.run_in_executor(pool(), functools.partial(func, *args, **kwargs))
