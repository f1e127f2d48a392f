"""``SHARD_COUNT`` and ``SHARD_IDS``: which gateway shards a process runs, checked before
anything starts, and said by ``check``."""

from __future__ import annotations

import pytest

from bot.cli.check import check_command
from bot.cli.config import load_settings
from bot.cli.errors import FatalError
from bot.settings import Settings


@pytest.fixture(autouse=True)
def _clean(monkeypatch: pytest.MonkeyPatch, tmp_path):
    monkeypatch.chdir(tmp_path)  # no .env from the checkout
    for name in ("SHARD_COUNT", "SHARD_IDS", "BANANABOT_CONFIG", "DISCORD_TOKEN"):
        monkeypatch.delenv(name, raising=False)


def test_unset_means_every_recommended_shard_here():
    settings = Settings(_env_file=None)
    assert settings.shards() is None
    assert settings.syncs_commands


def test_ids_are_read_comma_separated(monkeypatch: pytest.MonkeyPatch):
    monkeypatch.setenv("SHARD_COUNT", "4")
    monkeypatch.setenv("SHARD_IDS", " 3, 1")
    settings = Settings(_env_file=None)
    assert settings.shard_count == 4
    assert settings.shards() == [3, 1]
    assert not settings.syncs_commands


def test_a_count_alone_runs_all_its_shards(monkeypatch: pytest.MonkeyPatch):
    monkeypatch.setenv("SHARD_COUNT", "3")
    assert Settings(_env_file=None).shards() == [0, 1, 2]


@pytest.mark.parametrize(
    ("env", "message"),
    [
        ({"SHARD_IDS": "0,1"}, "SHARD_IDS: needs SHARD_COUNT too"),
        ({"SHARD_COUNT": "2", "SHARD_IDS": "0,2"}, "SHARD_IDS: shard 2 does not exist"),
        ({"SHARD_COUNT": "2", "SHARD_IDS": "-1"}, "SHARD_IDS: shard -1 does not exist"),
        ({"SHARD_COUNT": "2", "SHARD_IDS": "1,1"}, "SHARD_IDS: a shard is named twice"),
        ({"SHARD_COUNT": "2", "SHARD_IDS": "one"}, "SHARD_IDS: expected shard numbers"),
        ({"SHARD_COUNT": "0"}, "SHARD_COUNT: expected a number at least 1, got '0'"),
    ],
)
def test_bad_shard_settings_stop_every_command_with_one_line(
    monkeypatch: pytest.MonkeyPatch, env: dict[str, str], message: str
):
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    with pytest.raises(FatalError) as caught:
        load_settings()
    assert any(line.startswith(message) for line in caught.value.lines), caught.value.lines


async def test_check_says_which_shards_run_here_and_who_syncs(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
):
    monkeypatch.setenv("SHARD_COUNT", "2")
    monkeypatch.setenv("SHARD_IDS", "1")
    settings, providers = load_settings()
    await check_command(settings, providers)
    out = capsys.readouterr().out
    assert (
        "[ok  ] gateway shards: 1 of SHARD_COUNT=2 here; the process running shard 0 syncs "
        "the commands" in out
    )
