"""Capture everything the process logs through :func:`bot.logs.configure`, as ``main()`` would
set it up, and put the root logger back afterwards."""

from __future__ import annotations

import contextlib
import io
import logging
from collections.abc import Iterator

from bot.logs import configure


@contextlib.contextmanager
def captured_logs(fmt: str, level: int = logging.DEBUG) -> Iterator[io.StringIO]:
    """Log at ``level`` and above, as ``fmt``, into the yielded stream."""
    root = logging.getLogger()
    before = root.level
    stream = io.StringIO()
    handler = configure(level, fmt, stream=stream)
    try:
        yield stream
    finally:
        root.removeHandler(handler)
        root.setLevel(before)
