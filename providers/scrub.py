"""The one scrubber: every text that leaves the bot (a log line, a Discord message, a CLI line,
a stored failure reason, a provider's error) passes through a :class:`Scrubber` first.

It masks the literal secrets it was given (API keys, the Discord token, webhook secrets, in
plain and URL-quoted form) and, wherever they stand, things shaped like secrets:

* tokens in URL paths: ``/webhooks/<id>/<token>``, ``/interactions/<id>/<token>`` (Discord's
  interaction tokens), ``/callbacks/<job>/<token>`` (our per-job callback tokens);
* credentials in headers, as ``Name: value`` or in a dict's repr: ``Authorization`` (``Bot``,
  ``Bearer``...), ``x-…-api-key``, ``x-…-token``, ``Cookie``;
* ``token``, ``secret``, ``api_key``, ``password``... fields of JSON bodies and dict reprs;
* ``key=``, ``token=``, ``api_key=``, ``secret=`` query parameters;
* Discord interaction tokens (they begin ``aW50ZXJhY3Rpb246``, base64 for ``interaction:``).

It lives in the lowest layer so that providers, the engine, the Discord side, the logs and
the CLI all use this one.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from urllib.parse import quote

MASK = "***"
#: shorter values are not taken as secrets (they would mask ordinary words)
MIN_SECRET_LENGTH = 6

_URL_TOKEN = re.compile(r"(/(?:webhooks|interactions|callbacks)/[^/\s'\"?#]+/)([^/\s'\"?#]+)")
_HEADER = re.compile(
    r"((?:proxy-)?authorization|x-[\w-]*api-key|x-[\w-]*token|cookie)"
    r"(['\"]?\s*[:=]\s*['\"]?)((?:bot|bearer|basic|token)\s+)?([^'\"\s,;}\]]+)",
    re.IGNORECASE,
)
_FIELD = re.compile(
    r"(['\"](?:[\w-]*token|[\w-]*secret|api[_-]?key|password)['\"]\s*:\s*['\"])([^'\"]+)",
    re.IGNORECASE,
)
_INTERACTION_TOKEN = re.compile(r"aW50ZXJhY3Rpb246[\w\-.~]+")
_QUERY = re.compile(
    r"([?&](?:key|api_?key|token|access_token|secret)=)([^&\s'\"#]+)", re.IGNORECASE
)


class Scrubber:
    """Masks known secrets and secret-shaped text (see the module docstring)."""

    def __init__(self, secrets: Iterable[str | None] = ()) -> None:
        self._secrets: set[str] = set()
        self._literal: re.Pattern[str] | None = None
        self.add(*secrets)

    def add(self, *secrets: str | None) -> None:
        """Mask these values too (empty and short ones are ignored)."""
        added = False
        for secret in secrets:
            if secret and len(secret) >= MIN_SECRET_LENGTH and secret not in self._secrets:
                self._secrets.update({secret, quote(secret, safe="")})
                added = True
        if added:
            ordered = sorted(self._secrets, key=len, reverse=True)
            self._literal = re.compile("|".join(re.escape(s) for s in ordered))

    def __call__(self, text: str) -> str:
        """``text`` with every secret masked."""
        if self._literal is not None:
            text = self._literal.sub(MASK, text)
        text = _INTERACTION_TOKEN.sub(MASK, text)
        text = _URL_TOKEN.sub(rf"\g<1>{MASK}", text)
        text = _HEADER.sub(rf"\g<1>\g<2>\g<3>{MASK}", text)
        text = _FIELD.sub(rf"\g<1>{MASK}", text)
        return _QUERY.sub(rf"\g<1>{MASK}", text)
