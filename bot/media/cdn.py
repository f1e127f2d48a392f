"""Discord CDN attachment URLs are signed and expire (``ex`` = hex Unix time)."""

from __future__ import annotations

from collections.abc import Iterable
from urllib.parse import parse_qs, urlsplit

MARGIN = 600.0  # a provider fetches the URL some time after we submit it


def url_expires_at(url: str) -> float | None:
    """The expiry of a signed Discord attachment URL, or None when it carries none."""
    values = parse_qs(urlsplit(url).query).get("ex")
    if not values:
        return None
    try:
        return float(int(values[0], 16))
    except ValueError:
        return None


def expired_urls(urls: Iterable[str], now: float) -> list[str]:
    """The URLs that have expired, or will within :data:`MARGIN` seconds."""
    return [u for u in urls if (at := url_expires_at(u)) is not None and at < now + MARGIN]
