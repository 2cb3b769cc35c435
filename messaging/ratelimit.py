"""A token bucket: a burst of frames at once, then a steady rate."""

import time


class TokenBucket:
    def __init__(self, *, burst: int, per_second: float, clock=time.monotonic):
        self.capacity = float(burst)
        self.per_second = per_second
        self.clock = clock
        self.tokens = float(burst)
        self.updated = clock()

    def take(self) -> float:
        """Take one token: 0.0 if allowed, else the seconds until one is available."""
        now = self.clock()
        self.tokens = min(self.capacity, self.tokens + (now - self.updated) * self.per_second)
        self.updated = now
        if self.tokens >= 1.0:
            self.tokens -= 1.0
            return 0.0
        return (1.0 - self.tokens) / self.per_second
