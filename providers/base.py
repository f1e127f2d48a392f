"""The one small interface every image provider implements.

A provider module holds a :class:`Provider` subclass: its :class:`Capabilities` as data, plus
``submit`` (start a generation), ``fetch`` (read a task's status) and ``parse_callback``
(turn a provider's webhook body into a status, verifying a signature where the provider signs).
Nothing outside ``providers/`` knows a provider's field names, envelopes or quirks.
"""

from __future__ import annotations

import abc
from collections.abc import Mapping
from dataclasses import dataclass
from enum import StrEnum
from typing import ClassVar

import httpx
from pydantic import BaseModel, ConfigDict, Field, SecretStr

from providers import transport
from providers.errors import (
    CallbackRejectedError,
    ListingUnavailableError,
    NotConfiguredError,
    RequestInvalidError,
    TaskNotFoundError,
)
from providers.scrub import Scrubber
from providers.settings import ProviderSettings

# --------------------------------------------------------------------------- requests


def shown(value: str, limit: int = 40) -> str:
    """A value as an error message may quote it: cut to ``limit`` characters."""
    return value if len(value) <= limit else value[: limit - 1] + "…"


class Mode(StrEnum):
    """Whether the request creates a new image or edits the first reference."""

    GENERATE = "generate"
    EDIT = "edit"


class ReferenceImage(BaseModel):
    """One input image: a public URL, or the bytes themselves (with their MIME type)."""

    model_config = ConfigDict(frozen=True, ser_json_bytes="base64", val_json_bytes="base64")

    url: str | None = None
    data: bytes | None = None
    mime_type: str = "image/png"
    caption: str | None = None

    def describe(self) -> str:
        """A short, log-safe description (never the bytes)."""
        if self.url is not None:
            return self.url
        return f"<{self.mime_type}, {len(self.data or b'')} bytes>"


class GenerationRequest(BaseModel):
    """What the user asked for, independent of any provider's field names."""

    model_config = ConfigDict(frozen=True)

    prompt: str
    model: str | None = None
    mode: Mode = Mode.GENERATE
    references: tuple[ReferenceImage, ...] = ()
    aspect_ratio: str | None = None
    resolution: str | None = None
    grounding: bool = False
    count: int = Field(default=1, ge=1)
    output_format: str | None = None


# --------------------------------------------------------------------------- capabilities


class Completion(StrEnum):
    """How a provider reports that a task finished."""

    CALLBACK = "callback"  # async task; provider POSTs to a URL we give it (polling also works)
    POLLING = "polling"  # async task; we must ask
    SYNCHRONOUS = "synchronous"  # the submit request returns the images


class ModelCapabilities(BaseModel):
    """What one model of one provider accepts. All validation reads from here."""

    model_config = ConfigDict(frozen=True)

    name: str
    aspect_ratios: tuple[str, ...]
    default_aspect_ratio: str | None
    resolutions: tuple[str, ...]
    default_resolution: str | None
    max_references: int
    min_prompt_length: int = 1
    max_prompt_length: int
    grounding: bool = False
    max_images: int = 1
    output_formats: tuple[str, ...] = ()
    supports_edit: bool = True
    typical_seconds: float = 30.0  # when a first status check is worth making


class Capabilities(BaseModel):
    """A provider's models and how it talks, as data."""

    model_config = ConfigDict(frozen=True)

    provider: str
    models: tuple[ModelCapabilities, ...]
    default_model: str
    completion: Completion
    accepts_reference_bytes: bool
    accepts_reference_urls: bool
    max_reference_bytes: int | None = None
    #: the most references a request may carry when one of them is uploaded as bytes (a
    #: provider whose upload form takes fewer files than its URL field takes links); None:
    #: the model's ``max_references`` either way
    max_references_with_upload: int | None = None
    #: the image types a reference may be (still images; others are converted or refused)
    reference_formats: tuple[str, ...] = ("image/png", "image/jpeg", "image/webp")
    signed_callbacks: bool = False
    #: the provider calls back on every change of a task, not only when it ends: a callback
    #: saying the task is queued or running brings nothing a status read would add
    callbacks_on_every_change: bool = False
    #: the provider lists its tasks' states, many in one request (:meth:`Provider.list_tasks`):
    #: one read can tell many waiting jobs apart from the finished ones
    lists_tasks: bool = False

    def model(self, name: str | None) -> ModelCapabilities:
        """The capabilities of ``name`` (or of the default model when ``name`` is None)."""
        wanted = name or self.default_model
        for model in self.models:
            if model.name == wanted:
                return model
        allowed = ", ".join(m.name for m in self.models)
        raise RequestInvalidError(
            f"{self.provider} has no model {shown(wanted)!r}; choose one of: {allowed}"
        )

    @property
    def model_names(self) -> tuple[str, ...]:
        """The names of every model, default first."""
        names = [m.name for m in self.models]
        names.sort(key=lambda n: n != self.default_model)
        return tuple(names)


# --------------------------------------------------------------------------- statuses


class TaskState(StrEnum):
    """A provider task's normalised state."""

    QUEUED = "queued"
    RUNNING = "running"
    SUCCEEDED = "succeeded"
    FAILED = "failed"

    @property
    def terminal(self) -> bool:
        """True once the task will not change again."""
        return self in (TaskState.SUCCEEDED, TaskState.FAILED)


