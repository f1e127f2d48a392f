"""Captioned references and grounding sources through the real bot, the fake Discord and the
provider fakes: an attachment's alt text reaches the provider as the reference's caption, and
a grounded result shows its sources under the image (links only, escaped, within limits)."""

from __future__ import annotations

import base64

import discord
import pytest

from bot.discord.sources import FIELD_LIMIT, MAX_SHOWN, sources_markdown
from providers.base import Source
from tests.discord.bot_harness import (
    job_id_of,
    keys_for,
    png,
    result_of,
    running_bot,
    settings_for,
)
from tests.fakes.discord import FakeDiscord, Perm
from tests.fakes.gemini import FakeGemini
from tests.fakes.magnific import FakeMagnific

FLASH = "magnific:nano-banana-pro-flash"
WIKI = "https://en.wikipedia.org/wiki"


@pytest.fixture
async def fake():
    async with FakeDiscord() as server:
        yield server


def field(message, name: str) -> str | None:
    for embed in message.embeds:
        for entry in embed.get("fields", []):
            if entry["name"] == name:
                return str(entry["value"])
    return None


async def test_alt_text_is_the_caption_on_magnifics_wire(fake, tmp_path):
    async with FakeMagnific() as magnific:
        settings = settings_for(fake, tmp_path, **keys_for("magnific", magnific))
        async with running_bot(fake, settings) as runtime:
            user = fake.add_user("cara")
            ix = await fake.slash(
                user,
                fake.channel,
                "imagine",
                {"prompt": "this face in this style", "model": FLASH},
                attachments={
                    "reference": ("face.png", png(), "image/png", "the face"),
                    "reference2": ("style.png", png(color="blue"), "image/png"),
                },
            )
            assert ix.payload["data"]["resolved"]["attachments"]  # as Discord sends them
            described = list(ix.payload["data"]["resolved"]["attachments"].values())
            assert [a.get("description") for a in described] == ["the face", None]
            result = await result_of(fake, ix)
            sent = magnific.requests_to("/nano-banana-pro-flash", "POST")[0].json
            refs = sent["reference_images"]
            assert refs[0]["text"] == "the face"
            assert "text" not in refs[1]

            # a re-roll sends the same captions (they are stored with the job's references)
            await fake.click(user, result, f"bb:reroll:{job_id_of(result)}")
            await fake.wait_for(
                lambda: len(magnific.requests_to("/nano-banana-pro-flash", "POST")) == 2,
                what="the re-roll's request",
            )
            again = magnific.requests_to("/nano-banana-pro-flash", "POST")[1].json
            assert [r.get("text") for r in again["reference_images"]] == ["the face", None]
            job = await runtime.engine.get_job(job_id_of(result), images=True)
            assert job is not None and job.request.references[0].caption == "the face"


async def test_alt_text_of_an_edited_message_image_is_a_gemini_text_part(fake, tmp_path):
    async with FakeGemini() as gemini:
        settings = settings_for(
            fake, tmp_path, default_provider="gemini", **keys_for("gemini", gemini)
        )
        async with running_bot(fake, settings):
            user = fake.add_user("dora")
            photo = fake.add_message(
                fake.channel,
                user,
                "my cat",
                attachments=[("cat.png", png(40, 40), "image/png", "my grey cat")],
            )
            ix = await fake.context_menu_message(user, fake.channel, "Edit image", photo)
            await ix.wait_modal()
            submitted = await fake.submit_modal(user, ix, {"instruction": "make it a painting"})
            await result_of(fake, submitted)
            parts = gemini.requests[-1].json["contents"][0]["parts"]
            assert parts[0] == {"text": "my grey cat"}
            assert base64.b64decode(parts[1]["inlineData"]["data"])
            assert parts[-1] == {"text": "make it a painting"}


async def test_grounded_magnific_result_shows_its_sources(fake, tmp_path):
    async with FakeMagnific() as magnific:
        magnific.grounding_chunks = [
            {"web": {"uri": f"{WIKI}/Eiffel_Tower", "title": "wikipedia.org"}},
            {"web": {"uri": "https://evil.example/x", "title": "[click](https://phish) @everyone"}},
            {"web": {"uri": "javascript:alert(1)", "title": "script"}},
        ]
        settings = settings_for(fake, tmp_path, **keys_for("magnific", magnific))
        async with running_bot(fake, settings) as runtime:
            user = fake.add_user("emil")
            ix = await fake.slash(
                user,
                fake.channel,
                "imagine",
                {"prompt": "the Eiffel Tower today", "model": FLASH, "grounding": True},
            )
            result = await result_of(fake, ix)
            value = field(result, "Sources")
            assert value is not None
            assert value.startswith(f"[wikipedia.org]({WIKI}/Eiffel_Tower)")
            assert "\\[click\\](https://phish) @\u200beveryone" in value  # inert text
            assert "](https://evil.example/x)" in value
            assert "javascript" not in value and "script" not in value
            assert result.pinged == set()
            job = await runtime.engine.get_job(job_id_of(result))
            assert job is not None and len(job.sources) == 2  # stored with the job

            plain = await fake.slash(
                user, fake.channel, "imagine", {"prompt": "a fox", "model": FLASH}
            )
            assert field(await result_of(fake, plain), "Sources") is None


async def test_grounded_gemini_result_without_embed_links_lists_sources_in_text(fake, tmp_path):
    async with FakeGemini() as gemini:
        settings = settings_for(
            fake, tmp_path, default_provider="gemini", **keys_for("gemini", gemini)
        )
        async with running_bot(fake, settings) as runtime:
            fake.set_overwrite(fake.channel, fake.bot_user, deny=Perm.EMBED_LINKS)

            def bot_knows() -> bool:
                channel = runtime.bot.get_channel(int(fake.channel.id))
                assert isinstance(channel, discord.TextChannel)
                return not channel.permissions_for(channel.guild.me).embed_links

            await fake.wait_for(bot_knows, what="the overwrite in the bot's cache")
            user = fake.add_user("fritz")
            ix = await fake.slash(
                user, fake.channel, "imagine", {"prompt": "today's weather", "grounding": True}
            )
            result = await result_of(fake, ix)
            assert result.embeds == []
            line = next(x for x in result.content.splitlines() if x.startswith("Sources: "))
            assert "[wikipedia.org](https://vertexaisearch.cloud.google.com/" in line
            assert "[nasa.gov](" in line
            assert len(result.content) <= 2000


def test_sources_markdown_stays_short_and_counts_the_rest() -> None:
    long_url = "https://vertexaisearch.cloud.google.com/grounding-api-redirect/" + "A" * 180
    sources = [Source(url=f"{long_url}{i}", title=f"site{i}.org") for i in range(9)]
    text = sources_markdown(sources)
    assert text is not None and len(text) <= FIELD_LIMIT
    assert text.count("](") <= MAX_SHOWN
    assert text.endswith(f"+{9 - text.count('](')} more")
    tight = sources_markdown(sources, limit=600)
    assert tight is not None and len(tight) <= 600 and tight.count("](") == 2
    odd = sources_markdown([Source(url="https://a.example/p(1)<x>", title=None)])
    assert odd == "[a.example](https://a.example/p%281%29%3Cx%3E)"
    cut = sources_markdown([Source(url="https://b.example/", title="x" * 100)])
    assert cut is not None and "…" in cut and len(cut.split("](")[0]) <= 41
    assert sources_markdown([]) is None
    assert sources_markdown([Source(url="ftp://c.example/", title="ftp")]) is None
