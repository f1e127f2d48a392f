"""Unexpected errors: a logged traceback and a private "something went wrong (ref …)"."""

from __future__ import annotations

import functools
import logging
import secrets
from collections.abc import Callable, Coroutine
from typing import Any, TypeVar

import discord

from bot.jobs.ports import StoreUnavailableError

log = logging.getLogger(__name__)

STORE_DOWN = (
    "❌ The bot's database is unavailable right now, so nothing was started or charged. "
    "Try again in a minute."
)

S = TypeVar("S")


async def report_unexpected(interaction: discord.Interaction[Any], error: BaseException) -> None:
    """Log the traceback with a reference id and tell the user privately, never silently.

    The store being unavailable is no surprise: the engine's guard has logged it once, so the
    member hears that plainly and the log gets no traceback."""
    ref = secrets.token_hex(4)
    cause = getattr(error, "original", error)  # app command errors wrap the callback's
    if isinstance(cause, StoreUnavailableError):
        log.info("interaction %s: the store is unavailable (%s)", interaction.id, cause)
        text = STORE_DOWN
    else:
        log.error(
            "unexpected error (ref %s) in interaction %s", ref, interaction.id, exc_info=error
        )
        text = f"❌ Something went wrong (ref {ref}). A server admin can look it up in the logs."
    try:
        if interaction.response.is_done():
            await interaction.edit_original_response(content=text, view=None)
        else:
            await interaction.response.send_message(text, ephemeral=True)
    except discord.HTTPException:
        log.warning("could not report error %s to the user", ref)


Callback = Callable[[S, discord.Interaction[Any]], Coroutine[Any, Any, None]]


def guarded(callback: Callback[S]) -> Callback[S]:
    """Wrap a button or modal callback so an unexpected error is reported, not swallowed."""

    async def wrapper(self: S, interaction: discord.Interaction[Any]) -> None:
        try:
            await callback(self, interaction)
        except Exception as error:  # the user must hear about it; the log gets the traceback
            await report_unexpected(interaction, error)

    return functools.update_wrapper(wrapper, callback)
