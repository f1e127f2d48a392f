"""Job kinds: the jobs whose completion times are learned together.

A provider's model takes very different times for different jobs: far longer at 4K than at
1K, longer with many reference images. Pooling them widens the learned spread, and a wide
spread needs many status reads (:mod:`bot.jobs.plan`). So each model's distribution is split
by the job's **kind**: its resolution (the request's, else the model's default, else 1K) and
its reference images in three buckets, ``none`` (0), ``1-3`` and ``4+``: "longer for 4K or
many references" (the provider research notes) without a figure for references, so few
buckets, each likely to gather samples soon.

Assumption (no provider documents it): before any job of a model has completed, a kind's
documented typical time is the model's, taken as for its default resolution, scaled by
:data:`RESOLUTION_SCALE` (2K ×1.3, 4K ×2 of 1K); references do not scale it. Once the model
has samples, a new kind starts from the model's pooled distribution instead
(:mod:`bot.jobs.schedule`).
"""

from __future__ import annotations

from dataclasses import dataclass, field

from providers.base import ModelCapabilities

#: the resolutions providers offer, and how much longer than 1K each is assumed to take
RESOLUTION_SCALE: dict[str, float] = {"1K": 1.0, "2K": 1.3, "4K": 2.0}
#: the resolution of a request that names none, of a model that has no default
BASE_RESOLUTION = "1K"
#: reference buckets: up to this many references (inclusive) -> bucket name, in order
REFERENCE_BUCKETS: tuple[tuple[int, str], ...] = ((0, "none"), (3, "1-3"))
#: more references than the last bucket above
MANY_REFERENCES = "4+"


def reference_bucket(count: int) -> str:
    """The bucket of a job with ``count`` reference images."""
    for most, name in REFERENCE_BUCKETS:
        if count <= most:
            return name
    return MANY_REFERENCES


@dataclass(frozen=True)
class JobKind:
    """A resolution and a reference bucket; ``scale`` (not part of the key): the kind's
    typical time over its model's documented one."""

    resolution: str
    references: str
    scale: float = field(default=1.0, compare=False)


def kind_of(model: ModelCapabilities, resolution: str | None, references: int) -> JobKind:
    """The kind of a job of ``model`` asking for ``resolution`` (None: the model's default)
    with ``references`` reference images."""
    default = model.default_resolution or BASE_RESOLUTION
    chosen = resolution or default
    scale = RESOLUTION_SCALE.get(chosen, 1.0) / RESOLUTION_SCALE.get(default, 1.0)
    return JobKind(chosen, reference_bucket(references), scale)
