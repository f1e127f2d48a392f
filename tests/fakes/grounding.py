"""Grounding metadata as Google returns it for a Google-Search-grounded generation.

Gemini puts it on the candidate as ``groundingMetadata`` (camelCase); Magnific's Pro Flash
says only that its task "may include grounding metadata with source information", and the fake
sends Gemini's object under ``grounding_metadata`` in snake_case, as Magnific names its fields.
``groundingChunks[].web`` holds ``uri`` (Google's redirect URL to the page) and ``title`` (the
site's domain); the other keys are what Google sends beside them.
"""

from __future__ import annotations

import hashlib
from typing import Any

REDIRECT = "https://vertexaisearch.cloud.google.com/grounding-api-redirect/"


def default_chunks(prompt: str) -> list[dict[str, Any]]:
    """Three web chunks, their redirect URLs derived from the prompt."""
    digest = hashlib.sha256(prompt.encode()).hexdigest()
    return [
        {"web": {"uri": f"{REDIRECT}{digest[:24]}{i}", "title": title}}
        for i, title in enumerate(("wikipedia.org", "nasa.gov", "example.com"))
    ]


def metadata(prompt: str, chunks: list[dict[str, Any]] | None = None) -> dict[str, Any]:
    """Gemini's ``groundingMetadata`` object (camelCase) for ``prompt``."""
    chunks = default_chunks(prompt) if chunks is None else chunks
    return {
        "webSearchQueries": [prompt[:80]],
        "searchEntryPoint": {"renderedContent": "<div class='container'>…</div>"},
        "groundingChunks": chunks,
        "groundingSupports": [
            {
                "segment": {"startIndex": 0, "endIndex": 10, "text": prompt[:10]},
                "groundingChunkIndices": list(range(len(chunks))),
                "confidenceScores": [0.9] * len(chunks),
            }
        ],
    }


def snake_case(value: Any) -> Any:
    """``value`` with every object key in snake_case (``groundingChunks`` ->
    ``grounding_chunks``)."""
    if isinstance(value, dict):
        return {_snake(key): snake_case(item) for key, item in value.items()}
    if isinstance(value, list):
        return [snake_case(item) for item in value]
    return value


def _snake(key: str) -> str:
    return "".join(f"_{c.lower()}" if c.isupper() else c for c in key)
