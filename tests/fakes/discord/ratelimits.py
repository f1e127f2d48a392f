"""Discord's rate limits: per-route buckets, the global limit, and the headers that tell.

Source: developers/topics/rate-limits.mdx. Every REST answer carries the bucket's
``X-RateLimit-Limit``, ``-Remaining``, ``-Reset`` (epoch seconds), ``-Reset-After`` (seconds) and
``-Bucket`` (a hash naming the limit, "non-inclusive of top-level resources in the path").
Buckets are counted per *top-level resource* (major parameter): the channel id, the guild id, or
the webhook id + token. Going over a bucket answers ``429`` with ``Retry-After``,
``X-RateLimit-Scope: user`` and the body ``{"message", "retry_after", "global"}``; going over the
global limit (50 requests a second per bot) answers ``429`` with ``X-RateLimit-Global: true`` and
``X-RateLimit-Scope: global``. "Interaction endpoints are not bound to the bot's Global Rate
Limit" (the callback, and the webhook routes with an interaction token). Discord's HTTP front
sends a ``Via`` header; discord.py treats a 429 without it as a Cloudflare ban and does not retry
(discord/http.py, ``HTTPClient.request``), so the fake sends one.

Discord does not document per-route numbers ("should not be hard coded"); the defaults are the
values its headers commonly show (5 messages per 5 s per channel, 5 webhook executions per 2 s
per webhook). :class:`RateLimitConfig` holds them; tests make them tight to study a client.

Windows are measured on the real clock whatever clock the fake judges interactions by: clients
wait out ``retry_after`` / ``Reset-After`` with real sleeps.
"""

from __future__ import annotations

import hashlib
import math
import re
import time
from collections.abc import Callable
from dataclasses import dataclass, field


@dataclass(frozen=True)
class RateLimit:
    """At most ``limit`` requests per ``per`` seconds."""

    limit: int
    per: float


@dataclass
class RateLimitConfig:
    """The limits the fake applies (None: that limit is off)."""

    #: all requests with the bot token, interaction endpoints excepted
    global_limit: RateLimit | None = field(default_factory=lambda: RateLimit(50, 1.0))
    #: ``POST /channels/{channel}/messages``, per channel
    channel_messages: RateLimit | None = field(default_factory=lambda: RateLimit(5, 5.0))
    #: ``PATCH`` / ``DELETE /channels/{channel}/messages/{message}``, per channel and method
    channel_message_edits: RateLimit | None = field(default_factory=lambda: RateLimit(5, 5.0))
    #: every ``/webhooks/{id}/{token}...`` route (interaction follow-ups and their edits), per
    #: webhook id + token and route
    webhooks: RateLimit | None = field(default_factory=lambda: RateLimit(5, 2.0))
    #: ``POST /interactions/{id}/{token}/callback``, per interaction
    interaction_callbacks: RateLimit | None = field(default_factory=lambda: RateLimit(5, 1.0))
    #: every other route, per route and major parameter
    default: RateLimit | None = field(default_factory=lambda: RateLimit(10, 1.0))

    @classmethod
    def off(cls) -> RateLimitConfig:
        """No limits at all."""
        return cls(None, None, None, None, None, None)


@dataclass(frozen=True)
class Route:
    """What a request is limited as: its bucket, top-level resource and limit."""

    bucket: str  # the route as Discord groups it, e.g. ``POST /channels/{id}/messages``
    major: str  # the top-level resource: channel id, guild id, webhook id + token, or ""
    limit: RateLimit | None
    global_applies: bool


@dataclass
class Decision:
    """Whether a request may pass, with the headers to send either way."""

    allowed: bool
    headers: dict[str, str]
    scope: str | None = None  # "user" or "global" when refused
    retry_after: float = 0.0

    @property
    def is_global(self) -> bool:
        """Refused by the global limit."""
        return self.scope == "global"


@dataclass
class _Window:
    started: float
    count: int = 0


#: ``(methods, path regex, config field, major group)``; the first match wins. The path is the
#: route without ``/api/v10``.
_ROUTES: list[tuple[str, re.Pattern[str], str, str | None]] = [
    ("POST", re.compile(r"^/interactions/(?P<major>\d+/[^/]+)/callback$"), "interaction", "major"),
    ("*", re.compile(r"^/webhooks/(?P<major>\d+/[^/]+)(?P<rest>/.*)?$"), "webhooks", "major"),
    ("POST", re.compile(r"^/channels/(?P<major>\d+)/messages$"), "channel_messages", "major"),
    (
        "PATCH|DELETE",
        re.compile(r"^/channels/(?P<major>\d+)/messages/\d+$"),
        "channel_message_edits",
        "major",
    ),
    ("*", re.compile(r"^/channels/(?P<major>\d+)(?P<rest>/.*)?$"), "default", "major"),
    ("*", re.compile(r"^/guilds/(?P<major>\d+)(?P<rest>/.*)?$"), "default", "major"),
]


