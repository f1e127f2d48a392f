"""The job engine's data: what is accepted, what is stored, what is reported."""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from enum import StrEnum

from pydantic import TypeAdapter, ValidationError

from bot.jobs.quota import ServerBudget
from bot.jobs.states import JobStatus
from providers.base import GenerationRequest, ModelCapabilities, ResultImage, Source


class FailureKind(StrEnum):
    """Why a job did not deliver, in categories a user message can be chosen from."""

    INVALID = "invalid"  # breaks the provider's capabilities
    REJECTED = "rejected"  # provider refused it (validation or content policy)
    BAD_KEY = "bad_key"
    NO_CREDITS = "no_credits"
    RATE_LIMITED = "rate_limited"
    UNAVAILABLE = "unavailable"
    UNKNOWN_OUTCOME = "unknown_outcome"  # create may have reached the provider; not resent
    GENERATION_FAILED = "generation_failed"
    TIMED_OUT = "timed_out"
    UNDELIVERABLE = "undeliverable"
    CANCELLED = "cancelled"
    INTERNAL = "internal"


@dataclass(frozen=True)
class Origin:
    """Who asked and where: what the Discord layer needs to answer later."""

    user_id: str
    guild_id: str | None = None
    channel_id: str | None = None
    interaction_id: str | None = None
    interaction_token: str | None = None
    token_expires_at: float | None = None
    origin_message_id: str | None = None
    status_message_id: str | None = None  # the requester's progress message
    upload_limit: int | None = None  # bytes per file the channel accepts


@dataclass(frozen=True)
class CheckedRequest:
    """A request validated against one provider model (by admission, the one place that
    validates), with the model filled in; admission accepts it without checking again."""

    provider: str
    request: GenerationRequest
    model: ModelCapabilities
    #: images asked for beyond what one request makes: this many jobs of one image each
    group_size: int = 1


@dataclass(frozen=True)
class JobSpec:
    """A request to accept: the generation plus its origin."""

    origin: Origin
    provider: str
    request: GenerationRequest | CheckedRequest
    kind: str = "imagine"
    parent_job_id: str | None = None
    #: what the requester may spend, when a server's policy decides (None: the defaults)
    limits: Limits | None = None


@dataclass(frozen=True)
class Limits:
    """A requester's daily allowance (None: unlimited) and their server's budget (None: no
    budget), as the server's policy sets them for this request."""

    allowance: int | None
    budget: ServerBudget | None = None


@dataclass(frozen=True)
class NewJob:
    """A job the engine has checked and priced, for the store to admit."""

    id: str
    origin: Origin
    provider: str
    model: str
    request: GenerationRequest  # validated against the model, with the model filled in
    kind: str
    parent_job_id: str | None
    cost: int
    callback_token: str
    created_at: float
    deadline_at: float
    #: for a member of a group (see :class:`CheckedRequest`): the group's id (its first
    #: member's), this member's position and the group's size
    group_id: str | None = None
    group_index: int = 0
    group_size: int = 1


@dataclass(frozen=True)
class Job:
    """A stored job, as read from the database."""

    id: str
    status: JobStatus
    kind: str
    origin: Origin
    provider: str
    model: str
    request: GenerationRequest
    callback_token: str
    cost: int
    created_at: float
    updated_at: float
    deadline_at: float
    task_id: str | None = None
    parent_job_id: str | None = None
    quota_day: str | None = None
    posted_message_id: str | None = None
    delivered_via: str | None = None
    failure_kind: FailureKind | None = None
    failure_reason: str | None = None
    callback_hinted: bool = False
    poll_count: int = 0
    delivery_attempts: int = 0
    next_poll_at: float | None = None  # when a tracked job's provider task is read next
    next_delivery_at: float | None = None  # when a succeeded job's delivery is (re)tried
    submitted_at: float | None = None  # when the create request was sent (it left the queue)
    completed_at: float | None = None
    delivered_at: float | None = None
    #: when the job's reference images were deleted (retention); a re-roll needs them
    references_purged_at: float | None = None
    #: a member of a group of single-image jobs posted together (see :class:`NewJob`)
    group_id: str | None = None
    group_index: int = 0
    group_size: int = 1
    #: the worker that last claimed the job (see :mod:`bot.jobs.leases`)
    claimed_by: str | None = None
    #: the reference images it was accepted with (known without loading them)
    reference_count: int = 0
    results: tuple[ResultImage, ...] = field(default=())
    #: the web pages a grounded generation drew on, as the provider named them
    sources: tuple[Source, ...] = field(default=())
    #: the status before the change, on the row a status change returns (None elsewhere)
    previous_status: JobStatus | None = None

    def without_reference_bytes(self) -> Job:
        """The job with its references' bytes left out (their count, URLs and types kept):
        what is held once the bytes have been sent."""
        if not any(ref.data is not None for ref in self.request.references):
            return self
        refs = tuple(ref.model_copy(update={"data": None}) for ref in self.request.references)
        return replace(self, request=self.request.model_copy(update={"references": refs}))


class Stage(StrEnum):
    """Progress stages shown to the user."""

    QUEUED = "queued"
    SUBMITTED = "submitted"
    GENERATING = "generating"
    UPLOADING = "uploading"


@dataclass(frozen=True)
class Progress:
    """A progress report for one job."""

    stage: Stage
    position: int | None = None  # place in the queue (1 = next)
    elapsed: float = 0.0


@dataclass(frozen=True)
class Receipt:
    """How a delivery went: where the images ended up."""

    via: str  # e.g. "followup", "channel", "dm", "file"
    message_id: str | None = None


_SOURCES = TypeAdapter(tuple[Source, ...])


def encode_sources(sources: tuple[Source, ...]) -> str | None:
    """Grounding sources as stored with a job (None: there are none)."""
    return _SOURCES.dump_json(sources).decode() if sources else None


def decode_sources(stored: str | None) -> tuple[Source, ...]:
    """Stored grounding sources back (none if the text is absent or unreadable)."""
    if not stored:
        return ()
    try:
        return _SOURCES.validate_json(stored)
    except ValidationError:
        return ()
