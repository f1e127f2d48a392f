"""Discord's error answers and its rules for request bodies.

:class:`DiscordAPIError` is an error in Discord's JSON format (``{"message", "code",
"errors"}``); :func:`form_error` builds the 50035 "Invalid Form Body" kind with its nested
``errors`` path. The validators hold the limits Discord enforces on what a bot sends: message
content, embeds, components, ``allowed_mentions``, modals and application commands.
"""

from __future__ import annotations

import re
from collections.abc import Sequence

from tests.fakes.discord.models import JSON, FakeMessage, MessageFlag, OptionType, walk_components


class DiscordAPIError(Exception):
    """An error the fake answers with, in Discord's JSON error format."""

    def __init__(self, status: int, code: int, message: str, errors: JSON | None = None) -> None:
        super().__init__(f"{status} {code} {message}")
        self.status = status
        self.code = code
        self.message = message
        self.errors = errors

    def body(self) -> JSON:
        """The JSON body Discord sends for this error."""
        data: JSON = {"message": self.message, "code": self.code}
        if self.errors is not None:
            data["errors"] = self.errors
        return data


def form_error(path: Sequence[str | int], code: str, message: str) -> DiscordAPIError:
    """A 50035 "Invalid Form Body" error with the nested ``errors`` object Discord builds."""
    errors: JSON = {"_errors": [{"code": code, "message": message}]}
    for key in reversed(path):
        errors = {str(key): errors}
    return DiscordAPIError(400, 50035, "Invalid Form Body", errors)


def validate_message(message: FakeMessage) -> None:
    """Discord's limits on content, embeds and components; 50006 for empty messages."""
    am = message.allowed_mentions or {}
    for kind in ("users", "roles"):
        if kind in (am.get("parse") or []) and am.get(kind):
            raise form_error(
                ["allowed_mentions"],
                "MESSAGE_ALLOWED_MENTIONS_PARSE_EXCLUSIVE",
                f'parse:["{kind}"] and {kind}: [ids] are mutually exclusive.',
            )
    if len(message.content) > 2000:
        raise form_error(["content"], "BASE_TYPE_MAX_LENGTH", "Must be 2000 or fewer in length.")
    if len(message.embeds) > 10:
        raise form_error(["embeds"], "BASE_TYPE_MAX_LENGTH", "Must be 10 or fewer in length.")
    total = 0
    for i, embed in enumerate(message.embeds):
        embed.setdefault("type", "rich")
        limits: list[tuple[list[str | int], str | None, int]] = [
            (["title"], embed.get("title"), 256),
            (["description"], embed.get("description"), 4096),
            (["footer", "text"], (embed.get("footer") or {}).get("text"), 2048),
            (["author", "name"], (embed.get("author") or {}).get("name"), 256),
        ]
        fields = embed.get("fields") or []
        if len(fields) > 25:
            raise form_error(
                ["embeds", i, "fields"], "BASE_TYPE_MAX_LENGTH", "Must be 25 or fewer in length."
            )
        for j, item in enumerate(fields):
            limits.append((["fields", j, "name"], item.get("name"), 256))
            limits.append((["fields", j, "value"], item.get("value"), 1024))
        for path, text, limit in limits:
            if text is None:
                continue
            if len(str(text)) > limit:
                raise form_error(
                    ["embeds", i, *path],
                    "BASE_TYPE_MAX_LENGTH",
                    f"Must be {limit} or fewer in length.",
                )
            total += len(str(text))
    if total > 6000:
        raise form_error(
            ["embeds"], "MAX_EMBED_SIZE_EXCEEDED", "Embed size exceeds maximum size of 6000"
        )
    validate_components(message.components, v2=bool(message.flags & MessageFlag.IS_COMPONENTS_V2))
    if message.flags & MessageFlag.IS_COMPONENTS_V2 and (message.content or message.embeds):
        raise form_error(
            ["content"],
            "MESSAGE_CANNOT_USE_LEGACY_FIELDS_WITH_COMPONENTS_V2",
            "The 'content' and 'embeds' fields cannot be used with IS_COMPONENTS_V2",
        )
    empty = not (message.content or message.embeds or message.attachments or message.components)
    if empty and not message.loading:
        raise DiscordAPIError(400, 50006, "Cannot send an empty message")


