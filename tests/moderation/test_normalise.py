"""The normalised words blocked terms are matched on: each rule of the module docstring, by
example."""

from __future__ import annotations

import subprocess
import sys

import pytest

from bot.moderation.normalise import fold, spaced, words


def read(text: str) -> list[str]:
    return words(fold(text))


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("BAD Straße", ["bad", "strasse"]),  # case folding
        ("ｂａｄ 𝐛𝐚𝐝 ⓑⓐⓓ", ["bad", "bad", "bad"]),  # NFKC: fullwidth, mathematical, circled
        ("bäd bàd", ["bad", "bad"]),  # accents
        ("b\u200bad b\u00adad b\u2060ad b\ufeffad b\u200dad", ["bad"] * 5),  # invisible
        ("bаd ѕех gοοd", ["bad", "sex", "good"]),  # Cyrillic а, ѕ, е, х; Greek omicron
        ("ʙᴀᴅ łøđ", ["bad", "lod"]),  # small capitals, letters with strokes
        ("b.a.d b*a*d b🙂ad bad-minton", ["bad", "bad", "bad", "badminton"]),  # joined
        ("b a d", ["bad"]),  # a one-letter run is one word
        ("b. a. d. - dog", ["bad", "dog"]),  # stray punctuation ends no run
        ("a b a d", ["abad"]),  # ...joined whole
        ("3 b a d", ["3", "bad"]),  # digits are not letters of a run
        ("bad, evil! (dog)", ["bad", "evil", "dog"]),
        ("2×3 © x", ["23", "x"]),  # symbols are not letters in disguise: × is no x
        ("...  \u200b", []),
    ],
)
def test_words(text, expected):
    assert read(text) == expected


def test_ascii_is_left_alone():
    text = "modern film, 1 l I | 0 O"
    assert fold(text) == text.casefold()


def test_spaced_pads_every_word():
    assert spaced(["bad", "dog"]) == " bad dog "


def test_the_look_alike_table_is_loaded_only_for_letters_that_need_it():
    # about 7 MiB in memory: a bot whose prompts are ASCII (or have no blocked terms to
    # match) never loads it
    script = (
        "import sys\n"
        "import bot.runtime, bot.discord.client\n"
        "from bot.moderation.normalise import fold\n"
        "fold('a plain prompt, ʙᴀᴅ łøđ bäd')\n"
        "print('confusable_homoglyphs' in sys.modules)\n"
        "fold('ѕех')\n"
        "print('confusable_homoglyphs' in sys.modules)\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, timeout=60, check=True
    )
    assert done.stdout.split() == ["False", "True"]
