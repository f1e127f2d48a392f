"""What goes wrong with a provider: one exception class per outcome the engine treats
differently (``str(err)`` is short and safe to show a user; ``detail`` is for logs)."""

from __future__ import annotations

from collections.abc import Callable


class ProviderError(Exception):
    """Base of every provider failure. ``str(err)`` is short and safe to show a user."""

    #: the provider's own words, where a subclass keeps them
    reason: str | None = None

    def __init__(self, message: str, *, detail: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.detail = detail  # provider text for logs; never holds an API key

    def scrub(self, scrub: Callable[[str], str]) -> None:
        """Pass every text this error carries through ``scrub`` (in place)."""
        self.message = scrub(self.message)
        self.args = (self.message,)
        if self.detail is not None:
            self.detail = scrub(self.detail)
        if self.reason is not None:
            self.reason = scrub(self.reason)


class RequestInvalidError(ProviderError):
    """The request breaks the provider's capabilities; caught before anything is spent."""


class NotConfiguredError(ProviderError):
    """The provider has no API key (or other required setting)."""


class BadKeyError(ProviderError):
    """The provider refused our API key (401/403)."""


class InsufficientCreditsError(ProviderError):
    """The provider account has run out of credits (402)."""


class RateLimitedError(ProviderError):
    """Too many requests; ``retry_after`` seconds is the provider's hint, if it gave one."""

    def __init__(
        self, message: str, *, retry_after: float | None = None, detail: str | None = None
    ) -> None:
        super().__init__(message, detail=detail)
        self.retry_after = retry_after


class RequestRejectedError(ProviderError):
    """The provider refused the request: validation or content policy, with its reason."""

    def __init__(
        self,
        message: str,
        *,
        reason: str | None = None,
        content_policy: bool = False,
        detail: str | None = None,
    ) -> None:
        super().__init__(message, detail=detail)
        self.reason = reason
        self.content_policy = content_policy


class ProviderUnavailableError(ProviderError):
    """A transient failure: 5xx, maintenance, network trouble, timeout.

    ``not_processed`` is True when the provider certainly did not act on the request
    (connection refused, 503, maintenance), so even a create request may be sent again.
    """

    def __init__(
        self, message: str, *, detail: str | None = None, not_processed: bool = False
    ) -> None:
        super().__init__(message, detail=detail)
        self.not_processed = not_processed


class SubmitOutcomeUnknownError(ProviderUnavailableError):
    """A create request may or may not have reached the provider (timeout, dropped reply).

    It is never repeated automatically: it might bill twice.
    """


class TaskNotFoundError(ProviderError):
    """The provider does not know the task id."""


class ListingUnavailableError(ProviderError):
    """The provider does not answer its task list (not offered here, or not as documented):
    tasks are read one by one instead."""


class ProtocolError(ProviderError):
    """The provider answered with a payload we do not understand."""


class CallbackRejectedError(ProviderError):
    """A callback could not be parsed (or failed verification: see the subclass)."""


class CallbackSignatureError(CallbackRejectedError):
    """A callback's signature is missing, stale or wrong."""
