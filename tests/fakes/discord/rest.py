"""The REST API (v10): routes, Discord's checks on each request, and their answers.

Every ``/api/v10`` request is recorded (:class:`RestRequest`, multipart ``files[n]`` parts
kept with their bytes, the rate-limit headers answered) and checked, in Discord's order:
``Authorization: Bot <token>`` (webhooks and interaction callbacks use the interaction token
instead), the request's size (25 MiB, 413 40005), the rate limits (:mod:`.ratelimits`, 429).
Errors answer in Discord's JSON format. The routes: login and gateway discovery, users and DMs,
members, application command sync (bulk overwrites, validated and versioned, ``contexts`` and
``integration_types`` kept), interaction callbacks (types 1-9 with ``with_response``, the 3 s
acknowledgement window enforced with 10062, 40060 "already acknowledged", token expiry 50027,
autocomplete answers and modals validated), follow-ups (5 at most for a user install) and
``@original`` / follow-up message edits, and channel messages (send, list, get, edit, delete,
typing) - who may post, edit and read where is :mod:`.access`'s judgement (permissions, channel
kinds, thread states, dropped embeds), the per-file limit the interaction's or the guild's boost
tier's, and DMs closed to the bot answer 50007.
"""

from __future__ import annotations

import asyncio
import copy
import json
import re
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from aiohttp import BodyPartReader, web

from tests.fakes._base import json_response
from tests.fakes.discord import access
from tests.fakes.discord.gateway import Gateway
from tests.fakes.discord.interactions import (
    ALLOWED_CALLBACKS,
    Callback,
    CallbackType,
    FakeInteraction,
    InteractionType,
)
from tests.fakes.discord.messages import MessageWriter
from tests.fakes.discord.models import (
    API_PREFIX,
    JSON,
    FakeChannel,
    FakeMessage,
    MessageFlag,
    OptionType,
    Perm,
    UploadedFile,
)
from tests.fakes.discord.ratelimits import (
    Decision,
    RateLimitConfig,
    RateLimiter,
    too_many_requests,
)
from tests.fakes.discord.state import DiscordState
from tests.fakes.discord.validation import (
    DiscordAPIError,
    form_error,
    validate_autocomplete,
    validate_commands,
    validate_modal,
)

#: Follow-ups a user-installed app may create per interaction when it is not installed where the
#: interaction happened (receiving-and-responding.mdx, Create Followup Message).
USER_INSTALL_FOLLOWUP_LIMIT = 5


@dataclass
class RestRequest:
    """One REST request the fake received (``json`` is the body, or ``payload_json``)."""

    method: str
    path: str
    route: str  # the path without ``/api/v10``
    query: dict[str, str]
    headers: dict[str, str] = field(repr=False)
    json: Any = None
    files: list[UploadedFile] = field(default_factory=list)
    status: int = 0
    error_code: int | None = None
    #: the body's size in bytes
    size: int = 0
    #: the rate-limit headers answered (``X-RateLimit-*``, ``Retry-After``)
    rate_limit: dict[str, str] = field(default_factory=dict)


@dataclass
class CommandSync:
    """One bulk overwrite of application commands (a ``tree.sync()``)."""

    guild_id: str | None
    body: list[JSON]
    changed: bool


_REC = web.RequestKey("rec", RestRequest)


