r"""Blocked terms: the words a server's admins forbid in prompts, and the matcher that finds them.

An admin writes a term in one of two ways:

* **plain text**, e.g. ``bad`` or ``bad word``: found as whole words in the prompt's normalised
  text (:mod:`bot.moderation.normalise` says exactly what that is), so ``BAD``, ``b a d``,
  ``b.a.d``, ``b\u200bad`` and ``bаd`` (a Cyrillic ``а``) are all found, while ``badge`` and
  ``Scunthorpe`` are other words. A term of several words is also found written as one
  (``bad word`` finds ``badword`` and ``bad-word``);
* **a regular expression between slashes**, e.g. ``/ba+d/``, always case-insensitive, searched
  in the prompt three ways: case-folded (NFKC), with its disguises taken off
  (:func:`~bot.moderation.normalise.fold`), and as its normalised words joined by single
  spaces. Expressions run on RE2, whose matching time grows linearly with the prompt whatever
  the pattern, so a hostile ``/(a+)+$/`` cannot stall the bot; the price is that RE2 has no
  backreferences or lookarounds, and :func:`parse_term` refuses them.

:class:`TermMatcher` reports the first of a server's terms, in the admins' order, that a prompt
contains: the audit log records which, while the member is only told a blocked term matched.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Literal, Protocol, cast

import re2

from bot.moderation.normalise import fold, letter_runs, spaced, words

#: the longest term an admin may write, in characters (slashes included)
MAX_TERM_LENGTH = 200
#: how much of RE2's own complaint about a bad expression is quoted back
_REASON_LENGTH = 80
#: RE2's memory budget per expression (its default is 8 MiB; a server may have 200 terms)
_REGEX_MAX_MEM = 2 << 20

TermKind = Literal["plain", "regex"]

_FLAGGED_REGEX = re.compile(r"/.*/[A-Za-z]+")
_UNSUPPORTED = re.compile(r"invalid perl operator: \(\?<?[=!]|invalid escape sequence: \\[1-9]")


class TermError(ValueError):
    """A blocked term that cannot be used; the message says why, for the admin who wrote it."""


@dataclass(frozen=True, slots=True)
class BlockedTerm:
    """A blocked term as an admin wrote it (surrounding whitespace trimmed).

    Made by :func:`parse_term`, which checks it; ``str()`` gives it back as written.
    """

    text: str
    kind: TermKind

    def __str__(self) -> str:
        return self.text


class _Regex(Protocol):
    """The part of a compiled ``re2`` expression used here (the package has no type hints)."""

    def search(self, text: bytes) -> object | None: ...


def _shorten(text: str, limit: int) -> str:
    return text if len(text) <= limit else text[: limit - 1] + "…"


def _reason(error: Exception) -> str:
    """RE2's complaint as text (its exceptions carry it as UTF-8 bytes)."""
    detail: object = error.args[0] if error.args else error
    if isinstance(detail, bytes):
        return detail.decode("utf-8", "replace")
    return str(detail)


def _compile(pattern: str) -> _Regex:
    """``pattern`` compiled by RE2, case-insensitive, or :class:`TermError` saying why not."""
    options = re2.Options()
    options.case_sensitive = False
    options.max_mem = _REGEX_MAX_MEM
    options.log_errors = False  # the admin is told; RE2 would also write to stderr
    try:
        return cast(_Regex, re2.compile(pattern, options))
    except re2.error as error:
        reason = _reason(error)
    if _UNSUPPORTED.search(reason):
        raise TermError(
            f"/{_shorten(pattern, 40)}/ uses a backreference or a lookaround, which blocked "
            "terms do not support (they are matched in linear time so that no pattern can "
            f"stall the bot): {_shorten(reason, _REASON_LENGTH)}"
        )
    raise TermError(
        f"/{_shorten(pattern, 40)}/ is not a valid regular expression: "
        f"{_shorten(reason, _REASON_LENGTH)}"
    )


