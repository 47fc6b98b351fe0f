"""Several endpoints of one model (e.g. vLLM replicas) behind one chat client.

``judge.client.base_url`` may list several servers. Each :class:`Endpoint` has
its own HTTP connection pool, its own concurrency limit (``concurrency`` requests
in flight) and its own rpm/tpm :class:`~judgerl.judges.client_ratelimit.RateLimiter`,
as each replica has its own capacity. What is shared lives in the
:class:`~judgerl.judges.client.ChatClient` around the pool: the one budget of the
run, the learned server capabilities, the retry policy -- and, above it, the label
store and its cache, keyed on a judge id that does not contain the URLs.

Choice (:meth:`EndpointPool.acquire`): among endpoints with a free slot that are
not cooling down after a failure, the one whose rate limiter admits the request
soonest, then the least loaded (in-flight / concurrency), then round-robin. When
no endpoint is healthy the request goes to the one that recovers first, so a
single endpoint behaves exactly as the one-URL client did.

Health: a transient failure (connection refused, timeout, 429, 5xx, a malformed
answer) puts the endpoint in a cooldown that doubles with each consecutive failure
(``backoff_base_s`` up to ``backoff_max_s``, at least a 429's ``Retry-After``);
any answer from the server ends it. The client resends a failed request to a
healthy endpoint at once (a *failover*) instead of waiting out the backoff.

Decision 0025 says why this is asyncio fan-out in the driver and not Ray actors.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass

import httpx

from judgerl.judges.client_ratelimit import RateLimiter

TRANSIENT_KINDS = frozenset({"rate_limited", "server_error", "timeout", "connection", "malformed"})
"""Attempt outcomes that say something about the endpoint, not the request: retried, and they cool it down."""


@dataclass
class Endpoint:
    """One server of a replica list, with its own limits and health.

    Attributes:
        index: Position in ``base_url`` (0-based; metric keys use it).
        url: Its base URL.
        concurrency: Most requests in flight to it at once.
        limiter: Its requests/tokens-per-minute limits.
        http: Its connection pool while a session is open.
        in_flight: Requests sent to it and not yet answered.
        failures: Consecutive transient failures (0 after any answer).
        down_until: Monotonic time before which it is avoided (cooldown).
    """

    index: int
    url: str
    concurrency: int
    limiter: RateLimiter
    http: httpx.AsyncClient | None = None
    in_flight: int = 0
    failures: int = 0
    down_until: float = 0.0


class EndpointPool:
    """Spread requests over endpoints: per-endpoint slots and limits, least busy first, failover.

    Args:
        urls: Base URLs, at least one.
        concurrency: Slots per endpoint.
        rpm: Requests per minute per endpoint (``None``: unlimited).
        tpm: Tokens per minute per endpoint (``None``: unlimited).
        backoff_base_s: First cooldown after a failure, seconds (doubles per consecutive failure).
        backoff_max_s: Longest cooldown, seconds.
        clock: Monotonic clock (tests).
    """

    def __init__(
        self,
        urls: list[str],
        concurrency: int,
        rpm: float | None,
        tpm: float | None,
        backoff_base_s: float,
        backoff_max_s: float,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        if not urls:
            raise ValueError("an endpoint pool needs at least one URL")
        self.endpoints = [Endpoint(i, u, concurrency, RateLimiter(rpm, tpm)) for i, u in enumerate(urls)]
        self.backoff_base_s, self.backoff_max_s = backoff_base_s, backoff_max_s
        self._clock = clock
        self._next = 0  # round-robin start among equally good endpoints
        self._cond: asyncio.Condition | None = None

    def __len__(self) -> int:
        return len(self.endpoints)

    def open(
        self, headers: Mapping[str, str], timeout_s: float, transport: httpx.AsyncBaseTransport | None = None
    ) -> None:
        """Open one connection pool per endpoint (call on the event loop that will use them).

        Args:
            headers: Request headers (content type, authorisation).
            timeout_s: Per-request timeout in seconds.
            transport: Optional httpx transport for every endpoint (tests).
        """
        self._cond = asyncio.Condition()
        for ep in self.endpoints:
            ep.in_flight = 0
            ep.http = httpx.AsyncClient(
                base_url=ep.url.rstrip("/") + "/",
                headers=dict(headers),
                timeout=timeout_s,
                transport=transport,
                limits=httpx.Limits(max_connections=ep.concurrency, max_keepalive_connections=ep.concurrency),
            )

    async def aclose(self) -> None:
        """Close every endpoint's connection pool."""
        for ep in self.endpoints:
            if ep.http is not None:
                await ep.http.aclose()
            ep.http = None
        self._cond = None

    def healthy_other(self, avoid: Endpoint | None) -> bool:
        """Whether an endpoint other than ``avoid`` is not cooling down (a failover target exists)."""
        now = self._clock()
        return any(ep is not avoid and ep.down_until <= now for ep in self.endpoints)

    def _pick(self, tokens: int, avoid: Endpoint | None) -> Endpoint | None:
        now = self._clock()
        free = [ep for ep in self.endpoints if ep.in_flight < ep.concurrency]
        healthy = [ep for ep in free if ep.down_until <= now and ep is not avoid]
        n = len(self.endpoints)
        if healthy:
            return min(
                healthy,
                key=lambda ep: (ep.limiter.wait_s(tokens), ep.in_flight / ep.concurrency, (ep.index - self._next) % n),
            )
        if self.healthy_other(avoid):
            return None  # a healthy endpoint is busy: wait for its slot rather than send to a failing one
        # every endpoint is failing: the one that recovers first (the caller has backed off already)
        return min(free, key=lambda ep: (ep.down_until, (ep.index - self._next) % n)) if free else None

    async def acquire(self, tokens: int, avoid: Endpoint | None = None) -> Endpoint:
        """Wait for a slot and take it on the best endpoint (see the module docstring).

        Args:
            tokens: Projected tokens of the request (for the rate limiters' preference).
            avoid: The endpoint the last attempt of this call failed on.

        Returns:
            The endpoint; pass it to :meth:`release` when the attempt ends.
        """
        assert self._cond is not None, "EndpointPool.open() first"
        async with self._cond:
            while True:
                ep = self._pick(tokens, avoid)
                if ep is not None:
                    ep.in_flight += 1
                    self._next = (ep.index + 1) % len(self.endpoints)
                    return ep
                # woken by a release; a cooldown that ends is noticed within a short poll
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self._cond.wait(), timeout=self.backoff_base_s)

    async def release(self, ep: Endpoint, kind: str, retry_after: float | None = None) -> None:
        """Free the slot and update the endpoint's health from the attempt's outcome.

        Args:
            ep: What :meth:`acquire` returned.
            kind: The attempt's outcome kind (``ok``, ``connection``, ``server_error``, ...).
            retry_after: A 429/5xx's ``Retry-After`` in seconds, if any.
        """
        ep.in_flight -= 1
        if kind in TRANSIENT_KINDS:
            ep.failures += 1
            cooldown = min(self.backoff_max_s, self.backoff_base_s * 2 ** (ep.failures - 1))
            if retry_after is not None:
                cooldown = max(cooldown, min(retry_after, self.backoff_max_s))
            ep.down_until = self._clock() + cooldown
        else:  # the server answered (even a 4xx): it is up
            ep.failures, ep.down_until = 0, 0.0
        assert self._cond is not None
        async with self._cond:
            self._cond.notify_all()
