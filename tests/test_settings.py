"""Settings come from the environment under their fixed names, then ``.env``, then the TOML
file named by ``BANANABOT_CONFIG``; a bad one is named as the operator wrote it."""

from pathlib import Path

import pytest

from bot.cli.config import load_settings
from bot.cli.errors import FatalError
from bot.settings import Settings
from providers.config import ConfigFileError
from providers.magnific import MagnificSettings
from providers.registry import PROVIDERS, build_providers, read_settings


def test_engine_limits_from_env(monkeypatch):
    monkeypatch.setenv("PROVIDER_CONCURRENCY", '{"magnific": 5, "gemini": 2}')
    monkeypatch.setenv("USER_MAX_JOBS", "4")
    monkeypatch.setenv("QUOTA_COSTS", '{"1K": 1, "2K": 3, "4K": 6}')
    monkeypatch.setenv("CALLBACK_PUBLIC_URL", "https://bot.example.com")
    monkeypatch.setenv("LEASE_SECONDS", "2.5")
    config = Settings(_env_file=None).engine_config()
    assert config.lease_seconds == 2.5
    assert config.provider_concurrency == {"magnific": 5, "gemini": 2}
    assert config.per_user_active_limit == 4
    assert config.costs["4K"] == 6
    assert config.callback_base_url == "https://bot.example.com"


def test_missing_keys_are_reported_not_crashed_on(monkeypatch):
    for name in PROVIDERS:
        monkeypatch.delenv(f"{name.upper()}_API_KEY", raising=False)
    monkeypatch.setenv("GEMINI_API_KEY", "k")
    monkeypatch.setenv("GEMINI_BASE_URL", "http://127.0.0.1:9")
    settings = read_settings(env_file=None)
    ready, unconfigured = build_providers(settings)
    assert set(ready) == {"gemini", "local"}
    assert ready["gemini"].base_url == "http://127.0.0.1:9"
    assert unconfigured["magnific"] == "magnific is not configured: set MAGNIFIC_API_KEY"
    assert "k" not in repr(settings["gemini"].api_key)


def test_dotenv_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    monkeypatch.delenv("QUOTA_DAILY_CREDITS", raising=False)
    env = tmp_path / ".env"
    env.write_text("QUOTA_DAILY_CREDITS=7\nBANANABOT_DB=data/x.db\n")
    settings = Settings(_env_file=env)
    assert settings.quota_daily_credits == 7
    assert settings.bananabot_db == Path("data/x.db")


def test_each_provider_reads_its_own_variables(monkeypatch: pytest.MonkeyPatch):
    names = {
        "MAGNIFIC_API_KEY": "mk",
        "MAGNIFIC_BASE_URL": "http://magnific.test",
        "MAGNIFIC_WEBHOOK_SECRET": "whsec",
        "NANOBANANAAPI_API_KEY": "nk",
        "NANOBANANAAPI_BASE_URL": "http://nanobananaapi.test",
        "NANOBANANAPRO_API_KEY": "pk",
        "NANOBANANAPRO_BASE_URL": "http://nanobananapro.test",
        "GEMINI_API_KEY": "gk",
        "GEMINI_BASE_URL": "http://gemini.test",
    }
    for name, value in names.items():
        monkeypatch.setenv(name, value)
    settings = read_settings(env_file=None)
    for name, value in names.items():
        provider, _, field = name.lower().partition("_")
        got = getattr(settings[provider], field)
        assert (got.get_secret_value() if hasattr(got, "get_secret_value") else got) == value
    magnific = settings["magnific"]
    assert isinstance(magnific, MagnificSettings)
    assert magnific.webhook_secret is not None
    assert magnific.webhook_secret.get_secret_value() == "whsec"
    assert "mk" not in repr(magnific)


def test_empty_values_count_as_unset(monkeypatch: pytest.MonkeyPatch):
    monkeypatch.setenv("MAGNIFIC_API_KEY", "")
    monkeypatch.setenv("MAGNIFIC_BASE_URL", "")
    monkeypatch.setenv("MAGNIFIC_WEBHOOK_SECRET", "")
    magnific = read_settings(env_file=None)["magnific"]
    assert isinstance(magnific, MagnificSettings)
    assert magnific.api_key is None
    assert magnific.base_url is None
    assert magnific.webhook_secret is None
    _, unconfigured = build_providers({"magnific": magnific})
    assert unconfigured["magnific"] == "magnific is not configured: set MAGNIFIC_API_KEY"