def _plain_keys(text: str) -> tuple[str, ...]:
    """The spaced forms a plain term is found by: its words, and them written as one."""
    term_words = words(fold(text))
    if len(term_words) == 1:
        return (spaced(term_words),)
    return spaced(term_words), spaced(["".join(term_words)])


def parse_term(text: str) -> BlockedTerm:
    """The blocked term an admin wrote, checked, or :class:`TermError` saying what is wrong.

    ``/…/`` is a regular expression (RE2 syntax, always case-insensitive); anything else is
    plain text.
    """
    text = text.strip()
    if not text:
        raise TermError("a blocked term cannot be empty")
    if len(text) > MAX_TERM_LENGTH:
        raise TermError(
            f"a blocked term can be at most {MAX_TERM_LENGTH} characters (this one has {len(text)})"
        )
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        raise TermError("a blocked term must be valid Unicode text (no lone surrogates)") from None
    if len(text) >= 2 and text.startswith("/") and text.endswith("/"):
        pattern = text[1:-1]
        if not pattern:
            raise TermError("// is an empty regular expression: write the pattern between them")
        regex = _compile(pattern)
        if regex.search(b"") is not None:
            raise TermError(
                f"/{_shorten(pattern, 40)}/ matches empty text, so it would block every prompt"
            )
        return BlockedTerm(text, "regex")
    if _FLAGGED_REGEX.fullmatch(text):
        raise TermError(
            f"{_shorten(text, 40)}: flags after a regular expression are not supported; "
            "blocked terms are always case-insensitive, so write it as /…/"
        )
    if not words(fold(text)):
        raise TermError(
            f"{_shorten(text, 40)!r} has no letters or digits to match (punctuation, spaces "
            "and invisible characters are ignored in prompts)"
        )
    return BlockedTerm(text, "plain")


@dataclass(frozen=True, slots=True)
class _PlainCheck:
    term: BlockedTerm
    keys: tuple[str, ...]
    #: the term's letters written as one word (found inside a run of spaced-out letters)
    compact: str


@dataclass(frozen=True, slots=True)
class _RegexCheck:
    term: BlockedTerm
    regex: _Regex


class TermMatcher:
    """A server's blocked terms, compiled once, to be asked of each prompt."""

    def __init__(self, terms: Iterable[BlockedTerm]) -> None:
        checks: list[_PlainCheck | _RegexCheck] = []
        for term in terms:
            if term.kind == "regex":
                checks.append(_RegexCheck(term, _compile(term.text[1:-1])))
            else:
                compact = "".join(words(fold(term.text)))
                checks.append(_PlainCheck(term, _plain_keys(term.text), compact))
        self._checks = tuple(checks)
        self._has_regex = any(isinstance(check, _RegexCheck) for check in checks)

    @property
    def terms(self) -> tuple[BlockedTerm, ...]:
        """The terms, in the order they were given (the order :meth:`first_match` tries)."""
        return tuple(check.term for check in self._checks)

    def first_match(self, prompt: str) -> BlockedTerm | None:
        """The first term (in the order given) that ``prompt`` contains, or None."""
        if not self._checks:
            return None
        folded = fold(prompt)
        prompt_words = words(folded)
        padded = spaced(prompt_words)
        runs = letter_runs(folded)
        forms: tuple[bytes, ...] = ()
        if self._has_regex:
            casefolded = unicodedata.normalize("NFKC", prompt).casefold()
            # RE2 works on UTF-8: encoding each form once, not once per term, halves the time
            forms = tuple(
                form.encode("utf-8", "surrogatepass")
                for form in (casefolded, folded, " ".join(prompt_words))
            )
        for check in self._checks:
            if isinstance(check, _PlainCheck):
                if any(key in padded for key in check.keys) or any(
                    check.compact in run for run in runs
                ):
                    return check.term
            elif any(check.regex.search(form) is not None for form in forms):
                return check.term
        return None
