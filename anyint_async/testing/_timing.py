"""How long simulated tasks take: duration distributions and per-model profiles.

Durations are in *simulated* seconds; the gateway multiplies them by its ``time_scale``. Defaults
are close to what the real providers take: DashScope's seed example video ran 5.5 minutes
(17:01:39 to 17:07:10), Kling images take seconds to tens of seconds, videos minutes.
"""

from __future__ import annotations

import math
import random
from collections.abc import Mapping
from typing import Protocol

from attrs import frozen

__all__ = [
    "Duration",
    "Fixed",
    "LogNormal",
    "Mixture",
    "ModelProfile",
    "Pareto",
    "Uniform",
    "default_profiles",
    "duration_from_json",
    "profiles_from_json",
    "request_factor",
]


class Duration(Protocol):
    """Anything that draws a duration in simulated seconds from a seeded RNG."""

    def sample(self, rng: random.Random) -> float: ...


@frozen
class Fixed:
    """Always the same duration."""

    seconds: float

    def sample(self, rng: random.Random) -> float:
        return self.seconds


@frozen
class Uniform:
    """Uniform between ``low`` and ``high`` seconds."""

    low: float
    high: float

    def sample(self, rng: random.Random) -> float:
        return rng.uniform(self.low, self.high)


@frozen
class LogNormal:
    """Log-normal around ``median`` with shape ``sigma``, clipped to ``[low, high]``.

    Real generation times are skewed: most near the median, a long tail of slow ones.

    Examples:
        >>> duration = LogNormal(median=240.0, sigma=0.35, low=60.0)
        >>> 60.0 <= duration.sample(random.Random(1)) <= 2000.0
        True
    """

    median: float
    sigma: float = 0.4
    low: float = 0.0
    high: float = math.inf
    #: Seconds added before clipping: a floor nothing renders faster than, with the log-normal
    #: spread above it (``LogNormal(median=8.5, sigma=0.6, offset=8.5)``).
    offset: float = 0.0

    def sample(self, rng: random.Random) -> float:
        value = self.offset + rng.lognormvariate(math.log(self.median), self.sigma)
        return min(self.high, max(self.low, value))


@frozen
class Pareto:
    """A heavy tail past a floor: ``low`` times a Pareto draw of shape ``alpha``, clipped at
    ``high``. Most tasks end soon after the floor; a few take many times as long.

    Examples:
        >>> Pareto(low=8.0, alpha=1.5, high=160.0).sample(random.Random(1)) >= 8.0
        True
    """

    low: float
    alpha: float = 1.5
    high: float = math.inf

    def sample(self, rng: random.Random) -> float:
        return min(self.high, self.low * rng.paretovariate(self.alpha))


@frozen
class Mixture:
    """Several modes in one request shape: each draw picks one of ``parts`` (weight,
    duration) in proportion to its weight, as a model that sometimes queues does.

    Examples:
        >>> both = Mixture(((2.0, Uniform(8.0, 10.0)), (1.0, Uniform(32.0, 40.0))))
        >>> 8.0 <= both.sample(random.Random(1)) <= 40.0
        True
    """

    parts: tuple[tuple[float, Duration], ...]

    def sample(self, rng: random.Random) -> float:
        pick = rng.random() * sum(weight for weight, _ in self.parts)
        for weight, duration in self.parts:
            pick -= weight
            if pick < 0:
                return duration.sample(rng)
        return self.parts[-1][1].sample(rng)


@frozen
class ModelProfile:
    """How a model's tasks behave: time queued (PENDING), time running, and failure rate.

    ``fail_rate=None`` defers to the gateway's ``fail_rate``. ``run`` is for the reference
    request (a 5 s video at 720P or ``std`` mode, one image); the gateway scales it by what the
    request asks (see ``request_factor``) unless ``scales_with_request`` is False.
    ``queue_per_task`` lengthens the queue by that many seconds for every task the account
    already has in flight with the provider, as a busy account's queue does.

    Examples:
        >>> profile = ModelProfile(run=LogNormal(240.0, 0.35), queue=Fixed(5.0), fail_rate=0.02)
        >>> FakeGateway(profiles={"wan2.5-t2v": profile})  # doctest: +SKIP
    """

    run: Duration
    queue: Duration = Fixed(1.0)
    fail_rate: float | None = None
    scales_with_request: bool = True
    queue_per_task: float = 0.0


# How much longer than the reference request a generation takes. Inferred, not published: run
# time grows with the seconds of video asked for, with the pixels (480P/720P/1080P) and with
# Kling's pro mode, and an image task with n images takes longer than one with one.
_RESOLUTION_FACTORS = {"480P": 0.6, "720P": 1.0, "1080P": 1.8}
_MODE_FACTORS = {"std": 1.0, "pro": 1.6}
_REFERENCE_SECONDS = 5.0


