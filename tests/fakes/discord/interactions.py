"""Interactions: what a test makes users do, and what the bot did in return.

:class:`InteractionDriver` is the part of ``FakeDiscord``'s API that acts as Discord's client:
a user runs a slash command (with ATTACHMENT options uploaded to the CDN), a context-menu
command, types into an autocomplete option, clicks a button or picks in a select, or submits
the modal the bot opened. Each builds the INTERACTION_CREATE payload Discord would send
(checked against the registered command the way Discord's client refuses what it would not
offer) and returns the :class:`FakeInteraction` that records the bot's callbacks, original
response and follow-ups. The REST side of answering (callbacks, webhooks) is in :mod:`.rest`.
"""

from __future__ import annotations

import secrets
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from tests.fakes.discord import contexts
from tests.fakes.discord.cdn import AttachmentSpec, Cdn
from tests.fakes.discord.contexts import Authorization, CommandUnavailable
from tests.fakes.discord.gateway import Gateway
from tests.fakes.discord.models import (
    JSON,
    FakeChannel,
    FakeMessage,
    FakeRole,
    FakeUser,
    InteractionContext,
    OptionType,
    UploadedFile,
    id_of,
    walk_components,
)
from tests.fakes.discord.permissions import app_permissions
from tests.fakes.discord.state import DiscordState

__all__ = [
    "ALLOWED_CALLBACKS",
    "Callback",
    "CallbackType",
    "CommandUnavailable",
    "FakeInteraction",
    "InteractionDriver",
    "InteractionType",
]


class InteractionType:
    """Interaction types (``payload['type']``)."""

    PING = 1
    APPLICATION_COMMAND = 2
    MESSAGE_COMPONENT = 3
    AUTOCOMPLETE = 4
    MODAL_SUBMIT = 5


class CallbackType:
    """Interaction callback types (``POST .../callback`` body ``type``)."""

    PONG = 1
    CHANNEL_MESSAGE = 4
    DEFERRED_CHANNEL_MESSAGE = 5
    DEFERRED_UPDATE_MESSAGE = 6
    UPDATE_MESSAGE = 7
    AUTOCOMPLETE_RESULT = 8
    MODAL = 9


#: The callback types Discord accepts for each interaction type.
ALLOWED_CALLBACKS: dict[int, frozenset[int]] = {
    InteractionType.PING: frozenset({1}),
    InteractionType.APPLICATION_COMMAND: frozenset({4, 5, 9}),
    InteractionType.MESSAGE_COMPONENT: frozenset({4, 5, 6, 7, 9}),
    InteractionType.AUTOCOMPLETE: frozenset({8}),
    InteractionType.MODAL_SUBMIT: frozenset({4, 5, 6, 7}),
}

#: Component types that are select menus (string, user, role, mentionable, channel).
_SELECT_TYPES = frozenset({3, 5, 6, 7, 8})


@dataclass
class Callback:
    """One ``POST /interactions/{id}/{token}/callback`` (accepted or rejected)."""

    interaction_id: str
    token: str
    type: int
    data: JSON | None
    files: list[UploadedFile]
    elapsed: float  # seconds since the interaction was dispatched
    late: bool  # after the acknowledgement deadline
    status: int = 200
    error_code: int | None = None
    message_id: str | None = None


