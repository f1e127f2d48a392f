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


@pytest.mark.parametrize(
    "address",
    [
        "::ffff:127.0.0.1",  # IPv4-mapped
        "::7f00:1",  # IPv4-compatible, 127.0.0.1
        "64:ff9b::a9fe:a9fe",  # NAT64 of 169.254.169.254 (cloud metadata)
        "64:ff9b:1::a00:1",  # local-use NAT64 of 10.0.0.1
        "2002:7f00:1::",  # 6to4 of 127.0.0.1
        "2002:a9fe:a9fe::1",  # 6to4 of 169.254.169.254
        "2001:0:4136:e378:8000:63bf:80ff:fffe",  # Teredo whose client is 127.0.0.1
        "fe80::1%eth0",  # link-local with a zone
    ],
)
def test_ipv6_forms_that_carry_a_private_ipv4_are_private(address):
    assert not _is_public(address)


@pytest.mark.parametrize("address", ["93.184.216.34", "2606:2800:220:1::1", "64:ff9b::5db8:d822"])
def test_public_addresses_pass(address):
    assert _is_public(address)


def fixed_resolver(*answers: list[str]):
    """A resolver giving each answer in turn (the last one from then on), counting calls."""
    calls: list[str] = []

    async def resolve(host: str, port: int) -> list[str]:
        calls.append(host)
        return answers[min(len(calls), len(answers)) - 1]

    return resolve, calls


async def test_the_connection_goes_to_the_checked_address():
    """The host is resolved once; the request is sent to that address (with the original Host
    and TLS server name), so a DNS answer that changes afterwards (rebinding) reaches nothing."""
    seen: list[httpx.Request] = []

    def answer(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        return httpx.Response(200, content=png())

    resolve, calls = fixed_resolver(["93.184.216.34"], ["127.0.0.1"])
    async with httpx.AsyncClient(transport=httpx.MockTransport(answer)) as client:
        fetched = await ImageFetcher(client, resolve=resolve).fetch(
            "https://images.example/a.png?sig=1"
        )
    assert fetched.data == png()
    assert calls == ["images.example"]
    (request,) = seen
    assert request.url.host == "93.184.216.34" and request.url.path == "/a.png"
    assert request.headers["host"] == "images.example"
    assert request.extensions["sni_hostname"] == "images.example"


async def test_a_private_address_is_refused_at_once_and_for_good():
    resolve, _ = fixed_resolver(["64:ff9b::a9fe:a9fe"])
    requests: list[httpx.Request] = []

    def answer(request: httpx.Request) -> httpx.Response:
        requests.append(request)
        return httpx.Response(200)

    transport = httpx.MockTransport(answer)
    async with httpx.AsyncClient(transport=transport) as client:
        with pytest.raises(FetchError, match="private address") as refused:
            await ImageFetcher(client, resolve=resolve).fetch("http://metadata.example/x")
    assert refused.value.permanent
    assert requests == []  # nothing was sent


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
