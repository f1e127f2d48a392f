"""Download images from URLs we did not choose (provider results, user references) safely.

The guard refuses non-HTTP schemes and any host that resolves to a private, loopback,
link-local or otherwise internal address (unless ``FETCH_ALLOW_PRIVATE=1``), re-checks every
redirect hop and the address actually connected to (DNS rebinding), caps the size while
streaming, and sniffs the content so only real images pass. Known limit: a host that rebinds
between the lookup and the connection still receives one GET (its answer is refused, unread);
pinning the connection to the vetted address would close that too. The client must not use an
environment proxy (``trust_env=False``), or the connected address is the proxy's.
"""

from __future__ import annotations

import asyncio
import contextlib
import importlib
import ipaddress
import socket
from dataclasses import dataclass
from urllib.parse import urljoin, urlsplit

import httpx

from bot.media.sniff import ImageInfo, NotAnImageError, inspect_image
from providers import cpu

# httpx loads its async backend (anyio's, some 30 modules) on the first request, which would
# hold the event loop for tens of ms in the middle of serving; load it with this module instead
with contextlib.suppress(ImportError):
    importlib.import_module("anyio._backends._asyncio")

DEFAULT_MAX_BYTES = 50 * 1024 * 1024
MAX_REDIRECTS = 3


class FetchError(Exception):
    """An image could not be fetched; the message is safe to show a user."""


@dataclass(frozen=True)
class FetchedImage:
    """Downloaded, verified image bytes."""

    data: bytes
    info: ImageInfo
    url: str


def _is_public(address: str) -> bool:
    ip = ipaddress.ip_address(address)
    if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None:
        ip = ip.ipv4_mapped
    return ip.is_global and not ip.is_multicast


async def _check_host(url: str, allow_private: bool) -> None:
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https"):
        raise FetchError(f"refusing to fetch a {parts.scheme or 'schemeless'} URL")
    host = parts.hostname
    if not host:
        raise FetchError("the URL has no host")
    if allow_private:
        return
    port = parts.port or (443 if parts.scheme == "https" else 80)
    try:
        infos = await asyncio.get_running_loop().getaddrinfo(host, port, type=socket.SOCK_STREAM)
    except socket.gaierror as exc:
        raise FetchError(f"cannot resolve {host}") from exc
    for info in infos:
        if not _is_public(str(info[4][0])):
            raise FetchError(f"refusing to fetch from a private address ({host})")


def _verified(chunks: list[bytes]) -> tuple[bytes, ImageInfo]:
    data = b"".join(chunks)
    return data, inspect_image(data)


def _check_peer(response: httpx.Response) -> None:
    """Re-check the address actually connected to (DNS may have changed since the lookup)."""
    stream = response.extensions.get("network_stream")
    address = stream.get_extra_info("server_addr") if stream is not None else None
    if address and not _is_public(str(address[0])):
        raise FetchError("refusing to fetch from a private address")


class ImageFetcher:
    """Fetches images under the SSRF guard, a size cap and content sniffing."""

    def __init__(
        self,
        client: httpx.AsyncClient,
        *,
        allow_private: bool = False,
        max_bytes: int = DEFAULT_MAX_BYTES,
    ) -> None:
        self.client = client
        self.allow_private = allow_private
        self.max_bytes = max_bytes

    async def fetch(self, url: str) -> FetchedImage:
        """Download ``url`` and return verified image bytes, or raise :class:`FetchError`."""
        chunks = await self._download(url)
        try:  # joining and decoding tens of MB: off the event loop
            data, info = await cpu.run(_verified, chunks)
        except NotAnImageError as exc:
            raise FetchError(f"the download is not a usable image: {exc}") from exc
        return FetchedImage(data=data, info=info, url=url)

    async def fetch_bytes(self, url: str) -> bytes:
        """Download ``url`` under the same guard and cap, without checking what it is (the
        caller does); :class:`FetchError` if it cannot be downloaded."""
        return await cpu.run(b"".join, await self._download(url))

    async def _download(self, url: str) -> list[bytes]:
        """The body's chunks (joined off the loop by the callers: a join of many MB, run on
        the loop for each of many downloads finishing at once, would hold it)."""
        current = url
        for _ in range(MAX_REDIRECTS + 1):
            await _check_host(current, self.allow_private)
            try:
                async with self.client.stream("GET", current, follow_redirects=False) as resp:
                    if resp.is_redirect:
                        location = resp.headers.get("location")
                        if not location:
                            raise FetchError("redirect without a location")
                        current = urljoin(current, location)
                        continue
                    if not self.allow_private:
                        _check_peer(resp)
                    if resp.status_code != 200:
                        raise FetchError(f"image download failed (HTTP {resp.status_code})")
                    declared = resp.headers.get("content-length")
                    if declared and declared.isdigit() and int(declared) > self.max_bytes:
                        raise FetchError(self._too_large())
                    chunks: list[bytes] = []
                    size = 0
                    async for chunk in resp.aiter_bytes():
                        size += len(chunk)
                        if size > self.max_bytes:
                            raise FetchError(self._too_large())
                        chunks.append(chunk)
            except httpx.HTTPError as exc:
                raise FetchError(f"image download failed ({type(exc).__name__})") from exc
            return chunks
        raise FetchError("too many redirects")

    def _too_large(self) -> str:
        return f"image is larger than {self.max_bytes // (1024 * 1024)} MB"
