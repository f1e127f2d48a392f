"""One scrubber, everywhere: a provider that repeats what it was sent (the key included) in
every field of every error answer leaks the key nowhere: not in the stored failure reason,
not in what the requester is told (on Discord or by the CLI), not in any log line."""

from __future__ import annotations

import asyncio
import json
import os
import sys
from typing import Any

import pytest
from aiohttp import web
from pydantic import SecretStr

from bot.jobs.states import FINAL
from bot.logs import register_secrets, secret_values
from providers.registry import PROVIDERS
from tests.discord.bot_harness import imagine, running_bot, settings_for, status_text
from tests.fakes.discord import FakeDiscord
from tests.jobs.harness import make_harness, spec
from tests.logcapture import captured_logs

KEY = "sk-live-SECRET-scrub-0123456789"
NETWORKED = sorted(name for name in PROVIDERS if name != "local")
STATUSES = [200, 400, 401, 402, 403, 404, 422, 429, 500, 503]


class Parrot:
    """A provider that answers ``status`` with the request it was sent in every error field."""

    def __init__(self, status: int) -> None:
        self.status = status
        self.app = web.Application()
        self.app.router.add_route("*", "/{tail:.*}", self.answer)
        self.runner = web.AppRunner(self.app, access_log=None)
        self.base_url = ""

    async def answer(self, request: web.Request) -> web.Response:
        sent = f"{request.method} {request.path_qs} {dict(request.headers)} {await request.text()}"
        code = 400 if self.status == 200 else self.status  # 200 with an error in the body
        body: dict[str, Any] = {
            "code": code,
            "msg": sent,
            "message": sent,
            "error": {"message": sent, "status": "INVALID_ARGUMENT", "code": code},
            "detail": sent,
            "data": {"errorMessage": sent, "successFlag": 3, "taskId": "t"},
        }
        return web.json_response(body, status=self.status, headers={"Retry-After": "0"})

    async def __aenter__(self) -> Parrot:
        await self.runner.setup()
        await web.TCPSite(self.runner, "127.0.0.1", 0).start()
        self.base_url = f"http://127.0.0.1:{self.runner.addresses[0][1]}"
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.runner.cleanup()


def provider_for(name: str, base_url: str) -> Any:
    cls = PROVIDERS[name]
    settings = cls.settings_type.from_values(api_key=SecretStr(KEY), base_url=base_url)
    register_secrets(*secret_values(settings))  # as the runtime does at start-up
    return cls(settings)


@pytest.mark.parametrize("status", STATUSES)
@pytest.mark.parametrize("name", NETWORKED)
async def test_no_key_in_the_stored_reason_the_notice_or_the_logs(tmp_path, name, status):
    with captured_logs("text") as logs:
        async with Parrot(status) as parrot:
            h = await make_harness(tmp_path, {name: provider_for(name, parrot.base_url)})
            try:
                job = await h.engine.accept(spec(provider=name))
                done = await h.engine.wait(job.id, 15)
            finally:
                await h.close()
    assert done.status in FINAL
    told = " ".join(message for _, message in h.delivery.failures.values())
    for where, text in {
        "database": done.failure_reason or "",
        "notice": told,
        "logs": logs.getvalue(),
    }.items():
        assert KEY not in text, f"{name} {status}: the key reached the {where}"
        # the echoed callback URL's per-job token is masked too
        assert done.callback_token not in text, f"{name} {status}: token in the {where}"


async def test_no_key_in_what_discord_shows(tmp_path):
    async with Parrot(400) as parrot, FakeDiscord() as fake:
        keys = {
            "nanobananaapi": PROVIDERS["nanobananaapi"].settings_type.from_values(
                api_key=SecretStr(KEY), base_url=parrot.base_url
            )
        }
        async with running_bot(fake, settings_for(fake, tmp_path, **keys)):
            user = fake.add_user("eve")
            ix = await imagine(fake, user, model="nanobananaapi:nano-banana-2")
            assert "❌" in await status_text(fake, ix, "❌", timeout=20)
        shown = [
            json.dumps([m.content, m.embeds, m.edits], default=str) for m in fake.messages("*")
        ]
        assert shown and not [text for text in shown if KEY in text]


async def test_no_key_in_the_clis_lines(tmp_path):
    async with Parrot(401) as parrot:
        env = {k: v for k, v in os.environ.items() if not k.endswith(("_API_KEY", "_TOKEN"))}
        env.update(NANOBANANAAPI_API_KEY=KEY, NANOBANANAAPI_BASE_URL=parrot.base_url)
        for command in (
            ["imagine", "a fox", "--provider", "nanobananaapi", "--out", "out"],
            ["check"],
        ):
            proc = await asyncio.create_subprocess_exec(
                sys.executable,
                "-m",
                "bot",
                *command,
                cwd=tmp_path,
                env=env,
                stdout=asyncio.subprocess.PIPE,
                stderr=asyncio.subprocess.PIPE,
            )
            out, err = await asyncio.wait_for(proc.communicate(), timeout=60)
            text = (out + err).decode()
            assert "nanobananaapi" in text
            assert KEY not in text, f"{command[0]}: {text}"
