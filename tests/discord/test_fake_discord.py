"""A real discord.py ``commands.Bot`` end to end against the loopback fake Discord.

The bot below is deliberately small and lives in this file: these tests prove the fake
(``tests/fakes/discord/``) speaks Discord well enough for discord.py's own code paths
(login, gateway, sync, interactions, views, modals, webhooks, CDN) and models the Discord
rules bots trip over.
"""

from __future__ import annotations

import asyncio
import contextlib
import io
import logging
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any

import aiohttp
import discord
import pytest
from discord import app_commands
from discord.ext import commands
from PIL import Image

from tests.fakes.discord import (
    CommandUnavailable,
    FakeDiscord,
    FakeUser,
    Perm,
    point_discord_py_at,
)


def _png(width: int, height: int, color: str) -> bytes:
    buffer = io.BytesIO()
    Image.new("RGB", (width, height), color).save(buffer, format="PNG")
    return buffer.getvalue()


REFERENCE_PNG = _png(8, 6, "red")
OUTPUT_PNG = _png(4, 4, "blue")
JOB_ID = 42


# ------------------------------------------------------------------------------- the bot


class VaryButton(
    discord.ui.DynamicItem[discord.ui.Button[discord.ui.View]], template=r"vary:(?P<job>[0-9]+)"
):
    """A persistent button: the job id lives in the custom_id, so it works after restarts."""

    def __init__(self, job: int) -> None:
        super().__init__(
            discord.ui.Button(
                label="Vary", style=discord.ButtonStyle.primary, custom_id=f"vary:{job}"
            )
        )
        self.job = job

    @classmethod
    async def from_custom_id(
        cls, interaction: discord.Interaction, item: discord.ui.Item[Any], match: Any
    ) -> VaryButton:
        return cls(int(match["job"]))

    async def callback(self, interaction: discord.Interaction) -> None:
        bot = interaction.client
        assert isinstance(bot, MiniBot)
        bot.clicked.append(self.job)
        await interaction.response.send_modal(DescribeModal(self.job))


class DescribeModal(discord.ui.Modal, title="Describe a variation"):
    prompt: discord.ui.TextInput[DescribeModal] = discord.ui.TextInput(
        label="Prompt", custom_id="describe:prompt", max_length=200
    )

    def __init__(self, job: int) -> None:
        super().__init__(custom_id=f"describe:{job}", timeout=60)
        self.job = job

    async def on_submit(self, interaction: discord.Interaction) -> None:
        bot = interaction.client
        assert isinstance(bot, MiniBot)
        bot.submitted.append((self.job, self.prompt.value))
        await interaction.response.send_message(
            f"varying job {self.job}: {self.prompt.value}", ephemeral=True
        )


