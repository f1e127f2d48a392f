"""Download images from URLs we did not choose (provider results, user references) safely.

The guard refuses non-HTTP schemes and any host that resolves to a private, loopback,
link-local or otherwise internal address (unless ``FETCH_ALLOW_PRIVATE=1``), judged by what the
address is: IPv6 forms that carry an IPv4 address (IPv4-mapped, IPv4-compatible, NAT64, 6to4,
Teredo) are unwrapped and the IPv4 address judged too. The connection then goes to the address
that was checked (the URL's host is resolved once; the request is sent to that address with the
original ``Host`` and TLS server name), so a host that changes its DNS answer between the check
and the connection (rebinding) reaches nothing. Every redirect hop is checked the same way; the
size is capped while streaming and the content sniffed, so only real images pass. A refusal by
the guard, or bytes that are not an image, are permanent: asking again would not change them.
The client must not use an environment proxy (``trust_env=False``).
"""

from __future__ import annotations

import asyncio
import contextlib
import importlib
import ipaddress
import socket
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from urllib.parse import urljoin, urlsplit

import httpx

from bot.media.sniff import ImageInfo, NotAnImageError, inspect_image, inspect_whole
from bot.media.spool import Spool
from providers import cpu

# httpx loads its async backend (anyio's, some 30 modules) on the first request, which would
# hold the event loop for tens of ms in the middle of serving; load it with this module instead
with contextlib.suppress(ImportError):
    importlib.import_module("anyio._backends._asyncio")

DEFAULT_MAX_BYTES = 50 * 1024 * 1024
DEFAULT_TOTAL_SECONDS = 120.0  # one download, every redirect and byte included
MAX_REDIRECTS = 3


class FetchError(Exception):
    """An image could not be fetched; the message is safe to show a user. ``permanent``: asking
    again would get the same answer (a refused address, not an image, too large)."""

    def __init__(self, message: str, *, permanent: bool = False) -> None:
        super().__init__(message)
        self.permanent = permanent


@dataclass(frozen=True)
class FetchedImage:
    """Downloaded, verified image bytes."""

    data: bytes
    info: ImageInfo
    url: str


_NAT64 = (ipaddress.IPv6Network("64:ff9b::/96"), ipaddress.IPv6Network("64:ff9b:1::/48"))


def _embedded_ipv4(ip: ipaddress.IPv6Address) -> list[ipaddress.IPv4Address]:
    """The IPv4 addresses an IPv6 address carries (mapped, compatible, NAT64, 6to4, Teredo)."""
    found: list[ipaddress.IPv4Address] = []
    if ip.ipv4_mapped is not None:
        found.append(ip.ipv4_mapped)
    if ip.packed[:12] == bytes(12) and int(ip) > 1:  # IPv4-compatible (::a.b.c.d)
        found.append(ipaddress.IPv4Address(ip.packed[12:]))
    if any(ip in net for net in _NAT64):
        found.append(ipaddress.IPv4Address(ip.packed[12:]))
    if ip.sixtofour is not None:
        found.append(ip.sixtofour)
    if ip.teredo is not None:
        found.extend(ip.teredo)
    return found


def _is_public(address: str) -> bool:
    """Whether an address may be fetched from: globally routable, not multicast, and so is every
    IPv4 address it carries."""
    ip = ipaddress.ip_address(address.split("%", 1)[0])
    candidates: list[ipaddress.IPv4Address | ipaddress.IPv6Address] = [ip]
    if isinstance(ip, ipaddress.IPv6Address):
        embedded = _embedded_ipv4(ip)
        if embedded:  # judged by the IPv4 address it stands for
            candidates = list(embedded)
    return all(c.is_global and not c.is_multicast for c in candidates)


Resolver = Callable[[str, int], Awaitable[list[str]]]


async def system_resolver(host: str, port: int) -> list[str]:
    """The addresses the system's resolver gives for ``host`` (:class:`FetchError` if none)."""
    try:
        infos = await asyncio.get_running_loop().getaddrinfo(host, port, type=socket.SOCK_STREAM)
    except socket.gaierror as exc:
        raise FetchError(f"cannot resolve {host}") from exc
    return [str(info[4][0]) for info in infos]


@dataclass(frozen=True)
class _Target:
    """One request of a download: where it goes and how it names the host."""

    url: str
    headers: dict[str, str]
    extensions: dict[str, str]


async def _target(url: str, resolve: Resolver | None) -> _Target:
    """Check ``url``; with a resolver (the guard on), pin it to the address that was checked."""
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https"):
        raise FetchError(f"refusing to fetch a {parts.scheme or 'schemeless'} URL", permanent=True)
    host = parts.hostname
    if not host:
        raise FetchError("the URL has no host", permanent=True)
    if resolve is None:  # FETCH_ALLOW_PRIVATE: no guard
        return _Target(url, {}, {})
    port = parts.port or (443 if parts.scheme == "https" else 80)
    addresses = await resolve(host, port)
    if not addresses:
        raise FetchError(f"cannot resolve {host}")
    if not all(_is_public(a) for a in addresses):
        raise FetchError(f"refusing to fetch from a private address ({host})", permanent=True)
    address = addresses[0].split("%", 1)[0]
    literal = f"[{address}]" if ":" in address else address
    netloc = f"{literal}:{parts.port}" if parts.port else literal
    host_header = (
        host if parts.port in (None, 443 if parts.scheme == "https" else 80) else (f"{host}:{port}")
    )
    return _Target(
        parts._replace(netloc=netloc).geturl(),
        {"Host": host_header},
        {"sni_hostname": host},
    )


