"""What users may choose from: the configured providers, their models, and the default choice.

Every choice shown to a user (model lists, aspect ratios) comes from the providers'
capabilities here, so no list is ever copied elsewhere.
"""

from __future__ import annotations

from collections.abc import Mapping

from providers.base import ModelCapabilities, Provider, shown
from providers.errors import NotConfiguredError
from providers.registry import parse_model_choice

#: never the implicit default while a real provider is configured
OFFLINE = "local"


class Catalog:
    """The configured providers and the default ``provider[:model]``."""

    def __init__(self, providers: Mapping[str, Provider], default: str | None) -> None:
        self.providers = providers
        self.default = default

    def resolve(self, choice: str | None) -> tuple[Provider, ModelCapabilities]:
        """The provider and model for ``provider[:model]`` (the default when ``choice`` is None).

        Raises :class:`NotConfiguredError` when no provider, or an unknown one, is named, and
        :class:`~providers.errors.RequestInvalidError` for a model the provider does not have.
        """
        spec = choice or self.default or self._fallback()
        name, model = parse_model_choice(spec)
        provider = self.providers.get(name)
        if provider is None:
            known = ", ".join(sorted(self.providers)) or "none"
            raise NotConfiguredError(f"Unknown provider `{shown(name)}`. Available: {known}.")
        return provider, provider.capabilities.model(model)

    def choices(self) -> list[tuple[str, str]]:
        """``(label, provider:model)`` for every configured model, the default first.

        Never raises: a default naming a provider that is not configured is simply not first.
        """
        default = self._default_value()
        choices = [
            (f"{model} ({name})", f"{name}:{model}")
            for name, provider in self.providers.items()
            for model in provider.capabilities.model_names
        ]
        choices.sort(key=lambda choice: choice[1] != default)
        return choices

    def aspect_ratios(self, choice: str | None) -> tuple[str, ...]:
        """The aspect ratios of the chosen model; of every configured model, in order, when
        the choice cannot be resolved (so there is always something to offer)."""
        try:
            return self.resolve(choice)[1].aspect_ratios
        except Exception:  # a half-typed or stale choice: offer everything configured
            every = (
                ratio
                for provider in self.providers.values()
                for model in provider.capabilities.models
                for ratio in model.aspect_ratios
            )
            return tuple(dict.fromkeys(every))

    def _fallback(self) -> str:
        preferred = [name for name in self.providers if name != OFFLINE] or list(self.providers)
        if not preferred:
            raise NotConfiguredError("No image provider is configured on this bot.")
        return preferred[0]

    def _default_value(self) -> str | None:
        try:
            provider, model = self.resolve(None)
        except Exception:
            return None
        return f"{provider.name}:{model.name}"