class ResultImage(BaseModel):
    """One output image: a URL to download, or the bytes a provider returned inline."""

    model_config = ConfigDict(frozen=True, ser_json_bytes="base64", val_json_bytes="base64")

    url: str | None = None
    data: bytes | None = None
    mime_type: str | None = None


class Source(BaseModel):
    """A web page a grounded generation drew on (from the provider's grounding metadata)."""

    model_config = ConfigDict(frozen=True)

    url: str  # http(s) only: the parser drops anything else
    title: str | None = None


class TaskStatus(BaseModel):
    """A provider task as we understand it, from a submit, a status read or a callback."""

    model_config = ConfigDict(frozen=True)

    task_id: str
    state: TaskState
    images: tuple[ResultImage, ...] = ()
    reason: str | None = None  # the provider's own failure text, for logs and a short user note
    content_policy: bool = False  # the failure was a content/safety block
    sources: tuple[Source, ...] = ()  # grounding sources, when the provider names any


@dataclass(frozen=True)
class ListedTask:
    """One task as a provider's task list shows it: its id and state, no results (a finished
    one is read with :meth:`Provider.fetch` for those)."""

    task_id: str
    state: TaskState


# --------------------------------------------------------------------------- provider


@dataclass(frozen=True)
class KeyCheck:
    """What one harmless authenticated request said of the key: accepted (``verified``), or
    not provable without spending (no such request exists); a refusal raises
    :class:`BadKeyError`. ``credits``: what is left, where the provider says."""

    verified: bool
    credits: float | None = None


class Provider(abc.ABC):
    """One provider API. Subclasses set the class attributes and implement three methods."""

    name: ClassVar[str]
    #: the settings class (and so the environment prefix) this provider reads
    settings_type: ClassVar[type[ProviderSettings]]
    default_base_url: ClassVar[str]
    needs_key: ClassVar[bool] = True
    capabilities: ClassVar[Capabilities]

    def __init__(self, settings: ProviderSettings, client: httpx.AsyncClient | None = None) -> None:
        if not isinstance(settings, self.settings_type):
            raise TypeError(
                f"{self.name} takes {self.settings_type.__name__}, not {type(settings).__name__}"
            )
        if self.needs_key and settings.api_key is None:
            raise NotConfiguredError(
                f"{self.name} is not configured: set {self.settings_type.env_name('api_key')}"
            )
        self.settings = settings
        self.scrubber = Scrubber(
            value.get_secret_value()
            for value in settings.__dict__.values()
            if isinstance(value, SecretStr)
        )
        self.base_url = (settings.base_url or self.default_base_url).rstrip("/")
        self._own_client = client is None
        self.client = client or transport.client(timeout=self.timeout())

    #: read timeout in seconds; synchronous providers hold the request open much longer
    read_timeout: ClassVar[float] = 30.0

    def timeout(self) -> httpx.Timeout:
        """Timeouts for each read of this provider's HTTP calls."""
        return httpx.Timeout(self.total_seconds, connect=10.0)

    @property
    def total_seconds(self) -> float:
        """The most one call may take, answer included (``<NAME>_TIMEOUT_SECONDS``)."""
        return self.settings.timeout_seconds or self.read_timeout

    @property
    def api_key(self) -> str:
        """The API key's value, for request headers only."""
        return self.settings.api_key.get_secret_value() if self.settings.api_key else ""

    @abc.abstractmethod
    async def submit(
        self, request: GenerationRequest, *, callback_url: str | None = None
    ) -> TaskStatus:
        """Start a generation. Async providers return a queued/running status with the task id;
        synchronous ones return the finished result. Raises a :class:`ProviderError`."""

    async def fetch(self, task_id: str, *, model: str) -> TaskStatus:
        """Read a task's status. Synchronous providers have no tasks to read."""
        raise TaskNotFoundError(f"{self.name} has no task status endpoint")

    async def list_tasks(self, model: str, *, page: int, per_page: int) -> list[ListedTask]:
        """One page (from 1) of the account's tasks of ``model``, ``per_page`` at most, as the
        provider lists them (see :attr:`Capabilities.lists_tasks`). Raises
        :class:`ListingUnavailableError` when the provider has no list, or a
        :class:`ProviderError` as any request does."""
        raise ListingUnavailableError(f"{self.name} does not list its tasks")

    def parse_callback(self, headers: Mapping[str, str], body: bytes) -> TaskStatus:
        """Turn a callback's raw body into a status, verifying its signature where signed."""
        raise CallbackRejectedError(f"{self.name} does not send callbacks")

    def scrub(self, text: str) -> str:
        """``text`` with this provider's secrets (and anything secret-shaped) masked, in case
        the provider ever echoes them back: the one :class:`~providers.scrub.Scrubber`."""
        return self.scrubber(text)

    async def balance(self) -> float | None:
        """Remaining account credits, where the provider reports them (None otherwise)."""
        return None

    async def verify_key(self) -> KeyCheck:
        """Check the key with a harmless authenticated request (never a generation); raises
        :class:`BadKeyError` when it is refused. By default the credit balance, where the
        provider reports one."""
        credits = await self.balance()
        return KeyCheck(verified=credits is not None, credits=credits)

    async def aclose(self) -> None:
        """Close the HTTP client if this provider created it."""
        if self._own_client:
            await self.client.aclose()
