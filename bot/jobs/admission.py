"""Admission: the one place a request is validated, priced, and accepted with its credits.

A request is checked against the provider's capabilities exactly once, here; providers trust
what admission lets through. Acceptance is one atomic store operation (the per-user limit, the
reservation and the queued row together), so nothing is reserved for a job that is not stored.
"""

from __future__ import annotations

import secrets
from collections.abc import Callable, Mapping

from bot.jobs.config import EngineConfig
from bot.jobs.journal import transitioned
from bot.jobs.models import CheckedRequest, Job, JobSpec, NewJob
from bot.jobs.ports import Store
from providers.base import GenerationRequest, Provider
from providers.errors import NotConfiguredError, RequestInvalidError
from providers.validation import validate_request

#: images one request may ask for where the model makes one per request (one job each)
MAX_GROUP = 4


class Admission:
    """Checks requests and admits jobs."""

    def __init__(
        self,
        store: Store,
        providers: Mapping[str, Provider],
        config: EngineConfig,
        clock: Callable[[], float],
    ) -> None:
        self.store = store
        self.providers = providers
        self.config = config
        self.clock = clock

    def check(self, provider_name: str, request: GenerationRequest) -> CheckedRequest:
        """Validate ``request`` for the provider (the model's default when it names none).

        Raises :class:`~providers.errors.NotConfiguredError` for an unknown provider and
        :class:`~providers.errors.RequestInvalidError` naming what the model accepts.
        """
        provider = self.providers.get(provider_name)
        if provider is None:
            known = ", ".join(sorted(self.providers)) or "none"
            raise NotConfiguredError(
                f"provider {provider_name!r} is not configured here; available: {known}"
            )
        single = request.model_copy(update={"count": 1})
        model = validate_request(provider.capabilities, single)
        group_size = 1
        if request.count > model.max_images and model.max_images == 1:
            if request.count > MAX_GROUP:
                raise RequestInvalidError(f"at most {MAX_GROUP} images per request")
            group_size, request = request.count, single  # one job per image, posted together
        else:
            model = validate_request(provider.capabilities, request)
        return CheckedRequest(
            provider=provider_name,
            request=request.model_copy(update={"model": model.name}),
            model=model,
            group_size=group_size,
        )

    async def accept(self, spec: JobSpec) -> Job:
        """Validate (unless already checked), reserve credits and queue the job, atomically.

        Raises what :meth:`check` raises (nothing reserved),
        :class:`~bot.jobs.quota.QuotaExceededError`, :class:`~bot.jobs.quota.BudgetExceededError`
        or :class:`~bot.jobs.ports.UserLimitError`.
        """
        checked = spec.request
        if not isinstance(checked, CheckedRequest):
            checked = self.check(spec.provider, checked)
        elif checked.provider != spec.provider:
            raise ValueError(f"checked for {checked.provider}, submitted to {spec.provider}")
        request = checked.request
        now = self.clock()
        size = checked.group_size
        first = secrets.token_hex(6)
        jobs = [
            NewJob(
                id=first if index == 0 else secrets.token_hex(6),
                origin=spec.origin,
                provider=spec.provider,
                model=checked.model.name,
                request=request,
                kind=spec.kind,
                parent_job_id=spec.parent_job_id,
                cost=self.config.cost(checked.model, request.resolution, request.count),
                callback_token=secrets.token_urlsafe(24),
                created_at=now,
                deadline_at=now + self.config.deadline_seconds,
                group_id=first if size > 1 else None,
                group_index=index,
                group_size=size,
            )
            for index in range(size)
        ]
        admitted = await self.store.jobs.admit_group(
            jobs,
            active_limit=self.config.per_user_active_limit,
            allowance=spec.limits.allowance if spec.limits else self.config.allowance,
            budget=spec.limits.budget if spec.limits else None,
        )
        for job in admitted:
            transitioned(job, None, now)
        return admitted[0]