@dataclass(eq=False)
class FakeInteraction:
    """An interaction the fake sent, and everything the bot did with it."""

    id: str
    token: str
    type: int
    user: FakeUser
    channel_id: str
    guild_id: str | None
    payload: JSON = field(repr=False)
    attachment_size_limit: int
    fake: InteractionDriver = field(repr=False)  # the FakeDiscord that sent it
    name: str | None = None  # command name or custom_id
    source_message_id: str | None = None  # the message a component was on
    origin: FakeInteraction | None = field(default=None, repr=False)  # modal submit's origin
    created_at: float = 0.0  # the clock's monotonic time at dispatch
    callbacks: list[Callback] = field(default_factory=list, repr=False)  # accepted ones
    response_type: int | None = None
    original_message_id: str | None = None
    deferred: bool = False
    original_filled: bool = False
    followup_ids: list[str] = field(default_factory=list)
    modal: JSON | None = field(default=None, repr=False)
    expired: bool = False
    late: bool = False
    #: where it happened and which installations answer it
    authorization: Authorization = field(
        default_factory=lambda: Authorization(InteractionContext.GUILD, {})
    )
    #: accepted ``POST /webhooks/{app}/{token}`` requests (user installs may make 5)
    followup_posts: int = 0
    #: responses Discord made ephemeral because the user lacks Use External Apps there
    forced_ephemeral: bool = False

    @property
    def context(self) -> int:
        """The interaction context (0 guild, 1 bot DM, 2 private channel)."""
        return self.authorization.context

    @property
    def owners(self) -> dict[str, str]:
        """``authorizing_integration_owners``."""
        return self.authorization.owners

    @property
    def acknowledged(self) -> bool:
        """The interaction got its (first, accepted) callback."""
        return self.response_type is not None

    @property
    def callback(self) -> Callback | None:
        """The accepted callback, if any."""
        return self.callbacks[0] if self.callbacks else None

    @property
    def original(self) -> FakeMessage | None:
        """The ``@original`` response message (or the component's message after 6/7)."""
        if self.original_message_id is None:
            return None
        return self.fake.state.message(self.original_message_id)

    @property
    def followups(self) -> list[FakeMessage]:
        """Follow-up messages that created new messages (not the filled placeholder)."""
        return [self.fake.state.message(mid) for mid in self.followup_ids]

    @property
    def messages(self) -> list[FakeMessage]:
        """The original response (if any) followed by the follow-ups."""
        original = self.original
        own = [original] if original is not None and original.interaction_id == self.id else []
        return own + self.followups

    async def wait_callback(self, timeout: float = 5.0) -> Callback:
        """Wait until the bot acknowledged this interaction; return the accepted callback."""
        return await self.fake.state.wait_for(
            lambda: self.callback, timeout=timeout, what=f"a callback for interaction {self.name}"
        )

    async def wait_original(self, timeout: float = 5.0) -> FakeMessage:
        """Wait for the original response to exist and not be a "thinking" placeholder."""

        def ready() -> FakeMessage | None:
            message = self.original
            return message if message is not None and not message.loading else None

        return await self.fake.state.wait_for(
            ready, timeout=timeout, what=f"the original response of {self.name}"
        )

    async def wait_followups(self, count: int = 1, timeout: float = 5.0) -> list[FakeMessage]:
        """Wait until ``count`` follow-ups created new messages; return them."""
        return await self.fake.state.wait_for(
            lambda: self.followups if len(self.followup_ids) >= count else None,
            timeout=timeout,
            what=f"{count} follow-ups of {self.name}",
        )

    async def wait_modal(self, timeout: float = 5.0) -> JSON:
        """Wait for a type 9 (modal) callback; return the modal the bot sent."""
        return await self.fake.state.wait_for(
            lambda: self.modal, timeout=timeout, what=f"a modal for {self.name}"
        )


