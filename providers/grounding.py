"""Grounding sources: the web pages a Google-Search-grounded generation drew on.

Gemini answers a grounded request with ``candidates[].groundingMetadata`` (camelCase, or
snake_case ``grounding_metadata``); its ``groundingChunks[]`` each hold ``web: {uri, title}``
(or ``retrievedContext: {uri, title}``), beside ``webSearchQueries``, ``groundingSupports`` and
``searchEntryPoint``, which are not shown. Magnific's Nano Banana Pro Flash documents only that
"the task response may include grounding metadata with source information"; it forwards
Gemini's metadata, so the task object's ``grounding_metadata`` / ``groundingMetadata`` is read
the same way, and a plain ``sources: [{url | uri, title}]`` list is taken too (an assumption:
no example of the field exists).

Sources are a nicety beside the image: whatever cannot be read is skipped, never an error.
Only ``http(s)`` URLs are kept, each once, at most :data:`MAX_SOURCES` of them.
"""

from __future__ import annotations

from typing import Any

from providers.base import Source

MAX_SOURCES = 10
MAX_TITLE = 200
MAX_URL = 2048


def field(mapping: Any, camel: str, snake: str) -> Any:
    """A field in camelCase or snake_case (Google's JSON accepts and emits both)."""
    if not isinstance(mapping, dict):
        return None
    value = mapping.get(camel)
    return value if value is not None else mapping.get(snake)


def _source(entry: Any) -> Source | None:
    """One ``{uri | url, title}`` object as a source (None: not a usable web link)."""
    if not isinstance(entry, dict):
        return None
    url = entry.get("uri") or entry.get("url")
    if not isinstance(url, str):
        return None
    url = url.strip()
    if not url.lower().startswith(("https://", "http://")) or len(url) > MAX_URL:
        return None
    if any(ch.isspace() or ord(ch) < 32 for ch in url):
        return None
    title = entry.get("title")
    if isinstance(title, str):  # one line of printable text (it reaches terminals too)
        title = " ".join("".join(c if c.isprintable() else " " for c in title).split())
    title = title[:MAX_TITLE] if isinstance(title, str) else ""
    return Source(url=url, title=title or None)


def sources_in(metadata: Any) -> tuple[Source, ...]:
    """The sources in a grounding metadata object: its chunks' ``web`` (or
    ``retrievedContext``) links, or a plain ``sources`` list; deduplicated, in order."""
    if not isinstance(metadata, dict):
        return ()
    entries: list[Any] = []
    chunks = field(metadata, "groundingChunks", "grounding_chunks")
    for chunk in chunks if isinstance(chunks, list) else []:
        link = field(chunk, "web", "web") or field(chunk, "retrievedContext", "retrieved_context")
        entries.append(link)
    plain = metadata.get("sources")
    entries.extend(plain if isinstance(plain, list) else [])
    found: dict[str, Source] = {}
    for entry in entries:
        source = _source(entry)
        if source is not None and source.url not in found:
            found[source.url] = source
        if len(found) >= MAX_SOURCES:
            break
    return tuple(found.values())


def gemini_sources(candidate: Any) -> tuple[Source, ...]:
    """The sources of one Gemini candidate (none when it was not grounded)."""
    return sources_in(field(candidate, "groundingMetadata", "grounding_metadata"))


def magnific_sources(task: Any) -> tuple[Source, ...]:
    """The sources of one Magnific task object (none when it was not grounded)."""
    metadata = field(task, "groundingMetadata", "grounding_metadata")
    if metadata is None and isinstance(task, dict) and isinstance(task.get("sources"), list):
        metadata = {"sources": task["sources"]}
    return sources_in(metadata)
