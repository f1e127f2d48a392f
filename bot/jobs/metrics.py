"""The bot's metrics, through ``prometheus_client``, in a registry of their own.

One :class:`Metrics` is built per runtime (a test process builds many engines, each with its
own registry; nothing is global) and handed to whoever measures: the engine and its stages
(provider calls, errors, completions, quota refusals, deliveries), the Discord side
(acknowledgement latency) and the web side (it renders :meth:`Metrics.exposition` on
``/metrics``, after :meth:`Metrics.observe_store` with what the store holds at scrape time).

Every name starts with ``bananabot_``:

* ``bananabot_jobs{provider,status}``, ``bananabot_queue_length{provider}``,
  ``bananabot_credits_today{kind}``: gauges read from the store at scrape time;
* ``bananabot_provider_request_seconds{provider,model,operation}``: histogram of each call to
  a provider (``operation`` ``submit``, ``fetch`` or ``list``), whatever its outcome;
* ``bananabot_provider_errors_total{provider,operation,kind,error}``: a provider call that
  failed, by :class:`~bot.jobs.models.FailureKind` value and error class;
* ``bananabot_completions_total{provider,via,state}``: provider tasks found finished
  (``state`` ``succeeded``/``failed``), by how it was learned: ``callback`` (a poll a provider
  callback asked for), ``poll`` (a scheduled poll) or ``synchronous`` (the submit returned it);
* ``bananabot_quota_refusals_total{reason}``: jobs refused at admission (``quota``: the daily
  credits; ``user_limit``: too many jobs waiting or running);
* ``bananabot_delivery_attempts_total{outcome}``: ``delivered``, ``retried`` (a failed
  attempt that will be tried again), ``failed`` (given up, refunded), ``earlier`` (found
  delivered before a restart);
* ``bananabot_interaction_ack_seconds``: from an interaction's creation (its snowflake) to
  the bot's first response to it, measured in :mod:`bot.discord`;
* ``bananabot_store_healthy``: 1 while the store takes writes, 0 from a failed store operation
  until a retry succeeds (:mod:`bot.jobs.guard`);
* ``bananabot_store_failures_total{error}``: store operations that failed because the store was
  unavailable, by its error code (``SQLITE_FULL``, ``SQLITE_READONLY``, ``ENOSPC``…).

The event loop's lag is registered here by the web side (:mod:`bot.web.lag`).
"""

from __future__ import annotations

import contextlib
import time
from collections.abc import Iterable, Iterator
from dataclasses import dataclass

from prometheus_client import (
    CONTENT_TYPE_LATEST,
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    generate_latest,
)
from prometheus_client.metrics_core import GaugeMetricFamily, Metric

from bot.jobs.quota import CreditTotals
from bot.jobs.states import JobStatus

#: provider calls: synchronous generations take up to minutes, status reads a fraction of a s
PROVIDER_BUCKETS = (0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 20.0, 40.0, 60.0, 120.0, 300.0)
#: acknowledgements: Discord allows 3 s
ACK_BUCKETS = (0.025, 0.05, 0.1, 0.25, 0.5, 0.75, 1.0, 1.5, 2.0, 2.5, 3.0, 5.0)

CONTENT_TYPE = CONTENT_TYPE_LATEST


@dataclass(frozen=True)
class EngineMetrics:
    """What the engine reads from the store for monitoring."""

    jobs: list[tuple[str, str, int]]  # (provider, status, count)
    credits: CreditTotals
    #: the providers configured here (each shows a queue length, zero when none wait)
    providers: tuple[str, ...] = ()


class StoreFigures:
    """A collector for the store's figures, as last observed (see :meth:`Metrics.observe_store`)."""

    def __init__(self) -> None:
        self.latest: EngineMetrics | None = None

    def describe(self) -> Iterable[Metric]:
        """The families (no samples), so the registry knows their names."""
        return self._families(None)

    def collect(self) -> Iterable[Metric]:
        """The families with the latest figures."""
        return self._families(self.latest)

    @staticmethod
    def _families(report: EngineMetrics | None) -> list[Metric]:
        jobs = GaugeMetricFamily(
            "bananabot_jobs", "Jobs by provider and status.", labels=["provider", "status"]
        )
        queue = GaugeMetricFamily(
            "bananabot_queue_length", "Jobs waiting for provider capacity.", labels=["provider"]
        )
        credits = GaugeMetricFamily(
            "bananabot_credits_today",
            "Credits reserved and spent on the latest UTC day.",
            labels=["kind"],
        )
        if report is not None:
            waiting = dict.fromkeys(report.providers, 0)
            for provider, status, count in report.jobs:
                jobs.add_metric([provider, status], count)
                if status == JobStatus.QUEUED.value:
                    waiting[provider] = waiting.get(provider, 0) + count
            for provider, count in sorted(waiting.items()):
                queue.add_metric([provider], count)
            credits.add_metric(["reserved"], report.credits.reserved)
            credits.add_metric(["spent"], report.credits.spent)
        return [jobs, queue, credits]


