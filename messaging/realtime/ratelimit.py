"""Flood control: a token bucket per user, and a cap on how many sockets a user may hold."""

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
        self._refill()
        if self.tokens >= 1.0:
            self.tokens -= 1.0
            return 0.0
        return (1.0 - self.tokens) / self.per_second

    @property
    def is_full(self) -> bool:
        self._refill()
        return self.tokens >= self.capacity

    def _refill(self) -> None:
        now = self.clock()
        self.tokens = min(self.capacity, self.tokens + (now - self.updated) * self.per_second)
        self.updated = now


class TooManySockets(Exception):
    """The user holds as many sockets on this process as they may."""


class SharedBuckets:
    """One bucket per user for all their sockets in this process, so opening more tabs does not
    buy a bigger allowance. A bucket outlives the user's last socket until it has refilled:
    closing and reopening the socket is no way to a fresh burst."""

    def __init__(self, clock=time.monotonic):
        self.clock = clock
        self.buckets: dict[int, TokenBucket] = {}
        self.sockets: dict[int, int] = {}
        # Buckets of users with no socket here, kept until full (a few seconds at most).
        self.idle: dict[int, TokenBucket] = {}

    def acquire(self, user_id: int, *, burst: int, per_second: float, max_sockets: int) -> TokenBucket:
        if self.sockets.get(user_id, 0) >= max_sockets:
            raise TooManySockets()
        self._forget_refilled()
        bucket = self.buckets.get(user_id) or self.idle.pop(user_id, None)
        if bucket is None:
            bucket = TokenBucket(burst=burst, per_second=per_second, clock=self.clock)
        self.buckets[user_id] = bucket
        self.sockets[user_id] = self.sockets.get(user_id, 0) + 1
        return bucket

    def release(self, user_id: int) -> None:
        remaining = self.sockets.get(user_id, 0) - 1
        if remaining > 0:
            self.sockets[user_id] = remaining
            return
        self.sockets.pop(user_id, None)
        bucket = self.buckets.pop(user_id, None)
        if bucket is not None:
            self.idle[user_id] = bucket
        self._forget_refilled()

    def _forget_refilled(self) -> None:
        for user_id in [user_id for user_id, bucket in self.idle.items() if bucket.is_full]:
            del self.idle[user_id]


user_buckets = SharedBuckets()
# Reading and awareness frames (room.read, presence, typing, receipts …) draw on an allowance of
# their own, of the same size: a tab that reads, types and says it is there as a browser does
# must never cost its person a message (`consumer.OWN_ALLOWANCE_FRAMES`).
awareness_buckets = SharedBuckets()
