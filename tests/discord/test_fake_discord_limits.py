"""The fake Discord checks autocomplete answers and modals as Discord does (50035 otherwise)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import discord
import pytest
from discord import app_commands

from tests.discord.test_fake_discord import Env, mini_env


@pytest.fixture
async def env(caplog: pytest.LogCaptureFixture) -> AsyncIterator[Env]:
    async with mini_env(caplog) as started:
        yield started


def choices(count: int, *, name: str = "choice", value: Any = "v") -> list[Any]:
    return [app_commands.Choice(name=f"{name}{i}", value=value) for i in range(count)]


async def suggest(env: Env, focused: str, typed: Any) -> list[dict[str, Any]]:
    """A user types into ``focused`` of /pick; return the choices Discord accepted."""
    ix = await env.fake.autocomplete(
        env.fake.add_user("typist"), env.fake.channel, "pick", {focused: typed}, focused=focused
    )
    callback = await ix.wait_callback()
    assert callback.type == 8
    return list((callback.data or {})["choices"])


@pytest.mark.parametrize(
    ("answer", "where"),
    [
        (choices(26), "data.choices"),  # at most 25
        ([app_commands.Choice(name="", value="v")], "data.choices.0.name"),
        ([app_commands.Choice(name="n" * 101, value="v")], "data.choices.0.name"),
        ([app_commands.Choice(name="long", value="v" * 101)], "data.choices.0.value"),
        ([app_commands.Choice(name="number", value=3)], "data.choices.0.value"),  # not a string
    ],
    ids=["26 choices", "empty name", "101-char name", "101-char value", "int for a string"],
)
async def test_invalid_autocomplete_answers_are_refused(env: Env, answer, where) -> None:
    env.bot.suggestions = answer
    accepted = await suggest(env, "word", "ab")
    (error,) = env.bot.autocomplete_errors
    assert error.status == 400 and error.code == 50035
    assert where in str(error)
    assert accepted == []  # discord.py's fallback answer (no choices) was accepted instead
    refused = [c for c in env.fake.callbacks if c.status == 400]
    assert [c.type for c in refused] == [8]


async def test_valid_autocomplete_answers_pass(env: Env) -> None:
    env.bot.suggestions = choices(25, value="x" * 100)
    assert len(await suggest(env, "word", "")) == 25
    env.bot.suggestions = [app_commands.Choice(name="forty-two", value=42)]
    assert await suggest(env, "number", 4) == [{"name": "forty-two", "value": 42}]
    env.bot.suggestions = [app_commands.Choice(name="text", value="42")]
    await suggest(env, "number", 4)
    assert env.bot.autocomplete_errors[-1].code == 50035  # a string for an INTEGER option


class Survey(discord.ui.Modal):
    def __init__(self, title: str, *inputs: discord.ui.TextInput[Any], custom_id: str) -> None:
        super().__init__(title=title, custom_id=custom_id)
        for item in inputs:
            self.add_item(item)


def text(label: str = "Prompt", **kwargs: Any) -> discord.ui.TextInput[Any]:
    return discord.ui.TextInput(label=label, custom_id=kwargs.pop("custom_id", "t"), **kwargs)


@pytest.mark.parametrize(
    ("modal", "where"),
    [
        (lambda: Survey("T" * 46, text(), custom_id="m"), "data.title"),
        (lambda: Survey("Title", text(), custom_id="m" * 101), "data.custom_id"),
        (lambda: Survey("Title", custom_id="m"), "data.components"),  # none
        (lambda: Survey("Title", text("L" * 46), custom_id="m"), "label"),
        (lambda: Survey("Title", text(custom_id="c" * 101), custom_id="m"), "custom_id"),
        (lambda: Survey("Title", text(max_length=4001), custom_id="m"), "max_length"),
        (lambda: Survey("Title", text(min_length=10, max_length=5), custom_id="m"), "min_length"),
    ],
    ids=["46-char title", "101-char id", "no inputs", "46-char label", "101-char input id",
         "max_length 4001", "min over max"],
)  # fmt: skip
async def test_invalid_modals_are_refused(env: Env, modal, where) -> None:
    ix = await env.fake.slash(env.fake.add_user("alice"), env.fake.channel, "hold")
    interaction = await env.captured()
    with pytest.raises(discord.HTTPException) as caught:
        await interaction.response.send_modal(modal())
    assert caught.value.status == 400 and caught.value.code == 50035
    assert where in str(caught.value)
    assert not ix.acknowledged and ix.modal is None


async def test_a_valid_modal_with_five_inputs_opens(env: Env) -> None:
    await env.fake.slash(env.fake.add_user("alice"), env.fake.channel, "hold")
    interaction = await env.captured()
    inputs = [text(f"Field {i}", custom_id=f"f{i}", max_length=4000) for i in range(5)]
    await interaction.response.send_modal(Survey("T" * 45, *inputs, custom_id="m" * 100))
