"""Rate limits and budgets of the chat client."""

from __future__ import annotations

import asyncio
import time
from typing import Any

import pytest

from judgerl.config import BudgetConfig, ClientConfig, PriceConfig
from judgerl.judges.client import ChatClient, ChatResult
from judgerl.judges.client_budget import BUDGET_EXHAUSTED, Budget, Spend, cost_usd
from judgerl.judges.client_ratelimit import RateLimiter, TokenBucket
from judgerl.testing.fake_openai import FakeOpenAIServer


def _cfg(base_url: str, **kw: Any) -> ClientConfig:
    defaults: dict[str, Any] = {"timeout_s": 2.0, "backoff_base_s": 0.01, "api_key_env": "JUDGERL_NO_SUCH_KEY"}
    return ClientConfig.model_validate({"base_url": base_url, "model": "m", **defaults, **kw})


def _chat(client: ChatClient, n: int, **kw: Any) -> list[ChatResult]:
    async def go() -> list[ChatResult]:
        async with client:
            msgs = [[{"role": "user", "content": f"question number {i:03d}"}] for i in range(n)]
            return list(await asyncio.gather(*(client.chat(m, **kw) for m in msgs)))

    return asyncio.run(go())


class _Clock:
    def __init__(self) -> None:
        self.t = 0.0

    def __call__(self) -> float:
        return self.t


def test_token_bucket_arithmetic() -> None:
    clock = _Clock()
    bucket = TokenBucket(120, clock)  # 2 per second, capacity 2
    assert bucket.capacity == 2.0 and bucket.wait_s(1) == 0.0
    bucket.take(1)
    bucket.take(1)
    assert bucket.wait_s(1) == pytest.approx(0.5)
    clock.t = 0.5
    assert bucket.wait_s(1) == 0.0
    bucket.take(5)  # oversized: admitted when full enough, leaves a debt
    assert bucket.wait_s(1) == pytest.approx(2.5)  # level -4 needs 5 units at 2/s
    bucket.give_back(100)
    assert bucket.level == 2.0
    with pytest.raises(ValueError):
        TokenBucket(0)


def test_rpm_limit_holds_within_tolerance() -> None:
    rpm, n = 600.0, 25  # 10 requests/s, burst capacity 10
    with FakeOpenAIServer() as srv:
        t0 = time.monotonic()
        results = _chat(ChatClient(_cfg(srv.base_url, rpm=rpm, concurrency=8)), n)
        elapsed = time.monotonic() - t0
        arrivals = sorted(r.t for r in srv.records)
    assert all(r.ok for r in results)
    expected = (n - 10) / 10.0  # 1.5 s: the burst goes at once, the rest at 10/s
    assert elapsed >= expected * 0.95
    assert elapsed < expected + 1.5  # not throttled far below the limit
    window = arrivals[-1] - arrivals[0]
    assert (n - 10) / window <= 10.0 * 1.1  # sustained rate after the burst


def test_tpm_limit_counts_projected_tokens() -> None:
    async def go() -> float:
        limiter = RateLimiter(tpm=6000)  # 100 tokens/s, capacity 100
        t0 = time.monotonic()
        for _ in range(4):
            await limiter.acquire(50)
        return time.monotonic() - t0

    assert 0.9 <= asyncio.run(go()) < 1.6  # 200 tokens, 100 free at start -> ~1 s


def test_budget_max_calls_is_exact() -> None:
    with FakeOpenAIServer(latency_s=0.02) as srv:
        budget = Budget(BudgetConfig.model_validate({"max_calls": 5}))
        results = _chat(ChatClient(_cfg(srv.base_url, concurrency=4), budget=budget), 12)
        assert srv.stats["requests"] == 5
    ok = [r for r in results if r.ok]
    stopped = [r for r in results if not r.ok]
    assert len(ok) == 5 and len(stopped) == 7
    assert all(r.budget_exhausted and r.transient and r.error.startswith(BUDGET_EXHAUSTED) for r in stopped)
    assert budget.exhausted and budget.spent.calls == 5 and "max_calls" in budget.reason


def test_retries_count_as_calls() -> None:
    with FakeOpenAIServer(script=["server_error", "server_error"]) as srv:
        budget = Budget(BudgetConfig.model_validate({"max_calls": 2}))
        (res,) = _chat(ChatClient(_cfg(srv.base_url), budget=budget), 1)
        assert srv.stats["requests"] == 2
    assert res.budget_exhausted and res.retries == 1 and res.transient


@pytest.mark.parametrize("concurrency", [1, 4])
def test_cost_limit_is_not_crossed_by_more_than_calls_in_flight(concurrency: int) -> None:
    """Answers longer than max_tokens make projections too low (worst case for the guarantee)."""
    price = PriceConfig.model_validate({"input_per_mtok": 1000.0, "output_per_mtok": 1000.0})  # $0.001 per token
    limit = 0.5
    with FakeOpenAIServer(responder=lambda r: "x" * 40) as srv:  # 10 completion tokens billed
        budget = Budget(BudgetConfig.model_validate({"max_cost_usd": limit}))
        client = ChatClient(_cfg(srv.base_url, concurrency=concurrency, max_tokens=2), price, budget)
        results = _chat(client, 40)
        calls = srv.stats["requests"]
    per_call = max(r.cost_usd for r in results if r.ok)
    billed = sum(r.cost_usd for r in results)
    assert budget.spent.cost_usd == pytest.approx(billed) and budget.spent.calls == calls
    assert billed <= limit + concurrency * per_call
    assert billed > limit - 2 * per_call  # it stops near the limit, not early
    assert 0 < calls < 40 and sum(r.budget_exhausted for r in results) == 40 - calls


def test_budget_reservation_with_exact_projections() -> None:
    budget = Budget(BudgetConfig.model_validate({"max_tokens": 100}))
    first = budget.reserve(60, 0.0)
    assert first is not None
    assert budget.reserve(60, 0.0) is None  # 60 reserved + 60 > 100
    budget.settle(first, 30, 0.0)
    assert budget.exhausted  # sticky: the run stops cleanly even though 70 tokens remain
    assert budget.spent == Spend(1, 30, 0.0)


def test_prior_spend_counts_against_the_limits() -> None:
    budget = Budget(BudgetConfig.model_validate({"max_calls": 10}), spent=Spend(calls=9))
    assert budget.reserve(1, 0.0) is not None
    assert budget.reserve(1, 0.0) is None


def test_cost_arithmetic() -> None:
    price = PriceConfig.model_validate({"input_per_mtok": 0.15, "output_per_mtok": 0.6})  # gpt-4o-mini list prices
    assert cost_usd(price, 1_000_000, 0) == pytest.approx(0.15)
    assert cost_usd(price, 2000, 500) == pytest.approx((2000 * 0.15 + 500 * 0.6) / 1e6)
