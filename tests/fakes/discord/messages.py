"""Messages the bot posts and edits, built the way Discord builds them.

From a REST or webhook body and its ``files[n]`` parts: the attachments (size limit 40005, at
most 10, ``attachments[]`` describing or keeping files), ``message_reference`` replies,
``attachment://`` embed URLs, Discord's body limits (:mod:`.validation`), component ids, and
mention resolution (content + ``allowed_mentions`` + the author's permissions) deciding who
gets pinged and notified. Edits change only the fields present and fill a deferred
interaction's "thinking" placeholder. Gateway events for them are the caller's business.
"""

from __future__ import annotations

import copy
import re
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from tests.fakes.discord.cdn import Cdn, guess_type
from tests.fakes.discord.models import (
    JSON,
    SENDABLE_FLAGS,
    FakeAttachment,
    FakeChannel,
    FakeMessage,
    FakeUser,
    MessageFlag,
    Perm,
    UploadedFile,
    walk_components,
)
from tests.fakes.discord.state import DiscordState
from tests.fakes.discord.validation import DiscordAPIError, form_error, validate_message

if TYPE_CHECKING:
    from tests.fakes.discord.interactions import FakeInteraction


class MessageWriter:
    """Creates and edits the bot's messages in the shared state, uploading files to the CDN."""

    def __init__(self, state: DiscordState, cdn: Cdn) -> None:
        """Write into ``state``; keep uploaded bytes in ``cdn``."""
        self.state = state
        self.cdn = cdn

    def attachments_from(
        self,
        data: JSON,
        files: Sequence[UploadedFile],
        channel_id: str,
        limit: int,
        *,
        ephemeral: bool,
    ) -> tuple[list[FakeAttachment], list[str]]:
        """New attachments from ``files[n]`` parts (+ ids of existing ones listed to keep)."""
        for part in files:
            if len(part.data) > limit:
                raise DiscordAPIError(413, 40005, "Request entity too large")
        if len(files) > 10:
            raise form_error(
                ["attachments"], "BASE_TYPE_MAX_LENGTH", "Must be 10 or fewer in length."
            )
        listed = data.get("attachments")
        by_index: dict[int | None, UploadedFile] = {u.index: u for u in files}
        new: list[FakeAttachment] = []
        keep: list[str] = []
        folder = (
            f"ephemeral-attachments/{self.state.application_id}"
            if ephemeral
            else f"attachments/{channel_id}"
        )
        if isinstance(listed, list):
            if len(listed) > 10:
                raise form_error(
                    ["attachments"], "BASE_TYPE_MAX_LENGTH", "Must be 10 or fewer in length."
                )
            for entry in listed:
                described = by_index.pop(_maybe_int(entry.get("id")), None)
                if described is None:
                    keep.append(str(entry.get("id")))
                    continue
                filename = entry.get("filename") or described.filename
                new.append(
                    self.cdn.upload(
                        folder,
                        filename,
                        described.data,
                        guess_type(filename),
                        description=entry.get("description"),
                        ephemeral=ephemeral,
                    )
                )
        for upload in by_index.values():  # files not described in ``attachments``
            new.append(
                self.cdn.upload(
                    folder,
                    upload.filename,
                    upload.data,
                    guess_type(upload.filename),
                    ephemeral=ephemeral,
                )
            )
        return new, keep

    def create(
        self,
        channel: FakeChannel,
        data: JSON,
        files: Sequence[UploadedFile],
        *,
        limit: int,
        interaction: FakeInteraction | None = None,
        message_type: int = 0,
        drop_embeds: bool = False,
        force_ephemeral: bool = False,
    ) -> FakeMessage:
        """Validate and store a message the bot sends (REST or webhook).

        ``drop_embeds``: Discord removes the embeds (the sender lacks Embed Links);
        ``force_ephemeral``: Discord makes it ephemeral (a user install without Use External
        Apps).
        """
        flags = int(data.get("flags") or 0) & SENDABLE_FLAGS
        if force_ephemeral:
            flags |= MessageFlag.EPHEMERAL
        ephemeral = bool(flags & MessageFlag.EPHEMERAL)
        new, _keep = self.attachments_from(data, files, channel.id, limit, ephemeral=ephemeral)
        message = FakeMessage(
            id=self.state.new_id(),
            channel_id=channel.id,
            guild_id=channel.guild_id,
            author=self.state.bot_user,
            content=str(data.get("content") or ""),
            type=message_type,
            embeds=[dict(e) for e in data.get("embeds") or []],
            attachments=new,
            components=number_components(data.get("components") or []),
            flags=flags,
            allowed_mentions=data.get("allowed_mentions"),
            nonce=data.get("nonce"),
            tts=bool(data.get("tts")),
            timestamp=self.state.now_iso(),
        )
        if interaction is not None:
            message.webhook_id = self.state.application_id
            message.application_id = self.state.application_id
            message.interaction_id = interaction.id
            message.interaction_metadata = {
                "id": interaction.id,
                "type": interaction.type,
                "user": interaction.user.payload(),
                "authorizing_integration_owners": interaction.payload[
                    "authorizing_integration_owners"
                ],
            }
            if interaction.source_message_id is not None:
                message.interaction_metadata["interacted_message_id"] = (
                    interaction.source_message_id
                )
        ref = data.get("message_reference")
        if isinstance(ref, dict) and ref.get("message_id") is not None:
            target = self.state.messages_by_id.get(str(ref["message_id"]))
            if target is None or target.deleted or target.channel_id != channel.id:
                if ref.get("fail_if_not_exists", True):
                    raise form_error(
                        ["message_reference"],
                        "MESSAGE_REFERENCE_UNKNOWN_MESSAGE",
                        "Unknown message",
                    )
            else:
                message.type = 19
                message.referenced = target
                message.message_reference = {
                    "type": int(ref.get("type", 0)),
                    "message_id": target.id,
                    "channel_id": target.channel_id,
                    "guild_id": target.guild_id,
                }
        if drop_embeds:
            message.dropped_embeds, message.embeds = message.embeds, []
        _resolve_attachment_urls(message)
        validate_message(message)
        self.apply_mentions(message, webhook=interaction is not None)
        self.state.store(message)
        return message

    def edit(
        self,
        message: FakeMessage,
        data: JSON,
        files: Sequence[UploadedFile],
        *,
        limit: int,
        webhook: bool,
        drop_embeds: bool = False,
    ) -> FakeMessage:
        """Apply an edit (only the fields present change); fills a loading placeholder.

        ``drop_embeds``: the new embeds are removed (the editor lacks Embed Links).
        """
        new, keep = self.attachments_from(
            data, files, message.channel_id, limit, ephemeral=message.ephemeral
        )
        edited = copy.copy(message)
        if "content" in data:
            edited.content = str(data["content"] or "")
        if "embeds" in data:
            edited.embeds = [dict(e) for e in data["embeds"] or []]
            if drop_embeds:
                edited.dropped_embeds, edited.embeds = edited.embeds, []
        if "components" in data:
            edited.components = number_components(data["components"] or [])
        if "attachments" in data:
            existing = [a for a in message.attachments if a.id in keep]
            edited.attachments = existing + new
        else:
            edited.attachments = list(message.attachments) + new
        if "flags" in data and data["flags"] is not None:
            toggle = int(MessageFlag.SUPPRESS_EMBEDS)
            edited.flags = (message.flags & ~toggle) | (int(data["flags"]) & toggle)
        if "allowed_mentions" in data:
            edited.allowed_mentions = data["allowed_mentions"]
        filling = message.loading
        if filling:
            edited.flags &= ~MessageFlag.LOADING
        _resolve_attachment_urls(edited)
        validate_message(edited)
        # commit
        message.content = edited.content
        message.embeds = edited.embeds
        message.dropped_embeds = edited.dropped_embeds
        message.components = edited.components
        message.attachments = edited.attachments
        message.flags = edited.flags
        message.allowed_mentions = edited.allowed_mentions
        message.edits.append(copy.deepcopy(data))
        if filling:
            self.apply_mentions(message, webhook=webhook)
        else:
            message.edited_timestamp = self.state.now_iso()
            self.apply_mentions(message, webhook=webhook, notify=False)
        self.state.changed()
        return message

    def apply_mentions(self, message: FakeMessage, *, webhook: bool, notify: bool = True) -> None:
        """Resolve mentions as Discord does: content + ``allowed_mentions`` + permissions."""
        am = message.allowed_mentions
        if am is None:
            parse = {"users", "roles", "everyone"}
            listed_users: set[str] = set()
            listed_roles: set[str] = set()
            replied_user = True
        else:
            parse = set(am.get("parse") or [])
            listed_users = {str(u) for u in am.get("users") or []}
            listed_roles = {str(r) for r in am.get("roles") or []}
            replied_user = bool(am.get("replied_user", False))
        content = message.content
        guild = self.state.guilds.get(message.guild_id) if message.guild_id else None
        channel = self.state.get_channel(message.channel_id)
        author_perms = (
            self.state.permissions_for(message.author, channel) if not channel.is_dm else 0
        )
        privileged = webhook or bool(author_perms & Perm.MENTION_EVERYONE)
        pinged: set[str] = set()
        users: list[FakeUser] = []
        roles: list[str] = []
        for uid in dict.fromkeys(re.findall(r"<@!?(\d+)>", content)):
            if ("users" in parse or uid in listed_users) and uid in self.state.users:
                pinged.add(f"<@{uid}>")
                users.append(self.state.users[uid])
        for rid in dict.fromkeys(re.findall(r"<@&(\d+)>", content)):
            role = guild.roles.get(rid) if guild else None
            if (
                role is not None
                and ("roles" in parse or rid in listed_roles)
                and (role.mentionable or privileged)
            ):
                pinged.add(f"<@&{rid}>")
                roles.append(rid)
        everyone = False
        for word in ("@everyone", "@here"):
            if word in content and "everyone" in parse and privileged and guild is not None:
                pinged.add(word)
                everyone = True
        ref = message.referenced
        if ref is not None and replied_user and ref.author.id != message.author.id:
            pinged.add(f"<@{ref.author.id}>")
            if ref.author not in users:
                users.append(ref.author)
        message.mention_users = users
        message.mention_roles = roles
        message.mention_everyone = everyone
        if not notify:
            return
        message.pinged = pinged
        notified: set[str] = {u.id for u in users}
        if guild is not None:
            for member in guild.members.values():
                if everyone or set(member.roles) & set(roles):
                    notified.add(member.user.id)
        notified.discard(message.author.id)
        if message.flags & MessageFlag.SUPPRESS_NOTIFICATIONS:
            notified = set()
        message.notified_users = notified


def _maybe_int(value: Any) -> int | None:
    try:
        return int(value)
    except (TypeError, ValueError):
        return None


def number_components(components: list[JSON]) -> list[JSON]:
    """Copy components, giving each one the numeric ``id`` Discord assigns when absent."""
    result = copy.deepcopy(components)
    used = {c["id"] for c in walk_components(result) if isinstance(c.get("id"), int)}
    counter = 1
    for component in walk_components(result):
        if component.get("id") is None:
            while counter in used:
                counter += 1
            component["id"] = counter
            used.add(counter)
    return result


def _resolve_attachment_urls(message: FakeMessage) -> None:
    """``attachment://name`` in embeds becomes the uploaded file's URL, as on Discord."""
    by_name = {a.filename: a.url for a in message.attachments}
    for embed in message.embeds:
        for key in ("image", "thumbnail"):
            part = embed.get(key)
            if isinstance(part, dict) and str(part.get("url", "")).startswith("attachment://"):
                name = str(part["url"])[len("attachment://") :]
                if name in by_name:
                    part["url"] = by_name[name]
                    part["proxy_url"] = by_name[name]
