"""HTTP plumbing shared by every provider: one request helper, one retry policy, one error
mapping and one content-policy detector.

Status reads are retried on 429 (honouring Retry-After), 5xx (HTML error pages included) and
timeouts, with exponential backoff and jitter. A create request is retried only when the
provider certainly did not act on it (429, 503, connection refused): after a timeout or a
dropped reply it may already be generating, and billing, so it is never repeated blindly.
"""

from __future__ import annotations

import asyncio
import email.utils
import logging
import re
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime
from typing import Any, TypeVar, cast

import httpx
from tenacity import AsyncRetrying, RetryCallState, retry_if_exception, stop_after_attempt

from providers import cpu
from providers.base import Provider, TaskStatus
from providers.errors import (
    BadKeyError,
    InsufficientCreditsError,
    ProtocolError,
    ProviderError,
    ProviderUnavailableError,
    RateLimitedError,
    RequestRejectedError,
    SubmitOutcomeUnknownError,
)
from providers.settings import RetryPolicy

log = logging.getLogger(__name__)

T = TypeVar("T")


def retry_after_seconds(response: httpx.Response) -> float | None:
    """Parse a Retry-After header given in seconds or as an HTTP date."""
    value = response.headers.get("retry-after")
    if not value:
        return None
    try:
        return max(0.0, float(value))
    except ValueError:
        pass
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    return max(0.0, (when - datetime.now(UTC)).total_seconds())


_TITLE = re.compile(r"<title>(.*?)</title>", re.IGNORECASE | re.DOTALL)
_TAGS = re.compile(r"<[^>]+>")


_SECRET_HEADERS = ("authorization", "x-magnific-api-key", "x-freepik-api-key", "x-goog-api-key")


def _request_secrets(response: httpx.Response) -> list[str]:
    try:
        headers = response.request.headers
    except RuntimeError:  # a response built without a request
        return []
    found = []
    for name in _SECRET_HEADERS:
        value = headers.get(name)
        if value:
            found.append(value.split(" ", 1)[-1] if name == "authorization" else value)
    return [secret for secret in found if len(secret) >= 4]


def body_snippet(response: httpx.Response, limit: int = 300) -> str:
    """A short, log-safe rendering of a response body; HTML error pages become their title.

    Any credential the request carried is masked, should a server echo it back.
    """
    text = response.text
    for secret in _request_secrets(response):
        text = text.replace(secret, "***")
    if "<html" in text[:500].lower() or "<!doctype" in text[:500].lower():
        match = _TITLE.search(text)
        title = match.group(1).strip() if match else _TAGS.sub(" ", text).strip()
        return f"HTML page: {' '.join(title.split())[:limit]}"
    return " ".join(text.split())[:limit]


def json_body(response: httpx.Response) -> Any:
    """The response's JSON, or None when it is not JSON (an HTML gateway page, say)."""
    try:
        return response.json()
    except ValueError:
        return None


def json_object(response: httpx.Response, provider: str) -> dict[str, Any]:
    """The response's JSON object; :class:`ProtocolError` for anything else (an HTML page...)."""
    body = json_body(response)
    if not isinstance(body, dict):
        raise ProtocolError(
            f"{provider} answered with something other than JSON",
            detail=body_snippet(response),
        )
    return body


#: Words in a provider's failure text that mark a content/safety block rather than a fault.
#: "content" alone is not one of them ("Content-Type header missing" is no block).
_CONTENT_POLICY = re.compile(
    r"content[ _-]?polic|safety|unsafe|nsfw|sensitive|prohibited|moderat|inappropriate|"
    r"violat|blocked|flagged",
    re.IGNORECASE,
)


def looks_like_content_policy(text: str | None) -> bool:
    """True when a provider's failure text reads as a content/safety block (every provider
    uses this one word list, for HTTP errors and for failed tasks alike)."""
    return bool(text and _CONTENT_POLICY.search(text))


def error_for_status(
    provider: Provider,
    response: httpx.Response,
    reason: str | None = None,
    *,
    code: int | None = None,
    detail: str | None = None,
) -> ProviderError | None:
    """Map an HTTP error status to the shared error hierarchy (None below 400).

    ``reason`` is the provider's own message, when its envelope had one. ``code`` maps an
    envelope's status-like code instead of the HTTP status (for providers that answer errors
    with HTTP 200). ``detail`` replaces the default log text. A rejection whose reason reads as
    a safety block carries ``content_policy``; the API key is masked in every text.
    """
    status = response.status_code if code is None else code
    if status < 400:
        return None
    label = f"HTTP {status}" if code is None else f"code {status}"
    where = f"HTTP {response.status_code}" + ("" if code is None else f", code {code}")
    name = provider.name
    reason = provider.scrub(reason) if reason else None
    detail = provider.scrub(detail or f"{where}: {reason or body_snippet(response)}")
    if status in (401, 403):
        return BadKeyError(f"{name} refused the API key", detail=detail)
    if status == 402:
        return InsufficientCreditsError(f"{name} account is out of credits", detail=detail)
    if status == 429:
        return RateLimitedError(
            f"{name} is rate limiting requests",
            retry_after=retry_after_seconds(response),
            detail=detail,
        )
    if status >= 500:
        return ProviderUnavailableError(
            f"{name} is unavailable ({label})", detail=detail, not_processed=status == 503
        )
    return RequestRejectedError(
        f"{name} rejected the request: {reason or label}",
        reason=reason,
        content_policy=looks_like_content_policy(reason),
        detail=detail,
    )


