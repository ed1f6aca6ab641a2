"""What an SDK contender's name asks for: one parser for the runner that sets it up and the
report that groups its points."""

from __future__ import annotations

from attrs import frozen

__all__ = ["AnyintSetting", "anyint_setting", "starts_warm"]


@frozen
class AnyintSetting:
    """``anyint[-variant...][@TARGET|@SECONDSs|@PEER]``, read.

    - ``preset``: ``fast`` or ``frugal`` when a variant names one, else ``default``.
    - ``target``: ``@0.2``, the preset with that ``target_delay``.
    - ``seconds``: ``@25s``, with ``target_delay_seconds=25`` (scaled by the scenario's policy
      scale, as the other seconds of the policy are).
    - ``matches``: ``@naive-5s``, set in seconds to the p95 that peer measured before it in the
      same scenario (the runner resolves it to ``@SECONDSs``).
    - ``variants``: the dash-separated words after ``anyint`` (``model``: learn per model
      alone; ``nolearn``: learning off; ``inflight16``: ``max_polls_in_flight=16``; ``warm``,
      ``exact``, ``callbacks``: set up by the runner).
    """

    preset: str
    target: float | None
    seconds: float | None
    variants: tuple[str, ...]
    matches: str | None = None

    @property
    def learn(self) -> bool:
        return "nolearn" not in self.variants

    @property
    def by_request(self) -> bool:
        return "model" not in self.variants

    @property
    def polls_in_flight(self) -> int | None:
        """``inflightN``: at most N task queries in flight (None: the session's default)."""
        for variant in self.variants:
            if variant.startswith("inflight") and variant[len("inflight") :].isdigit():
                return int(variant[len("inflight") :])
        return None


def anyint_setting(contender: str) -> AnyintSetting | None:
    """The setting a contender's name asks for; None for a peer (``official``, ``naive-1s``)."""
    name, _, target = contender.partition("@")
    head, *variants = name.split("-")
    if head != "anyint":
        return None
    preset = next((v for v in variants if v in ("fast", "frugal")), "default")
    if target and not target[0].isdigit():
        return AnyintSetting(preset, None, None, tuple(variants), matches=target)
    in_seconds = target.endswith("s")
    return AnyintSetting(
        preset=preset,
        target=float(target) if target and not in_seconds else None,
        seconds=float(target[:-1]) if in_seconds else None,
        variants=tuple(variants),
    )


def starts_warm(contender: str) -> bool:
    """True for an SDK contender that starts from a rehearsal's duration memory (``-warm``)."""
    setting = anyint_setting(contender)
    return setting is not None and "warm" in setting.variants
