"""The C allocator told to give memory back (glibc only; elsewhere nothing changes).

Image bytes come and go by the megabyte, in many threads (the worker pool, the file and
SQLite threads). glibc serves each thread from an arena of its own and, once a large block
has been freed, raises the size it maps directly to that block's size, so the next ones come
from those arenas, which rarely shrink: resident memory then climbs with the attachments and
stays. Two arenas, and a fixed threshold above which every block is mapped on its own (and
unmapped when freed), keep it near what is in use. The same as ``MALLOC_ARENA_MAX=2`` and
``MALLOC_MMAP_THRESHOLD_=262144`` in the environment, which win when set.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import logging
import os

log = logging.getLogger(__name__)

#: mallopt parameters (malloc.h)
M_MMAP_THRESHOLD = -3
M_ARENA_MAX = -8
ARENAS = 2
MMAP_THRESHOLD = 256 * 1024


def tune() -> bool:
    """Apply the settings above (before the process starts its threads); False when this is
    not glibc or the environment already chose."""
    if os.environ.get("MALLOC_ARENA_MAX") or os.environ.get("MALLOC_MMAP_THRESHOLD_"):
        return False
    name = ctypes.util.find_library("c")
    if name is None:
        return False
    try:
        libc = ctypes.CDLL(name)
        mallopt = libc.mallopt
    except (OSError, AttributeError):  # not glibc (musl has no mallopt)
        return False
    mallopt.argtypes = (ctypes.c_int, ctypes.c_int)
    mallopt.restype = ctypes.c_int
    done = bool(mallopt(M_ARENA_MAX, ARENAS)) and bool(mallopt(M_MMAP_THRESHOLD, MMAP_THRESHOLD))
    if not done:
        log.debug("mallopt refused the memory settings")
    return done
