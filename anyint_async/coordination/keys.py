"""Names of what one account keeps in Redis, under a keyed hash of its API key.

Sessions on the same gateway with the same key share; the key itself is never stored or sent:
Redis sees only a BLAKE2b hash keyed with this library's own constant, so a hash found in
Redis cannot be checked against a guessed key without knowing this scheme too.
"""

from __future__ import annotations

import hashlib

import attrs

__all__ = ["AccountKeys", "account_id"]

_PERSONAL = b"anyint_async/coordination/v1"
PREFIX = "anyint_async"


def account_id(api_key: str, base_url: str) -> str:
    """A stable, non-reversible id for (gateway, API key)."""
    digest = hashlib.blake2b(
        f"{base_url}\0{api_key}".encode(), key=_PERSONAL, digest_size=16
    ).hexdigest()
    return digest


@attrs.frozen
class AccountKeys:
    """The Redis names of one account's shared state."""

    account: str

    @property
    def _base(self) -> str:
        return f"{PREFIX}:{self.account}"

    def next_send(self, provider: str) -> str:
        """The account's next free send time for ``provider`` (server seconds)."""
        return f"{self._base}:send:{provider}"

    def cut(self, provider: str) -> str:
        """A lowered rate after a refusal, climbing back with time."""
        return f"{self._base}:cut:{provider}"

    @property
    def channel(self) -> str:
        """Where callbacks and refusals are passed on to the other sessions."""
        return f"{self._base}:events"

    @property
    def durations(self) -> str:
        """What the account's sessions learned of durations (``DurationLearner.export``)."""
        return f"{self._base}:durations"