class MiniBot(commands.Bot):
    def __init__(self, guild_id: int) -> None:
        super().__init__(
            command_prefix="!", intents=discord.Intents.default(), guild_ready_timeout=0.1
        )
        self.guild_obj = discord.Object(guild_id)
        self.reference_bytes: list[bytes] = []
        self.filesize_limits: list[int] = []
        self.sent: list[discord.WebhookMessage] = []
        self.clicked: list[int] = []
        self.submitted: list[tuple[int, str]] = []
        self.resumed = 0
        self.errors: list[BaseException] = []
        self.captured: asyncio.Queue[discord.Interaction] = asyncio.Queue()
        #: what /pick's autocomplete answers, and the errors Discord gave for it
        self.suggestions: list[app_commands.Choice[Any]] = []
        self.autocomplete_errors: list[discord.HTTPException] = []

    async def before_identify_hook(self, shard_id: int | None, *, initial: bool = False) -> None:
        return None  # the default sleeps 5 s before every re-IDENTIFY

    async def on_resumed(self) -> None:
        self.resumed += 1

    async def setup_hook(self) -> None:
        self.add_dynamic_items(VaryButton)
        self.tree.error(self._on_tree_error)
        guild = self.guild_obj

        @app_commands.command(name="imagine", description="Make an image")
        @app_commands.describe(prompt="What to draw", reference="An image to start from")
        async def imagine(
            interaction: discord.Interaction,
            prompt: str,
            reference: discord.Attachment | None = None,
        ) -> None:
            await interaction.response.defer(thinking=True)
            self.filesize_limits.append(interaction.filesize_limit)
            if reference is not None:
                self.reference_bytes.append(await reference.read())
            view = discord.ui.View(timeout=None)
            view.add_item(VaryButton(JOB_ID))
            sent = await interaction.followup.send(
                f"Here is {prompt}",
                file=discord.File(io.BytesIO(OUTPUT_PNG), "out.png"),
                view=view,
                wait=True,
            )
            self.sent.append(sent)
            self.sent.append(
                await interaction.followup.send("Tip: press Vary", ephemeral=True, wait=True)
            )

        @app_commands.command(name="hold", description="Hand the interaction to the test")
        async def hold(interaction: discord.Interaction, defer: bool = False) -> None:
            if defer:
                await interaction.response.defer(thinking=True)
            await self.captured.put(interaction)

        @app_commands.command(name="purge", description="Moderators only")
        @app_commands.default_permissions(manage_messages=True)
        async def purge(interaction: discord.Interaction) -> None:
            await interaction.response.send_message(
                f"manage_messages={interaction.permissions.manage_messages}", ephemeral=True
            )

        async def edit_image(interaction: discord.Interaction, message: discord.Message) -> None:
            data = await message.attachments[0].read()
            self.reference_bytes.append(data)
            await interaction.response.send_message(
                "edited", file=discord.File(io.BytesIO(OUTPUT_PNG), "edited.png")
            )
            original = await interaction.original_response()
            assert original.attachments[0].filename == "edited.png"

        async def suggest(interaction: discord.Interaction, current: Any) -> list[Any]:
            try:
                await interaction.response.autocomplete(self.suggestions)
            except discord.HTTPException as error:
                self.autocomplete_errors.append(error)  # discord.py then answers []
            return []

        @app_commands.command(name="pick", description="Autocomplete that answers what it is told")
        @app_commands.autocomplete(word=suggest, number=suggest)
        async def pick(interaction: discord.Interaction, word: str, number: int = 0) -> None:
            await interaction.response.send_message(f"{word} {number}", ephemeral=True)

        slash_commands: list[app_commands.Command[Any, Any, None]] = [imagine, hold, purge, pick]
        for command in slash_commands:
            self.tree.add_command(command, guild=guild)
        self.tree.add_command(
            app_commands.ContextMenu(name="Edit image", callback=edit_image), guild=guild
        )
        await self.tree.sync(guild=guild)

    async def _on_tree_error(
        self, interaction: discord.Interaction, error: app_commands.AppCommandError
    ) -> None:
        self.errors.append(error)


@dataclass
class Env:
    fake: FakeDiscord
    bot: MiniBot

    async def captured(self) -> discord.Interaction:
        return await asyncio.wait_for(self.bot.captured.get(), 5)


@contextlib.asynccontextmanager
async def bot_running(fake: FakeDiscord, bot: commands.Bot) -> AsyncIterator[None]:
    """Point discord.py at ``fake``, start ``bot`` and wait until it is ready; close it after."""
    restore = point_discord_py_at(fake)
    runner = asyncio.create_task(bot.start(fake.token))
    ready = asyncio.create_task(bot.wait_until_ready())
    try:
        done, _ = await asyncio.wait(
            {runner, ready}, timeout=5, return_when=asyncio.FIRST_COMPLETED
        )
        if runner in done:
            runner.result()  # raises why the bot stopped
        assert ready in done, "bot not ready within 5 s"
        yield
    finally:
        ready.cancel()
        await bot.close()
        with contextlib.suppress(Exception):
            await asyncio.wait_for(runner, 5)
        restore()


def discord_errors(caplog: pytest.LogCaptureFixture) -> list[str]:
    """Errors discord.py logged (exceptions it swallowed)."""
    return [
        r.getMessage()
        for r in caplog.records
        if r.levelno >= logging.ERROR and r.name.startswith("discord")
    ]


@contextlib.asynccontextmanager
async def mini_env(caplog: pytest.LogCaptureFixture, **options: Any) -> AsyncIterator[Env]:
    """A fake Discord (``FakeDiscord(**options)``) with :class:`MiniBot` ready on it; after the
    test, no error may have reached the tree's handler or discord.py's log."""
    async with FakeDiscord(**options) as fake:
        bot = MiniBot(int(fake.guild.id))
        async with bot_running(fake, bot):
            yield Env(fake, bot)
            assert bot.errors == []
            assert discord_errors(caplog) == []


@pytest.fixture
async def env(caplog: pytest.LogCaptureFixture) -> AsyncIterator[Env]:
    async with mini_env(caplog) as started:
        yield started


async def _imagine(env: Env, user: FakeUser) -> discord.WebhookMessage:
    ix = await env.fake.slash(
        user,
        env.fake.channel,
        "imagine",
        {"prompt": "a cat"},
        attachments={"reference": ("ref image.png", REFERENCE_PNG, "image/png")},
    )
    await ix.wait_followups(1)
    return env.bot.sent[0]


