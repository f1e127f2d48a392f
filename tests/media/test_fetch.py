"""The guarded image fetcher: SSRF guard, redirects, size cap and content sniffing."""

import io

import httpx
import pytest
from aiohttp import web
from PIL import Image

from bot.media.fetch import FetchError, ImageFetcher, _is_public
from bot.media.references import ReferenceImageError, ReferenceLoader
from bot.media.sniff import NotAnImageError, inspect_image
from providers.local import LocalProvider
from tests.fakes._base import FakeServer


def png(width=32, height=16) -> bytes:
    out = io.BytesIO()
    Image.new("RGB", (width, height), (200, 10, 10)).save(out, "PNG")
    return out.getvalue()


@pytest.fixture
async def server():
    fake = FakeServer()
    fake.files["ok.png"] = (png(), "image/png")
    fake.files["fake.png"] = (b"<html>not an image</html>", "image/png")
    fake.files["cut.png"] = (png(400, 400)[:200], "image/png")

    async def redirect(request: web.Request) -> web.Response:
        raise web.HTTPFound(request.query["to"])

    fake.app.router.add_get("/redirect", redirect)
    async with fake:
        yield fake


@pytest.fixture
async def client():
    async with httpx.AsyncClient() as c:
        yield c


async def test_loopback_refused_by_default(server, client):
    fetcher = ImageFetcher(client)
    with pytest.raises(FetchError, match="private address"):
        await fetcher.fetch(f"{server.base_url}/files/ok.png")


async def test_allowed_when_private_fetching_enabled(server, client):
    fetched = await ImageFetcher(client, allow_private=True).fetch(
        f"{server.base_url}/files/ok.png"
    )
    assert fetched.info.mime_type == "image/png"
    assert (fetched.info.width, fetched.info.height) == (32, 16)


@pytest.mark.parametrize("url", ["file:///etc/passwd", "ftp://example.com/x.png", "gopher://x"])
async def test_non_http_schemes_refused(client, url):
    with pytest.raises(FetchError, match="refusing"):
        await ImageFetcher(client, allow_private=True).fetch(url)


@pytest.mark.parametrize(
    ("address", "public"),
    [
        ("127.0.0.1", False),
        ("10.1.2.3", False),
        ("172.16.0.9", False),
        ("192.168.1.1", False),
        ("169.254.169.254", False),  # cloud metadata
        ("100.64.0.1", False),  # carrier-grade NAT
        ("0.0.0.0", False),
        ("::1", False),
        ("fd00::1", False),
        ("::ffff:127.0.0.1", False),
        ("224.0.0.1", False),
        ("8.8.8.8", True),
        ("2606:4700::1111", True),
    ],
)
def test_address_classification(address, public):
    assert _is_public(address) is public


async def test_redirects_are_followed_and_rechecked(server, client):
    fetcher = ImageFetcher(client, allow_private=True)
    target = f"{server.base_url}/files/ok.png"
    fetched = await fetcher.fetch(f"{server.base_url}/redirect?to={target}")
    assert fetched.info.mime_type == "image/png"
    with pytest.raises(FetchError, match="refusing"):
        await fetcher.fetch(f"{server.base_url}/redirect?to=file:///etc/passwd")


async def test_size_cap(server, client):
    fetcher = ImageFetcher(client, allow_private=True, max_bytes=50)
    with pytest.raises(FetchError, match="larger than"):
        await fetcher.fetch(f"{server.base_url}/files/ok.png")


async def test_declared_type_is_not_trusted(server, client):
    fetcher = ImageFetcher(client, allow_private=True)
    with pytest.raises(FetchError, match="not a usable image"):
        await fetcher.fetch(f"{server.base_url}/files/fake.png")
    with pytest.raises(FetchError, match="corrupt or truncated"):
        await fetcher.fetch(f"{server.base_url}/files/cut.png")


async def test_missing_file(server, client):
    with pytest.raises(FetchError, match="HTTP 404"):
        await ImageFetcher(client, allow_private=True).fetch(f"{server.base_url}/files/none.png")


def test_sniff_by_content():
    assert inspect_image(png()).mime_type == "image/png"
    out = io.BytesIO()
    Image.new("RGB", (8, 8)).save(out, "WEBP")
    assert inspect_image(out.getvalue()).mime_type == "image/webp"
    with pytest.raises(NotAnImageError):
        inspect_image(b"GIF89a-but-not-really")
    with pytest.raises(NotAnImageError):
        inspect_image(b"%PDF-1.7")


async def test_connected_address_is_rechecked(server, client, monkeypatch):
    """DNS rebinding: the lookup said public, but the connection went to a private address."""
    import bot.media.fetch as fetch_module

    async def lookup_says_public(url: str, allow_private: bool) -> None:
        return None

    monkeypatch.setattr(fetch_module, "_check_host", lookup_says_public)
    with pytest.raises(FetchError, match="private address"):
        await ImageFetcher(client).fetch(f"{server.base_url}/files/ok.png")


async def test_attachments_download_under_the_same_guard_and_are_checked_by_the_loader(
    server, client
):
    caps = LocalProvider.capabilities
    loader = ReferenceLoader(ImageFetcher(client, allow_private=True))
    ref = await loader.download(caps, "`reference`", f"{server.base_url}/files/ok.png")
    assert (ref.data, ref.mime_type) == (png(), "image/png")
    assert (
        await ImageFetcher(client, allow_private=True).fetch_bytes(
            f"{server.base_url}/files/fake.png"
        )
        == b"<html>not an image</html>"
    )  # fetch_bytes leaves the checking to its caller
    with pytest.raises(ReferenceImageError, match="not a usable image") as bad:
        await loader.download(caps, "`reference`", f"{server.base_url}/files/fake.png")
    assert bad.value.invalid
    with pytest.raises(ReferenceImageError, match="could not be downloaded") as gone:
        await loader.download(caps, "`reference`", f"{server.base_url}/files/none.png")
    assert not gone.value.invalid  # not the user's fault
    with pytest.raises(ReferenceImageError, match="private address"):
        await ReferenceLoader(ImageFetcher(client)).download(
            caps, "`reference`", f"{server.base_url}/files/ok.png"
        )
