"""Several endpoints behind one chat client: spreading, failover, one budget, one judge id."""

from __future__ import annotations

import asyncio
import socket
import time
from typing import Any

import numpy as np
import pytest

from judgerl.config import BudgetConfig, ClientConfig, JudgeConfig, load_config
from judgerl.configbase import ConfigError
from judgerl.fingerprint import fingerprint
from judgerl.judges.client import ChatClient, ChatResult
from judgerl.judges.client_budget import Budget
from judgerl.judges.client_checks import check_client_config
from judgerl.judges.client_endpoints import EndpointPool
from judgerl.judges.llm import ChatJudge
from judgerl.testing.fake_openai import FakeOpenAIServer
from judgerl.types import Query, Segment, TaskSpec


def _cfg(urls: list[str] | str, **kw: Any) -> ClientConfig:
    defaults: dict[str, Any] = {"timeout_s": 2.0, "backoff_base_s": 0.05, "api_key_env": "JUDGERL_NO_SUCH_KEY"}
    return ClientConfig.model_validate({"base_url": urls, "model": "m", **defaults, **kw})


def _chat(client: ChatClient, n: int) -> list[ChatResult]:
    async def go() -> list[ChatResult]:
        async with client:
            msgs = [[{"role": "user", "content": f"question number {i:03d}"}] for i in range(n)]
            return list(await asyncio.gather(*(client.chat(m) for m in msgs)))

    return asyncio.run(go())