class InteractionDriver:
    """What users do that sends the bot an interaction (mixed into ``FakeDiscord``).

    The class that mixes it in provides the shared ``state``, the ``cdn`` that keeps uploads
    and the ``gateway`` that delivers INTERACTION_CREATE.
    """

    state: DiscordState
    cdn: Cdn
    gateway: Gateway

    def late_interactions(self) -> list[FakeInteraction]:
        """Interactions acknowledged late, or not yet acknowledged and past the deadline."""
        now = self.state.clock.monotonic()
        return [
            ix
            for ix in self.state.interactions.values()
            if ix.late
            or (
                not ix.acknowledged
                and ix.created_at
                and now - ix.created_at > self.state.ack_deadline
            )
        ]

    def expire_token(self, token: FakeInteraction | str) -> None:
        """Make an interaction token invalid now, as after 15 minutes (webhooks -> 401 50027)."""
        ix = (
            token if isinstance(token, FakeInteraction) else self.state.interactions_by_token[token]
        )
        ix.expired = True

    async def slash(
        self,
        user: FakeUser | str,
        channel: FakeChannel | str | None,
        name: str,
        options: Mapping[str, Any] | None = None,
        *,
        attachments: Mapping[str, AttachmentSpec] | None = None,
        attachment_size_limit: int | None = None,
        locale: str = "en-US",
    ) -> FakeInteraction:
        """A user runs a slash command; the bot receives INTERACTION_CREATE (type 2).

        ``name`` may be ``"group sub"`` / ``"cmd group sub"`` for subcommands. ``options`` maps
        option names to values (str, int, float, bool, FakeUser, FakeChannel, FakeRole);
        ``attachments`` maps ATTACHMENT option names to ``(filename, bytes[, content_type[,
        description]])``, uploaded to the CDN and put in ``data.resolved.attachments`` (the
        description, the file's alt text, as the attachment's ``description``). Option types
        come from the registered command; a missing required option or a value Discord's
        client would refuse raises ValueError. :class:`CommandUnavailable` if the user may
        not run it here.
        """
        parts = name.split()
        ch, invoker, command, auth = self._resolve_command(user, channel, parts[0], 1)
        scope = command.get("guild_id") if command else None
        given: dict[str, Any] = dict(options or {})
        for key, spec in (attachments or {}).items():
            given[key] = spec
        resolved: JSON = {}
        schema: list[JSON] | None = command.get("options", []) if command else None
        leaf_options: list[JSON]
        nested: list[JSON] = []
        path = parts[1:]
        container = nested
        for depth, sub in enumerate(path):
            if schema is not None:
                found = next((o for o in schema if o["name"] == sub), None)
                if found is None:
                    raise ValueError(f"/{parts[0]} has no subcommand {sub!r}")
                schema = found.get("options", [])
                sub_type = found["type"]
            else:
                sub_type = (
                    OptionType.SUB_COMMAND
                    if depth == len(path) - 1
                    else OptionType.SUB_COMMAND_GROUP
                )
            entry: JSON = {"name": sub, "type": sub_type, "options": []}
            container.append(entry)
            container = entry["options"]
        leaf_options = self._build_options(schema, given, resolved, invoker, ch)
        container.extend(leaf_options)
        data: JSON = {
            "id": command["id"] if command else self.state.new_id(),
            "name": parts[0],
            "type": 1,
            "options": nested if path else leaf_options,
        }
        if resolved:
            data["resolved"] = resolved
        if scope is not None:
            data["guild_id"] = scope
        return await self._send_interaction(
            invoker,
            ch,
            InteractionType.APPLICATION_COMMAND,
            data,
            auth,
            name=name,
            attachment_size_limit=attachment_size_limit,
            locale=locale,
        )

    async def autocomplete(
        self,
        user: FakeUser | str,
        channel: FakeChannel | str | None,
        name: str,
        options: Mapping[str, Any],
        *,
        focused: str,
    ) -> FakeInteraction:
        """A user types into option ``focused`` of ``/name``: an AUTOCOMPLETE interaction (type
        4). The bot answers with callback type 8; its ``data.choices`` are the suggestions."""
        ch, invoker, command, auth = self._resolve_command(user, channel, name, 1)
        scope = command.get("guild_id") if command else None
        schema = {o["name"]: o for o in (command or {}).get("options", [])}
        if focused not in options:
            raise ValueError(f"the focused option {focused!r} needs a (partial) value")
        entries: list[JSON] = []
        for key, value in options.items():
            option = schema.get(key)
            if command is not None and option is None:
                raise ValueError(f"/{name} has no option {key!r}")
            entry: JSON = {"name": key, "type": option["type"] if option else 3, "value": value}
            if key == focused:
                if option is not None and not option.get("autocomplete"):
                    raise ValueError(f"option {key!r} of /{name} has no autocomplete")
                entry["focused"] = True
            entries.append(entry)
        data: JSON = {
            "id": command["id"] if command else self.state.new_id(),
            "name": name,
            "type": 1,
            "options": entries,
        }
        if scope is not None:
            data["guild_id"] = scope
        return await self._send_interaction(
            invoker, ch, InteractionType.AUTOCOMPLETE, data, auth, name=name
        )

    async def context_menu_message(
        self,
        user: FakeUser | str,
        channel: FakeChannel | str | None,
        name: str,
        message: FakeMessage | str | int,
        *,
        attachment_size_limit: int | None = None,
        locale: str = "en-US",
    ) -> FakeInteraction:
        """A user runs a message context-menu command (data.type 3) on ``message``."""
        target = self.state.message(id_of(message))
        ch, invoker, command, auth = self._resolve_command(user, channel, name, 3)
        scope = command.get("guild_id") if command else None
        data: JSON = {
            "id": command["id"] if command else self.state.new_id(),
            "name": name,
            "type": 3,
            "target_id": target.id,
            "resolved": {"messages": {target.id: target.payload()}},
        }
        if scope is not None:
            data["guild_id"] = scope
        return await self._send_interaction(
            invoker,
            ch,
            InteractionType.APPLICATION_COMMAND,
            data,
            auth,
            name=name,
            attachment_size_limit=attachment_size_limit,
            locale=locale,
        )

    async def context_menu_user(
        self,
        user: FakeUser | str,
        channel: FakeChannel | str | None,
        name: str,
        target: FakeUser | str,
        *,
        locale: str = "en-US",
    ) -> FakeInteraction:
        """A user runs a user context-menu command (data.type 2) on ``target``."""
        target_user = self.state.users[id_of(target)]
        ch, invoker, command, auth = self._resolve_command(user, channel, name, 2)
        scope = command.get("guild_id") if command else None
        resolved: JSON = {}
        self._resolve_user(resolved, target_user, ch)
        data: JSON = {
            "id": command["id"] if command else self.state.new_id(),
            "name": name,
            "type": 2,
            "target_id": target_user.id,
            "resolved": resolved,
        }
        if scope is not None:
            data["guild_id"] = scope
        return await self._send_interaction(
            invoker, ch, InteractionType.APPLICATION_COMMAND, data, auth, name=name, locale=locale
        )

    async def click(
        self,
        user: FakeUser | str,
        message: FakeMessage | str | int,
        custom_id: str,
        *,
        values: Sequence[str] | None = None,
        attachment_size_limit: int | None = None,
        locale: str = "en-US",
    ) -> FakeInteraction:
        """A user clicks a button (or picks ``values`` in a select) on a message (type 3).

        The payload carries the full message, as Discord's does, so discord.py can find the
        view (by message id) or a DynamicItem (by custom_id template). ValueError if the
        message has no such enabled component.
        """
        msg = self.state.message(id_of(message))
        if msg.deleted:
            raise ValueError(f"message {msg.id} was deleted")
        component = msg.find_component(custom_id)
        if component is None:
            raise ValueError(f"message {msg.id} has no component {custom_id!r}: {msg.custom_ids}")
        if component.get("disabled"):
            raise ValueError(f"component {custom_id!r} is disabled")
        data: JSON = {"custom_id": custom_id, "component_type": component["type"]}
        if component["type"] in _SELECT_TYPES:
            data["values"] = list(values or [])
        elif values is not None:
            raise ValueError("values only apply to select menus")
        clicker = self.state.users[id_of(user)]
        channel = self.state.get_channel(msg.channel_id)
        return await self._send_interaction(
            clicker,
            channel,
            InteractionType.MESSAGE_COMPONENT,
            data,
            self._component_authorization(clicker, channel, msg),
            name=custom_id,
            message=msg,
            attachment_size_limit=attachment_size_limit,
            locale=locale,
        )

    async def submit_modal(
        self,
        user: FakeUser | str,
        modal_from: FakeInteraction | str | JSON,
        values: Mapping[str, str | Sequence[str]],
        *,
        timeout: float = 5.0,
    ) -> FakeInteraction:
        """A user submits the modal the bot sent (type 9 callback) with ``values`` by custom_id.

        ``modal_from`` is the interaction the bot answered with the modal (waited for, up to
        ``timeout``), its id, or a modal dict (then the main channel is used). Text inputs
        take a str, selects a list of values. Required/min/max length are checked as
        Discord's client does (ValueError).
        """
        origin: FakeInteraction | None
        if isinstance(modal_from, FakeInteraction):
            origin = modal_from
        elif isinstance(modal_from, str):
            origin = self.state.interactions[modal_from]
        else:
            origin = None
        modal = await origin.wait_modal(timeout) if origin is not None else modal_from
        assert isinstance(modal, dict)
        unknown = set(values) - {c.get("custom_id") for c in walk_components(modal["components"])}
        if unknown:
            raise ValueError(f"the modal has no inputs {sorted(unknown)}")
        components = [_submitted_component(c, values) for c in modal["components"]]
        data: JSON = {"custom_id": modal["custom_id"], "components": components}
        channel = self.state.get_channel(origin.channel_id) if origin else self.state.channel
        source = (
            self.state.message(origin.source_message_id)
            if origin is not None and origin.source_message_id is not None
            else None
        )
        submitter = self.state.users[id_of(user)]
        auth = (
            origin.authorization
            if origin is not None
            else Authorization(
                contexts.context_of(submitter, channel),
                contexts.installations(self.state, submitter, channel),
            )
        )
        return await self._send_interaction(
            submitter,
            channel,
            InteractionType.MODAL_SUBMIT,
            data,
            auth,
            name=modal["custom_id"],
            message=source,
            attachment_size_limit=origin.attachment_size_limit if origin else None,
            origin=origin,
        )

    # ------------------------------------------------------------------ interaction building

    def _resolve_command(
        self, user: FakeUser | str, channel: FakeChannel | str | None, name: str, kind: int
    ) -> tuple[FakeChannel, FakeUser, JSON | None, Authorization]:
        """Channel, invoker, registered command (or None) and who authorizes running it here.

        LookupError for an unregistered command (``strict_commands``);
        :class:`CommandUnavailable` where Discord's client would not offer it.
        """
        ch = self.state.get_channel(channel or self.state.channel)
        invoker = self.state.users[id_of(user)]
        command = self.state.find_command(name, ch.guild_id, kind)
        if command is None and self.state.strict_commands:
            raise LookupError(
                f"command {name!r} is not registered here "
                "(sync first, or use strict_commands=False)"
            )
        return ch, invoker, command, contexts.authorize(self.state, command, invoker, ch)

    def _component_authorization(
        self, user: FakeUser, channel: FakeChannel, message: FakeMessage
    ) -> Authorization:
        """A component answers through the installation that sent its message."""
        context = contexts.context_of(user, channel)
        metadata = message.interaction_metadata or {}
        owners = metadata.get("authorizing_integration_owners")
        if owners is None:
            owners = contexts.installations(self.state, user, channel)
            owners.pop(contexts.USER_KEY, None)  # the bot's own post: the guild's install
        if not owners:
            raise CommandUnavailable("no installation of the app reaches this message")
        return Authorization(context, dict(owners))

    def _resolve_user(self, resolved: JSON, user: FakeUser, channel: FakeChannel) -> None:
        resolved.setdefault("users", {})[user.id] = user.payload()
        if channel.guild_id is not None:
            member = self.state.guilds[channel.guild_id].members.get(user.id)
            if member is not None:
                resolved.setdefault("members", {})[user.id] = member.payload(
                    with_user=False, permissions=self.state.permissions_for(user, channel)
                )

    def _build_options(
        self,
        schema: list[JSON] | None,
        given: Mapping[str, Any],
        resolved: JSON,
        user: FakeUser,
        channel: FakeChannel,
    ) -> list[JSON]:
        by_name = {o["name"]: o for o in schema} if schema is not None else {}
        if schema is not None:
            unknown = set(given) - set(by_name)
            if unknown:
                raise ValueError(f"the command has no options {sorted(unknown)}")
            missing = [o["name"] for o in schema if o.get("required") and o["name"] not in given]
            if missing:
                raise ValueError(f"required options missing: {missing}")
        result = []
        for option_name, value in given.items():
            spec = by_name.get(option_name)
            kind = spec["type"] if spec else _infer_option_type(value)
            result.append(
                {
                    "name": option_name,
                    "type": kind,
                    "value": self._option_value(kind, spec or {}, value, resolved, channel),
                }
            )
        return result

    def _option_value(
        self, kind: int, spec: JSON, value: Any, resolved: JSON, channel: FakeChannel
    ) -> Any:
        name = spec.get("name", "?")
        if kind == OptionType.ATTACHMENT:
            if not isinstance(value, tuple):
                raise ValueError(
                    f"option {name}: give (filename, bytes[, content_type[, description]])"
                )
            attachment = self.cdn.upload_spec(
                f"ephemeral-attachments/{self.state.application_id}", value, ephemeral=True
            )
            resolved.setdefault("attachments", {})[attachment.id] = attachment.payload()
            return attachment.id
        if kind in (OptionType.USER, OptionType.MENTIONABLE) and isinstance(value, FakeUser):
            self._resolve_user(resolved, value, channel)
            return value.id
        if kind in (OptionType.ROLE, OptionType.MENTIONABLE) and isinstance(value, FakeRole):
            resolved.setdefault("roles", {})[value.id] = value.payload()
            return value.id
        if kind == OptionType.CHANNEL:
            ch = self.state.get_channel(value)
            resolved.setdefault("channels", {})[ch.id] = {
                "id": ch.id,
                "name": ch.name,
                "type": ch.type,
                "permissions": str(self.state.permissions_for(self.state.bot_user, ch)),
                "parent_id": None,
                "flags": 0,
            }
            return ch.id
        if kind in (OptionType.USER, OptionType.ROLE, OptionType.MENTIONABLE):
            return id_of(value)
        converted: Any
        if kind == OptionType.STRING:
            converted = str(value)
            if len(converted) > int(spec.get("max_length", 6000)) or len(converted) < int(
                spec.get("min_length", 0)
            ):
                raise ValueError(f"option {name}: length out of bounds")
        elif kind == OptionType.INTEGER:
            converted = int(value)
        elif kind == OptionType.NUMBER:
            converted = float(value)
        elif kind == OptionType.BOOLEAN:
            converted = bool(value)
        else:
            raise ValueError(f"option {name}: unsupported option type {kind}")
        if kind in (OptionType.INTEGER, OptionType.NUMBER):
            if "min_value" in spec and converted < spec["min_value"]:
                raise ValueError(f"option {name}: below min_value")
            if "max_value" in spec and converted > spec["max_value"]:
                raise ValueError(f"option {name}: above max_value")
        choices = spec.get("choices")
        if choices and converted not in [c["value"] for c in choices]:
            raise ValueError(f"option {name}: {converted!r} is not one of the choices")
        return converted

    async def _send_interaction(
        self,
        user: FakeUser,
        channel: FakeChannel,
        kind: int,
        data: JSON,
        auth: Authorization,
        *,
        name: str | None,
        message: FakeMessage | None = None,
        attachment_size_limit: int | None = None,
        locale: str = "en-US",
        origin: FakeInteraction | None = None,
    ) -> FakeInteraction:
        iid = self.state.new_id()
        token = "aW50ZXJhY3Rpb246" + secrets.token_urlsafe(48)
        guild = self.state.guilds[channel.guild_id] if channel.guild_id is not None else None
        # the larger of the user's own limit and the guild's boost limit (reference.mdx)
        limit = attachment_size_limit or max(
            user.upload_limit or self.state.attachment_size_limit,
            guild.upload_limit if guild is not None else 0,
        )
        payload: JSON = {
            "id": iid,
            "application_id": self.state.application_id,
            "type": kind,
            "data": data,
            "token": token,
            "version": 1,
            "app_permissions": str(app_permissions(self.state, channel, auth.owners)),
            "locale": locale,
            "entitlements": [],
            "entitlement_sku_ids": [],
            "attachment_size_limit": limit,
            "channel_id": channel.id,
            "context": auth.context,
            "authorizing_integration_owners": dict(auth.owners),
        }
        if guild is None:
            payload["channel"] = channel.payload()
            payload["user"] = user.payload()
        else:
            member = guild.members.get(user.id)
            if member is None:
                raise ValueError(f"{user.username} is not a member of {guild.name}")
            perms = self.state.permissions_for(user, channel)
            payload["guild_id"] = guild.id
            payload["guild"] = {"id": guild.id, "locale": guild.locale, "features": []}
            payload["guild_locale"] = guild.locale
            payload["channel"] = {**channel.payload(), "permissions": str(perms)}
            payload["member"] = member.payload(permissions=perms)
        if message is not None:
            payload["message"] = message.payload()
        ix = FakeInteraction(
            id=iid,
            token=token,
            type=kind,
            user=user,
            channel_id=channel.id,
            guild_id=channel.guild_id,
            payload=payload,
            attachment_size_limit=limit,
            fake=self,
            name=name,
            source_message_id=message.id if message is not None else None,
            origin=origin,
            authorization=auth,
        )
        self.state.interactions[iid] = ix
        self.state.interactions_by_token[token] = ix
        ix.created_at = self.state.clock.monotonic()
        await self.gateway.dispatch("INTERACTION_CREATE", payload)
        return ix


