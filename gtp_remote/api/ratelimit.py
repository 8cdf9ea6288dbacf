"""Rate limits: a token bucket per key (a token's name, or a client's address)."""

from __future__ import annotations

import time
from collections import OrderedDict

from gtp_remote.errors import RateLimitedError


class RateLimiter:
    """A token bucket per key: ``rate`` requests a second, bursts up to ``burst``."""

    MAX_KEYS = 4096  # the least recently seen keys beyond this are forgotten (keys can be addresses)

    def __init__(self, rate: float, burst: int, what: str = "requests for this token"):
        self.rate = rate
        self.burst = burst
        self.what = what
        self._buckets: OrderedDict[str, tuple[float, float]] = OrderedDict()

    def check(self, key: str) -> None:
        now = time.monotonic()
        level, then = self._buckets.pop(key, (float(self.burst), now))
        if len(self._buckets) >= self.MAX_KEYS:
            self._buckets.popitem(last=False)
        level = min(self.burst, level + (now - then) * self.rate)
        if level < 1:
            wait = (1 - level) / self.rate
            self._buckets[key] = (level, now)
            raise RateLimitedError(
                f"too many {self.what} (limit {self.rate:g}/s, bursts of {self.burst})",
                retry_after=wait,
                hint=f"retry after {wait:.1f}s",
            )
        self._buckets[key] = (level - 1, now)
