"""Provider names mapped to their classes: adding a provider is one module and one line here."""

from __future__ import annotations

import httpx

from providers.base import NotConfiguredError, Provider, ProviderConfig
from providers.gemini import GeminiProvider
from providers.local import LocalProvider
from providers.magnific import MagnificProvider
from providers.nanobananaapi import NanoBananaApiProvider
from providers.nanobananapro import NanoBananaProProvider

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


def build_providers(
    configs: dict[str, ProviderConfig], client: httpx.AsyncClient | None = None
) -> tuple[dict[str, Provider], dict[str, str]]:
    """Build every registered provider that is configured.

    Returns the ready providers and, for the others, why they are not configured
    (a missing key is reported, never crashed on).
    """
    ready: dict[str, Provider] = {}
    unconfigured: dict[str, str] = {}
    for name, cls in PROVIDERS.items():
        try:
            ready[name] = cls(configs.get(name, ProviderConfig()), client)
        except NotConfiguredError as exc:
            unconfigured[name] = str(exc)
    return ready, unconfigured


def parse_model_choice(text: str) -> tuple[str, str | None]:
    """``provider`` or ``provider:model`` → (provider, model or None)."""
    name, _, model = text.strip().partition(":")
    return name.strip(), model.strip() or None
