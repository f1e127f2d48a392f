"""The engine's limits and timings, and what a job costs."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

from providers.base import ModelCapabilities

DEFAULT_COSTS: Mapping[str, int] = {"1K": 1, "2K": 2, "4K": 4}


@dataclass(frozen=True)
class EngineConfig:
    """Limits and timings of the engine (all overridable from settings)."""

    default_concurrency: int = 5
    provider_concurrency: Mapping[str, int] = field(default_factory=dict)
    per_user_active_limit: int = 3
    #: credits per user per UTC day; None: unlimited (the headless CLI)
    allowance: int | None = 20
    deadline_seconds: float = 900.0
    callback_base_url: str | None = None
    #: with callbacks expected, the first poll waits this many typical durations (fallback)
    callback_grace: float = 2.0
    #: status reads of one job are at least ``poll_floor`` and at most ``poll_cap`` seconds
    #: apart; between, they follow a plan made from the learned completion times
    #: (:mod:`bot.jobs.schedule`, :mod:`bot.jobs.plan`)
    poll_floor: float = 1.0
    poll_cap: float = 15.0
    #: the plan's targets: a finished task found within ``poll_wait_max`` seconds (all but a
    #: share ``poll_miss`` of them), at least half within ``poll_wait_median``
    poll_wait_max: float = 4.0
    poll_wait_median: float = 1.5
    poll_miss: float = 0.0005
    #: completion times remembered per provider and model
    poll_samples: int = 500
    poll_interval: float | None = None  # a fixed interval (tests, benchmarks)
    #: status reads per second per provider, shared by all its jobs (see :mod:`bot.jobs.budget`;
    #: Magnific documents 10 requests/s per IP averaged over 2 min, creates and downloads
    #: included); None: no budget
    status_budget: float | None = 5.0
    provider_status_budget: Mapping[str, float] = field(default_factory=dict)
    #: a job whose read was pushed back this long is read before likelier ones
    status_starve_after: float = 30.0
    #: a provider that lists its tasks has its list read every ``list_interval`` seconds
    #: while at least ``list_min_waiting`` jobs of one model there may have finished; the
    #: jobs it shows running need no read of their own (see :mod:`bot.jobs.task_list`).
    #: None: never
    list_interval: float | None = 2.0
    list_min_waiting: int = 3
    #: tasks asked for per page of a list
    list_page_size: int = 100
    #: the share of a provider's status budget the list's pages may take
    list_budget_share: float = 0.5
    #: a list the provider does not answer (not offered, not as documented) is left this long
    list_retry: float = 3600.0
    costs: Mapping[str, int] = field(default_factory=lambda: dict(DEFAULT_COSTS))
    max_delivery_attempts: int = 5
    #: deliveries running at once in this process, each holding its result images in memory
    #: from their download to their post; the others wait, due, for the next free turn (any
    #: process sharing the store may take them)
    deliveries_at_once: int = 16
    not_found_grace_polls: int = 3
    #: the longest the engine sleeps without looking at the store (other processes, clocks)
    idle_tick: float = 5.0
    #: a waiting job is told a new place in line at most this often (seconds; reaching the
    #: front is told at once): with N jobs waiting, every job that starts moves all the
    #: others, N² status edits in all
    position_interval: float = 15.0
    #: while the store fails, it is tried again after this many seconds, doubling up to
    #: ``store_retry_cap`` (with jitter; see :mod:`bot.jobs.guard`)
    store_retry_initial: float = 0.5
    store_retry_cap: float = 30.0
    #: a delivered job's reference images are kept this long after it ended (for re-rolls)
    reference_retention: float = 24 * 3600.0
    #: how often old references are deleted and the store compacted (seconds)
    housekeeping_interval: float = 600.0
    #: callbacks for one job cause at most one status check per this many seconds
    callback_coalesce_seconds: float = 2.0
    #: a worker not seen for this long is dead, and a claim on a job lasts this long unless
    #: renewed (seconds; see :mod:`bot.jobs.leases`); the heartbeat comes six times as often.
    #: The processes sharing a store must agree on it, and on the time to well within it
    lease_seconds: float = 30.0

    @property
    def heartbeat_seconds(self) -> float:
        """How often a worker says it is alive (and renews its deliveries in progress)."""
        return self.lease_seconds / 6

    def concurrency(self, provider: str) -> int:
        """How many of ``provider``'s jobs may be at the provider at once."""
        return self.provider_concurrency.get(provider, self.default_concurrency)

    def status_rate(self, provider: str) -> float | None:
        """Status reads per second allowed at ``provider`` (None: unlimited)."""
        return self.provider_status_budget.get(provider, self.status_budget)

    def cost(self, model: ModelCapabilities, resolution: str | None, count: int) -> int:
        """Credits for ``count`` images at ``resolution`` (the model's default when None)."""
        chosen = resolution or model.default_resolution or "1K"
        return self.costs.get(chosen, max(self.costs.values(), default=1)) * count