class RateLimiter:
    """Counts requests per bucket and top-level resource, and globally."""

    def __init__(
        self, config: RateLimitConfig | None = None, *, now: Callable[[], float] | None = None
    ) -> None:
        """Apply ``config`` (default: Discord-like limits); ``now`` is a monotonic clock."""
        self.config = config if config is not None else RateLimitConfig()
        self._now = now or time.monotonic
        self._windows: dict[tuple[str, str], _Window] = {}
        self._global: _Window | None = None

    def route(self, method: str, path: str) -> Route:
        """The bucket, top-level resource and limit of ``method path`` (path without the prefix)."""
        for methods, pattern, name, group in _ROUTES:
            if methods != "*" and method not in methods.split("|"):
                continue
            match = pattern.match(path)
            if match is None:
                continue
            major = match.group(group) if group else ""
            interaction = name in ("interaction", "webhooks")
            placeholder = "{id}/{token}" if interaction else "{id}"
            template = _generic(path.replace(major, placeholder, 1))
            limit = self._limit(name)
            return Route(f"{method} {template}", major, limit, not interaction)
        return Route(f"{method} {_generic(path)}", "", self._limit("default"), True)

    def _limit(self, name: str) -> RateLimit | None:
        if name == "interaction":
            return self.config.interaction_callbacks
        limit: RateLimit | None = getattr(self.config, name)
        return limit

    def check(self, route: Route) -> Decision:
        """Let the request pass (and count it) or refuse it; the headers to answer with."""
        now = self._now()
        global_limit = self.config.global_limit if route.global_applies else None
        if global_limit is not None:
            window = self._global
            if window is None or now - window.started >= global_limit.per:
                window = self._global = _Window(now)
            if window.count >= global_limit.limit:
                retry = max(window.started + global_limit.per - now, 0.001)
                return Decision(
                    False,
                    {"X-RateLimit-Global": "true", "X-RateLimit-Scope": "global"},
                    scope="global",
                    retry_after=retry,
                )
        if route.limit is None:
            if global_limit is not None and self._global is not None:
                self._global.count += 1
            return Decision(True, {})
        key = (route.bucket, route.major)
        window = self._windows.get(key)
        if window is None or now - window.started >= route.limit.per:
            window = self._windows[key] = _Window(now)
        reset_after = max(window.started + route.limit.per - now, 0.0)
        if window.count >= route.limit.limit:
            headers = self._headers(route, 0, reset_after)
            headers["X-RateLimit-Scope"] = "user"
            return Decision(False, headers, scope="user", retry_after=max(reset_after, 0.001))
        window.count += 1
        if global_limit is not None and self._global is not None:
            self._global.count += 1
        return Decision(True, self._headers(route, route.limit.limit - window.count, reset_after))

    def _headers(self, route: Route, remaining: int, reset_after: float) -> dict[str, str]:
        assert route.limit is not None
        return {
            "X-RateLimit-Limit": str(route.limit.limit),
            "X-RateLimit-Remaining": str(remaining),
            "X-RateLimit-Reset": f"{time.time() + reset_after:.3f}",
            "X-RateLimit-Reset-After": f"{reset_after:.3f}",
            "X-RateLimit-Bucket": hashlib.sha256(route.bucket.encode()).hexdigest()[:32],
        }


def too_many_requests(decision: Decision) -> tuple[dict[str, str], dict[str, object]]:
    """The headers and JSON body of a 429 for ``decision`` (rate-limits.mdx, "Exceeding A Rate
    Limit": ``Retry-After`` in whole seconds, the body's ``retry_after`` precise)."""
    headers = dict(decision.headers)
    headers["Retry-After"] = str(max(1, math.ceil(decision.retry_after)))
    headers["Via"] = "1.1 google"
    body: dict[str, object] = {
        "message": "You are being rate limited.",
        "retry_after": round(decision.retry_after, 3),
        "global": decision.is_global,
    }
    return headers, body


def _generic(path: str) -> str:
    """A route's path with its ids replaced, so each route is one bucket."""
    return re.sub(r"/\d{5,}", "/{id}", path)
