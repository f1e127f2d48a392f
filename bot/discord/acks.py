"""Acknowledgement latency: from an interaction's creation to the bot's first response to it.

Every first response, whatever sends it (a command's or a button's defer, a modal, a refusal,
autocomplete choices), is one ``POST /interactions/{id}/{token}/callback`` on discord.py's HTTP
session. :func:`ack_trace` is an ``aiohttp`` trace on that session: when such a request is
answered, the time since the interaction's creation (read from its snowflake id) goes into
``bananabot_interaction_ack_seconds``. One place, so no response path can be forgotten. A
response Discord refused as too late (404, unknown interaction) counts too: it is the latency
that matters most; rate-limited and failed requests (429, 5xx) are retried, and counted then.
"""

from __future__ import annotations

import re
import time
from types import SimpleNamespace

import aiohttp
import discord

from bot.jobs.metrics import Metrics

_CALLBACK = re.compile(r"/interactions/(\d+)/[^/]+/callback$")


def created_at(interaction_id: int) -> float:
    """The Unix time an interaction (any snowflake) was created."""
    return discord.utils.snowflake_time(interaction_id).timestamp()


def ack_trace(meters: Metrics) -> aiohttp.TraceConfig:
    """A trace for discord.py's session that times every interaction's first response."""

    async def on_request_end(
        session: aiohttp.ClientSession,
        context: SimpleNamespace,
        params: aiohttp.TraceRequestEndParams,
    ) -> None:
        status = params.response.status
        if params.method != "POST" or (status >= 400 and status != 404):
            return
        found = _CALLBACK.search(params.url.path)
        if found is not None:
            meters.acknowledged(time.time() - created_at(int(found.group(1))))

    trace = aiohttp.TraceConfig()
    trace.on_request_end.append(on_request_end)
    return trace
