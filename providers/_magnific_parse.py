"""Reading Magnific's answers: task states, task-list items and error texts."""

from __future__ import annotations

from typing import Any

from providers.base import ListedTask, TaskState

STATES = {
    "CREATED": TaskState.QUEUED,
    "IN_PROGRESS": TaskState.RUNNING,
    "COMPLETED": TaskState.SUCCEEDED,
    "FAILED": TaskState.FAILED,
}


#: answers of the task list that say it is not there, or not as documented
NO_LIST = (400, 404, 405, 422)


def listed(item: Any) -> ListedTask | None:
    """One item of the task list, or None when it has no id or an unknown status."""
    if not isinstance(item, dict):
        return None
    task_id, status = item.get("task_id"), item.get("status")
    state = STATES.get(status) if isinstance(status, str) else None
    if not isinstance(task_id, str) or not task_id or state is None:
        return None
    return ListedTask(task_id=task_id, state=state)


def error_text(payload: Any) -> str:
    """The provider's own words from an error body: ``message`` plus any ``invalid_params``
    reasons (problem+json, found top-level or nested under ``problem``)."""
    if isinstance(payload, str):
        return payload.strip()
    if not isinstance(payload, dict):
        return ""
    parts: list[str] = []
    for source in (payload, payload.get("problem")):
        if not isinstance(source, dict):
            continue
        for key in ("message", "detail", "error", "title"):
            value = source.get(key)
            if isinstance(value, str) and value.strip() and value.strip() not in parts:
                parts.append(value.strip())
                break
        params = source.get("invalid_params")
        if isinstance(params, list):
            for param in params:
                if not isinstance(param, dict):
                    continue
                reason = param.get("reason")
                name = param.get("name")
                if isinstance(reason, str) and reason.strip():
                    text = reason.strip()
                    parts.append(f"{name}: {text}" if isinstance(name, str) and name else text)
    return "; ".join(parts)[:500]