# ------------------------------------------------------------------------------- tests


async def test_login_ready_and_gateway(env: Env) -> None:
    fake, bot = env.fake, env.bot
    assert bot.user is not None and bot.user.id == int(fake.bot_user.id)
    assert bot.application_id == int(fake.application_id)
    guild = bot.get_guild(int(fake.guild.id))
    assert guild is not None and guild.name == "Test Guild"
    assert [c.name for c in guild.text_channels] == ["general"]
    assert guild.me is not None
    assert fake.identify_count == 1
    assert fake.identifies[0]["intents"] == discord.Intents.default().value
    login = [r.route for r in fake.requests[:2]]
    assert login == ["/users/@me", "/oauth2/applications/@me"]
    assert fake.requests[0].headers["Authorization"] == f"Bot {fake.token}"
    await fake.wait_for(lambda: fake.heartbeats >= 1, timeout=5)
    acks = [f for f in fake.gateway_frames if f.direction == "send" and f.op == 11]
    assert acks


async def test_bad_token_is_login_failure() -> None:
    async with FakeDiscord() as fake:
        restore = point_discord_py_at(fake)
        bot = MiniBot(int(fake.guild.id))
        try:
            with pytest.raises(discord.LoginFailure):
                await bot.login("not-the-token")
        finally:
            await bot.close()
            restore()
        assert fake.requests[0].status == 401


async def test_tree_sync_registers_guild_commands_and_counts_puts(env: Env) -> None:
    fake = env.fake
    assert len(fake.command_syncs) == 1
    sync = fake.command_syncs[0]
    assert sync.guild_id == fake.guild.id and sync.changed
    imagine = fake.find_command("imagine", fake.guild)
    assert imagine is not None and imagine["guild_id"] == fake.guild.id
    options = [(o["name"], o["type"], o.get("required", False)) for o in imagine["options"]]
    assert options == [("prompt", 3, True), ("reference", 11, False)]
    assert fake.find_command("Edit image", fake.guild, type=3) is not None
    purge = fake.find_command("purge", fake.guild)
    assert purge is not None and purge["default_member_permissions"] == str(
        int(Perm.MANAGE_MESSAGES)
    )

    await env.bot.tree.sync(guild=env.bot.guild_obj)  # unchanged: Discord keeps ids/versions
    assert len(fake.command_syncs) == 2 and not fake.command_syncs[1].changed
    again = fake.find_command("imagine", fake.guild)
    assert again is not None and (again["id"], again["version"]) == (
        imagine["id"],
        imagine["version"],
    )


async def test_slash_defer_followup_fills_original(env: Env) -> None:
    fake, bot = env.fake, env.bot
    alice = fake.add_user("alice")
    ix = await fake.slash(
        alice,
        fake.channel,
        "imagine",
        {"prompt": "a cat"},
        attachments={"reference": ("ref image.png", REFERENCE_PNG, "image/png")},
    )
    resolved = next(iter(ix.payload["data"]["resolved"]["attachments"].values()))
    assert (resolved["width"], resolved["height"], resolved["filename"]) == (8, 6, "ref_image.png")

    callback = await ix.wait_callback()
    assert callback.type == 5 and not callback.late
    original = await ix.wait_original()
    await ix.wait_followups(1)

    # the first follow-up filled the "thinking" placeholder; the second was a new message
    assert original.content == "Here is a cat"
    assert bot.sent[0].id == int(original.id)
    assert [m.id for m in fake.messages(ephemeral=False)] == [original.id]
    tip = ix.followups[0]
    assert tip.ephemeral and tip.content == "Tip: press Vary"
    assert original.attachments[0].data == OUTPUT_PNG
    assert original.attachments[0].content_type == "image/png"
    assert (original.attachments[0].width, original.attachments[0].height) == (4, 4)
    assert original.find_component(f"vary:{JOB_ID}") is not None
    assert original.interaction_metadata is not None
    assert original.interaction_metadata["user"]["id"] == alice.id

    # the attachment option was read through Attachment.read() from the fake CDN
    assert bot.reference_bytes == [REFERENCE_PNG]
    assert bot.filesize_limits == [10 * 1024 * 1024]
    # the follow-up was multipart with the exact bytes
    post = fake.requests_to(f"/webhooks/{fake.application_id}/", "POST")[0]
    assert post.files[0].data == OUTPUT_PNG and post.json["attachments"][0]["filename"] == "out.png"
    assert fake.late_interactions() == []


