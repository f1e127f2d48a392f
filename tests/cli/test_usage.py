"""The command line explains itself: the console command, help for every subcommand and
option (the providers listed from their capabilities), usage errors as one line with exit
code 2, local file errors never retried, and network failures as one line."""

from __future__ import annotations

import argparse
import io
import socket
import sys
import time
from importlib.metadata import version
from pathlib import Path

import pytest
from PIL import Image, ImageFont

from bot.cli.errors import FatalError
from bot.cli.files import FileNotifier, result_name
from bot.cli.imagine import _imagine
from bot.jobs.ports import DeliveryError
from bot.media.sniff import ImageFile, inspect_image
from bot.settings import Settings
from providers.local import render_image, wrap_text
from providers.registry import PROVIDERS, read_settings
from tests.cli.test_exits import PROMPT, bot, clean_env

CONSOLE = Path(sys.executable).with_name("bananabot")


def test_the_console_command_prints_the_version():
    import subprocess

    assert CONSOLE.is_file(), "pyproject.toml's [project.scripts] installs `bananabot`"
    result = subprocess.run(
        [str(CONSOLE), "--version"],
        capture_output=True,
        text=True,
        timeout=30,
        check=False,
        env=clean_env({}),
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == f"bananabot {version('bananabot')}"


@pytest.mark.parametrize(
    ("command", "words"),
    [
        ([], ["run", "check", "migrate", "imagine", "exit codes", "BANANABOT_CONFIG"]),
        (["run"], ["DISCORD_TOKEN", "--demo-without-token", "exits with code 1", "--debug"]),
        (["check"], ["without starting the bot", "DEFAULT_PROVIDER", "Exit"]),
        (["migrate"], ["BANANABOT_DB", "migrations"]),
        (["imagine"], ["prompt", "what to draw", "--model", "--count", "1 to 4", "--ref"]),
    ],
    ids=["main", "run", "check", "migrate", "imagine"],
)
async def test_every_command_has_help(tmp_path, command, words):
    result = await bot(*command, "--help", cwd=tmp_path)
    assert result.code == 0, result.stderr
    for word in words:
        assert word in result.stdout


async def test_imagine_help_lists_every_provider_and_model_with_what_it_accepts(tmp_path):
    result = await bot("imagine", "--help", cwd=tmp_path)
    text = " ".join(result.stdout.split())  # as one line, whatever the wrapping
    for name, cls in PROVIDERS.items():
        assert f" {name} (" in text
        for model in cls.capabilities.models:
            start = text.index(f" {model.name}: ", text.index(f" {name} ("))
            line = text[start : start + 400]
            assert "aspect " + ", ".join(model.aspect_ratios) in line
            if model.resolutions:
                assert "resolution " + ", ".join(model.resolutions) in line
    assert "set GEMINI_API_KEY" in text
    assert "local (offline, no key)" in text


async def test_a_bare_command_shows_the_help(tmp_path):
    result = await bot(cwd=tmp_path)
    assert result.code == 2
    assert "imagine" in result.stdout


@pytest.mark.parametrize(
    ("args", "words"),
    [
        (["imagine", "a fox", "--provider", "local", "--count", "0"], ["--count", "1 to 4", "'0'"]),
        (["imagine", "a fox", "--provider", "local", "--count", "5"], ["--count", "1 to 4"]),
        (["imagine", "a fox", "--provider", "local", "--count", "two"], ["--count", "'two'"]),
        (["imagine", "a fox", "--provider", "nope"], ["unknown provider 'nope'", "local"]),
        (["imagine", "a fox", "--provider", "local:nope"], ["local has no model 'nope'"]),
        (["imagine", "  ", "--provider", "local"], ["needs at least 1 character"]),
        (["imagine", "a fox", "--provider", "local", "--aspect", "7:3"], ["choose one of"]),
        (["imagine", "a fox", "--provider", "local", "--bogus"], ["--bogus"]),
        (["frobnicate"], ["invalid choice: 'frobnicate'"]),
    ],
    ids=[
        "count-0",
        "count-5",
        "count-word",
        "provider",
        "model",
        "prompt",
        "aspect",
        "option",
        "cmd",
    ],
)
async def test_usage_errors_are_one_line_and_exit_2(tmp_path, args, words):
    result = await bot(*args, cwd=tmp_path)
    assert result.code == 2, result.stderr
    assert len(result.lines) == 1, result.stderr
    for word in words:
        assert word in result.lines[0]
    assert "1 characters" not in result.lines[0]
    assert result.stdout == ""


async def test_debug_works_after_the_subcommand_too(tmp_path):
    result = await bot(
        "imagine", "--debug", "a fox", "--provider", "local", "--out", "o", cwd=tmp_path
    )
    assert result.code == 0, result.stderr
    assert "DEBUG" in result.stderr


async def test_a_bad_out_directory_is_refused_before_anything_is_made(tmp_path):
    (tmp_path / "taken").write_text("a file")
    for out in ("taken", "taken/inside"):
        result = await bot("imagine", "a fox", "--provider", "local", "--out", out, cwd=tmp_path)
        assert result.code == 2, result.stderr
        assert result.lines == [
            f"error: --out {out}{': taken' if '/' in out else ''} is a file, "
            "not a directory; name a directory"
        ]
        assert result.ended - result.started < PROMPT + 2.0
        assert result.stdout == ""


async def test_a_directory_given_as_a_reference_is_called_one(tmp_path):
    (tmp_path / "pics").mkdir()
    result = await bot("imagine", "a fox", "--provider", "local", "--ref", "pics", cwd=tmp_path)
    assert result.code == 2
    assert result.lines == ["error: reference pics is a directory: name an image file"]


def closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


async def test_a_network_failure_is_one_line_and_retries_are_quiet(tmp_path):
    base = f"http://127.0.0.1:{closed_port()}"
    env = {"GEMINI_API_KEY": "k", "GEMINI_BASE_URL": base}
    result = await bot("imagine", "a fox", "--provider", "gemini", cwd=tmp_path, env=env)
    assert result.code == 1
    assert result.lines == [
        f"error: cannot reach gemini at {base}: check the network, or GEMINI_BASE_URL if you set it"
    ]
    loud = await bot("--debug", "imagine", "a fox", "--provider", "gemini", cwd=tmp_path, env=env)
    assert loud.code == 1
    assert "retrying after cannot reach gemini" in loud.stderr  # there, for whoever asks


# ---------------------------------------------------------------- files


def test_file_names_have_no_doubled_dashes():
    name = result_name(job_of("a fox " * 6 + "!! and more words after the cut"), 1, "png")
    assert name == "a-fox-a-fox-a-fox-a-fox-a-fox-a-fox-and-bf7e0123abcd-1.png"


def job_of(prompt: str):
    from bot.jobs.models import Job, Origin
    from bot.jobs.states import JobStatus
    from providers.base import GenerationRequest

    return Job(
        id="bf7e0123abcd",
        status=JobStatus.SUCCEEDED,
        kind="imagine",
        origin=Origin(user_id="cli"),
        provider="local",
        model="local",
        request=GenerationRequest(prompt=prompt),
        callback_token="t",
        cost=0,
        created_at=0.0,
        updated_at=0.0,
        deadline_at=0.0,
    )


@pytest.mark.parametrize("prompt", ["fox " * 10 + "fox", "a" * 39 + " b", "!!!", "x-" * 30])
def test_file_names_for_awkward_prompts(prompt):
    name = result_name(job_of(prompt), 2, "png")
    assert "--" not in name
    assert name.endswith("-bf7e0123abcd-2.png")
    assert not name.startswith("-")


async def test_a_local_write_error_is_permanent(tmp_path):
    (tmp_path / "taken").write_text("a file")
    data = render_image("a fox", (64, 64))
    image = ImageFile.of(data, inspect_image(data))
    with pytest.raises(DeliveryError) as caught:
        await FileNotifier(tmp_path / "taken").deliver(job_of("a fox"), [image], 1)
    assert caught.value.permanent
    assert "--out" in str(caught.value)


async def test_a_local_write_error_ends_the_job_at_once_without_retries(tmp_path, monkeypatch):
    """Past the up-front check (a directory that turns into a file meanwhile, say), a write
    error fails the job at once instead of being retried with a backoff for a minute."""
    monkeypatch.chdir(tmp_path)
    (tmp_path / "taken").write_text("a file")
    args = argparse.Namespace(
        prompt="a fox",
        provider="local",
        model=None,
        aspect=None,
        resolution=None,
        grounding=False,
        ref=[],
        count=1,
        out="taken",
        timeout=60.0,
    )
    began = time.monotonic()
    with pytest.raises(FatalError) as caught:
        await _imagine(args, Settings(_env_file=None), read_settings(env_file=None))
    assert time.monotonic() - began < PROMPT
    assert "could not be delivered: cannot write to taken" in str(caught.value)


# ---------------------------------------------------------------- the offline renderer


@pytest.mark.parametrize(
    "prompt",
    ["x" * 500, "a " + "supercalifragilistic" * 20 + " banana", "short", "line one\nline two"],
)
def test_the_offline_renderer_wraps_every_line_inside_the_image(prompt):
    font = ImageFont.load_default(size=40)
    lines = wrap_text(prompt, font, 600)
    assert all(font.getlength(line) <= 600 for line in lines)
    assert "".join("".join(lines).split()) == "".join(prompt.split())  # nothing lost


@pytest.mark.parametrize("prompt", ["z" * 2000, "a " + "W" * 300])
def test_a_long_unbroken_prompt_renders_inside_the_picture(prompt):
    data = render_image(prompt, (512, 512))
    with Image.open(io.BytesIO(data)) as image:
        assert image.size == (512, 512)
        margin = image.crop((490, 0, 512, 512)).convert("RGB")
        # the background is a vertical gradient: every row of the right margin is one colour,
        # unless text ran into it
        for y in range(margin.height):
            row = {margin.getpixel((x, y)) for x in range(margin.width)}
            assert len(row) == 1, f"text in the right margin at row {y}"