def validate_components(components: list[JSON], *, v2: bool) -> None:
    """Rows, counts, custom_id length and uniqueness, button labels (v2: Components V2)."""
    if not v2 and len(components) > 5:
        raise form_error(["components"], "BASE_TYPE_MAX_LENGTH", "Must be 5 or fewer in length.")
    all_components = list(walk_components(components))
    if v2 and len(all_components) > 40:
        raise form_error(["components"], "BASE_TYPE_MAX_LENGTH", "Must be 40 or fewer in length.")
    seen: set[str] = set()
    for row_index, row in enumerate(components):
        if not v2 and row.get("type") != 1:
            raise form_error(
                ["components", row_index],
                "COMPONENT_LAYOUT_WIDTH_EXCEEDED",
                "Top-level components must be action rows",
            )
        if row.get("type") == 1 and len(row.get("components") or []) > 5:
            raise form_error(
                ["components", row_index, "components"],
                "BASE_TYPE_MAX_LENGTH",
                "Must be 5 or fewer in length.",
            )
    for component in all_components:
        custom_id = component.get("custom_id")
        if custom_id is not None:
            if not 1 <= len(custom_id) <= 100:
                raise form_error(
                    ["components", "custom_id"],
                    "BASE_TYPE_BAD_LENGTH",
                    "Must be between 1 and 100 in length.",
                )
            if custom_id in seen:
                raise form_error(
                    ["components", "custom_id"],
                    "COMPONENT_CUSTOM_ID_DUPLICATED",
                    "Component custom id cannot be duplicated",
                )
            seen.add(custom_id)
        label = component.get("label")
        if component.get("type") == 2 and label is not None and len(label) > 80:
            raise form_error(
                ["components", "label"], "BASE_TYPE_MAX_LENGTH", "Must be 80 or fewer in length."
            )


def validate_modal(data: JSON) -> None:
    """A type 9 callback's modal (receiving-and-responding.mdx, "Modal"; components/reference.mdx
    Text Input and Label): custom_id 1-100, title 1-45, 1-5 components, each an action row with
    one text input, a label around one component, or a text display; text inputs with a 1-100
    custom_id, a label of at most 45 (in a row), style 1 or 2, lengths within 0-4000 (max at
    least 1, min not above max), a value and placeholder within their limits.

    (Discord's preview OpenAPI spec allows 40 components; its documentation says 5.)
    """
    custom_id = str(data.get("custom_id") or "")
    if not 1 <= len(custom_id) <= 100:
        raise form_error(
            ["data", "custom_id"], "BASE_TYPE_BAD_LENGTH", "Must be between 1 and 100 in length."
        )
    if not 1 <= len(str(data.get("title") or "")) <= 45:
        raise form_error(
            ["data", "title"], "BASE_TYPE_BAD_LENGTH", "Must be between 1 and 45 in length."
        )
    components = data.get("components") or []
    if not 1 <= len(components) <= 5:
        raise form_error(
            ["data", "components"], "BASE_TYPE_BAD_LENGTH", "Must be between 1 and 5 in length."
        )
    for i, top in enumerate(components):
        path: list[str | int] = ["data", "components", i]
        kind = top.get("type")
        if kind == 1:
            inner = top.get("components") or []
            if len(inner) != 1 or inner[0].get("type") != 4:
                raise form_error(
                    [*path, "components"],
                    "COMPONENT_LAYOUT_WIDTH_EXCEEDED",
                    "An action row in a modal holds exactly one text input",
                )
            _validate_text_input(inner[0], [*path, "components", 0], in_label=False)
        elif kind == 18:
            _check_length(top.get("label"), 1, 45, [*path, "label"])
            if top.get("description") is not None:
                _check_length(top["description"], 1, 100, [*path, "description"])
            child = top.get("component")
            if not isinstance(child, dict):
                raise form_error(
                    [*path, "component"], "BASE_TYPE_REQUIRED", "This field is required"
                )
            if child.get("type") == 4:
                _validate_text_input(child, [*path, "component"], in_label=True)
            elif child.get("custom_id") is not None:
                _check_length(child["custom_id"], 1, 100, [*path, "component", "custom_id"])
        elif kind == 10:
            _check_length(top.get("content"), 1, 4000, [*path, "content"])
        else:
            raise form_error(
                [*path, "type"], "UNION_TYPE_CHOICES", f"Component type {kind} is not allowed here"
            )


