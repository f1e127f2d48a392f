"""The fake CDN: keeps uploaded files and serves their bytes.

Every attachment (a user's upload, a bot's ``files[n]`` part, an ATTACHMENT option) is stored
here under ``{folder}/{id}/{filename}`` and gets Discord-style signed URLs
(``?ex=<hex expiry>&is=<hex issued>&hm=<signature>&``, valid for a day from the clock's time)
on ``/cdn/...`` and the media proxy ``/media/...``. ``/assets/...`` (avatars, icons) answers
a 1x1 PNG.
"""

from __future__ import annotations

import base64
import hashlib
import io
import mimetypes
import re
from urllib.parse import quote

from aiohttp import web

from tests.fakes.discord.models import FakeAttachment
from tests.fakes.discord.state import DiscordState

_TINY_PNG = base64.b64decode(
    "iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mNk+M9QDwADhgGAWjR9awAAAABJRU5ErkJggg=="
)

#: ``(filename, bytes)``, ``(filename, bytes, content_type)`` or ``(filename, bytes,
#: content_type, description)``: a file a user uploads (the description is its alt text, sent
#: as the attachment's ``description``).
AttachmentSpec = tuple[str, bytes] | tuple[str, bytes, str] | tuple[str, bytes, str, str]


class Cdn:
    """Uploaded files by CDN path, and the routes that serve them."""

    def __init__(self, state: DiscordState) -> None:
        """Serve files under ``state.base_url``."""
        self.state = state
        self.files: dict[str, tuple[bytes, str]] = {}  # path -> (bytes, content type)

    def add_routes(self, router: web.UrlDispatcher) -> None:
        """``/cdn/...``, ``/media/...`` and ``/assets/...``."""
        router.add_get("/cdn/{tail:.*}", self._serve)
        router.add_get("/media/{tail:.*}", self._serve)
        router.add_get("/assets/{tail:.*}", self._serve_asset)

    def upload(
        self,
        folder: str,
        filename: str,
        data: bytes,
        content_type: str,
        *,
        description: str | None = None,
        ephemeral: bool = False,
    ) -> FakeAttachment:
        """Store a file; return the attachment Discord would describe it with."""
        aid = self.state.new_id()
        name = _sanitize_filename(filename)
        key = f"{folder}/{aid}/{name}"
        self.files[key] = (data, content_type)
        now = int(self.state.clock.time())
        signature = hashlib.sha256(f"{key}{now}".encode()).hexdigest()
        query = f"?ex={now + 86400:x}&is={now:x}&hm={signature}&"
        size = _image_size(data) if content_type.startswith("image/") else None
        base_url = self.state.base_url
        return FakeAttachment(
            id=aid,
            filename=name,
            data=data,
            content_type=content_type,
            url=f"{base_url}/cdn/{quote(key)}{query}",
            proxy_url=f"{base_url}/media/{quote(key)}{query}",
            width=size[0] if size else None,
            height=size[1] if size else None,
            description=description,
            ephemeral=ephemeral,
        )

    def upload_spec(
        self, folder: str, spec: AttachmentSpec, *, ephemeral: bool = False
    ) -> FakeAttachment:
        """Store a user's file given as an :data:`AttachmentSpec`."""
        description = spec[3] if len(spec) == 4 else None
        return self.upload(folder, *spec_parts(spec), description=description, ephemeral=ephemeral)

    def add_file(self, filename: str, data: bytes, content_type: str | None = None) -> str:
        """Serve ``data`` from the fake CDN; return its URL."""
        attachment = self.upload(
            "attachments/0", filename, data, content_type or guess_type(filename)
        )
        return attachment.url

    async def _serve(self, request: web.Request) -> web.Response:
        entry = self.files.get(request.match_info["tail"])
        if entry is None:
            return web.Response(status=404, text="Not Found")
        data, content_type = entry
        return web.Response(body=data, headers={"Content-Type": content_type})

    async def _serve_asset(self, request: web.Request) -> web.Response:
        return web.Response(body=_TINY_PNG, headers={"Content-Type": "image/png"})


def spec_parts(spec: AttachmentSpec) -> tuple[str, bytes, str]:
    """``(filename, bytes, content_type)`` of a spec, the type guessed from the name if
    absent."""
    if len(spec) >= 3:
        return spec[0], spec[1], spec[2]
    return spec[0], spec[1], guess_type(spec[0])


def guess_type(filename: str) -> str:
    """The content type a file's name suggests (``application/octet-stream`` if none)."""
    return mimetypes.guess_type(filename)[0] or "application/octet-stream"


def _image_size(data: bytes) -> tuple[int, int] | None:
    try:
        from PIL import Image

        with Image.open(io.BytesIO(data)) as image:
            return int(image.width), int(image.height)
    except Exception:
        return None


def _sanitize_filename(filename: str) -> str:
    name = filename.replace("/", "_").replace("\\", "_")
    return re.sub(r"\s+", "_", name) or "unknown"