def _verified(chunks: list[bytes]) -> tuple[bytes, ImageInfo]:
    data = b"".join(chunks)
    return data, inspect_image(data)


def _whole(chunks: list[bytes]) -> tuple[bytes, ImageInfo]:
    data = b"".join(chunks)
    return data, inspect_whole(data)


class ImageFetcher:
    """Fetches images under the SSRF guard, a size cap and content sniffing."""

    def __init__(
        self,
        client: httpx.AsyncClient,
        *,
        allow_private: bool = False,
        max_bytes: int = DEFAULT_MAX_BYTES,
        resolve: Resolver = system_resolver,
        total_seconds: float = DEFAULT_TOTAL_SECONDS,
    ) -> None:
        self.client = client
        self.allow_private = allow_private
        self.max_bytes = max_bytes
        self.total_seconds = total_seconds
        self._resolve: Resolver | None = None if allow_private else resolve

    async def fetch(self, url: str, *, decode: bool = True) -> FetchedImage:
        """Download ``url`` and return verified image bytes, or raise :class:`FetchError`.
        ``decode`` False: checked whole without decoding the pixels (:func:`inspect_whole`),
        as a provider's result is."""
        chunks = await self._chunks(url)
        try:  # joining and decoding tens of MB: off the event loop
            data, info = await cpu.run(_verified if decode else _whole, chunks)
        except NotAnImageError as exc:
            raise FetchError(f"the download is not a usable image: {exc}", permanent=True) from exc
        return FetchedImage(data=data, info=info, url=url)

    async def fetch_bytes(self, url: str) -> bytes:
        """Download ``url`` under the same guard and cap, without checking what it is (the
        caller does); :class:`FetchError` if it cannot be downloaded."""
        return await cpu.run(b"".join, await self._chunks(url))

    async def spool(self, url: str) -> Spool:
        """Download ``url`` under the same guard and cap into a :class:`~bot.media.spool.Spool`
        on disk (never whole in memory), without checking what it is; the caller closes it.
        :class:`FetchError` if it cannot be downloaded."""
        spool = Spool()
        try:
            await self._download(url, spool.write)
            await spool.flush()
        except BaseException:
            spool.close()
            raise
        return spool

    async def _chunks(self, url: str) -> list[bytes]:
        """The body's chunks (joined off the loop by the callers: a join of many MB, run on
        the loop for each of many downloads finishing at once, would hold it)."""
        chunks: list[bytes] = []

        async def keep(chunk: bytes) -> None:
            chunks.append(chunk)

        await self._download(url, keep)
        return chunks

    async def _download(self, url: str, sink: Callable[[bytes], Awaitable[None]]) -> None:
        """The body, chunk by chunk, to ``sink``, within ``total_seconds`` however slowly the
        server sends it."""
        try:
            async with asyncio.timeout(self.total_seconds):
                await self._download_within(url, sink)
        except TimeoutError as exc:
            raise FetchError(f"image download took longer than {self.total_seconds:.0f} s") from exc

    async def _download_within(self, url: str, sink: Callable[[bytes], Awaitable[None]]) -> None:
        current = url
        for _ in range(MAX_REDIRECTS + 1):
            target = await _target(current, self._resolve)
            try:
                async with self.client.stream(
                    "GET",
                    target.url,
                    headers=target.headers,
                    extensions=target.extensions,
                    follow_redirects=False,
                ) as resp:
                    if resp.is_redirect:
                        location = resp.headers.get("location")
                        if not location:
                            raise FetchError("redirect without a location")
                        current = urljoin(current, location)
                        continue
                    if resp.status_code != 200:
                        raise FetchError(
                            f"image download failed (HTTP {resp.status_code})",
                            permanent=resp.status_code in (401, 403, 404, 410),
                        )
                    declared = resp.headers.get("content-length")
                    if declared and declared.isdigit() and int(declared) > self.max_bytes:
                        raise FetchError(self._too_large(), permanent=True)
                    size = 0
                    async for chunk in resp.aiter_bytes():
                        size += len(chunk)
                        if size > self.max_bytes:
                            raise FetchError(self._too_large(), permanent=True)
                        await sink(chunk)
            except httpx.HTTPError as exc:
                raise FetchError(f"image download failed ({type(exc).__name__})") from exc
            return
        raise FetchError("too many redirects", permanent=True)

    def _too_large(self) -> str:
        return f"image is larger than {self.max_bytes // (1024 * 1024)} MB"
