"""``python -m bot imagine`` as a user runs it (a real subprocess) against loopback provider
fakes: ``--format`` reaches the wire only when given, and a URL ``--ref`` is declared as the
type its bytes are (or, when they cannot be downloaded, the type its URL names)."""

from __future__ import annotations

import io
from pathlib import Path

import pytest
from PIL import Image

from tests.cli.test_cli import run_async
from tests.fakes.magnific import FakeMagnific
from tests.fakes.nanobananaapi import GENERATE_2, FakeNanoBananaApi


def image_bytes(image_format: str, **params: object) -> bytes:
    buffer = io.BytesIO()
    Image.new("RGB", (24, 16), (200, 40, 40)).save(buffer, image_format, **params)
    return buffer.getvalue()


def closed_port_url(path: str) -> str:
    """A loopback URL nothing answers (port 9 is discard, never served in tests)."""
    return f"http://127.0.0.1:9/{path}"


@pytest.fixture
def env_for():
    def make(name: str, fake: FakeMagnific | FakeNanoBananaApi) -> dict[str, str]:
        return {
            f"{name}_API_KEY": fake.api_key,
            f"{name}_BASE_URL": fake.base_url,
            "FETCH_ALLOW_PRIVATE": "1",
            "POLL_INTERVAL_SECONDS": "0.05",
        }

    return make


async def test_format_is_sent_only_when_given(tmp_path: Path, env_for) -> None:
    async with FakeNanoBananaApi() as fake:
        fake.steps_to_finish, fake.step_seconds = 1, 0.02
        env = env_for("NANOBANANAAPI", fake)
        args = ("imagine", "a red fox", "--provider", "nanobananaapi", "--out", "o")
        code, out, err = await run_async(*args, "--format", "PNG", cwd=tmp_path, env=env)
        assert code == 0, err
        with Image.open(tmp_path / out.strip()) as image:
            assert image.format == "PNG"
        code, out, err = await run_async(*args, cwd=tmp_path, env=env)
        assert code == 0, err
        with Image.open(tmp_path / out.strip()) as image:
            assert image.format == "JPEG"  # the documented default
        chosen, default = (r.json for r in fake.requests_to(GENERATE_2, "POST"))
        assert chosen["outputFormat"] == "png"
        assert "outputFormat" not in default

        code, out, err = await run_async(*args, "--format", "webp", cwd=tmp_path, env=env)
        assert code == 2
        assert "Output format webp is not supported by nanobananaapi nano-banana-2" in err
        assert "choose one of: png, jpg" in err
        code, out, err = await run_async(
            *args, "--model", "nano-banana", "--format", "png", cwd=tmp_path, env=env
        )
        assert code == 2
        assert "not supported by nanobananaapi nano-banana; choose one of: none" in err
        assert len(fake.requests_to(GENERATE_2, "POST")) == 2  # refused before anything is sent


async def test_url_references_are_declared_as_what_they_are(tmp_path: Path, env_for) -> None:
    async with FakeMagnific() as fake:
        # names that lie, or say nothing: only the bytes tell
        fake.files["photo"] = (image_bytes("JPEG"), "application/octet-stream")
        fake.files["still.png"] = (image_bytes("WEBP"), "image/png")
        fake.files["plain.jpg"] = (image_bytes("PNG"), "image/jpeg")
        refs = [f"{fake.base_url}/files/{name}" for name in ("photo", "still.png", "plain.jpg")]
        refs.append(closed_port_url("offline/shot.JPEG?sig=abc"))  # not downloadable: by name
        args = ["imagine", "a fox like these", "--provider", "magnific", "--out", "o"]
        for ref in refs:
            args += ["--ref", ref]
        code, _, err = await run_async(*args, cwd=tmp_path, env=env_for("MAGNIFIC", fake))
        assert code == 0, err
        (sent,) = (r.json for r in fake.requests_to("/nano-banana-pro", "POST"))
        assert [(r["image"], r["mime_type"]) for r in sent["reference_images"]] == list(
            zip(refs, ["image/jpeg", "image/webp", "image/png", "image/jpeg"], strict=True)
        )


async def test_url_references_that_cannot_be_typed_are_refused(tmp_path: Path, env_for) -> None:
    async with FakeMagnific() as fake:
        fake.files["page.png"] = (b"<html><body>sign in</body></html>", "image/png")
        env = env_for("MAGNIFIC", fake)
        args = ("imagine", "a fox", "--provider", "magnific")
        code, _, err = await run_async(
            *args, "--ref", f"{fake.base_url}/files/page.png", cwd=tmp_path, env=env
        )
        assert code == 2
        assert "is not a usable image" in err
        code, _, err = await run_async(
            *args, "--ref", closed_port_url("no-extension"), cwd=tmp_path, env=env
        )
        assert code == 1
        assert "could not be downloaded to learn its type" in err
        assert fake.requests_to("/nano-banana-pro", "POST") == []
