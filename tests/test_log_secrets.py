"""No secret reaches a log line: recognisable secrets are fed through every error path (bad
keys at each provider's fake, a forged and a mis-signed callback, failed deliveries, a provider
echoing what it was sent) with discord.py, aiohttp and httpx logging at DEBUG, and every captured
line, as text and as JSON, is searched for them."""

from __future__ import annotations

import json
import logging
from pathlib import Path
from typing import Any

import httpx
import pytest
from aiohttp import web
from pydantic import SecretStr

from bot.jobs.states import JobStatus
from bot.logs import register_secrets, secret_values
from providers.gemini import GeminiProvider
from providers.magnific import MagnificProvider
from providers.nanobananaapi import NanoBananaApiProvider
from providers.nanobananapro import NanoBananaProProvider
from providers.settings import ProviderSettings
from tests.discord.bot_harness import job_id_of, running_bot, settings_for, status_text
from tests.fakes._base import FakeServer, provider_settings
from tests.fakes.discord import FakeDiscord
from tests.fakes.gemini import FakeGemini
from tests.fakes.magnific import FakeMagnific
from tests.fakes.nanobananaapi import FakeNanoBananaApi
from tests.fakes.nanobananapro import FakeNanoBananaPro
from tests.jobs.harness import make_harness, spec
from tests.logcapture import captured_logs

KEYS = {
    name: f"sk-test-SECRET-123-{name}"
    for name in ("magnific", "nanobananaapi", "nanobananapro", "gemini")
}
DISCORD_TOKEN = "MTIzNDU2Nzg5MDEyMzQ1Njc4.SECRET-discord.token-0123456789abcdef"
WEBHOOK_SECRET = "whsec-SECRET-webhook-456"
FORGED_TOKEN = "forged-SECRET-callback-token-789"
PROVIDERS: dict[str, tuple[type[Any], type[FakeServer], str]] = {
    "magnific": (MagnificProvider, FakeMagnific, "nano-banana-pro"),
    "nanobananaapi": (NanoBananaApiProvider, FakeNanoBananaApi, "nano-banana-2"),
    "nanobananapro": (NanoBananaProProvider, FakeNanoBananaPro, "nano-banana-pro"),
    "gemini": (GeminiProvider, FakeGemini, "nano-banana-pro"),
}


def leaks(text: str, secrets: set[str]) -> list[tuple[str, str]]:
    """(secret, line) for every line showing a secret."""
    assert all(len(s) >= 8 for s in secrets), "only distinctive secrets make this meaningful"
    return [(s, line) for line in text.splitlines() for s in secrets if s in line]


def check_format(text: str, fmt: str) -> None:
    assert text.strip(), "nothing was logged"
    if fmt == "json":
        for line in text.splitlines():
            record = json.loads(line)  # every line is one JSON object
            assert {"time", "level", "logger", "message"} <= set(record)


async def job_secrets(store: Any) -> set[str]:
    """Every job's callback token and interaction token, as stored."""
    jobs = await store.jobs.with_status(list(JobStatus), limit=1000)
    found = {job.callback_token for job in jobs}
    found |= {job.origin.interaction_token for job in jobs if job.origin.interaction_token}
    return found


async def forge_callbacks(port: int, job_id: str, token: str) -> None:
    """A callback with a made-up token, and one with the right token but no valid signature."""
    async with httpx.AsyncClient() as client:
        base = f"http://127.0.0.1:{port}/callbacks/{job_id}"
        body = b'{"task_id": "t", "status": "COMPLETED", "generated": []}'
        forged = await client.post(f"{base}/{FORGED_TOKEN}", content=body)
        assert forged.status_code == 401
        headers = {"webhook-id": "m1", "webhook-timestamp": "1", "webhook-signature": "v1,AAAA"}
        unsigned = await client.post(f"{base}/{token}", content=body, headers=headers)
        assert unsigned.status_code == 401