async def test_dynamic_item_button_modal_and_submit(env: Env) -> None:
    fake, bot = env.fake, env.bot
    alice = fake.add_user("alice")
    sent = await _imagine(env, alice)

    click = await fake.click(alice, sent.id, f"vary:{JOB_ID}")
    modal = await click.wait_modal()
    assert modal["title"] == "Describe a variation" and modal["custom_id"] == f"describe:{JOB_ID}"
    submit = await fake.submit_modal(alice, click, {"describe:prompt": "make it blue"})
    reply = await submit.wait_original()
    assert reply.ephemeral and reply.content == f"varying job {JOB_ID}: make it blue"
    assert bot.clicked == [JOB_ID] and bot.submitted == [(JOB_ID, "make it blue")]

    # a button on a message from "a previous run" (no view stored in this process)
    old = fake.add_message(
        fake.channel,
        fake.bot_user,
        "old result",
        components=[
            {
                "type": 1,
                "components": [{"type": 2, "style": 1, "label": "Vary", "custom_id": "vary:7"}],
            }
        ],
    )
    old_click = await fake.click(alice, old, "vary:7")
    await old_click.wait_modal()
    assert bot.clicked == [JOB_ID, 7]
    with pytest.raises(ValueError, match="no component"):
        await fake.click(alice, old, "vary:8")


async def test_message_context_menu_and_type4_multipart_callback(env: Env) -> None:
    fake, bot = env.fake, env.bot
    alice = fake.add_user("alice")
    posted = fake.add_message(
        fake.channel, alice, "edit this", attachments=[("cat.png", REFERENCE_PNG)]
    )
    ix = await fake.context_menu_message(alice, fake.channel, "Edit image", posted)
    assert ix.payload["data"]["type"] == 3 and ix.payload["data"]["target_id"] == posted.id
    callback = await ix.wait_callback()
    assert callback.type == 4 and callback.files[0].data == OUTPUT_PNG
    reply = await ix.wait_original()
    assert reply.content == "edited" and reply.type == 23
    assert bot.reference_bytes == [REFERENCE_PNG]
    # original_response() came from the with_response resource: no GET @original was needed
    assert fake.requests_to("/messages/@original", "GET") == []


async def test_expired_token_followup_raises_50027(env: Env) -> None:
    fake = env.fake
    ix = await fake.slash(fake.add_user("alice"), fake.channel, "hold", {"defer": True})
    interaction = await env.captured()
    fake.expire_token(ix.token)
    with pytest.raises(discord.HTTPException) as caught:
        await interaction.followup.send("too late")
    assert caught.value.status == 401 and caught.value.code == 50027


async def test_deny_send_is_forbidden_but_interaction_webhooks_still_work(env: Env) -> None:
    fake, bot = env.fake, env.bot
    channel = bot.get_channel(int(fake.channel.id))
    assert isinstance(channel, discord.TextChannel)
    fake.deny_send(fake.channel)
    await fake.wait_for(lambda: not channel.permissions_for(channel.guild.me).send_messages)
    with pytest.raises(discord.Forbidden) as caught:
        await channel.send("hello")
    assert caught.value.code == 50013

    ix = await fake.slash(fake.add_user("alice"), fake.channel, "hold", {"defer": True})
    interaction = await env.captured()
    await interaction.followup.send("webhooks need no Send Messages")
    assert (await ix.wait_original()).content == "webhooks need no Send Messages"

    fake.allow_send(fake.channel)
    await channel.send("allowed again")
    assert fake.messages()[-1].content == "allowed again"


async def test_allowed_mentions_none_pings_nobody(env: Env) -> None:
    fake = env.fake
    alice = fake.add_user("alice")
    ix = await fake.slash(alice, fake.channel, "hold", {"defer": True})
    interaction = await env.captured()
    text = f"@everyone look {alice.mention}"
    await interaction.followup.send(text, allowed_mentions=discord.AllowedMentions.none())
    quiet = await ix.wait_original()
    assert quiet.content == text
    assert quiet.allowed_mentions == {"parse": []}
    assert quiet.pinged == set() and quiet.notified_users == set()
    assert not quiet.mention_everyone

    await interaction.followup.send(text)  # no allowed_mentions: Discord parses everything
    loud = (await ix.wait_followups(1))[0]
    assert loud.pinged == {"@everyone", alice.mention}
    assert loud.notified_users == {alice.id, fake.owner.id}

    await interaction.followup.send(
        text, allowed_mentions=discord.AllowedMentions(everyone=False, users=True)
    )
    users_only = (await ix.wait_followups(2))[1]
    assert users_only.pinged == {alice.mention}


