"""Token-bucket limits on requests per minute and tokens per minute.

Each bucket refills continuously at ``limit / 60`` per second and holds at most
one second's worth (at least one request), so bursts stay short and any window
of ``W`` seconds admits at most ``rate * W + capacity``. A request larger than
the capacity is admitted when the bucket is full and drives it negative (a
debt), which later requests wait out; so the long-run rate still holds.
Tokens are charged as projected (prompt estimate + ``max_tokens``, as OpenAI's
own limiter counts them) and the unused part is refunded after the answer.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable


class TokenBucket:
    """A continuously refilling bucket.

    Args:
        per_minute: Sustained limit (units per minute).
        clock: Monotonic clock in seconds (injectable for tests).
    """

    def __init__(self, per_minute: float, clock: Callable[[], float] = time.monotonic) -> None:
        if per_minute <= 0:
            raise ValueError(f"per_minute must be positive, got {per_minute}")
        self.rate = per_minute / 60.0
        self.capacity = max(1.0, self.rate)
        self.level = self.capacity
        self._clock = clock
        self._t = clock()

    def _refill(self) -> None:
        now = self._clock()
        self.level = min(self.capacity, self.level + (now - self._t) * self.rate)
        self._t = now

    def wait_s(self, amount: float) -> float:
        """Seconds until ``amount`` may be taken (0 when it may be taken now)."""
        self._refill()
        need = min(amount, self.capacity)
        return 0.0 if self.level >= need else (need - self.level) / self.rate

    def take(self, amount: float) -> None:
        """Remove ``amount`` (the level may go negative for oversized amounts)."""
        self._refill()
        self.level -= amount

    def give_back(self, amount: float) -> None:
        """Return unused units, never above capacity."""
        self._refill()
        self.level = min(self.capacity, self.level + amount)


class RateLimiter:
    """Requests-per-minute and tokens-per-minute limits for one client.

    Args:
        rpm: Requests per minute, or ``None`` for no limit.
        tpm: Tokens per minute, or ``None`` for no limit.
        clock: Monotonic clock in seconds.
    """

    def __init__(
        self, rpm: float | None = None, tpm: float | None = None, clock: Callable[[], float] = time.monotonic
    ) -> None:
        self.requests = TokenBucket(rpm, clock) if rpm else None
        self.tokens = TokenBucket(tpm, clock) if tpm else None

    def wait_s(self, tokens: int) -> float:
        """Seconds until one request of ``tokens`` projected tokens may start (0: now); takes nothing."""
        return max(
            self.requests.wait_s(1) if self.requests else 0.0,
            self.tokens.wait_s(tokens) if self.tokens else 0.0,
        )

    async def acquire(self, tokens: int) -> float:
        """Wait until one request of ``tokens`` projected tokens may start.

        Check and take happen without an ``await`` in between, so concurrent
        coroutines on one event loop cannot both take the last unit.

        Args:
            tokens: Projected prompt + completion tokens of the request.

        Returns:
            Seconds spent waiting.
        """
        waited = 0.0
        while True:
            wait = self.wait_s(tokens)
            if wait <= 0.0:
                if self.requests:
                    self.requests.take(1)
                if self.tokens:
                    self.tokens.take(tokens)
                return waited
            await asyncio.sleep(wait)
            waited += wait

    def refund(self, tokens: int) -> None:
        """Give back projected tokens that the request did not use."""
        if self.tokens and tokens > 0:
            self.tokens.give_back(tokens)
