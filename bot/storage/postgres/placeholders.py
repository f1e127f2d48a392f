"""The repositories' placeholders (``?`` in order, or ``:name``) as PostgreSQL's numbered ones
(``$1``, ``$2``, …), translated once per distinct statement.

Quoted text (``'…'``, ``"…"``) and casts (``::``) are left alone; a name used twice is bound
once.
"""

from __future__ import annotations

import re
from functools import lru_cache
from typing import Any

from bot.storage.sql import Params

_TOKEN = re.compile(r"""'(?:[^']|'')*'|"(?:[^"]|"")*"|::|\?|:([A-Za-z_][A-Za-z0-9_]*)""")


@lru_cache(maxsize=2048)
def translate(sql: str) -> tuple[str, tuple[str, ...] | None]:
    """``sql`` with numbered placeholders, and the names in number order (None: positional)."""
    names: list[str] = []
    positional = 0

    def number(match: re.Match[str]) -> str:
        nonlocal positional
        found = match.group(0)
        if found == "?":
            positional += 1
            return f"${positional}"
        name = match.group(1)
        if name is None:  # quoted text or a cast
            return found
        if name not in names:
            names.append(name)
        return f"${names.index(name) + 1}"

    text = _TOKEN.sub(number, sql)
    if positional and names:
        raise ValueError(f"both ? and :name placeholders in {sql!r}")
    return text, tuple(names) if names else None


def bind(sql: str, params: Params) -> tuple[str, list[Any]]:
    """The translated statement and its arguments in number order."""
    text, names = translate(sql)
    if isinstance(params, dict):
        return text, [params[name] for name in names or ()]
    if names:
        raise TypeError(f"named placeholders need a mapping: {sql!r}")
    return text, list(params)
