"""``python -m bot imagine`` and ``run`` as a user runs them: a real subprocess."""

import os
import subprocess
import sys
from pathlib import Path

from PIL import Image

ROOT = Path(__file__).resolve().parent.parent


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
    assert result.returncode != 0
    assert "unknown provider 'nope'" in result.stderr
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
    result = bot("run", cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    assert "no DISCORD_TOKEN" in result.stderr
    assert "--provider local" in result.stderr
    saved = Path(tmp_path / result.stdout.strip())
    assert saved.is_file()
