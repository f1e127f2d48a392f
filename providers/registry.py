"""Provider names mapped to their classes: adding a provider is one module and one line here.

Each provider class names its settings class (``settings_type``), which reads the provider's
own environment variables (``MAGNIFIC_API_KEY``...); nothing outside ``providers/`` knows them.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path

import httpx

from providers.base import Provider
from providers.errors import NotConfiguredError
from providers.gemini import GeminiProvider
from providers.local import LocalProvider
from providers.magnific import MagnificProvider
from providers.nanobananaapi import NanoBananaApiProvider
from providers.nanobananapro import NanoBananaProProvider
from providers.settings import ProviderSettings

PROVIDERS: dict[str, type[Provider]] = {
    MagnificProvider.name: MagnificProvider,
    NanoBananaApiProvider.name: NanoBananaApiProvider,
    NanoBananaProProvider.name: NanoBananaProProvider,
    GeminiProvider.name: GeminiProvider,
    LocalProvider.name: LocalProvider,
}


def provider_class(name: str) -> type[Provider]:
    """The class registered under ``name``; a clear error naming the known ones otherwise."""
    try:
        return PROVIDERS[name]
    except KeyError:
        known = ", ".join(sorted(PROVIDERS))
        raise NotConfiguredError(f"unknown provider {name!r}; known providers: {known}") from None


def parse_model_choice(text: str) -> tuple[str, str | None]:
    """Split a ``provider`` or ``provider:model`` choice into (provider, model or None).

    The one reader of that syntax (``DEFAULT_PROVIDER``, ``--provider``, the model option);
    whether the provider exists is for the caller to say, in its own words.
    """
    name, _, model = text.partition(":")
    return name, model or None


def read_settings(env_file: str | Path | None = ".env") -> dict[str, ProviderSettings]:
    """Every registered provider's settings, each read with its own prefix from the
    environment and ``env_file`` (None: the environment only). Missing keys are no error
    here: :func:`build_providers` reports them."""
    return {name: cls.settings_type(_env_file=env_file) for name, cls in PROVIDERS.items()}


def build_providers(
    settings: Mapping[str, ProviderSettings], client: httpx.AsyncClient | None = None
) -> tuple[dict[str, Provider], dict[str, str]]:
    """Build every registered provider that is configured.

    A provider missing from ``settings`` gets its defaults (read from nowhere). Returns the
    ready providers and, for the others, why they are not configured (a missing key is
    reported, never crashed on).
    """
    ready: dict[str, Provider] = {}
    unconfigured: dict[str, str] = {}
    for name, cls in PROVIDERS.items():
        given = settings.get(name)
        try:
            ready[name] = cls(
                given if given is not None else cls.settings_type.from_values(), client
            )
        except NotConfiguredError as exc:
            unconfigured[name] = str(exc)
    return ready, unconfigured