def _dead_url() -> str:
    """A loopback URL where nothing listens (connection refused)."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    return f"http://127.0.0.1:{port}/v1"


def test_requests_are_spread_over_every_endpoint() -> None:
    servers = [FakeOpenAIServer(latency_s=0.05).start() for _ in range(3)]
    try:
        client = ChatClient(_cfg([s.base_url for s in servers], concurrency=2))
        results = _chat(client, 24)
        counts = [s.stats["requests"] for s in servers]
    finally:
        for s in servers:
            s.stop()
    assert all(r.ok for r in results)
    assert sum(counts) == 24
    assert min(counts) >= 4, f"each endpoint's own log must show a share, got {counts}"
    m = client.metrics()
    assert [m[f"judge/endpoint_{i}_requests"] for i in range(3)] == counts


def test_each_endpoint_keeps_its_own_concurrency_limit() -> None:
    # 8 requests, 2 endpoints x 2 slots, 0.1 s each: at least 2 rounds (0.2 s); one shared pool of 8 would take 0.1 s
    servers = [FakeOpenAIServer(latency_s=0.1).start() for _ in range(2)]
    try:
        client = ChatClient(_cfg([s.base_url for s in servers], concurrency=2))
        t0 = time.monotonic()
        results = _chat(client, 8)
        elapsed = time.monotonic() - t0
        counts = [s.stats["requests"] for s in servers]
    finally:
        for s in servers:
            s.stop()
    assert all(r.ok for r in results) and counts == [4, 4]
    assert elapsed >= 0.19


def test_a_dead_endpoints_requests_go_elsewhere_and_are_paid_once() -> None:
    live = [FakeOpenAIServer(latency_s=0.02).start() for _ in range(2)]
    try:
        client = ChatClient(_cfg([live[0].base_url, _dead_url(), live[1].base_url], concurrency=2, max_retries=0))
        results = _chat(client, 12)
        counts = [s.stats["requests"] for s in live]
    finally:
        for s in live:
            s.stop()
    m = client.metrics()
    # max_retries=0: every answer came through a failover, not a retry
    assert all(r.ok for r in results), [r.error for r in results if not r.ok]
    assert sum(counts) == 12 and min(counts) >= 3
    assert m["judge/http_connection"] >= 1 and m["judge/endpoint_failovers"] == m["judge/http_connection"]
    assert m["judge/endpoint_1_failures"] == m["judge/http_connection"]
    # one budget: every attempt counted once, the refused connections as calls with 0 tokens
    assert client.budget.spent.calls == 12 + m["judge/http_connection"]
    assert client.budget.spent.tokens == m["judge/tokens_in"] + m["judge/tokens_out"]


def test_one_budget_for_all_endpoints() -> None:
    servers = [FakeOpenAIServer().start() for _ in range(2)]
    try:
        budget = Budget(BudgetConfig(max_calls=5))
        client = ChatClient(_cfg([s.base_url for s in servers], concurrency=4), budget=budget)
        results = _chat(client, 10)
        received = sum(s.stats["requests"] for s in servers)
    finally:
        for s in servers:
            s.stop()
    assert received == 5, "max_calls bounds the run, not each endpoint"
    assert sum(r.ok for r in results) == 5 and sum(r.budget_exhausted for r in results) == 5


def test_judge_id_and_fingerprint_do_not_depend_on_the_endpoints() -> None:
    a, b, c = "http://127.0.0.1:8001/v1", "http://127.0.0.1:8002/v1", "http://127.0.0.1:8003/v1"
    ids = {ChatJudge(_cfg(urls)).id for urls in (a, [a], [a, b], [c, b, a])}
    assert len(ids) == 1, "adding or reordering replicas must keep the cached labels"
    assert ChatJudge(_cfg(a, temperature=0.5)).id not in ids  # the id still tells judges apart
    one = load_config(None, [f"judge.client.base_url={a}"])
    many = load_config(None, [f"judge.client.base_url=[{a},{b}]"])
    assert many.judge.client.urls == [a, b] and fingerprint(one) == fingerprint(many)


def test_endpoint_list_is_validated_and_each_url_checked() -> None:
    with pytest.raises(ValueError, match="non-empty"):
        _cfg([])
    with pytest.raises(ValueError, match="twice"):
        _cfg(["http://127.0.0.1:1/v1", "http://127.0.0.1:1/v1"])
    judge = JudgeConfig.model_validate(
        {"type": "openai", "client": {"base_url": ["http://127.0.0.1:1/v1", "http://10.1.2.3:8000/v1"], "model": "m"}}
    )
    with pytest.raises(ConfigError, match="10.1.2.3"):
        check_client_config(judge, environ={"OPENAI_API_KEY": "k"})


def test_pool_prefers_healthy_least_loaded_and_falls_back_to_first_recovering() -> None:
    now = [100.0]
    pool = EndpointPool(["u0", "u1", "u2"], 2, None, None, 1.0, 8.0, clock=lambda: now[0])

    async def go() -> None:
        pool.open({}, 1.0)
        try:
            e0 = await pool.acquire(10)
            e1 = await pool.acquire(10)
            assert {e0.index, e1.index} == {0, 1}  # least loaded, round-robin among equals
            await pool.release(e0, "connection")  # u0 cools down for 1 s
            e2 = await pool.acquire(10, avoid=e0)
            assert e2.index == 2
            for ep in pool.endpoints:
                ep.down_until = now[0] + 5 + ep.index  # all failing: u0 recovers first
                ep.in_flight = 0
            assert (await pool.acquire(10)).index == 0
            await pool.release(pool.endpoints[0], "ok")
            assert pool.endpoints[0].down_until == 0.0 and pool.endpoints[0].failures == 0
        finally:
            await pool.aclose()

    asyncio.run(go())


def test_a_judge_batch_keeps_every_endpoint_busy() -> None:
    # concurrency is per endpoint: a batch of 4 queries on 2 endpoints x 1 slot sends 2 at once, one to each
    task = TaskSpec(
        id="t/v0", instruction="Keep it high.", env_id="T-v0", captioner=lambda o: "", success=lambda r, o: True
    )

    def seg(i: int) -> Segment:
        n = 5
        return Segment(
            obs=np.full((n, 2), i, np.float32),
            acts=np.zeros((n, 1), np.float32),
            env_rewards=np.full(n, i, np.float32),
            dones=np.zeros(n, np.float32),
            captions=tuple(f"value {i} step {t}" for t in range(n)),
        )

    servers = [FakeOpenAIServer(latency_s=0.5).start() for _ in range(2)]
    try:
        judge = ChatJudge(_cfg([s.base_url for s in servers], concurrency=1))
        labels = judge.judge(task, [Query("pairwise", (seg(2 * i), seg(2 * i + 1))) for i in range(4)])
        firsts = [s.records[0].t for s in servers]
    finally:
        for s in servers:
            s.stop()
    assert [lab.status for lab in labels] == ["ok"] * 4
    assert abs(firsts[0] - firsts[1]) < 0.25, "the second endpoint waited for the first one's answer"
