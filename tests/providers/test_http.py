"""The shared HTTP layer: one content-policy detector, one status mapping, one request helper."""

from __future__ import annotations

import httpx
import pytest
from pydantic import SecretStr

from providers import _http
from providers.base import GenerationRequest, Provider
from providers.errors import (
    BadKeyError,
    InsufficientCreditsError,
    ProviderError,
    ProviderUnavailableError,
    RateLimitedError,
    RequestRejectedError,
)
from providers.gemini import GeminiProvider, GeminiSettings
from providers.magnific import MagnificProvider
from providers.nanobananaapi import NanoBananaApiProvider
from providers.nanobananapro import NanoBananaProProvider
from providers.settings import RetryPolicy

KEY = "sk-shared-SECRET-0123456789"
FAST = RetryPolicy(attempts=3, initial_wait=0.01, max_wait=0.02)


@pytest.mark.parametrize(
    "text",
    [
        "Your prompt has been flagged for violating content policy",
        "content_policy_violation",
        "Rejected: content-policy",
        "The prompt violates our Content Policy",
        "nsfw blocked",
        "Sensitive content detected",
        "Image flagged by safety system",
        "unsafe prompt",
        "prohibited subject",
        "failed moderation",
        "inappropriate request",
        "request blocked",
    ],
)
def test_real_phrases_are_content_blocks(text: str) -> None:
    assert _http.looks_like_content_policy(text)


@pytest.mark.parametrize(
    "text",
    [
        "Content-Type header missing",
        "invalid content length",
        "content is empty",
        "Parameter error: imageUrls must be an array of http(s) URLs",
        "Server internal error",
        "",
        None,
    ],
)
def test_content_alone_is_not_a_block(text: str | None) -> None:
    assert not _http.looks_like_content_policy(text)


def _response(status: int, body: str = "", headers: dict[str, str] | None = None) -> httpx.Response:
    return httpx.Response(
        status,
        text=body,
        headers=headers or {},
        request=httpx.Request("POST", "https://provider.test/x", headers={"x-goog-api-key": KEY}),
    )


def _gemini() -> GeminiProvider:
    return GeminiProvider(GeminiSettings.from_values(api_key=SecretStr(KEY)))


@pytest.mark.parametrize(
    ("status", "error"),
    [
        (400, RequestRejectedError),
        (401, BadKeyError),
        (403, BadKeyError),
        (402, InsufficientCreditsError),
        (404, RequestRejectedError),
        (429, RateLimitedError),
        (500, ProviderUnavailableError),
        (503, ProviderUnavailableError),
    ],
)
def test_status_mapping(status: int, error: type[ProviderError]) -> None:
    mapped = _http.error_for_status(_gemini(), _response(status, "oops"))
    assert type(mapped) is error
    assert mapped is not None and mapped.detail == f"HTTP {status}: oops"
    if isinstance(mapped, ProviderUnavailableError):
        assert mapped.not_processed is (status == 503)


def test_success_maps_to_nothing() -> None:
    assert _http.error_for_status(_gemini(), _response(200)) is None


def test_rejection_reason_sets_content_policy_and_is_scrubbed() -> None:
    provider = _gemini()
    blocked = _http.error_for_status(
        provider, _response(400), f"content policy violation (key {KEY})"
    )
    assert isinstance(blocked, RequestRejectedError) and blocked.content_policy
    assert KEY not in str(blocked) and KEY not in (blocked.reason or "")
    assert KEY not in (blocked.detail or "")
    plain = _http.error_for_status(provider, _response(400), "Content-Type header missing")
    assert isinstance(plain, RequestRejectedError) and not plain.content_policy
    assert str(plain) == "gemini rejected the request: Content-Type header missing"


def test_envelope_code_maps_like_a_status() -> None:
    provider = _gemini()
    mapped = _http.error_for_status(provider, _response(200), "busy", code=503)
    assert isinstance(mapped, ProviderUnavailableError) and mapped.not_processed
    assert "(code 503)" in str(mapped)
    assert mapped.detail == "HTTP 200, code 503: busy"
    limited = _http.error_for_status(
        provider, _response(200, headers={"Retry-After": "3"}), None, code=429
    )
    assert isinstance(limited, RateLimitedError) and limited.retry_after == 3


@pytest.mark.parametrize(
    ("provider_type", "status", "body"),
    [
        (MagnificProvider, 400, '{"message": "Content-Type header missing"}'),
        (NanoBananaProProvider, 400, '{"error": "invalid content length"}'),
        (NanoBananaApiProvider, 200, '{"code": 400, "msg": "Content-Type header missing"}'),
    ],
    ids=["magnific", "nanobananapro", "nanobananaapi"],
)
async def test_every_provider_reads_content_alike(
    provider_type: type[Provider], status: int, body: str
) -> None:
    def handler(request: httpx.Request) -> httpx.Response:
        return httpx.Response(status, text=body, headers={"Content-Type": "application/json"})

    async with httpx.AsyncClient(transport=httpx.MockTransport(handler)) as client:
        settings = provider_type.settings_type.from_values(api_key=KEY, retry=FAST)
        provider = provider_type(settings, client=client)
        with pytest.raises(RequestRejectedError) as caught:
            await provider.submit(GenerationRequest(prompt="a fox"))
    assert not caught.value.content_policy
    assert caught.value.reason in ("Content-Type header missing", "invalid content length")


async def test_request_helper_sends_parses_and_retries_reads() -> None:
    answers = iter([httpx.Response(503, text="down"), httpx.Response(200, text="7")])
    seen: list[httpx.Request] = []

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        return next(answers)

    provider = GeminiProvider(
        GeminiSettings.from_values(api_key=SecretStr(KEY), retry=FAST),
        client=httpx.AsyncClient(transport=httpx.MockTransport(handler)),
    )

    def parse(response: httpx.Response) -> int:
        error = _http.error_for_status(provider, response)
        if error is not None:
            raise error
        return int(response.text)

    async with provider.client:
        value = await _http.request(
            provider,
            "GET",
            "https://provider.test/n",
            creating=False,
            parse=parse,
            params={"q": "1"},
        )
    assert value == 7
    assert [str(r.url) for r in seen] == ["https://provider.test/n?q=1"] * 2


async def test_request_helper_never_repeats_an_uncertain_create() -> None:
    calls = 0

    def handler(request: httpx.Request) -> httpx.Response:
        nonlocal calls
        calls += 1
        return httpx.Response(502, text="bad gateway")

    provider = GeminiProvider(
        GeminiSettings.from_values(api_key=SecretStr(KEY), retry=FAST),
        client=httpx.AsyncClient(transport=httpx.MockTransport(handler)),
    )

    def parse(response: httpx.Response) -> None:
        error = _http.error_for_status(provider, response)
        if error is not None:
            raise error

    async with provider.client:
        with pytest.raises(ProviderUnavailableError):
            await _http.request(
                provider, "POST", "https://provider.test/create", creating=True, parse=parse
            )
    assert calls == 1