def _infer_option_type(value: Any) -> int:
    """The option type a value suggests, for commands the bot never registered."""
    if isinstance(value, tuple):
        return OptionType.ATTACHMENT
    if isinstance(value, bool):
        return OptionType.BOOLEAN
    if isinstance(value, int):
        return OptionType.INTEGER
    if isinstance(value, float):
        return OptionType.NUMBER
    if isinstance(value, FakeUser):
        return OptionType.USER
    if isinstance(value, FakeRole):
        return OptionType.ROLE
    if isinstance(value, FakeChannel):
        return OptionType.CHANNEL
    return OptionType.STRING


def _submitted_component(component: JSON, values: Mapping[str, str | Sequence[str]]) -> JSON:
    """The modal-submit form of one modal component, filled with the user's ``values``."""
    kind = component.get("type")
    if kind == 1:
        return {
            "type": 1,
            "id": component.get("id"),
            "components": [
                _submitted_component(c, values) for c in component.get("components") or []
            ],
        }
    if kind == 18:
        return {
            "type": 18,
            "id": component.get("id"),
            "component": _submitted_component(component["component"], values),
        }
    custom_id = component.get("custom_id")
    if kind == 4:
        raw = values.get(str(custom_id), component.get("value") or "")
        value = raw if isinstance(raw, str) else "".join(raw)
        if component.get("required", True) and not value:
            raise ValueError(f"text input {custom_id!r} is required")
        if value and len(value) < int(component.get("min_length", 0)):
            raise ValueError(f"text input {custom_id!r} is shorter than min_length")
        if len(value) > int(component.get("max_length", 4000)):
            raise ValueError(f"text input {custom_id!r} is longer than max_length")
        return {"type": 4, "id": component.get("id"), "custom_id": custom_id, "value": value}
    if kind in _SELECT_TYPES:
        raw_values = values.get(str(custom_id), [])
        picked = [raw_values] if isinstance(raw_values, str) else list(raw_values)
        return {"type": kind, "id": component.get("id"), "custom_id": custom_id, "values": picked}
    return {"type": kind, "id": component.get("id")}
