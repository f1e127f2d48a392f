"""Provider callbacks as the engine receives them: only a hint, and only when genuine.

The per-job token in the callback URL is unguessable and compared in constant time; a
provider that signs its callbacks has the signature checked on the raw body (by the provider's
``parse_callback``). A valid callback changes nothing but *when* the job is next polled: the
status is always confirmed with the provider, so duplicates, late and forged-but-valid-looking
callbacks are harmless. A provider that calls back on every change of a task (Magnific) also
says when it was queued or started; such a callback causes no read (a read would only confirm
that the task still runs), and "started" is only shown to the requester.
"""

from __future__ import annotations

import hmac
from collections.abc import Mapping

from bot.jobs.models import Job
from bot.jobs.ports import Store
from providers.base import Provider, TaskStatus


class CallbackRefusedError(Exception):
    """A callback that is not acted on. ``reason`` is one of the class constants."""

    UNKNOWN_JOB = "unknown job"
    BAD_TOKEN = "bad token"  # noqa: S105 - a refusal reason, not a secret
    NO_PROVIDER = "provider not configured"
    TASK_MISMATCH = "task mismatch"

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


async def check_callback(
    store: Store,
    providers: Mapping[str, Provider],
    job_id: str,
    token: str,
    headers: Mapping[str, str],
    body: bytes,
) -> tuple[Job, TaskStatus]:
    """Check one callback: it returns (the job, and what the callback claims) only when the
    callback is genuine (the engine then makes the job due for a poll, see
    :mod:`bot.jobs.coalesce`).

    Raises :class:`CallbackRefusedError`, or the provider's
    :class:`~providers.errors.CallbackSignatureError` / other
    :class:`~providers.errors.ProviderError` for a bad signature or an unreadable body; nothing
    changes in any of those cases.
    """
    job = await store.jobs.get(job_id, images=False)
    if job is None:
        raise CallbackRefusedError(CallbackRefusedError.UNKNOWN_JOB)
    if not hmac.compare_digest(token.encode(), job.callback_token.encode()):
        raise CallbackRefusedError(CallbackRefusedError.BAD_TOKEN)
    provider = providers.get(job.provider)
    if provider is None:
        raise CallbackRefusedError(CallbackRefusedError.NO_PROVIDER)
    status = provider.parse_callback(headers, body)
    if job.task_id is not None and status.task_id and status.task_id != job.task_id:
        raise CallbackRefusedError(CallbackRefusedError.TASK_MISMATCH)
    return job, status