async def the_bot_against_every_fake(tmp_path: Path) -> set[str]:
    """The real bot with the fake Discord and every provider's fake: one good job with
    callbacks and failed deliveries, a refused key at each provider, forged callbacks.
    Returns every secret that went through it."""
    fakes: dict[str, FakeServer] = {
        name: fake_type(api_key=f"the-right-key-for-{name}")
        for name, (_, fake_type, _) in PROVIDERS.items()
    }
    magnific = fakes["magnific"]
    assert isinstance(magnific, FakeMagnific)
    magnific.api_key = KEYS["magnific"]  # accepted until rotated below
    magnific.webhook_secret = WEBHOOK_SECRET
    magnific.steps_to_finish = 8
    for fake in fakes.values():
        await fake.start()
    keys: dict[str, ProviderSettings] = {}
    for name, (provider_type, _, _) in PROVIDERS.items():
        extra = {"webhook_secret": SecretStr(WEBHOOK_SECRET)} if name == "magnific" else {}
        keys[name] = provider_settings(
            provider_type, fakes[name], api_key=SecretStr(KEYS[name]), **extra
        )
    try:
        async with FakeDiscord(token=DISCORD_TOKEN) as discord_fake:
            settings = settings_for(discord_fake, tmp_path, poll_interval_seconds=None, **keys)
            async with running_bot(discord_fake, settings, callbacks=True) as runtime:
                user = discord_fake.add_user("mallory")
                # a job that succeeds by callback, delivered after the follow-up and the
                # channel post fail (expired token, no permission): by DM
                ix = await discord_fake.slash(
                    user, discord_fake.channel, "imagine", {"prompt": "a fox", "model": "magnific"}
                )
                await status_text(discord_fake, ix, "Generating")
                discord_fake.expire_token(ix)
                discord_fake.deny_send(discord_fake.channel)
                dm = await discord_fake.wait_for(
                    lambda: next(iter(discord_fake.dms(user)), None), timeout=15, what="a DM"
                )
                assert dm.attachments
                discord_fake.state.allow_send(discord_fake.channel)
                good = await runtime.engine.wait(job_id_of(dm), 5)
                assert good.status is JobStatus.DELIVERED
                assert runtime.receiver_port is not None
                await forge_callbacks(runtime.receiver_port, good.id, good.callback_token)
                # every provider refuses its key
                magnific.api_key = "rotated-key"
                for name, (_, _, model) in PROVIDERS.items():
                    refused = await discord_fake.slash(
                        user,
                        discord_fake.channel,
                        "imagine",
                        {"prompt": "a fox", "model": f"{name}:{model}"},
                    )
                    text = await status_text(discord_fake, refused, "❌")
                    assert "refused the API key" in text, text
                secrets = await job_secrets(runtime.store)
                secrets |= set(discord_fake.state.interactions_by_token)
    finally:
        for fake in fakes.values():
            await fake.close()
    return secrets | set(KEYS.values()) | {DISCORD_TOKEN, WEBHOOK_SECRET, FORGED_TOKEN}


@pytest.mark.parametrize("fmt", ["text", "json"])
async def test_no_secret_in_any_log_line_of_the_running_bot(tmp_path, fmt):
    with captured_logs(fmt) as stream:
        secrets = await the_bot_against_every_fake(tmp_path)
    text = stream.getvalue()
    check_format(text, fmt)
    assert leaks(text, secrets) == []
    # the paths were taken, at DEBUG, and what they logged was masked
    assert "WebSocket Event" in text  # discord.py's gateway events (with interaction tokens)
    assert "/interactions/" in text and "/webhooks/" in text
    assert "refused the API key" in text
    assert "with a wrong token refused" in text and "bad signature" in text
    assert "***" in text


class Echo:
    """A provider that answers every request with a 400 repeating what it was sent."""

    def __init__(self) -> None:
        self.app = web.Application()
        self.app.router.add_route("*", "/{tail:.*}", self.answer)
        self.runner = web.AppRunner(self.app, access_log=None)
        self.base_url = ""

    async def answer(self, request: web.Request) -> web.Response:
        sent = {"headers": dict(request.headers), "body": (await request.read()).decode()}
        return web.json_response({"code": 400, "msg": json.dumps(sent)}, status=400)

    async def __aenter__(self) -> Echo:
        await self.runner.setup()
        site = web.TCPSite(self.runner, "127.0.0.1", 0)
        await site.start()
        port = self.runner.addresses[0][1]
        self.base_url = f"http://127.0.0.1:{port}"
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.runner.cleanup()


@pytest.mark.parametrize("fmt", ["text", "json"])
async def test_a_provider_echoing_the_key_and_callback_url_leaks_nothing(tmp_path, fmt):
    with captured_logs(fmt) as stream:
        async with Echo() as echo:
            settings = NanoBananaApiProvider.settings_type.from_values(
                api_key=SecretStr(KEYS["nanobananaapi"]), base_url=echo.base_url
            )
            register_secrets(*secret_values(settings))  # as the runtime does at start-up
            provider = NanoBananaApiProvider(settings)
            h = await make_harness(tmp_path, {"nanobananaapi": provider}, receiver=True)
            try:
                job = await h.engine.accept(spec(provider="nanobananaapi"))
                done = await h.engine.wait(job.id, 10)
                assert done.status is JobStatus.FAILED
                secrets = await job_secrets(h.store)
            finally:
                await h.close()
    text = stream.getvalue()
    check_format(text, fmt)
    assert leaks(text, secrets | {KEYS["nanobananaapi"]}) == []
    assert "/callbacks/" in text  # the echoed callback URL was logged, its token masked
    logged = [json.loads(line) for line in text.splitlines()] if fmt == "json" else []
    assert all(record["level"] in logging.getLevelNamesMapping() for record in logged)