class RestApi:
    """The ``/api/v10`` routes over the shared state, and the record of what they received."""

    def __init__(
        self,
        state: DiscordState,
        gateway: Gateway,
        message_writer: MessageWriter,
        rate_limits: RateLimitConfig | None = None,
    ) -> None:
        """Answer from ``state``, post with ``message_writer``, tell the bot through ``gateway``;
        limit the rate as ``rate_limits`` says (default: Discord-like limits)."""
        self.state = state
        self.gateway = gateway
        self.message_writer = message_writer
        self.rate_limiter = RateLimiter(rate_limits)
        self.requests: list[RestRequest] = []
        #: every ``/api/v10`` request so far, per route template (``PATCH
        #: /webhooks/{id}/{token}/messages/{id}``), whatever the answer
        self.route_counts: Counter[str] = Counter()
        #: False: requests are counted, not kept in :attr:`requests` (long benchmarks)
        self.keep_requests = True
        self.callbacks: list[Callback] = []
        self.command_syncs: list[CommandSync] = []
        #: seconds a request of a route (its bucket, ``PATCH /webhooks/{id}/{token}/messages/
        #: {id}``) takes to reach Discord, before it is handled: a network's latency, none by
        #: default
        self.latency: dict[str, float] = {}

    @property
    def rate_limits(self) -> RateLimitConfig:
        """The limits in force (change its fields to tighten or loosen them)."""
        return self.rate_limiter.config

    @rate_limits.setter
    def rate_limits(self, config: RateLimitConfig) -> None:
        self.rate_limiter = RateLimiter(config)

    @property
    def invalid_requests(self) -> int:
        """Answers that count toward Discord's invalid-request limit (10,000 per 10 minutes:
        401, 403 and 429 except ``X-RateLimit-Scope: shared``; topics/rate-limits.mdx)."""
        return sum(
            1
            for r in self.requests
            if r.status in (401, 403, 429) and r.rate_limit.get("X-RateLimit-Scope") != "shared"
        )

    def requests_to(self, path_part: str, method: str | None = None) -> list[RestRequest]:
        """Recorded REST requests whose route contains ``path_part``."""
        return [
            r
            for r in self.requests
            if path_part in r.route and (method is None or r.method == method.upper())
        ]

    def count(self, method: str, template_part: str = "") -> int:
        """Requests so far with ``method`` whose route template contains ``template_part``."""
        prefix = f"{method.upper()} "
        return sum(
            n
            for bucket, n in self.route_counts.items()
            if bucket.startswith(prefix) and template_part in bucket[len(prefix) :]
        )

    # ------------------------------------------------------------------ HTTP plumbing

    def add_routes(self, router: web.UrlDispatcher) -> None:
        """Every ``/api/v10`` route, and a JSON 404 for the rest of ``/api/v10``."""
        r = router
        p = API_PREFIX
        r.add_get(f"{p}/gateway", self._h_gateway)
        r.add_get(f"{p}/gateway/bot", self._h_gateway_bot)
        r.add_get(f"{p}/users/@me", self._h_me)
        r.add_post(f"{p}/users/@me/channels", self._h_create_dm)
        r.add_get(f"{p}/users/{{user_id}}", self._h_user)
        r.add_get(f"{p}/oauth2/applications/@me", self._h_application)
        r.add_get(f"{p}/applications/@me", self._h_application)
        r.add_get(f"{p}/applications/{{app_id}}/commands", self._h_get_commands)
        r.add_put(f"{p}/applications/{{app_id}}/commands", self._h_put_commands)
        r.add_get(f"{p}/applications/{{app_id}}/guilds/{{guild_id}}/commands", self._h_get_commands)
        r.add_put(f"{p}/applications/{{app_id}}/guilds/{{guild_id}}/commands", self._h_put_commands)
        r.add_post(f"{p}/interactions/{{interaction_id}}/{{token}}/callback", self._h_callback)
        r.add_post(f"{p}/webhooks/{{app_id}}/{{token}}", self._h_followup)
        wm = f"{p}/webhooks/{{app_id}}/{{token}}/messages/{{message_id}}"
        r.add_get(wm, self._h_webhook_message)
        r.add_patch(wm, self._h_webhook_message)
        r.add_delete(wm, self._h_webhook_message)
        r.add_get(f"{p}/channels/{{channel_id}}", self._h_channel)
        r.add_get(f"{p}/channels/{{channel_id}}/messages", self._h_list_messages)
        r.add_post(f"{p}/channels/{{channel_id}}/messages", self._h_send_message)
        cm = f"{p}/channels/{{channel_id}}/messages/{{message_id}}"
        r.add_get(cm, self._h_channel_message)
        r.add_patch(cm, self._h_channel_message)
        r.add_delete(cm, self._h_channel_message)
        r.add_post(f"{p}/channels/{{channel_id}}/typing", self._h_typing)
        r.add_get(f"{p}/guilds/{{guild_id}}/members/{{user_id}}", self._h_member)
        r.add_route("*", f"{p}/{{tail:.*}}", self._h_not_found)

    @web.middleware
    async def middleware(
        self, request: web.Request, handler: Callable[[web.Request], Any]
    ) -> web.StreamResponse:
        """Record ``/api/v10`` requests, check the bot token, the request's size and the rate
        limits, and answer errors as Discord does."""
        if not request.path.startswith(API_PREFIX + "/"):
            response: web.StreamResponse = await handler(request)
            return response
        rec = await self._record(request)
        request[_REC] = rec
        route = self.rate_limiter.route(rec.method, rec.route)
        self.route_counts[route.bucket] += 1
        if self.latency.get(route.bucket):
            await asyncio.sleep(self.latency[route.bucket])
        decision: Decision | None = None
        try:
            if (
                self._needs_auth(rec.route)
                and request.headers.get("Authorization") != f"Bot {self.state.token}"
            ):
                raise DiscordAPIError(401, 0, "401: Unauthorized")
            if rec.size > self.state.request_size_limit:
                raise DiscordAPIError(413, 40005, "Request entity too large")
            decision = self.rate_limiter.check(route)
            if not decision.allowed:
                headers, body = too_many_requests(decision)
                rec.rate_limit = headers
                response = json_response(body, status=429)
                response.headers.update(headers)
                rec.status = 429
                self.state.changed()
                return response
            response = await handler(request)
        except DiscordAPIError as error:
            rec.error_code = error.code
            response = json_response(error.body(), status=error.status)
        except web.HTTPMethodNotAllowed:
            response = json_response({"message": "405: Method Not Allowed", "code": 0}, status=405)
        if decision is not None:
            rec.rate_limit = dict(decision.headers)
            response.headers.update(decision.headers)
        rec.status = response.status
        self.state.changed()
        return response

    @staticmethod
    def _needs_auth(route: str) -> bool:
        if route == "/gateway" or route.startswith("/interactions/"):
            return False
        return not re.match(r"^/webhooks/\d+/[^/]+", route)

    async def _record(self, request: web.Request) -> RestRequest:
        rec = RestRequest(
            method=request.method,
            path=request.path,
            route=request.path[len(API_PREFIX) :],
            query=dict(request.query),
            headers=dict(request.headers),
        )
        if _media_type(request) == "multipart/form-data":
            reader = await request.multipart()
            while True:
                part = await reader.next()
                if part is None:
                    break
                if not isinstance(part, BodyPartReader):
                    continue
                raw = await part.read(decode=False)
                rec.size += len(raw)
                # each of these parses the part's Content-Disposition again: once each
                name, filename = part.name, part.filename
                if filename is not None:
                    rec.files.append(
                        UploadedFile(
                            str(name),
                            filename,
                            bytes(raw),
                            part.headers.get("Content-Type", "application/octet-stream"),
                        )
                    )
                elif name == "payload_json":
                    rec.json = json.loads(bytes(raw))
            rec.size = max(rec.size, request.content_length or 0)
        else:
            body = await request.read()
            rec.size = len(body)
            if body:
                try:
                    rec.json = json.loads(body)
                except ValueError:
                    rec.json = None
        if self.keep_requests:
            self.requests.append(rec)
        return rec

    @staticmethod
    def _rec(request: web.Request) -> RestRequest:
        return request[_REC]

    def _body(self, request: web.Request) -> JSON:
        body = self._rec(request).json
        if body is None:
            return {}
        if not isinstance(body, dict):
            raise DiscordAPIError(400, 50109, "The request body contains invalid JSON.")
        return body

    # ------------------------------------------------------------------ REST: basics

    async def _h_not_found(self, request: web.Request) -> web.Response:
        return json_response({"message": "404: Not Found", "code": 0}, status=404)

    async def _h_gateway(self, request: web.Request) -> web.Response:
        return json_response({"url": self.state.gateway_url})

    async def _h_gateway_bot(self, request: web.Request) -> web.Response:
        return json_response(
            {
                "url": self.state.gateway_url,
                "shards": self.gateway.shard_count,
                "session_start_limit": {
                    "total": 1000,
                    "remaining": 999,
                    "reset_after": 14400000,
                    "max_concurrency": 1,
                },
            }
        )

    async def _h_me(self, request: web.Request) -> web.Response:
        return json_response(
            {
                **self.state.bot_user.payload(),
                "verified": True,
                "mfa_enabled": False,
                "flags": 0,
                "locale": "en-US",
            }
        )

    async def _h_user(self, request: web.Request) -> web.Response:
        user = self.state.users.get(request.match_info["user_id"])
        if user is None:
            raise DiscordAPIError(404, 10013, "Unknown User")
        return json_response(user.payload())

    async def _h_application(self, request: web.Request) -> web.Response:
        return json_response(
            {
                "id": self.state.application_id,
                "name": self.state.bot_user.username,
                "icon": None,
                "description": "",
                "summary": "",
                "type": None,
                "bot_public": True,
                "bot_require_code_grant": False,
                "verify_key": "0" * 64,
                "owner": self.state.owner.payload(),
                "team": None,
                "flags": 0,
                "bot": self.state.bot_user.payload(),
                "rpc_origins": [],
                "tags": [],
                "redirect_uris": [],
                "interactions_endpoint_url": None,
                "approximate_guild_count": len(self.state.guilds),
            }
        )

    async def _h_create_dm(self, request: web.Request) -> web.Response:
        body = self._body(request)
        user = self.state.users.get(str(body.get("recipient_id")))
        if user is None:
            raise DiscordAPIError(404, 10013, "Unknown User")
        return json_response(self.state.dm_channel(user).payload())

    async def _h_member(self, request: web.Request) -> web.Response:
        guild = self.state.guilds.get(request.match_info["guild_id"])
        if guild is None:
            raise DiscordAPIError(404, 10004, "Unknown Guild")
        member = guild.members.get(request.match_info["user_id"])
        if member is None:
            raise DiscordAPIError(404, 10007, "Unknown Member")
        return json_response(member.payload())

    async def _h_typing(self, request: web.Request) -> web.Response:
        access.bot_can_see(self.state, self._channel_or_404(request.match_info["channel_id"]))
        return web.Response(status=204)

    # ------------------------------------------------------------------ REST: commands

    def _command_scope(self, request: web.Request) -> str | None:
        if request.match_info["app_id"] != self.state.application_id:
            raise DiscordAPIError(403, 50001, "Missing Access")
        guild_id = request.match_info.get("guild_id")
        if guild_id is not None and guild_id not in self.state.guilds:
            raise DiscordAPIError(404, 10004, "Unknown Guild")
        if (
            guild_id is not None
            and self.state.bot_user.id not in self.state.guilds[guild_id].members
        ):
            raise DiscordAPIError(403, 50001, "Missing Access")
        return guild_id

    async def _h_get_commands(self, request: web.Request) -> web.Response:
        return json_response(self.state.commands.get(self._command_scope(request), []))

    async def _h_put_commands(self, request: web.Request) -> web.Response:
        scope = self._command_scope(request)
        body = self._rec(request).json
        if not isinstance(body, list):
            raise DiscordAPIError(400, 50035, "Invalid Form Body")
        validate_commands(body)
        if scope is None:
            self._check_install_contexts(body)
        old = {(c["name"], c.get("type", 1)): c for c in self.state.commands.get(scope, [])}
        stored: list[JSON] = []
        for raw in body:
            kind = int(raw.get("type", 1))
            previous = old.get((raw["name"], kind))
            command: JSON = {
                "default_member_permissions": None,
                "nsfw": False,
                "description": "",
                "options": [],
                **copy.deepcopy(raw),
                "type": kind,
                "application_id": self.state.application_id,
            }
            if command["default_member_permissions"] is not None:
                command["default_member_permissions"] = str(
                    int(command["default_member_permissions"])
                )
            command["id"] = previous["id"] if previous else self.state.new_id()
            if scope is not None:
                command["guild_id"] = scope
            same = previous is not None and _command_key(previous) == _command_key(command)
            command["version"] = previous["version"] if same and previous else self.state.new_id()
            stored.append(command)
        changed = [_command_key(c) for c in self.state.commands.get(scope, [])] != [
            _command_key(c) for c in stored
        ]
        self.state.commands[scope] = stored
        self.command_syncs.append(CommandSync(scope, copy.deepcopy(body), changed))
        return json_response(stored)

    def _check_install_contexts(self, body: list[JSON]) -> None:
        """``contexts`` are interaction context types; ``integration_types`` must be installation
        contexts the app supports ("as long as any included contexts are already supported on
        the application-level", application-commands.mdx "Installation Context")."""
        for i, command in enumerate(body):
            contexts = command.get("contexts")
            if contexts is not None and not set(contexts) <= {0, 1, 2}:
                raise form_error(
                    [i, "contexts"], "BASE_TYPE_CHOICES", "Value must be one of (0, 1, 2)."
                )
            types = command.get("integration_types")
            if types is not None and not set(types) <= self.state.integration_types:
                raise form_error(
                    [i, "integration_types"],
                    "APPLICATION_COMMAND_INTEGRATION_TYPES_INVALID",
                    "The application does not support these installation contexts",
                )

    # ------------------------------------------------------------------ REST: interactions

    def _interaction_for_webhook(self, request: web.Request) -> FakeInteraction:
        if request.match_info["app_id"] != self.state.application_id:
            raise DiscordAPIError(404, 10015, "Unknown Webhook")
        ix = self.state.interactions_by_token.get(request.match_info["token"])
        if ix is None or self._token_dead(ix):
            raise DiscordAPIError(401, 50027, "Invalid Webhook Token")
        if not ix.acknowledged:
            raise DiscordAPIError(404, 10015, "Unknown Webhook")
        return ix

    def _token_dead(self, ix: FakeInteraction) -> bool:
        age = self.state.clock.monotonic() - ix.created_at
        return ix.expired or age > self.state.token_lifetime

    async def _h_callback(self, request: web.Request) -> web.Response:
        rec = self._rec(request)
        body = self._body(request)
        if "type" not in body:
            raise form_error(["type"], "BASE_TYPE_REQUIRED", "This field is required")
        cb_type = int(body["type"])
        data = body.get("data")
        ix = self.state.interactions.get(request.match_info["interaction_id"])
        elapsed = self.state.clock.monotonic() - ix.created_at if ix else 0.0
        late = elapsed > self.state.ack_deadline
        callback = Callback(
            request.match_info["interaction_id"],
            request.match_info["token"],
            cb_type,
            data if isinstance(data, dict) else None,
            rec.files,
            elapsed,
            late and ix is not None and not ix.acknowledged,
        )
        self.callbacks.append(callback)
        try:
            if ix is None or ix.token != request.match_info["token"] or self._token_dead(ix):
                raise DiscordAPIError(404, 10062, "Unknown interaction")
            if ix.acknowledged:
                raise DiscordAPIError(400, 40060, "Interaction has already been acknowledged.")
            if late:
                ix.late = True
                if self.state.enforce_ack_deadline:
                    raise DiscordAPIError(404, 10062, "Unknown interaction")
            if cb_type not in ALLOWED_CALLBACKS.get(ix.type, frozenset()) or (
                cb_type in (6, 7) and ix.source_message_id is None
            ):
                raise form_error(
                    ["type"],
                    "INTERACTION_RESPONSE_TYPE_INVALID",
                    "Interaction response type is not valid for this interaction type",
                )
            message = await self._apply_callback(ix, cb_type, callback.data or {}, rec.files)
        except DiscordAPIError as error:
            callback.status = error.status
            callback.error_code = error.code
            raise
        callback.message_id = message.id if message is not None else None
        ix.callbacks.append(callback)
        ix.response_type = cb_type
        self.state.changed()
        if not _truthy(request.query.get("with_response")):
            return web.Response(status=204)
        original = ix.original
        resource: JSON = {"type": cb_type}
        if message is not None:
            resource["message"] = message.payload()
        return json_response(
            {
                "interaction": {
                    "id": ix.id,
                    "type": ix.type,
                    "response_message_id": original.id if original else None,
                    "response_message_loading": bool(original and original.loading),
                    "response_message_ephemeral": bool(original and original.ephemeral),
                },
                "resource": resource,
            }
        )

    async def _apply_callback(
        self, ix: FakeInteraction, cb_type: int, data: JSON, files: list[UploadedFile]
    ) -> FakeMessage | None:
        channel = self.state.get_channel(ix.channel_id)
        command_type = ix.payload.get("data", {}).get("type", 1)
        message_type = (
            (20 if command_type == 1 else 23)
            if ix.type == InteractionType.APPLICATION_COMMAND
            else 0
        )
        if cb_type == CallbackType.CHANNEL_MESSAGE:
            ephemeral = bool(int(data.get("flags") or 0) & MessageFlag.EPHEMERAL)
            verdict = access.interaction_message(
                self.state, ix, channel, data, bool(files), create=True, ephemeral=ephemeral
            )
            message = self.message_writer.create(
                channel,
                data,
                files,
                limit=ix.attachment_size_limit,
                interaction=ix,
                message_type=message_type,
                drop_embeds=verdict.drop_embeds,
                force_ephemeral=verdict.force_ephemeral,
            )
            self._after_post(ix, channel, verdict.unarchive, verdict.force_ephemeral)
            ix.original_message_id = message.id
            ix.original_filled = True
            await self.gateway.message_event("MESSAGE_CREATE", message)
            return message
        if cb_type == CallbackType.DEFERRED_CHANNEL_MESSAGE:
            flags = int(MessageFlag.LOADING) | (int(data.get("flags") or 0) & MessageFlag.EPHEMERAL)
            verdict = access.interaction_message(
                self.state,
                ix,
                channel,
                {},
                False,
                create=True,
                ephemeral=bool(flags & MessageFlag.EPHEMERAL),
            )
            if verdict.force_ephemeral:
                flags |= MessageFlag.EPHEMERAL
            self._after_post(ix, channel, verdict.unarchive, verdict.force_ephemeral)
            message = FakeMessage(
                id=self.state.new_id(),
                channel_id=channel.id,
                guild_id=channel.guild_id,
                author=self.state.bot_user,
                type=message_type,
                flags=flags,
                webhook_id=self.state.application_id,
                application_id=self.state.application_id,
                interaction_id=ix.id,
                interaction_metadata={
                    "id": ix.id,
                    "type": ix.type,
                    "user": ix.user.payload(),
                    "authorizing_integration_owners": ix.payload["authorizing_integration_owners"],
                },
                timestamp=self.state.now_iso(),
            )
            self.state.store(message)
            ix.original_message_id = message.id
            ix.deferred = True
            await self.gateway.message_event("MESSAGE_CREATE", message)
            return message
        if cb_type == CallbackType.DEFERRED_UPDATE_MESSAGE:
            ix.original_message_id = ix.source_message_id
            return None
        if cb_type == CallbackType.UPDATE_MESSAGE:
            assert ix.source_message_id is not None
            source = self.state.message(ix.source_message_id)
            verdict = access.interaction_message(
                self.state, ix, channel, data, bool(files), create=False, ephemeral=source.ephemeral
            )
            message = self.message_writer.edit(
                source,
                data,
                files,
                limit=ix.attachment_size_limit,
                webhook=True,
                drop_embeds=verdict.drop_embeds,
            )
            ix.original_message_id = message.id
            await self.gateway.message_event("MESSAGE_UPDATE", message)
            return message
        if cb_type == CallbackType.MODAL:
            validate_modal(data)
            ix.modal = copy.deepcopy(data)
            return None
        if cb_type == CallbackType.AUTOCOMPLETE_RESULT:
            validate_autocomplete(data, _focused_type(ix.payload.get("data", {})))
        return None  # PONG, AUTOCOMPLETE_RESULT: recorded in the callback

    def _after_post(
        self, ix: FakeInteraction, channel: FakeChannel, unarchive: bool, forced: bool
    ) -> None:
        """A message went into ``channel``: an archived thread wakes up (THREAD_UPDATE)."""
        if unarchive:
            self.state.set_thread(channel, archived=False)
        if forced:
            ix.forced_ephemeral = True

    async def _h_followup(self, request: web.Request) -> web.Response:
        ix = self._interaction_for_webhook(request)
        rec = self._rec(request)
        data = self._body(request)
        channel = self.state.get_channel(ix.channel_id)
        if ix.authorization.user_install_only and ix.followup_posts >= USER_INSTALL_FOLLOWUP_LIMIT:
            raise DiscordAPIError(
                400, 40094, "This interaction has hit the maximum number of follow up messages"
            )
        original = ix.original
        if ix.deferred and not ix.original_filled and original is not None:
            # the first follow-up after a defer fills the "thinking" placeholder; its
            # ephemerality was decided by the defer, the follow-up's flags are ignored
            verdict = access.interaction_message(
                self.state,
                ix,
                channel,
                data,
                bool(rec.files),
                create=False,
                ephemeral=original.ephemeral,
            )
            message = self.message_writer.edit(
                original,
                data,
                rec.files,
                limit=ix.attachment_size_limit,
                webhook=True,
                drop_embeds=verdict.drop_embeds,
            )
            ix.original_filled = True
            await self.gateway.message_event("MESSAGE_UPDATE", message)
        else:
            ephemeral = bool(int(data.get("flags") or 0) & MessageFlag.EPHEMERAL)
            verdict = access.interaction_message(
                self.state, ix, channel, data, bool(rec.files), create=True, ephemeral=ephemeral
            )
            message = self.message_writer.create(
                channel,
                data,
                rec.files,
                limit=ix.attachment_size_limit,
                interaction=ix,
                drop_embeds=verdict.drop_embeds,
                force_ephemeral=verdict.force_ephemeral,
            )
            self._after_post(ix, channel, verdict.unarchive, verdict.force_ephemeral)
            ix.followup_ids.append(message.id)
            await self.gateway.message_event("MESSAGE_CREATE", message)
        ix.followup_posts += 1
        self.state.changed()
        if not _truthy(request.query.get("wait")):
            return web.Response(status=204)
        return json_response(message.payload())

    async def _h_webhook_message(self, request: web.Request) -> web.Response:
        ix = self._interaction_for_webhook(request)
        mid = request.match_info["message_id"]
        if mid == "@original":
            mid = ix.original_message_id or ""
        if (
            mid not in {ix.original_message_id, *ix.followup_ids}
            or mid not in self.state.messages_by_id
        ):
            raise DiscordAPIError(404, 10008, "Unknown Message")
        message = self.state.messages_by_id[mid]
        if message.deleted:
            raise DiscordAPIError(404, 10008, "Unknown Message")
        if request.method == "GET":
            return json_response(message.payload())
        if request.method == "DELETE":
            message.deleted = True
            self.state.changed()
            await self.gateway.message_event("MESSAGE_DELETE", message)
            return web.Response(status=204)
        was_loading = message.loading
        data = self._body(request)
        files = self._rec(request).files
        verdict = access.interaction_message(
            self.state,
            ix,
            self.state.get_channel(message.channel_id),
            data,
            bool(files),
            create=False,
            ephemeral=message.ephemeral,
        )
        self.message_writer.edit(
            message,
            data,
            files,
            limit=ix.attachment_size_limit,
            webhook=True,
            drop_embeds=verdict.drop_embeds,
        )
        if was_loading and mid == ix.original_message_id:
            ix.original_filled = True
        await self.gateway.message_event("MESSAGE_UPDATE", message)
        return json_response(message.payload())

    # ------------------------------------------------------------------ REST: channels

    def _channel_or_404(self, channel_id: str) -> FakeChannel:
        try:
            return self.state.get_channel(channel_id)
        except KeyError:
            raise DiscordAPIError(404, 10003, "Unknown Channel") from None

    def _upload_limit(self, channel: FakeChannel) -> int:
        """The per-file limit of the bot's own posts: the guild's boost tier, or the DM limit."""
        if channel.guild_id is None:
            return self.state.dm_upload_limit
        return self.state.guilds[channel.guild_id].upload_limit

    async def _h_channel(self, request: web.Request) -> web.Response:
        channel = self._channel_or_404(request.match_info["channel_id"])
        access.bot_can_see(self.state, channel)
        return json_response(channel.payload())

    async def _h_send_message(self, request: web.Request) -> web.Response:
        channel = self._channel_or_404(request.match_info["channel_id"])
        rec = self._rec(request)
        data = self._body(request)
        if channel.bot_dm and not all(access.can_dm(user) for user in channel.recipients):
            raise DiscordAPIError(403, 50007, "Cannot send messages to this user")
        verdict = access.bot_post(self.state, channel, data, bool(rec.files))
        message = self.message_writer.create(
            channel,
            data,
            rec.files,
            limit=self._upload_limit(channel),
            drop_embeds=verdict.drop_embeds,
        )
        if verdict.unarchive:
            self.state.set_thread(channel, archived=False)
        await self.gateway.message_event("MESSAGE_CREATE", message)
        return json_response(message.payload())

    async def _h_list_messages(self, request: web.Request) -> web.Response:
        channel = self._channel_or_404(request.match_info["channel_id"])
        access.bot_read_history(self.state, channel)
        try:
            limit = int(request.query.get("limit", "50"))
        except ValueError:
            raise form_error(["limit"], "NUMBER_TYPE_COERCE", "Value is not int.") from None
        if not 1 <= limit <= 100:
            raise form_error(["limit"], "NUMBER_TYPE_MAX", "int value should be <= 100 and >= 1.")
        visible = [m for m in self.state.messages(channel) if not m.ephemeral]
        before, after, around = (request.query.get(k) for k in ("before", "after", "around"))
        if before:
            visible = [m for m in visible if int(m.id) < int(before)]
        if after:
            chosen = [m for m in visible if int(m.id) > int(after)][:limit]
            return json_response([m.payload() for m in reversed(chosen)])
        if around:
            index = next(
                (i for i, m in enumerate(visible) if int(m.id) >= int(around)), len(visible)
            )
            start = max(0, index - limit // 2)
            visible = visible[start : start + limit]
        return json_response([m.payload() for m in reversed(visible[-limit:])])

    async def _h_channel_message(self, request: web.Request) -> web.Response:
        channel = self._channel_or_404(request.match_info["channel_id"])
        message = self.state.messages_by_id.get(request.match_info["message_id"])
        if (
            message is None
            or message.deleted
            or message.ephemeral
            or message.channel_id != channel.id
        ):
            raise DiscordAPIError(404, 10008, "Unknown Message")
        if request.method == "GET":
            access.bot_read_history(self.state, channel)
            return json_response(message.payload())
        perms = access.bot_can_see(self.state, channel)
        own = message.author.id == self.state.bot_user.id
        if request.method == "DELETE":
            if not own and not channel.is_private and not perms & Perm.MANAGE_MESSAGES:
                raise DiscordAPIError(403, 50013, "Missing Permissions")
            if not own and channel.is_private:
                raise DiscordAPIError(403, 50003, "Cannot execute action on a DM channel")
            message.deleted = True
            self.state.changed()
            await self.gateway.message_event("MESSAGE_DELETE", message)
            return web.Response(status=204)
        if not own:
            raise DiscordAPIError(403, 50005, "Cannot edit a message authored by another user")
        data = self._body(request)
        files = self._rec(request).files
        verdict = access.bot_edit(self.state, channel, data, bool(files))
        self.message_writer.edit(
            message,
            data,
            files,
            limit=self._upload_limit(channel),
            webhook=False,
            drop_embeds=verdict.drop_embeds,
        )
        await self.gateway.message_event("MESSAGE_UPDATE", message)
        return json_response(message.payload())


def _focused_type(data: JSON) -> int:
    """The type of the option an autocomplete interaction is about (subcommands walked)."""
    options: list[JSON] = data.get("options") or []
    for _ in range(3):  # a command, a group, a subcommand
        for option in options:
            if option.get("focused"):
                return int(option.get("type", OptionType.STRING))
        nested = [o for o in options if o.get("options")]
        if not nested:
            break
        options = nested[0]["options"]
    return OptionType.STRING


def _truthy(value: str | None) -> bool:
    return value is not None and value.lower() in ("1", "true")


def _command_key(command: JSON) -> str:
    """What makes two registrations of a command the same (ids and versions excluded)."""
    ignored = {"id", "version", "application_id", "guild_id"}
    return json.dumps({k: v for k, v in command.items() if k not in ignored}, sort_keys=True)


def _media_type(request: web.Request) -> str:
    """The request's media type, without its parameters (aiohttp's ``content_type`` runs the
    standard library's e-mail header parser, a third of a millisecond a request)."""
    return request.headers.get("Content-Type", "").partition(";")[0].strip().lower()
