"""Rows of the ``jobs`` table (and its image tables) as :class:`~bot.jobs.models.Job` values."""

from __future__ import annotations

import functools
import json
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from bot.jobs.models import FailureKind, Job, Origin, decode_sources
from bot.jobs.states import JobStatus
from bot.storage.sql import Row
from providers.base import GenerationRequest, ReferenceImage, ResultImage


def marks(prefix: str, values: Sequence[str]) -> tuple[str, dict[str, Any]]:
    """Named placeholders for an ``IN`` list of ``values``, and their parameters."""
    names = [f"{prefix}{i}" for i in range(len(values))]
    return ", ".join(f":{name}" for name in names), dict(zip(names, values, strict=True))


def in_list(statuses: Iterable[JobStatus]) -> str:
    """An SQL ``IN`` list of status constants (enum values only, never user input)."""
    return ", ".join(f"'{s.value}'" for s in statuses)


@functools.lru_cache(maxsize=1024)
def _request(request_json: str) -> GenerationRequest:
    """A stored request without references (frozen: one is shared by every read of a job, so
    a busy queue's listings decode each once)."""
    return GenerationRequest.model_validate_json(request_json)


def job_from_row(
    stored: Row,
    refs: Sequence[Mapping[str, Any]] = (),
    results: Sequence[Mapping[str, Any]] = (),
) -> Job:
    """The job in ``stored``, with the given reference and result images (none: no images), each
    a mapping with ``url``, ``data``, ``mime_type`` (and ``caption`` for references)."""
    # a dict first: sqlite3.Row finds a column by name by comparing it with every name before
    # it, case-insensitively (18 µs for a job's 45 columns against 3.5 µs this way)
    row = dict(zip(stored.keys(), stored, strict=True))
    request = (
        GenerationRequest.model_validate(
            {
                **json.loads(row["request_json"]),
                "references": [
                    ReferenceImage(
                        url=r["url"], data=r["data"], mime_type=r["mime_type"], caption=r["caption"]
                    )
                    for r in refs
                ],
            }
        )
        if refs
        else _request(row["request_json"])
    )
    return Job(
        id=row["id"],
        status=JobStatus(row["status"]),
        kind=row["kind"],
        origin=Origin(
            user_id=row["user_id"],
            guild_id=row["guild_id"],
            channel_id=row["channel_id"],
            interaction_id=row["interaction_id"],
            interaction_token=row["interaction_token"],
            token_expires_at=row["token_expires_at"],
            origin_message_id=row["origin_message_id"],
            status_message_id=row["status_message_id"],
            upload_limit=row["upload_limit"],
        ),
        provider=row["provider"],
        model=row["model"],
        request=request,
        callback_token=row["callback_token"],
        cost=row["cost"],
        created_at=row["created_at"],
        updated_at=row["updated_at"],
        deadline_at=row["deadline_at"],
        task_id=row["task_id"],
        parent_job_id=row["parent_job_id"],
        quota_day=row["quota_day"],
        posted_message_id=row["posted_message_id"],
        delivered_via=row["delivered_via"],
        failure_kind=FailureKind(row["failure_kind"]) if row["failure_kind"] else None,
        failure_reason=row["failure_reason"],
        callback_hinted=bool(row["callback_hinted"]),
        poll_count=row["poll_count"],
        delivery_attempts=row["delivery_attempts"],
        next_poll_at=row["next_poll_at"],
        next_delivery_at=row["next_delivery_at"],
        submitted_at=row["submitted_at"],
        completed_at=row["completed_at"],
        delivered_at=row["delivered_at"],
        references_purged_at=row["references_purged_at"],
        group_id=row["group_id"],
        group_index=row["group_index"],
        group_size=row["group_size"],
        claimed_by=row["claimed_by"],
        reference_count=row["reference_count"],
        results=tuple(
            ResultImage(url=r["url"], data=r["data"], mime_type=r["mime_type"]) for r in results
        ),
        sources=decode_sources(row["sources_json"]),
    )
