"""Grounding sources under a result: a few ``[title](url)`` links, compact and inert.

Titles come from the web (via the provider), so they are made plain text: markdown and
mention syntax escaped, one line, cut short; a missing title shows the site's host. URLs are
``http(s)`` only (the provider layer drops the rest) with the characters that could end a
markdown link percent-encoded. The whole stays within the room given (an embed field holds
1024 characters), and says how many more sources there were when not all are shown.
"""

from __future__ import annotations

from collections.abc import Sequence
from urllib.parse import quote, urlsplit

import discord

from providers.base import Source

FIELD_LIMIT = 1024  # characters of an embed field's value
MAX_SHOWN = 4
TITLE_LIMIT = 40
SEPARATOR = " · "

#: what a URL may keep as it is inside ``(...)``: RFC 3986's reserved and unreserved
#: characters and ``%``, without the brackets and parentheses that would end the link
_URL_SAFE = ":/?#@!$&'*+,;=%~"


def _title(source: Source) -> str:
    text = source.title or urlsplit(source.url).hostname or "source"
    text = " ".join(text.split())
    if len(text) > TITLE_LIMIT:
        text = text[: TITLE_LIMIT - 1].rstrip() + "…"
    text = discord.utils.escape_markdown(text).replace("]", "\\]").replace("<", "\\<")
    return text.replace("@", "@\u200b")  # no mention, not even a rendered one


def _url(source: Source) -> str | None:
    if not source.url.lower().startswith(("https://", "http://")):
        return None
    return quote(source.url, safe=_URL_SAFE)


def sources_markdown(sources: Sequence[Source], limit: int = FIELD_LIMIT) -> str | None:
    """At most :data:`MAX_SHOWN` sources as markdown links within ``limit`` characters
    (None: nothing to show)."""
    links = []
    for source in sources:
        url = _url(source)
        if url is not None:
            links.append(f"[{_title(source)}]({url})")
    shown: list[str] = []
    for index, link in enumerate(links):
        rest = len(links) - index - 1
        more = f"{SEPARATOR}+{rest} more" if rest else ""
        candidate = SEPARATOR.join([*shown, link])
        if len(shown) >= MAX_SHOWN or len(candidate) + len(more) > limit:
            break
        shown.append(link)
    if not shown:
        return None
    hidden = len(links) - len(shown)
    return SEPARATOR.join(shown) + (f"{SEPARATOR}+{hidden} more" if hidden else "")