class Metrics:
    """Every metric of one running bot, in its own :class:`CollectorRegistry`."""

    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        self._store = StoreFigures()
        self.registry.register(self._store)
        self.provider_seconds = Histogram(
            "bananabot_provider_request_seconds",
            "Duration of each provider call, by provider, model and operation (submit/fetch/list).",
            ["provider", "model", "operation"],
            buckets=PROVIDER_BUCKETS,
            registry=self.registry,
        )
        self.provider_errors = Counter(
            "bananabot_provider_errors",
            "Failed provider calls, by failure kind and error class.",
            ["provider", "operation", "kind", "error"],
            registry=self.registry,
        )
        self.completions = Counter(
            "bananabot_completions",
            "Provider tasks found finished, by how it was learned "
            "(callback, list, poll, synchronous).",
            ["provider", "via", "state"],
            registry=self.registry,
        )
        self.quota_refusals = Counter(
            "bananabot_quota_refusals",
            "Jobs refused at admission: daily credits (quota) or jobs in progress (user_limit).",
            ["reason"],
            registry=self.registry,
        )
        self.deliveries = Counter(
            "bananabot_delivery_attempts",
            "Delivery attempts by outcome (delivered, retried, failed, earlier).",
            ["outcome"],
            registry=self.registry,
        )
        self.ack_seconds = Histogram(
            "bananabot_interaction_ack_seconds",
            "From an interaction's creation to the bot's first response to it.",
            buckets=ACK_BUCKETS,
            registry=self.registry,
        )
        self.store_healthy = Gauge(
            "bananabot_store_healthy",
            "1 while the store takes writes; 0 from a failed store operation until a retry works.",
            registry=self.registry,
        )
        self.store_healthy.set(1)
        self.store_failures = Counter(
            "bananabot_store_failures",
            "Store operations that failed because the store was unavailable, by error code.",
            ["error"],
            registry=self.registry,
        )

    # ------------------------------------------------------------------ measuring

    @contextlib.contextmanager
    def provider_call(self, provider: str, model: str, operation: str) -> Iterator[None]:
        """Time one call to a provider (observed however it ends)."""
        started = time.perf_counter()
        try:
            yield
        finally:
            elapsed = time.perf_counter() - started
            self.provider_seconds.labels(provider, model, operation).observe(elapsed)

    def provider_error(
        self, provider: str, operation: str, kind: str, error: BaseException | None
    ) -> None:
        """A provider call failed with ``error`` (``kind``: its FailureKind value; None: it
        ran out of the job's time)."""
        name = type(error).__name__ if error is not None else "DeadlineExceeded"
        self.provider_errors.labels(provider, operation, kind, name).inc()

    def completed(self, provider: str, via: str, state: str) -> None:
        """A provider task was found finished (``via`` callback, list, poll or synchronous)."""
        self.completions.labels(provider, via, state).inc()

    def quota_refused(self, reason: str) -> None:
        """A job was refused at admission (``quota`` or ``user_limit``)."""
        self.quota_refusals.labels(reason).inc()

    def delivery(self, outcome: str) -> None:
        """A delivery attempt ended (``delivered``, ``retried``, ``failed``, ``earlier``)."""
        self.deliveries.labels(outcome).inc()

    def store_failed(self, error: str) -> None:
        """A store operation failed with the store unavailable (``error``: its code)."""
        self.store_failures.labels(error).inc()

    def store_health(self, healthy: bool) -> None:
        """The store started failing (False) or takes writes again (True)."""
        self.store_healthy.set(1 if healthy else 0)

    def acknowledged(self, seconds: float) -> None:
        """An interaction was first answered ``seconds`` after its creation."""
        self.ack_seconds.observe(max(0.0, seconds))

    # ------------------------------------------------------------------ exposing

    def observe_store(self, report: EngineMetrics) -> None:
        """The store's figures for the next exposition (read by the caller at scrape time)."""
        self._store.latest = report

    def exposition(self) -> bytes:
        """Everything in the Prometheus text format (content type :data:`CONTENT_TYPE`)."""
        return generate_latest(self.registry)