def _validate_text_input(component: JSON, path: list[str | int], *, in_label: bool) -> None:
    _check_length(component.get("custom_id"), 1, 100, [*path, "custom_id"])
    if in_label:
        if component.get("label") is not None:
            raise form_error(
                [*path, "label"],
                "COMPONENT_TEXT_INPUT_LABEL_IN_LABEL",
                "A text input inside a label has no label of its own",
            )
    else:
        _check_length(component.get("label"), 1, 45, [*path, "label"])
    if component.get("style", 1) not in (1, 2):
        raise form_error([*path, "style"], "BASE_TYPE_CHOICES", "Value must be one of (1, 2).")
    low, high = component.get("min_length"), component.get("max_length")
    if low is not None and not 0 <= int(low) <= 4000:
        raise form_error(
            [*path, "min_length"], "NUMBER_TYPE_MAX", "int value should be <= 4000 and >= 0."
        )
    if high is not None and not 1 <= int(high) <= 4000:
        raise form_error(
            [*path, "max_length"], "NUMBER_TYPE_MAX", "int value should be <= 4000 and >= 1."
        )
    if low is not None and high is not None and int(low) > int(high):
        raise form_error(
            [*path, "min_length"],
            "BASE_TYPE_BAD_LENGTH",
            "min_length must be less than or equal to max_length",
        )
    if component.get("value") is not None:
        _check_length(component["value"], 0, int(high or 4000), [*path, "value"])
    if component.get("placeholder") is not None:
        _check_length(component["placeholder"], 0, 100, [*path, "placeholder"])


def _check_length(text: object, low: int, high: int, path: list[str | int]) -> None:
    if not isinstance(text, str) or not low <= len(text) <= high:
        raise form_error(
            path, "BASE_TYPE_BAD_LENGTH", f"Must be between {low} and {high} in length."
        )


#: Integers an INTEGER option may hold: "Any integer between -2^53+1 and 2^53-1"
#: (application-commands.mdx, Application Command Option Type).
_MAX_SAFE_INTEGER = 2**53 - 1


def validate_autocomplete(data: JSON, option_type: int) -> None:
    """A type 8 callback (receiving-and-responding.mdx, "Autocomplete"; application-commands.mdx,
    Option Choice Structure): at most 25 choices, each a 1-100 character name and a value of
    the focused option's type, a string of at most 100 characters.

    (Discord's preview OpenAPI spec lets a string value run to 6000; its documentation says 100.)
    """
    choices = data.get("choices")
    if not isinstance(choices, list):
        raise form_error(["data", "choices"], "BASE_TYPE_REQUIRED", "This field is required")
    if len(choices) > 25:
        raise form_error(
            ["data", "choices"], "BASE_TYPE_MAX_LENGTH", "Must be 25 or fewer in length."
        )
    for i, choice in enumerate(choices):
        path: list[str | int] = ["data", "choices", i]
        if not isinstance(choice, dict):
            raise form_error(path, "DICT_TYPE_CONVERT", "Only dictionaries may be used.")
        _check_length(choice.get("name"), 1, 100, [*path, "name"])
        value = choice.get("value")
        if option_type == OptionType.STRING:
            if not isinstance(value, str):
                raise form_error([*path, "value"], "BASE_TYPE_STRING", "Must be a string.")
            _check_length(value, 0, 100, [*path, "value"])
        elif option_type == OptionType.INTEGER:
            if isinstance(value, bool) or not isinstance(value, int):
                raise form_error([*path, "value"], "NUMBER_TYPE_COERCE", "Value is not int.")
            if abs(value) > _MAX_SAFE_INTEGER:
                raise form_error(
                    [*path, "value"], "NUMBER_TYPE_MAX", "int value out of the safe range."
                )
        elif option_type == OptionType.NUMBER and (
            isinstance(value, bool) or not isinstance(value, int | float)
        ):
            raise form_error([*path, "value"], "NUMBER_TYPE_COERCE", "Value is not a number.")


