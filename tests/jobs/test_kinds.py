"""Completion times per job kind: the keying, and the model's pooled distribution as each
kind's prior (pure math)."""

from __future__ import annotations

import math
import random

from bot.jobs.kinds import JobKind, kind_of, reference_bucket
from bot.jobs.schedule import Completions
from providers.base import ModelCapabilities


def model(default_resolution: str | None = "1K", typical: float = 30.0) -> ModelCapabilities:
    return ModelCapabilities(
        name="m",
        aspect_ratios=("1:1",),
        default_aspect_ratio="1:1",
        resolutions=("1K", "2K", "4K") if default_resolution else (),
        default_resolution=default_resolution,
        max_references=8,
        max_prompt_length=1000,
        typical_seconds=typical,
    )


def test_references_fall_in_three_buckets() -> None:
    assert [reference_bucket(n) for n in (0, 1, 3, 4, 14)] == ["none", "1-3", "1-3", "4+", "4+"]


def test_a_kind_is_its_resolution_or_the_models_default_and_its_bucket() -> None:
    assert kind_of(model(), None, 0) == JobKind("1K", "none")
    assert kind_of(model(), "4K", 5) == JobKind("4K", "4+")
    assert kind_of(model(None), None, 2) == JobKind("1K", "1-3")  # no resolutions at all
    # the documented typical time is the default resolution's: others scale from it
    assert kind_of(model(), "4K", 0).scale == 2.0
    assert math.isclose(kind_of(model("2K"), "4K", 0).scale, 2.0 / 1.3)
    assert math.isclose(kind_of(model("2K"), "1K", 0).scale, 1.0 / 1.3)
    assert kind_of(model(), "8K", 0).scale == 1.0  # unknown: not scaled


def test_kinds_are_kept_apart_and_each_sample_is_the_models_too() -> None:
    seen = Completions(max_samples=10)
    k4 = kind_of(model(), "4K", 0)
    seen.of("p", "m", 30.0, k4).add(60.0)
    seen.of("p", "m", 30.0, kind_of(model(), "1K", 2)).add(25.0)
    assert len(seen.of("p", "m", 30.0, JobKind("4K", "none"))) == 1  # the same kind
    assert seen.seen() == {("p", "m"): 2}
    assert seen.seen_kinds() == {("p", "m", "4K", "none"): 1, ("p", "m", "1K", "1-3"): 1}


def test_a_new_kind_of_a_new_model_starts_from_its_scaled_typical_time() -> None:
    seen = Completions()
    times = seen.of("p", "m", 30.0, kind_of(model(), "4K", 0))
    assert abs(times.quantile(0.5) - 60.0) < 0.1
    assert abs(seen.of("p", "m", 30.0).quantile(0.5) - 30.0) < 0.1  # the model's is not scaled


def test_a_kind_without_samples_reads_its_models_distribution_as_it_is() -> None:
    seen = Completions()
    rng = random.Random(3)
    pooled = seen.of("p", "m", 30.0)
    pooled.extend(rng.lognormvariate(math.log(30.0), 0.35) for _ in range(300))
    fresh = seen.of("p", "m", 30.0, kind_of(model(), "2K", 1))
    for t in (5.0, 20.0, 30.0, 45.0, 90.0):
        assert fresh.cdf(t) == pooled.cdf(t)
    assert fresh.plan() is pooled.plan()
    for elapsed in (0.0, 25.0, 60.0):
        assert fresh.next_check(elapsed, floor=1.0, cap=15.0) == pooled.next_check(
            elapsed, floor=1.0, cap=15.0
        )


def test_a_kinds_own_samples_narrow_it_from_the_models_centre_and_spread() -> None:
    seen = Completions()
    rng = random.Random(4)
    pooled = seen.of("p", "m", 30.0)
    pooled.extend(rng.lognormvariate(math.log(30.0), 0.35) for _ in range(300))
    kind = seen.of("p", "m", 30.0, kind_of(model(), "4K", 0))
    mu, sigma = pooled._smooth()
    kind.add(math.exp(mu))  # one sample at the model's centre: mostly the prior's shape
    k_mu, k_sigma = kind._smooth()
    assert abs(k_mu - mu) < 0.01 and 0.75 * sigma < k_sigma <= sigma
    kind.extend(rng.lognormvariate(math.log(50.0), 0.1) for _ in range(200))
    k_mu, k_sigma = kind._smooth()
    assert 45.0 < math.exp(k_mu) < 52.0 and k_sigma < 0.15
    assert abs(kind.quantile(0.5) - 50.0) < 2.5
    assert kind.quantile(0.9) / kind.quantile(0.1) < pooled.quantile(0.9) / pooled.quantile(0.1)
    assert kind.plan().cost < pooled.plan().cost  # a narrower spread: fewer reads per job


def test_a_kinds_prior_follows_its_model_as_that_learns() -> None:
    seen = Completions()
    kind = seen.of("p", "m", 30.0, kind_of(model(), "1K", 0))
    kind.add(30.0)
    before = kind.quantile(0.5)
    plan = kind.plan()
    other = seen.of("p", "m", 30.0, kind_of(model(), "1K", 5))
    other.extend([90.0] * 100)  # the model learns that its jobs take far longer
    assert kind.quantile(0.5) > before + 5.0
    assert kind.plan() is not plan  # remade from the new prior
