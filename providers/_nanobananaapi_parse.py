"""Reading nanobananaapi.ai's answers: lenient field readers and the two task shapes.

The adapter (``providers.nanobananaapi``) sends requests and maps errors; this module turns
the ``data`` it gets back into a :class:`TaskStatus`:

* the task record of ``record-info`` (also the body of generate-2 / generate-pro callbacks):
  ``successFlag`` empty = queued, 0 = running, 1 = done, 2/3 = failed, with ``errorMessage``;
* the v1 ``/generate`` callback, whose outcome is the envelope ``code`` (400 = content policy).

Null vs ``""`` vs ``0`` vary between docs and production, and result URLs come as a string, a
JSON-array string or a list, so every reader here is lenient.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

from providers._http import looks_like_content_policy
from providers.base import ResultImage, TaskState, TaskStatus
from providers.errors import CallbackRejectedError, ProviderError


def as_int(value: Any) -> int | None:
    """An integer from an int, a float or a numeric string; None for null, "" and junk."""
    if isinstance(value, bool):
        return int(value)
    if isinstance(value, int):
        return value
    if isinstance(value, float) and value.is_integer():
        return int(value)
    if isinstance(value, str) and value.strip().lstrip("-").isdigit():
        return int(value.strip())
    return None


def text(value: Any) -> str | None:
    """A non-empty stripped string, or None (for null, "", 0 and non-strings)."""
    if isinstance(value, str) and value.strip():
        return value.strip()
    return None


def urls(value: Any) -> list[str]:
    """URLs from a string, a JSON-array string, or a list of strings (others ignored)."""
    if isinstance(value, str):
        stripped = value.strip()
        if stripped.startswith("["):
            try:
                return urls(json.loads(stripped))
            except ValueError:
                return []
        return [stripped] if stripped else []
    if isinstance(value, list):
        return [item.strip() for item in value if isinstance(item, str) and item.strip()]
    return []


def envelope_message(body: Mapping[str, Any]) -> str:
    """The envelope's message: ``msg`` on most endpoints, ``message`` on generate-pro."""
    return text(body.get("msg")) or text(body.get("message")) or ""


def record_status(
    provider: str, data: Mapping[str, Any], task_id: str, *, error: type[ProviderError]
) -> TaskStatus:
    """A status from record-info ``data`` (also the generate-2/pro callback ``data``).

    ``error`` is raised for a record we cannot read: a :class:`ProtocolError` for a status
    read, a :class:`CallbackRejectedError` for a callback.
    """
    task_id = text(data.get("taskId")) or task_id
    raw_flag = data.get("successFlag")
    flag = as_int(raw_flag)
    if raw_flag is None or raw_flag == "":
        return TaskStatus(task_id=task_id, state=TaskState.QUEUED)
    if flag == 0:
        return TaskStatus(task_id=task_id, state=TaskState.RUNNING)
    if flag == 1:
        images = result_images(data)
        if not images:
            raise error(
                f"{provider} reported task {task_id} done without an image",
                detail=str(dict(data))[:300],
            )
        return TaskStatus(task_id=task_id, state=TaskState.SUCCEEDED, images=images)
    if flag in (2, 3):
        message = text(data.get("errorMessage"))
        fallback = "task creation failed" if flag == 2 else "image generation failed"
        return TaskStatus(
            task_id=task_id,
            state=TaskState.FAILED,
            reason=message or fallback,
            content_policy=looks_like_content_policy(message),
        )
    raise error(f"{provider} sent unknown task state {raw_flag!r}", detail=str(dict(data))[:300])


def result_images(data: Mapping[str, Any]) -> tuple[ResultImage, ...]:
    """The result images of a finished task record, best source first, without repeats."""
    response = data.get("response")
    response = response if isinstance(response, dict) else {}
    found = (
        urls(response.get("resultImageUrl"))
        or urls(response.get("resultUrls"))
        or urls(data.get("resultUrls"))
        or urls(data.get("resultImageUrl"))
        # valid for 10 minutes only; used only when nothing better was sent
        or urls(response.get("originImageUrl"))
    )
    return tuple(ResultImage(url=url) for url in dict.fromkeys(found))


def v1_callback_status(
    provider: str, payload: Mapping[str, Any], data: Mapping[str, Any], task_id: str
) -> TaskStatus:
    """A v1 ``/generate`` callback: ``code`` 200 success, 400 content policy, else failed."""
    code = as_int(payload.get("code"))
    message = envelope_message(payload)
    info = data.get("info")
    info = info if isinstance(info, dict) else {}
    if code == 200:
        found = urls(info.get("resultImageUrl")) or urls(info.get("resultUrls"))
        if not found:
            raise CallbackRejectedError(
                f"{provider} callback reports success without an image",
                detail=str(dict(payload))[:300],
            )
        images = tuple(ResultImage(url=url) for url in dict.fromkeys(found))
        return TaskStatus(task_id=task_id, state=TaskState.SUCCEEDED, images=images)
    if code is None:
        raise CallbackRejectedError(
            f"{provider} callback has no result code", detail=str(dict(payload))[:300]
        )
    return TaskStatus(
        task_id=task_id,
        state=TaskState.FAILED,
        reason=message or f"generation failed (code {code})",
        content_policy=code == 400 or looks_like_content_policy(message),
    )
