"""Chat-judge throughput against the fake OpenAI server: async vs serial, cached vs fresh.

The fake server answers every request after a fixed latency (200 ms by default,
a typical hosted-API round trip), so the numbers measure judgerl's overhead
and concurrency, not a model. Three runs over the same pairwise queries:

- serial: ``ClientConfig.concurrency = 1``;
- async: ``concurrency = 8`` (targets >= 6x the serial rate);
- cached: the async judge behind ``CachedJudge`` + ``LabelStore``, first run
  vs re-run (targets 0 calls on the re-run and >= 100x speed-up).

The load average is printed because the machine may be shared.

Usage: python benchmarks/judges.py [--queries 32] [--latency 0.2] [--repeats 2]
"""

from __future__ import annotations

import argparse
import os
import statistics
import tempfile
import time
from pathlib import Path

import numpy as np

from judgerl.config import ClientConfig
from judgerl.judges.llm import ChatJudge
from judgerl.labels.cached import CachedJudge
from judgerl.labels.store import LabelStore
from judgerl.testing.fake_openai import FakeOpenAIServer
from judgerl.types import Query, Segment, TaskSpec

TASK = TaskSpec(
    id="bench/values-v0",
    instruction="Keep the value high.",
    env_id="Bench-v0",
    captioner=lambda obs: "",
    success=lambda ret, obs: True,
)


def _segment(i: int, n: int = 25) -> Segment:
    return Segment(
        obs=np.full((n, 3), i, np.float32),
        acts=np.zeros((n, 1), np.float32),
        env_rewards=np.full(n, i, np.float32),
        dones=np.zeros(n, np.float32),
        captions=tuple(f"segment {i}: the value is {i} at step {t}" for t in range(n)),
    )


def make_queries(n: int) -> list[Query]:
    """``n`` distinct pairwise queries with captions."""
    return [Query("pairwise", (_segment(2 * i), _segment(2 * i + 1))) for i in range(n)]


def timed_rate(judge: ChatJudge | CachedJudge, queries: list[Query]) -> tuple[float, float]:
    """``(seconds, judgments per second)`` of one ``judge.judge`` call."""
    t0 = time.perf_counter()
    labels = judge.judge(TASK, queries)
    dt = time.perf_counter() - t0
    if not all(lab.status == "ok" for lab in labels):
        raise RuntimeError("benchmark labels must all be ok")
    return dt, len(queries) / dt


def api_benchmark(n_queries: int = 32, latency_s: float = 0.2, repeats: int = 2) -> list[tuple[str, float, str]]:
    """Run the API measurements; returns ``(metric, value, target)`` rows (medians over repeats)."""
    queries = make_queries(n_queries)
    serial, fast, first, again, rerun_calls = [], [], [], [], []
    with FakeOpenAIServer(latency_s=latency_s) as srv, tempfile.TemporaryDirectory() as tmp:

        def cfg(concurrency: int) -> ClientConfig:
            fields = {
                "base_url": srv.base_url,
                "model": "fake",
                "concurrency": concurrency,
                "api_key_env": "JUDGERL_NONE",
            }
            return ClientConfig.model_validate(fields)

        for r in range(repeats):
            serial.append(timed_rate(ChatJudge(cfg(1)), queries)[1])
            fast.append(timed_rate(ChatJudge(cfg(8)), queries)[1])
            with LabelStore(Path(tmp) / f"labels{r}.sqlite") as store:
                first.append(timed_rate(CachedJudge(ChatJudge(cfg(8)), store), queries)[0])
                before = srv.stats["requests"]
                again.append(timed_rate(CachedJudge(ChatJudge(cfg(8)), store), queries)[0])
                rerun_calls.append(srv.stats["requests"] - before)
    med = statistics.median
    return [
        ("serial judgments/s (concurrency 1)", med(serial), f"~{1 / latency_s:.0f}"),
        ("async judgments/s (concurrency 8)", med(fast), ""),
        ("async / serial", med(fast) / med(serial), ">= 6"),
        ("cached: first run s", med(first), ""),
        ("cached: re-run s", med(again), ""),
        ("cached: calls on re-run", float(max(rerun_calls)), "0"),
        ("cached: speed-up", med(first) / med(again), ">= 100"),
    ]


def main() -> None:
    """Print the table."""
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--queries", type=int, default=32)
    p.add_argument("--latency", type=float, default=0.2)
    p.add_argument("--repeats", type=int, default=2)
    args = p.parse_args()
    print(f"load average before: {os.getloadavg()}  cores: {os.cpu_count()}")
    print(
        f"fake server latency {args.latency * 1000:.0f} ms, {args.queries} pairwise queries, median of {args.repeats}"
    )
    rows = api_benchmark(args.queries, args.latency, args.repeats)
    print(f"{'metric':<38} {'value':>10}  target")
    for name, value, target in rows:
        print(f"{name:<38} {value:>10.2f}  {target}")
    print(f"load average after: {os.getloadavg()}")


if __name__ == "__main__":
    main()
