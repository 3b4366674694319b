"""Rate limiting uploads: a token bucket per API key."""

from __future__ import annotations

import time


class RateLimiter:
    """A token bucket per key: `per_minute` uploads a minute, bursts up to that many."""

    def __init__(self, per_minute: int) -> None:
        self.per_minute = per_minute
        self.buckets: dict[int | None, tuple[float, float]] = {}

    def take(self, key: int | None) -> float:
        """0 when allowed, else the seconds until the next upload is."""
        if self.per_minute <= 0:
            return 0.0
        now = time.monotonic()
        tokens, then = self.buckets.get(key, (float(self.per_minute), now))
        tokens = min(float(self.per_minute), tokens + (now - then) * self.per_minute / 60)
        if tokens < 1:
            self.buckets[key] = (tokens, now)
            return (1 - tokens) * 60 / self.per_minute
        self.buckets[key] = (tokens - 1, now)
        return 0.0