def request_factor(request: Mapping[str, object]) -> float:
    """The run-time multiplier of one create request (1.0 for the reference request).

    Examples:
        >>> request_factor({"duration": "10", "mode": "pro"})
        3.2
        >>> request_factor({"duration": 5, "resolution": "1080P"})
        1.8
    """
    factor = 1.0
    duration = request.get("duration")
    if isinstance(duration, int | float | str) and str(duration).replace(".", "", 1).isdigit():
        factor *= float(duration) / _REFERENCE_SECONDS
    resolution = request.get("resolution")
    if isinstance(resolution, str):
        factor *= _RESOLUTION_FACTORS.get(resolution, 1.0)
    mode = request.get("mode")
    if isinstance(mode, str):
        factor *= _MODE_FACTORS.get(mode, 1.0)
    images = request.get("n")
    if isinstance(images, int) and images > 1:
        factor *= 1.0 + 0.5 * (images - 1)
    return round(factor, 6)


def default_profiles() -> dict[str, ModelProfile]:
    """Profiles keyed by route family; a model name key overrides its family's."""
    return {
        # Synchronous generation: tens of seconds usually, with a tail past a minute (about 3%
        # over 60 s) as under real load; a client that waits only 60 s loses those images.
        "dashscope.images": ModelProfile(
            run=LogNormal(20.0, 0.6, low=3.0, high=300.0), queue=Fixed(0.0)
        ),
        "dashscope.videos": ModelProfile(
            run=LogNormal(240.0, 0.35, low=60.0), queue=LogNormal(5.0, 0.5)
        ),
        "kling.images": ModelProfile(run=LogNormal(15.0, 0.4, low=4.0), queue=LogNormal(2.0)),
        "kling.omni_image": ModelProfile(run=LogNormal(20.0, 0.4, low=5.0), queue=LogNormal(2.0)),
        "kling.omni_video": ModelProfile(
            run=LogNormal(180.0, 0.35, low=45.0), queue=LogNormal(5.0, 0.5)
        ),
    }


def pick_profile(profiles: Mapping[str, ModelProfile], family: str, model: str) -> ModelProfile:
    """The model's own profile, else its family's, else the catch-all ``"*"``."""
    for key in (model, family, "*"):
        if key in profiles:
            return profiles[key]
    return default_profiles()[family]


def duration_from_json(spec: Mapping[str, object]) -> Duration:
    """A duration from JSON: ``{"kind": "fixed"|"uniform"|"lognormal"|"pareto", ...fields}``,
    or ``{"kind": "mixture", "parts": [{"weight": 2, "kind": ..., ...}, ...]}``."""
    kind = spec.get("kind")
    if kind == "mixture":
        parts = spec.get("parts")
        if not isinstance(parts, list) or not parts:
            raise ValueError("a mixture needs a non-empty list of parts")
        return Mixture(
            tuple(
                (float(part.get("weight", 1.0)), duration_from_json(part))
                for part in parts
                if isinstance(part, Mapping)
            )
        )
    fields = {
        k: float(v)  # type: ignore[arg-type]
        for k, v in spec.items()
        if k not in ("kind", "weight")
    }
    if kind == "fixed":
        return Fixed(**fields)
    if kind == "uniform":
        return Uniform(**fields)
    if kind == "lognormal":
        return LogNormal(**fields)
    if kind == "pareto":
        return Pareto(**fields)
    raise ValueError(
        f"duration kind must be fixed, uniform, lognormal, pareto or mixture, got {kind!r}"
    )


def profiles_from_json(spec: Mapping[str, Mapping[str, object]]) -> dict[str, ModelProfile]:
    """Profiles from JSON, keyed by model or route family::

    {"wan2.5-t2v": {"run": {"kind": "lognormal", "median": 240, "sigma": 0.35},
                    "queue": {"kind": "fixed", "seconds": 5}, "fail_rate": 0.02}}
    """
    profiles = {}
    for key, entry in spec.items():
        run = entry.get("run")
        queue = entry.get("queue")
        fail_rate = entry.get("fail_rate")
        scales = entry.get("scales_with_request", True)
        per_task = entry.get("queue_per_task", 0.0)
        if not isinstance(run, Mapping):
            raise ValueError(f"profile {key!r} needs a 'run' duration")
        profiles[key] = ModelProfile(
            run=duration_from_json(run),
            queue=duration_from_json(queue) if isinstance(queue, Mapping) else Fixed(1.0),
            fail_rate=None if fail_rate is None else float(fail_rate),  # type: ignore[arg-type]
            scales_with_request=bool(scales),
            queue_per_task=float(per_task),  # type: ignore[arg-type]
        )
    return profiles