#: Command and option names (Discord's ``CHAT_INPUT`` naming rule).
NAME_RE = re.compile(r"^[-_'\w]{1,32}$")


def validate_commands(body: list[JSON]) -> None:
    """The subset of Discord's command validation that catches real mistakes."""
    counts: dict[int, int] = {}
    for i, command in enumerate(body):
        kind = int(command.get("type", 1))
        counts[kind] = counts.get(kind, 0) + 1
        name = str(command.get("name", ""))
        if kind == 1:
            if not NAME_RE.match(name) or name != name.lower():
                raise form_error(
                    [i, "name"], "APPLICATION_COMMAND_INVALID_NAME", "Command name is invalid"
                )
            if not 1 <= len(str(command.get("description", ""))) <= 100:
                raise form_error(
                    [i, "description"],
                    "BASE_TYPE_BAD_LENGTH",
                    "Must be between 1 and 100 in length.",
                )
            validate_options(command.get("options") or [], [i, "options"])
        elif not 1 <= len(name) <= 32:
            raise form_error(
                [i, "name"], "BASE_TYPE_BAD_LENGTH", "Must be between 1 and 32 in length."
            )
    limits = {1: 100, 2: 15, 3: 15}
    for kind, count in counts.items():
        if count > limits.get(kind, 100):
            raise form_error(
                [], "APPLICATION_COMMANDS_TOO_MANY", f"Too many commands of type {kind}"
            )
    names = [(c["name"], int(c.get("type", 1))) for c in body]
    if len(set(names)) != len(names):
        raise form_error(
            [], "APPLICATION_COMMANDS_DUPLICATE_NAME", "Application command names must be unique"
        )


def validate_options(options: list[JSON], path: list[str | int]) -> None:
    """A command's options (recursively through subcommands), required ones first."""
    if len(options) > 25:
        raise form_error(path, "BASE_TYPE_MAX_LENGTH", "Must be 25 or fewer in length.")
    seen_optional = False
    for j, option in enumerate(options):
        name = str(option.get("name", ""))
        if not NAME_RE.match(name) or name != name.lower():
            raise form_error(
                [*path, j, "name"], "APPLICATION_COMMAND_INVALID_NAME", "Option name is invalid"
            )
        if not 1 <= len(str(option.get("description", ""))) <= 100:
            raise form_error(
                [*path, j, "description"],
                "BASE_TYPE_BAD_LENGTH",
                "Must be between 1 and 100 in length.",
            )
        if len(option.get("choices") or []) > 25:
            raise form_error(
                [*path, j, "choices"], "BASE_TYPE_MAX_LENGTH", "Must be 25 or fewer in length."
            )
        if option.get("type") in (OptionType.SUB_COMMAND, OptionType.SUB_COMMAND_GROUP):
            validate_options(option.get("options") or [], [*path, j, "options"])
            continue
        if option.get("required"):
            if seen_optional:
                raise form_error(
                    [*path, j],
                    "APPLICATION_COMMAND_OPTIONS_REQUIRED_INVALID",
                    "Required options must be placed before non-required options",
                )
        else:
            seen_optional = True