async def send(
    client: httpx.AsyncClient,
    method: str,
    url: str,
    *,
    provider: str,
    creating: bool,
    total: float | None = None,
    **kwargs: Any,
) -> httpx.Response:
    """Send one request, turning transport failures into provider errors.

    ``total`` bounds the whole exchange, answer included (httpx's own timeouts bound each
    read, so an answer trickling in a byte at a time would never end without it). A timeout
    or dropped connection on a create request becomes :class:`SubmitOutcomeUnknownError`; on
    a read it is an ordinary transient failure.
    """
    try:
        async with asyncio.timeout(total):
            return await client.request(method, url, **kwargs)
    except (httpx.ConnectError, httpx.ConnectTimeout) as exc:
        raise ProviderUnavailableError(
            f"cannot reach {provider}", detail=type(exc).__name__, not_processed=True
        ) from exc
    except (httpx.TimeoutException, httpx.TransportError, TimeoutError) as exc:
        if creating:
            raise SubmitOutcomeUnknownError(
                f"{provider} did not answer the create request; it may still run",
                detail=type(exc).__name__,
            ) from exc
        raise ProviderUnavailableError(
            f"{provider} did not answer in time", detail=type(exc).__name__
        ) from exc


def _retryable(policy: RetryPolicy, creating: bool) -> Callable[[BaseException], bool]:
    def check(exc: BaseException) -> bool:
        if isinstance(exc, RateLimitedError):
            return exc.retry_after is None or exc.retry_after <= policy.max_retry_after
        if isinstance(exc, SubmitOutcomeUnknownError):
            return False
        if isinstance(exc, ProviderUnavailableError):
            return exc.not_processed or not creating
        return False

    return check


def _wait(policy: RetryPolicy) -> Callable[[RetryCallState], float]:
    def wait(state: RetryCallState) -> float:
        backoff = min(policy.max_wait, policy.initial_wait * 2 ** (state.attempt_number - 1))
        jittered: float = backoff / 2 + _jitter() * backoff / 2
        exc: BaseException | None = state.outcome.exception() if state.outcome else None
        if isinstance(exc, RateLimitedError) and exc.retry_after is not None:
            return max(float(exc.retry_after), jittered)
        return jittered

    return wait


def _jitter() -> float:
    import random

    return random.random()  # noqa: S311 - jitter, not security


def _log_retry(state: RetryCallState) -> None:
    exc = state.outcome.exception() if state.outcome else None
    log.warning("retrying after %s (attempt %d)", exc, state.attempt_number)


async def with_retries(
    call: Callable[[], Awaitable[T]], *, policy: RetryPolicy, creating: bool
) -> T:
    """Run ``call`` under the shared retry policy (see the module docstring)."""
    retrying = AsyncRetrying(
        stop=stop_after_attempt(policy.attempts),
        wait=_wait(policy),
        retry=retry_if_exception(_retryable(policy, creating)),
        before_sleep=_log_retry,
        reraise=True,
    )
    async for attempt in retrying:
        with attempt:
            return await call()
    raise AssertionError("unreachable: tenacity reraises the last error")


async def request(
    provider: Provider,
    method: str,
    url: str,
    *,
    creating: bool,
    parse: Callable[[httpx.Response], T],
    **kwargs: Any,
) -> T:
    """One provider call: :func:`send` on the provider's client, ``parse`` the answer (which
    raises the mapped error for a refusal), all under the provider's retry policy. A large
    answer (inline images) is parsed in the bounded CPU pool, off the event loop.

    ``creating`` marks a request that starts (and may bill) work: see the module docstring.
    ``kwargs`` go to :meth:`httpx.AsyncClient.request` (``json``, ``params``, ``headers``...).
    """

    async def call() -> T:
        try:
            result = await attempt()
        except ProviderError as exc:  # the one scrubber, before anyone sees the text
            exc.scrub(provider.scrub)
            raise
        if isinstance(result, TaskStatus) and result.reason:
            return cast(T, result.model_copy(update={"reason": provider.scrub(result.reason)}))
        return result

    async def attempt() -> T:
        response = await send(
            provider.client,
            method,
            url,
            provider=provider.name,
            creating=creating,
            total=provider.total_seconds,
            **kwargs,
        )
        if len(response.content) >= cpu.LARGE_BYTES:
            return await cpu.run(parse, response)
        return parse(response)

    return await with_retries(call, policy=provider.settings.retry, creating=creating)
