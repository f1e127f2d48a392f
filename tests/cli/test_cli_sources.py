"""``python -m bot imagine`` with captioned references and grounding sources, as a real
subprocess against the provider fakes: captions reach the wire, sources reach stderr (stdout
keeps only the saved paths)."""

from __future__ import annotations

import base64

from PIL import Image

from tests.cli.test_cli import bot, run_async
from tests.fakes.gemini import FakeGemini
from tests.fakes.magnific import FakeMagnific

FLASH = ("--provider", "magnific", "--model", "nano-banana-pro-flash")


async def test_magnific_caption_on_the_wire_and_sources_on_stderr(tmp_path):
    async with FakeMagnific() as fake:
        env = {
            "MAGNIFIC_API_KEY": fake.api_key,
            "MAGNIFIC_BASE_URL": fake.base_url,
            "FETCH_ALLOW_PRIVATE": "1",
            "POLL_INTERVAL_SECONDS": "0.05",
        }
        code, out, err = await run_async(
            "imagine",
            "this person in this style",
            *FLASH,
            "--ref",
            "https://example.com/face.jpg",
            "--caption",
            "  the face ",
            "--ref",
            "https://example.com/style.png",
            "--grounding",
            "--out",
            "o",
            cwd=tmp_path,
            env=env,
        )
        assert code == 0, err
        assert len(out.split()) == 1 and (tmp_path / out.strip()).is_file()
        body = fake.requests_to("/nano-banana-pro-flash", "POST")[0].json
        refs = body["reference_images"]
        assert refs[0]["image"] == "https://example.com/face.jpg"
        assert refs[0]["text"] == "the face"
        assert "text" not in refs[1]
        lines = err.strip().splitlines()
        assert lines[0] == "sources:"
        assert [line.split(":")[0].strip() for line in lines[1:]] == [
            "wikipedia.org",
            "nasa.gov",
            "example.com",
        ]
        assert all("https://vertexaisearch.cloud.google.com/" in line for line in lines[1:])

        code, out, err = await run_async(
            "imagine", "a red fox", *FLASH, "--out", "o", cwd=tmp_path, env=env
        )
        assert code == 0, err
        assert "sources" not in err  # not grounded: nothing but the path


async def test_gemini_caption_is_a_text_part_before_its_image(tmp_path):
    ref = tmp_path / "face.png"
    Image.new("RGB", (32, 32), (200, 10, 10)).save(ref)
    async with FakeGemini() as fake:
        env = {"GEMINI_API_KEY": fake.api_key, "GEMINI_BASE_URL": fake.base_url}
        code, out, err = await run_async(
            "imagine",
            "make her smile",
            "--provider",
            "gemini",
            "--ref",
            str(ref),
            "--caption",
            "the face",
            "--grounding",
            "--out",
            "o",
            cwd=tmp_path,
            env=env,
        )
        assert code == 0, err
        assert (tmp_path / out.strip()).is_file()
        parts = fake.requests[-1].json["contents"][0]["parts"]
        assert parts[0] == {"text": "the face"}
        assert base64.b64decode(parts[1]["inlineData"]["data"]) == ref.read_bytes()
        assert parts[2] == {"text": "make her smile"}
        assert err.startswith("sources:\n  wikipedia.org: https://")


def test_a_caption_needs_a_ref_before_it(tmp_path):
    result = bot("imagine", "a fox", "--provider", "local", "--caption", "x", cwd=tmp_path)
    assert result.returncode == 2
    assert "--caption describes the --ref before it" in result.stderr
    twice = bot(
        "imagine",
        "a fox",
        "--provider",
        "local",
        "--ref",
        "a.png",
        "--caption",
        "x",
        "--caption",
        "y",
        cwd=tmp_path,
    )
    assert twice.returncode == 2
    assert "two captions" in twice.stderr


async def test_count_on_a_one_image_model_saves_every_image_of_the_group(tmp_path):
    async with FakeMagnific() as fake:
        env = {
            "MAGNIFIC_API_KEY": fake.api_key,
            "MAGNIFIC_BASE_URL": fake.base_url,
            "FETCH_ALLOW_PRIVATE": "1",
            "POLL_INTERVAL_SECONDS": "0.05",
        }
        code, out, err = await run_async(
            "imagine",
            "a red fox",
            "--provider",
            "magnific",
            "--count",
            "3",
            "--out",
            "o",
            cwd=tmp_path,
            env=env,
        )
        assert code == 0, err
        paths = out.split()
        assert len(paths) == 3 and all((tmp_path / p).is_file() for p in paths)
        assert len(fake.requests_to("/nano-banana-pro", "POST")) == 3
