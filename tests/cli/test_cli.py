"""``python -m bot imagine`` and ``run`` as a user runs them: a real subprocess."""

import asyncio
import os
import subprocess
import sys
from pathlib import Path

from PIL import Image

from bot.storage.migrate import migration_files
from tests.fakes._base import Fault, On, Outcome
from tests.fakes.magnific import FakeMagnific

ROOT = Path(__file__).resolve().parents[2]


def bot(
    *args: str, cwd: Path, env: dict[str, str] | None = None
) -> subprocess.CompletedProcess[str]:
    clean = {k: v for k, v in os.environ.items() if not k.endswith(("_API_KEY", "_TOKEN"))}
    clean.update(env or {})
    return subprocess.run(
        [sys.executable, "-m", "bot", *args],
        cwd=cwd,
        env=clean,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


def test_local_imagine_writes_a_real_16_9_image(tmp_path):
    result = bot(
        "imagine",
        "a red fox",
        "--provider",
        "local",
        "--aspect",
        "16:9",
        "--out",
        "out",
        cwd=tmp_path,
    )
    assert result.returncode == 0, result.stderr
    paths = result.stdout.split()
    assert len(paths) == 1
    with Image.open(tmp_path / paths[0]) as image:
        assert image.format == "PNG"
        assert abs(image.width / image.height - 16 / 9) < 0.01


def test_count_resolution_and_local_reference(tmp_path):
    ref = tmp_path / "ref.jpg"
    Image.new("RGB", (64, 64), (0, 255, 0)).save(ref, "JPEG")
    result = bot(
        "imagine",
        "two cats",
        "--provider",
        "local",
        "--count",
        "2",
        "--resolution",
        "2k",
        "--ref",
        str(ref),
        "--out",
        "o",
        cwd=tmp_path,
    )
    assert result.returncode == 0, result.stderr
    paths = result.stdout.split()
    assert len(paths) == 2
    with Image.open(tmp_path / paths[0]) as image:
        assert image.size == (2048, 2048)


def test_invalid_options_name_what_is_allowed(tmp_path):
    result = bot("imagine", "x y", "--provider", "local", "--aspect", "7:3", cwd=tmp_path)
    assert result.returncode == 2
    assert "choose one of: 1:1" in result.stderr
    assert result.stdout == ""
    assert len(result.stderr.strip().splitlines()) == 1


def test_unknown_and_unconfigured_providers(tmp_path):
    result = bot("imagine", "x y", "--provider", "nope", cwd=tmp_path)
    assert result.returncode == 2  # a usage error, as an unknown model is
    assert "unknown provider 'nope'" in result.stderr
    result = bot("imagine", "x y", "--provider", "local", "--model", "nope", cwd=tmp_path)
    assert result.returncode == 2
    assert "local has no model 'nope'" in result.stderr
    result = bot("imagine", "x y", "--provider", "gemini", cwd=tmp_path)
    assert result.returncode == 1  # known, but not configured here
    assert result.stderr == "error: gemini is not configured: set GEMINI_API_KEY\n"
    result = bot("imagine", "x y", cwd=tmp_path)
    assert result.returncode == 2
    assert "--provider" in result.stderr


def test_non_image_reference_refused(tmp_path):
    bad = tmp_path / "notes.png"
    bad.write_text("hello")
    result = bot("imagine", "x y", "--provider", "local", "--ref", str(bad), cwd=tmp_path)
    assert result.returncode == 2
    assert "not a PNG, JPEG, WebP or GIF" in result.stderr


def test_run_without_token_explains_and_runs_the_demo(tmp_path):
    result = bot("run", "--demo-without-token", cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    assert "no DISCORD_TOKEN" in result.stderr
    assert "--provider local" in result.stderr
    saved = Path(tmp_path / result.stdout.strip())
    assert saved.is_file()


async def run_async(*args: str, cwd: Path, env: dict[str, str]) -> tuple[int, str, str]:
    clean = {k: v for k, v in os.environ.items() if not k.endswith(("_API_KEY", "_TOKEN"))}
    clean.update(env)
    proc = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "bot",
        *args,
        cwd=cwd,
        env=clean,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    out, err = await asyncio.wait_for(proc.communicate(), timeout=60)
    assert proc.returncode is not None
    return proc.returncode, out.decode(), err.decode()


async def test_imagine_against_a_provider_fake(tmp_path):
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
            "--model",
            "nano-banana-pro-flash",
            "--aspect",
            "9:16",
            "--grounding",
            "--out",
            "o",
            cwd=tmp_path,
            env=env,
        )
        assert code == 0, err
        with Image.open(tmp_path / out.strip()) as image:
            assert image.height > image.width
        body = fake.requests_to("/nano-banana-pro-flash", "POST")[0].json
        assert body["use_google_search_tool"] is True
        assert body["aspect_ratio"] == "9:16"

        code, out, err = await run_async(
            "imagine", "a red fox", "--provider", "magnific", "--grounding", cwd=tmp_path, env=env
        )
        assert code == 2
        assert "grounding is not available on magnific nano-banana-pro" in err

        fake.next_outcome(
            Outcome(success=False, reason="Blocked by content policy", content_policy=True)
        )
        code, out, err = await run_async(
            "imagine", "a red fox", "--provider", "magnific", cwd=tmp_path, env=env
        )
        assert code == 1
        assert err.strip() == "error: magnific rejected the request: Blocked by content policy"

        fake.inject(Fault.BAD_KEY, on=On.CREATE)
        code, out, err = await run_async(
            "imagine", "a red fox", "--provider", "magnific", cwd=tmp_path, env=env
        )
        assert code == 1
        assert "refused the API key" in err
        assert fake.api_key not in err
        assert len(err.strip().splitlines()) == 1

        ref = tmp_path / "ref.png"
        Image.new("RGB", (32, 32)).save(ref)
        code, out, err = await run_async(
            "imagine",
            "a red fox",
            "--provider",
            "magnific",
            "--ref",
            str(ref),
            cwd=tmp_path,
            env=env,
        )
        assert code == 2
        assert "only takes reference images by public URL" in err


def test_migrate(tmp_path):
    result = bot("migrate", cwd=tmp_path, env={"BANANABOT_DB": str(tmp_path / "b.db")})
    assert result.returncode == 0, result.stderr
    assert "applied 0001_initial.sql" in result.stdout
    again = bot("migrate", cwd=tmp_path, env={"BANANABOT_DB": str(tmp_path / "b.db")})
    assert "applied" not in again.stdout
    assert f"schema version {len(migration_files())}" in again.stdout


async def test_check_reports_what_is_configured_and_wrong(tmp_path):
    from tests.fakes.discord import FakeDiscord
    from tests.fakes.nanobananaapi import FakeNanoBananaApi

    async with FakeDiscord() as discord_fake, FakeNanoBananaApi() as nba:
        env = {
            "DISCORD_TOKEN": discord_fake.token,
            "DISCORD_API_BASE": discord_fake.api_base,
            "NANOBANANAAPI_API_KEY": nba.api_key,
            "NANOBANANAAPI_BASE_URL": nba.base_url,
            "BANANABOT_DB": str(tmp_path / "b.db"),
        }
        code, out, err = await run_async("check", cwd=tmp_path, env=env)
        assert code == 0, out + err
        assert "[ok  ] Discord token accepted" in out
        assert "[ok  ] nanobananaapi: NANOBANANAAPI_API_KEY accepted" in out
        assert "credits left" in out
        assert "magnific: not configured (set MAGNIFIC_API_KEY)" in out
        assert nba.api_key not in out

        env.update(DISCORD_TOKEN="wrong", CALLBACK_PUBLIC_URL="ftp://x", DEFAULT_PROVIDER="gemini")
        code, out, err = await run_async("check", cwd=tmp_path, env=env)
        assert code == 1
        assert "[FAIL] Discord refused DISCORD_TOKEN" in out
        assert "[FAIL] CALLBACK_PUBLIC_URL 'ftp://x' is not an absolute http(s) URL" in out
        assert "[FAIL] DEFAULT_PROVIDER 'gemini': Unknown provider `gemini`" in out
        assert "wrong" not in out


def test_progress_line_on_a_terminal(tmp_path):
    import pty

    leader, follower = pty.openpty()
    clean = {k: v for k, v in os.environ.items() if not k.endswith(("_API_KEY", "_TOKEN"))}
    proc = subprocess.Popen(
        [sys.executable, "-m", "bot", "imagine", "a red fox", "--provider", "local", "--out", "o"],
        cwd=tmp_path,
        env=clean,
        stdout=subprocess.PIPE,
        stderr=follower,
    )
    os.close(follower)
    out, _ = proc.communicate(timeout=60)
    chunks = []
    while True:
        try:
            chunk = os.read(leader, 4096)
        except OSError:
            break
        if not chunk:
            break
        chunks.append(chunk)
    os.close(leader)
    terminal = b"".join(chunks).decode()
    assert proc.returncode == 0
    assert "\rlocal: submitted" in terminal
    # the image, ready at once, is written without an "uploading" step (shown only for
    # results that take a while to download: bot.jobs.delivery.UPLOADING_AFTER)
    assert "uploading" not in terminal
    assert out.decode().strip().endswith(".png")  # paths stay clean on stdout