async def test_oversize_file_is_413_40005(env: Env) -> None:
    fake = env.fake
    ix = await fake.slash(
        fake.add_user("alice"), fake.channel, "hold", {"defer": True}, attachment_size_limit=1024
    )
    interaction = await env.captured()
    assert interaction.filesize_limit == 1024
    with pytest.raises(discord.HTTPException) as caught:
        await interaction.followup.send(file=discord.File(io.BytesIO(b"x" * 2048), "big.bin"))
    assert caught.value.status == 413 and caught.value.code == 40005
    assert ix.original is not None and ix.original.loading  # nothing was posted

    await interaction.followup.send(file=discord.File(io.BytesIO(b"x" * 1024), "fits.bin"))
    assert (await ix.wait_original()).attachments[0].size == 1024

    channel = env.bot.get_channel(int(fake.channel.id))
    assert isinstance(channel, discord.TextChannel)
    too_big = b"\0" * (10 * 1024 * 1024 + 1)  # the default per-file limit is 10 MiB
    with pytest.raises(discord.HTTPException) as caught:
        await channel.send(file=discord.File(io.BytesIO(too_big), "huge.png"))
    assert caught.value.code == 40005


async def test_second_callback_40060_and_embed_limits(env: Env) -> None:
    fake = env.fake
    ix = await fake.slash(fake.add_user("alice"), fake.channel, "hold")
    interaction = await env.captured()
    await interaction.response.send_message("first")
    url = f"{fake.api_base}/interactions/{ix.id}/{ix.token}/callback"
    async with aiohttp.ClientSession() as session, session.post(url, json={"type": 4}) as resp:
        assert resp.status == 400
        assert (await resp.json())["code"] == 40060
    assert [c.status for c in fake.callbacks if c.interaction_id == ix.id] == [200, 400]

    channel = env.bot.get_channel(int(fake.channel.id))
    assert isinstance(channel, discord.TextChannel)
    with pytest.raises(discord.HTTPException) as caught:
        await channel.send(embed=discord.Embed(title="x" * 257))
    assert caught.value.code == 50035
    assert "embeds.0.title" in str(caught.value)
    many = [discord.Embed(description="y" * 4000) for _ in range(2)]
    with pytest.raises(discord.HTTPException) as caught:
        await channel.send(embeds=many)
    assert caught.value.code == 50035


async def test_permissions_stranger_vs_moderator(env: Env) -> None:
    fake = env.fake
    stranger = fake.add_user("stranger")
    moderator = fake.add_user("mod", permissions=Perm.MANAGE_MESSAGES)
    with pytest.raises(CommandUnavailable):
        await fake.slash(stranger, fake.channel, "purge")
    ix = await fake.slash(moderator, fake.channel, "purge")
    reply = await ix.wait_original()
    assert reply.ephemeral and reply.content == "manage_messages=True"

    await fake.slash(stranger, fake.channel, "hold")
    interaction = await env.captured()
    assert not interaction.permissions.manage_messages
    assert interaction.permissions.send_messages
    assert interaction.app_permissions.attach_files


async def test_dm_and_closed_dms(env: Env) -> None:
    fake, bot = env.fake, env.bot
    alice = fake.add_user("alice")
    user = await bot.fetch_user(int(alice.id))
    await user.send("your image is ready")
    assert [m.content for m in fake.dms(alice)] == ["your image is ready"]

    closed = fake.add_user("closed")
    closed.dms_closed = True
    with pytest.raises(discord.Forbidden) as caught:
        await (await bot.fetch_user(int(closed.id))).send("hi")
    assert caught.value.code == 50007


async def test_reconnect_resumes_and_replays_missed_events(env: Env) -> None:
    fake, bot = env.fake, env.bot
    alice = fake.add_user("alice")
    fake.pause_gateway()  # hold the reconnect so the interaction is missed, then replayed
    await fake.disconnect(4000)
    ix = await fake.slash(alice, fake.channel, "hold")
    fake.resume_gateway()
    resume = await fake.wait_resumed(1)
    assert resume.replayed == ["INTERACTION_CREATE"]
    interaction = await env.captured()
    assert interaction.id == int(ix.id)
    await fake.wait_for(lambda: bot.resumed == 1)

    await fake.send_reconnect()  # op 7
    await fake.wait_resumed(2)
    await fake.send_invalid_session(resumable=False)  # op 9 -> a fresh IDENTIFY
    await fake.wait_identified(2)
    assert fake.identify_count == 2

    await fake.slash(alice, fake.channel, "hold")
    assert (await env.captured()).user.id == int(alice.id)
