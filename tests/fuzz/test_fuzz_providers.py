"""Whatever a provider or a caller sends, adapters answer with a status or a ProviderError:
callbacks, create and status answers, for every provider (bounded hypothesis runs)."""

from __future__ import annotations

import asyncio
import contextlib
import json
import time
from typing import Any

import httpx
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from pydantic import SecretStr

from providers.base import GenerationRequest, Provider, TaskStatus
from providers.errors import ProviderError
from providers.magnific import MagnificProvider, MagnificSettings
from providers.nanobananaapi import NanoBananaApiProvider
from providers.registry import PROVIDERS
from providers.settings import RetryPolicy
from tests.fakes.magnific import sign
from tests.fuzz.strategies import BODIES, JSON_VALUES, KEYS

FUZZ = settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
ONE_TRY = RetryPolicy(attempts=1, initial_wait=0.0, max_wait=0.0)
NETWORKED = sorted(name for name in PROVIDERS if name != "local")


def provider_answering(name: str, answer: httpx.Response) -> Provider:
    cls = PROVIDERS[name]
    client = httpx.AsyncClient(transport=httpx.MockTransport(lambda request: answer))
    settings_ = cls.settings_type.from_values(
        api_key=SecretStr("key-SECRET-fuzz"), base_url="http://provider.test", retry=ONE_TRY
    )
    return cls(settings_, client)


@pytest.mark.parametrize("name", NETWORKED)
@FUZZ
@given(
    status=st.sampled_from([200, 201, 400, 401, 402, 403, 404, 422, 429, 455, 500, 502, 503]),
    body=BODIES,
    operation=st.sampled_from(["submit", "fetch"]),
)
def test_any_answer_is_a_status_or_a_provider_error(name, status, body, operation):
    provider = provider_answering(name, httpx.Response(status, content=body))

    async def call() -> Any:
        try:
            if operation == "submit":
                return await provider.submit(GenerationRequest(prompt="a fox"))
            return await provider.fetch("task-1", model=provider.capabilities.default_model)
        finally:
            await provider.client.aclose()

    try:
        result = asyncio.run(call())
    except ProviderError as exc:
        assert "key-SECRET-fuzz" not in f"{exc} {exc.detail}"
    else:
        assert isinstance(result, TaskStatus)


@FUZZ
@given(body=BODIES)
def test_any_nanobananaapi_callback_is_a_status_or_refused(body):
    provider = NanoBananaApiProvider(
        NanoBananaApiProvider.settings_type.from_values(api_key=SecretStr("k"))
    )
    try:
        status = provider.parse_callback({}, body)
    except ProviderError:
        return
    assert isinstance(status, TaskStatus) and status.task_id


@FUZZ
@given(
    body=BODIES,
    headers=st.dictionaries(
        st.sampled_from(["webhook-id", "webhook-timestamp", "webhook-signature", "x-other"]),
        st.one_of(st.text(max_size=60), st.just(str(int(time.time()))), KEYS),
        max_size=4,
    ),
    signed=st.booleans(),
)
def test_any_magnific_callback_is_refused_unless_signed(body, headers, signed):
    secret = "whsec-fuzz"
    provider = MagnificProvider(
        MagnificSettings.from_values(api_key=SecretStr("k"), webhook_secret=SecretStr(secret))
    )
    if signed:
        stamp = str(int(time.time()))
        headers = {
            "webhook-id": "m1",
            "webhook-timestamp": stamp,
            "webhook-signature": sign(secret, "m1", stamp, body),
        }
    try:
        status = provider.parse_callback(headers, body)
    except ProviderError:
        return
    assert signed, "an unsigned or badly signed callback was accepted"
    assert isinstance(status, TaskStatus)


@FUZZ
@given(value=JSON_VALUES)
def test_magnific_task_objects_parse_or_refuse(value):
    provider = MagnificProvider(MagnificSettings.from_values(api_key=SecretStr("k")))
    with contextlib.suppress(ProviderError):
        provider.parse_callback({}, json.dumps(value).encode())
