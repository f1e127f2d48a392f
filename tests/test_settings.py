"""Settings come from the environment under the fixed names of DESIGN.md."""

from pathlib import Path

import pytest

from bot.settings import Settings
from providers.registry import PROVIDERS, build_providers


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
    settings = Settings(_env_file=None)
    ready, unconfigured = build_providers(settings.provider_configs(list(PROVIDERS)))
    assert set(ready) == {"gemini", "local"}
    assert ready["gemini"].base_url == "http://127.0.0.1:9"
    assert unconfigured["magnific"] == "magnific is not configured: set MAGNIFIC_API_KEY"
    assert "k" not in repr(settings.gemini_api_key)


def test_dotenv_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    monkeypatch.delenv("QUOTA_DAILY_CREDITS", raising=False)
    env = tmp_path / ".env"
    env.write_text("QUOTA_DAILY_CREDITS=7\nBANANABOT_DB=data/x.db\n")
    settings = Settings(_env_file=env)
    assert settings.quota_daily_credits == 7
    assert settings.bananabot_db == Path("data/x.db")
