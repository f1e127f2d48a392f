"""Settings come from the environment under the fixed names of DESIGN.md."""

from pathlib import Path

import pytest

from bot.settings import Settings
from providers.magnific import MagnificSettings
from providers.registry import PROVIDERS, build_providers, read_settings


def test_engine_limits_from_env(monkeypatch):
    monkeypatch.setenv("PROVIDER_CONCURRENCY", '{"magnific": 5, "gemini": 2}')
    monkeypatch.setenv("USER_MAX_JOBS", "4")
    monkeypatch.setenv("QUOTA_COSTS", '{"1K": 1, "2K": 3, "4K": 6}')
    monkeypatch.setenv("CALLBACK_PUBLIC_URL", "https://bot.example.com")
    config = Settings(_env_file=None).engine_config()
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
