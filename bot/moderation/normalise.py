r"""What a prompt says once its disguises are taken off: the text blocked terms are matched on.

:func:`fold` undoes the disguises that change how text is encoded but not how it reads:

1. Unicode NFKC (fullwidth ``ｂａｄ``, mathematical ``𝐛𝐚𝐝``, ligatures, circled letters),
   then case folding (``BAD``, ``Straße`` → ``strasse``);
2. accents stripped: NFD, then combining marks dropped (``bäd`` → ``bad``);
3. invisible format characters dropped (zero-width space, joiners, word joiner, BOM, soft
   hyphen, bidirectional controls: every character of category ``Cf``), so ``b\u200bad`` is ``bad``;
4. look-alike letters folded to their Latin skeleton: Cyrillic ``а`` and Greek ``α`` → ``a``,
   Greek omicron → ``o``, Latin small capitals and letters with strokes (``ʙᴀᴅ``, ``ł``) → the
   plain letter. Cross-script look-alikes come from Unicode's confusables data (UTS #39) as
   packaged by ``confusable-homoglyphs``; a character is folded only to ASCII letters, so
   ASCII itself is left alone (``m`` never becomes ``rn``).

:func:`words` then reads the folded text as words, by two rules:

* **Whitespace separates words; anything else between letters is ignored.** Inside a run of
  non-space characters, everything that is not a letter or digit is dropped, so ``b.a.d``,
  ``b*a*d`` and ``b🙂ad`` are the word ``bad`` — and ``bad-minton`` is ``badminton``.
* **A run of one-letter words is one word**: ``b a d`` and ``b. a. d.`` are ``bad``. The run is
  joined whole (``a b a d`` is the word ``abad``), and :func:`letter_runs` gives the runs apart:
  a term spelled out anywhere inside one (``a g o r e``, the article and the spaced word) is
  found too, since nobody spaces letters out by accident.

Two consequences, both deliberate: matching whole words keeps innocent words innocent
(``badge``, ``abad``, ``Scunthorpe`` contain a term's letters but are other words), and a term
glued to other letters is another word too (``xbadx``, ``bad-ass``); an admin who wants
"anywhere" writes a regular expression. Look-alike folding applies to whole words in other
scripts as well: the Russian ``сор`` reads as ``cop``, which is the price of catching ``ѕех``.
"""

from __future__ import annotations

import re
import unicodedata
from typing import cast

#: character categories dropped outright: combining marks (accents) and invisible format chars
_DROPPED_CATEGORIES = frozenset({"Mn", "Me", "Cf"})

#: Latin letters that are a plain letter in disguise, recognised by their Unicode name:
#: "LATIN LETTER SMALL CAPITAL A", "LATIN SMALL LETTER L WITH STROKE", "… DOTLESS I", "… SCRIPT G"
_LATIN_VARIANT = re.compile(
    r"LATIN (?:SMALL |CAPITAL )?LETTER (?:SMALL CAPITAL |DOTLESS |SCRIPT )?([A-Z])(?: WITH .+)?"
)


def _ascii_letters(text: str) -> str | None:
    """``text`` as lower-case ASCII letters, or None when it is anything else."""
    folded = unicodedata.normalize("NFKC", text).casefold()
    return folded if folded.isascii() and folded.isalpha() else None


def _skeleton_of(char: str) -> str:
    """One character of the prompt after NFKC, case folding and NFD: what it reads as."""
    category = unicodedata.category(char)
    if category in _DROPPED_CATEGORIES:
        return ""
    if char.isascii() or category[0] not in "LMN":
        return char  # symbols stay symbols: "×" is not an "x", nor "©" a "c"
    latin = _LATIN_VARIANT.fullmatch(unicodedata.name(char, ""))
    if latin is not None:
        return latin.group(1).lower()
    # the look-alike table is imported on first need (about 7 MiB in memory and 36 ms to
    # load): only a letter outside ASCII and Latin's own variants gets here
    from confusable_homoglyphs import confusables

    found = cast(
        "list[dict[str, list[dict[str, str]]]] | bool",
        confusables.is_confusable(char, greedy=False, preferred_aliases=[]),
    )
    if isinstance(found, list):
        for homoglyph in found[0]["homoglyphs"]:
            letters = _ascii_letters(homoglyph["c"])
            if letters is not None:
                return letters
    return char


class _SkeletonTable(dict[int, str]):
    """A ``str.translate`` table filled on first sight of each code point.

    It grows by at most one entry per assigned Unicode character (under 300,000), and every
    later prompt using that character pays one dictionary look-up for it.
    """

    def __missing__(self, code: int) -> str:
        folded = _skeleton_of(chr(code))
        self[code] = folded
        return folded


_SKELETON = _SkeletonTable()


def fold(text: str) -> str:
    """``text`` with its disguises taken off (see the module docstring); spacing is kept."""
    composed = unicodedata.normalize("NFKC", text).casefold()
    return unicodedata.normalize("NFD", composed).translate(_SKELETON)


def _chunk_word(chunk: str) -> str:
    """A whitespace-delimited chunk as one word: its letters and digits only."""
    return "".join(char for char in chunk if char.isalnum())


def words(folded: str) -> list[str]:
    """The words of :func:`fold`-ed text, one-letter runs joined (see the module docstring)."""
    result: list[str] = []
    letters: list[str] = []  # the run of one-letter words being collected
    for chunk in folded.split():
        word = chunk if chunk.isalnum() else _chunk_word(chunk)
        if not word:
            continue  # punctuation standing alone neither is a word nor ends a run
        if len(word) == 1 and word.isalpha():
            letters.append(word)
            continue
        if letters:
            result.append("".join(letters))
            letters.clear()
        result.append(word)
    if letters:
        result.append("".join(letters))
    return result


def letter_runs(folded: str) -> list[str]:
    """The runs of two or more one-letter words in :func:`fold`-ed text, each joined."""
    runs: list[str] = []
    letters: list[str] = []
    for chunk in [*folded.split(), " "]:
        word = chunk if chunk.isalnum() else _chunk_word(chunk)
        if not word and chunk != " ":
            continue  # lone punctuation neither is a letter nor ends a run
        if len(word) == 1 and word.isalpha():
            letters.append(word)
            continue
        if len(letters) >= 2:
            runs.append("".join(letters))
        letters.clear()
    return runs


def spaced(word_list: list[str]) -> str:
    """Words as one string with a space before, between and after them.

    A term is found in a prompt when its spaced form is a substring of the prompt's: the spaces
    make the match start and end on word boundaries.
    """
    return " " + " ".join(word_list) + " "