def test_provider_settings_from_dotenv(tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    for name in PROVIDERS:
        monkeypatch.delenv(f"{name.upper()}_API_KEY", raising=False)
    env = tmp_path / ".env"
    env.write_text("NANOBANANAPRO_API_KEY=from-file\nDISCORD_TOKEN=t\n")
    ready, _ = build_providers(read_settings(env_file=env))
    assert ready["nanobananapro"].api_key == "from-file"
    assert "magnific" not in ready


CONFIG = """\
quota_daily_credits = 7
user_max_jobs = 2
log_level = "info"

[quota_costs]
1K = 2
2K = 3
4K = 5

[provider_concurrency]
gemini = 2

[gemini]
timeout_seconds = 120
base_url = "http://gemini.from-file.test"
"""


@pytest.fixture
def config(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A settings file named by BANANABOT_CONFIG, in a directory with no .env, and none of
    the variables it sets in the environment."""
    for name in ("QUOTA_DAILY_CREDITS", "USER_MAX_JOBS", "LOG_LEVEL", "QUOTA_COSTS"):
        monkeypatch.delenv(name, raising=False)
    for name in ("GEMINI_TIMEOUT_SECONDS", "GEMINI_BASE_URL", "PROVIDER_CONCURRENCY"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.chdir(tmp_path)
    path = tmp_path / "bananabot.toml"
    path.write_text(CONFIG)
    monkeypatch.setenv("BANANABOT_CONFIG", str(path))
    return path


def test_the_settings_file_holds_structured_settings(config: Path):
    settings = Settings(_env_file=None)
    assert settings.quota_daily_credits == 7
    assert settings.quota_costs == {"1K": 2, "2K": 3, "4K": 5}
    assert settings.provider_concurrency == {"gemini": 2}
    assert settings.log_level == "INFO"
    assert settings.bananabot_config == config
    gemini = read_settings(env_file=None)["gemini"]
    assert gemini.timeout_seconds == 120
    assert gemini.base_url == "http://gemini.from-file.test"
    assert read_settings(env_file=None)["magnific"].timeout_seconds is None  # no table: defaults


def test_the_environment_wins_over_dotenv_over_the_file_over_defaults(
    config: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
):
    monkeypatch.setenv("QUOTA_DAILY_CREDITS", "9")
    monkeypatch.setenv("GEMINI_TIMEOUT_SECONDS", "30")
    dotenv = tmp_path / ".env"
    dotenv.write_text("USER_MAX_JOBS=4\nQUOTA_DAILY_CREDITS=8\n")
    settings = Settings(_env_file=dotenv)
    assert settings.quota_daily_credits == 9  # environment
    assert settings.user_max_jobs == 4  # .env
    assert settings.quota_costs["4K"] == 5  # the file
    assert settings.job_deadline_seconds == 900.0  # default
    assert read_settings(env_file=None)["gemini"].timeout_seconds == 30


def test_the_file_may_be_named_in_dotenv(config: Path, tmp_path: Path, monkeypatch):
    monkeypatch.delenv("BANANABOT_CONFIG")
    dotenv = tmp_path / ".env"
    dotenv.write_text(f"BANANABOT_CONFIG={config}\n")
    assert Settings(_env_file=dotenv).quota_daily_credits == 7


@pytest.mark.parametrize(
    ("content", "words"),
    [
        (None, "no such file"),
        ("quota_daily_credits = \n", "is not valid TOML: Invalid value (at line 1, column 23)"),
        (b"\xff\xfe\x00", "is not a text file"),
    ],
    ids=["missing", "invalid", "binary"],
)
def test_an_unreadable_or_invalid_file_is_one_line(config: Path, content, words):
    if content is None:
        config.unlink()
    elif isinstance(content, bytes):
        config.write_bytes(content)
    else:
        config.write_text(content)
    with pytest.raises(ConfigFileError) as caught:
        Settings(_env_file=None)
    assert str(caught.value).startswith(f"BANANABOT_CONFIG={config}")
    assert words in str(caught.value)
    assert "\n" not in str(caught.value)


def test_bad_values_are_named_as_written(config: Path, monkeypatch: pytest.MonkeyPatch):
    monkeypatch.setenv("QUOTA_DAILY_CREDITS", "abc")
    monkeypatch.setenv("GEMINI_TIMEOUT_SECONDS", "soon")
    monkeypatch.setenv("LOG_LEVEL", "loud")
    monkeypatch.setenv("CALLBACK_PORT", "99999")
    monkeypatch.setenv("FETCH_ALLOW_PRIVATE", "maybe")
    config.write_text('user_max_jobs = "two"\n[quota_costs]\n4K = "x"\n')
    with pytest.raises(FatalError) as caught:
        load_settings()
    assert sorted(caught.value.lines) == sorted(
        [
            "QUOTA_DAILY_CREDITS: expected an integer, got 'abc'",
            "LOG_LEVEL: expected one of 'DEBUG', 'INFO', 'WARNING' or 'ERROR', got 'loud'",
            "CALLBACK_PORT: expected a number at most 65535, got '99999'",
            "FETCH_ALLOW_PRIVATE: expected true or false (1/0, yes/no, on/off), got 'maybe'",
            f"user_max_jobs (in {config}): expected an integer, got 'two'",
            f"quota_costs['4K'] (in {config}): expected an integer, got 'x'",
            "GEMINI_TIMEOUT_SECONDS: expected a number, got 'soon'",
        ]
    )


def test_json_that_does_not_parse_and_dotenv_values_are_named(
    config: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
):
    config.unlink()
    monkeypatch.delenv("BANANABOT_CONFIG")
    monkeypatch.setenv("QUOTA_COSTS", "{1K: 1")
    (tmp_path / ".env").write_text("MAGNIFIC_TIMEOUT_SECONDS=later\n")
    with pytest.raises(FatalError) as caught:
        load_settings()
    assert caught.value.lines == (
        'QUOTA_COSTS: expected JSON such as {"1K": 1, "2K": 2, "4K": 4}, got \'{1K: 1\'',
        "MAGNIFIC_TIMEOUT_SECONDS (in .env): expected a number, got 'later'",
    )


def test_unknown_keys_in_the_file_are_refused_with_a_suggestion(config: Path):
    config.write_text("quota_daily_credit = 3\n[gemini]\ntimeout = 5\n[nonsense]\nx = 1\n")
    with pytest.raises(FatalError) as caught:
        load_settings()
    assert caught.value.lines == (
        f"quota_daily_credit (in {config}): no such setting; did you mean 'quota_daily_credits'?",
        f"[gemini] timeout (in {config}): no such setting; did you mean 'timeout_seconds'?",
        f"nonsense (in {config}): no such setting",
    )


def test_secrets_are_never_echoed(config: Path, monkeypatch: pytest.MonkeyPatch):
    config.write_text("discord_token = 12345\n")
    with pytest.raises(FatalError) as caught:
        load_settings()
    assert caught.value.lines == (f"discord_token (in {config}): expected text",)
