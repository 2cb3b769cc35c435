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


class SharedBuckets:
    """One bucket per user for all their sockets in this process, so opening more tabs does not
    buy a bigger allowance. Dropped when the user's last socket closes."""

    def __init__(self):
        self.buckets: dict[int, TokenBucket] = {}
        self.sockets: dict[int, int] = {}

    def acquire(self, user_id: int, *, burst: int, per_second: float) -> TokenBucket:
        if user_id not in self.buckets:
            self.buckets[user_id] = TokenBucket(burst=burst, per_second=per_second)
        self.sockets[user_id] = self.sockets.get(user_id, 0) + 1
        return self.buckets[user_id]

    def release(self, user_id: int) -> None:
        remaining = self.sockets.get(user_id, 0) - 1
        if remaining > 0:
            self.sockets[user_id] = remaining
        else:
            self.sockets.pop(user_id, None)
            self.buckets.pop(user_id, None)


user_buckets = SharedBuckets()
