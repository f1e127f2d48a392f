"""The registry: provider settings with their own prefixes, building, the model-choice syntax."""

from __future__ import annotations

from typing import ClassVar

import pytest
from pydantic import SecretStr

from providers.base import (
    Capabilities,
    Completion,
    GenerationRequest,
    ModelCapabilities,
    Provider,
    TaskStatus,
)
from providers.errors import NotConfiguredError
from providers.gemini import GeminiProvider, GeminiSettings
from providers.local import LocalProvider
from providers.magnific import MagnificProvider, MagnificSettings
from providers.registry import (
    PROVIDERS,
    build_providers,
    parse_model_choice,
    provider_class,
    read_settings,
)
from providers.settings import ProviderSettings


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("magnific", ("magnific", None)),
        ("magnific:nano-banana-pro-flash", ("magnific", "nano-banana-pro-flash")),
        ("gemini:", ("gemini", None)),
        ("local:local", ("local", "local")),
    ],
)
def test_parse_model_choice(text: str, expected: tuple[str, str | None]) -> None:
    assert parse_model_choice(text) == expected


def test_every_provider_names_its_own_settings_class() -> None:
    prefixes = set()
    for name, cls in PROVIDERS.items():
        assert cls.settings_type is not ProviderSettings
        assert cls.settings_type.env_name("api_key") == f"{name.upper()}_API_KEY"
        prefixes.add(cls.settings_type.model_config.get("env_prefix"))
    assert len(prefixes) == len(PROVIDERS)
    assert MagnificSettings.env_name("webhook_secret") == "MAGNIFIC_WEBHOOK_SECRET"


class _AcmeSettings(ProviderSettings, env_prefix="ACME_IMAGES_"):
    pass


class _AcmeProvider(Provider):
    name = "acme"
    settings_type: ClassVar[type[ProviderSettings]] = _AcmeSettings
    default_base_url = "https://acme.test"
    capabilities = Capabilities(
        provider="acme",
        models=(
            ModelCapabilities(
                name="m",
                aspect_ratios=("1:1",),
                default_aspect_ratio="1:1",
                resolutions=("1K",),
                default_resolution="1K",
                max_references=0,
                max_prompt_length=10,
            ),
        ),
        default_model="m",
        completion=Completion.SYNCHRONOUS,
        accepts_reference_bytes=False,
        accepts_reference_urls=False,
    )

    async def submit(
        self, request: GenerationRequest, *, callback_url: str | None = None
    ) -> TaskStatus:
        raise NotImplementedError


def test_not_configured_message_comes_from_the_settings_prefix() -> None:
    with pytest.raises(
        NotConfiguredError, match=r"^acme is not configured: set ACME_IMAGES_API_KEY$"
    ):
        _AcmeProvider(_AcmeSettings.from_values())


def test_a_provider_takes_only_its_own_settings_class() -> None:
    with pytest.raises(TypeError, match="MagnificSettings"):
        MagnificProvider(GeminiSettings.from_values(api_key=SecretStr("k")))


def test_from_values_reads_no_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("GEMINI_API_KEY", "from-env")
    monkeypatch.setenv("GEMINI_BASE_URL", "http://env.test")
    assert GeminiSettings.from_values().api_key is None
    given = GeminiSettings.from_values(api_key="given")
    assert given.api_key is not None and given.api_key.get_secret_value() == "given"
    assert given.base_url is None
    assert read_settings(env_file=None)["gemini"].base_url == "http://env.test"


def test_missing_settings_are_defaults_not_the_environment(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("GEMINI_API_KEY", "from-env")
    ready, unconfigured = build_providers({})
    assert set(ready) == {"local"}
    assert isinstance(ready["local"], LocalProvider)
    assert unconfigured["gemini"] == "gemini is not configured: set GEMINI_API_KEY"


def test_settings_are_frozen() -> None:
    settings = GeminiSettings.from_values(api_key="k")
    with pytest.raises(ValueError, match="frozen"):
        settings.base_url = "http://elsewhere.test"  # type: ignore[misc]


def test_provider_class_names_the_known_ones() -> None:
    assert provider_class("gemini") is GeminiProvider
    with pytest.raises(NotConfiguredError, match="known providers: gemini, local"):
        provider_class("dall-e")
